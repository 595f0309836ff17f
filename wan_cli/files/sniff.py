"""What kind of image a file is, from its first bytes, and whether it is whole, from its end:
the one place that knows the formats (references are checked with it before sending, downloads
and inline images before publishing)."""

from __future__ import annotations

import struct
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (those that carry the dimensions).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Known DIB header sizes: a file starting with "BM" and none of these is not a bitmap.
_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_image(head: bytes) -> tuple[str, int | None, int | None] | None:
    """(mime, width, height) from an image's first bytes, or None when it is not a format the
    service accepts. Width/height are None when the header does not tell them cheaply."""
    if head.startswith(PNG_SIGNATURE):
        if len(head) >= 24 and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return "image/png", width, height
        return "image/png", None, None
    if head.startswith(b"\xff\xd8\xff"):
        dims = _jpeg_dimensions(head)
        return ("image/jpeg", *dims) if dims else ("image/jpeg", None, None)
    if head.startswith(b"BM") and len(head) >= 26:
        (dib_size,) = struct.unpack("<I", head[14:18])
        if dib_size not in _BMP_DIB_SIZES:
            return None
        if dib_size == 12:
            width, height = struct.unpack("<HH", head[18:22])
        else:
            width, height = struct.unpack("<ii", head[18:26])
        return "image/bmp", abs(width), abs(height)  # negative height = top-down rows
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        dims = _webp_dimensions(head)
        return ("image/webp", *dims) if dims else ("image/webp", None, None)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments up to the first start-of-frame (usually within the first few KB)."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None  # not at a marker: corrupt or unusual; let the service judge
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers, no length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def sniff_mime(head: bytes) -> str | None:
    """The image type from the first bytes (PNG, JPEG, WEBP, BMP, GIF), or None."""
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    found = sniff_image(head)
    return found[0] if found else None


def image_dimensions(head: bytes, mime: str) -> tuple[int | None, int | None]:
    """(width, height) read from the file's leading bytes, (None, None) if not found there."""
    if mime == "image/gif":
        if len(head) >= 10:
            width, height = struct.unpack("<HH", head[6:10])
            return width, height
        return None, None
    found = sniff_image(head)
    if found is None or found[0] != mime:
        return None, None
    return found[1], found[2]


# -- completeness: does the file end where its format says? --------------------------------

# The last chunk of every PNG: length 0, "IEND", its CRC.
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# Encoders write IDAT in 8-64 KiB chunks: a 200 MB PNG has a few tens of thousands. A file with
# more is not judged (walking it would take seconds), rather than refused.
_MAX_PNG_CHUNKS = 200_000
# How much of the end to read for JPEG and GIF (their end marker, then zero padding).
_TAIL_BYTES = 64 * 1024


def truncation(fh: BinaryIO, size: int, mime: str) -> str | None:
    """Why the `size`-byte image in `fh` (seekable, binary) is cut short, or None when it ends
    as its format says: a PNG with its IEND chunk, a JPEG with its EOI marker, a GIF with its
    trailer (both allowing zero padding after it), a WEBP or BMP as long as its header says.

    A body can be complete for HTTP (as long as its Content-Length) yet hold a cut image: a
    host that stored a partial upload serves it with a matching length. Cheap: it reads the
    tail, or for a PNG with bytes after IEND, walks the chunk headers.
    """
    if mime == "image/png":
        return _png_truncation(fh, size)
    if mime == "image/jpeg":
        if not _tail(fh, size).rstrip(b"\x00").endswith(b"\xff\xd9"):
            return "truncated: the JPEG does not end with its end-of-image marker"
        return None
    if mime == "image/gif":
        if not _tail(fh, size).rstrip(b"\x00").endswith(b"\x3b"):
            return "truncated: the GIF does not end with its trailer"
        return None
    if mime == "image/webp":
        fh.seek(4)
        declared = int.from_bytes(fh.read(4), "little") + 8  # RIFF size counts from byte 8
        return _shorter(size, declared, "WEBP")
    if mime == "image/bmp":
        fh.seek(2)
        declared = int.from_bytes(fh.read(4), "little")  # 0: some writers leave it out
        return _shorter(size, declared, "BMP")
    return None


def _png_truncation(fh: BinaryIO, size: int) -> str | None:
    if size >= len(PNG_SIGNATURE) + len(_PNG_IEND) and _tail(fh, size, 12) == _PNG_IEND:
        return None  # the usual case: IEND is the last thing in the file
    # Bytes after IEND are tolerated (some tools append data): walk the chunks to find it.
    position = len(PNG_SIGNATURE)
    for _ in range(_MAX_PNG_CHUNKS):
        fh.seek(position)
        header = fh.read(8)
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header)
        position += 12 + length  # length, type, data, CRC
        if position > size:
            break
        if kind == b"IEND":
            return None
    else:
        return None  # too many chunks to judge cheaply
    return "truncated: the PNG ends before its IEND chunk"


def _tail(fh: BinaryIO, size: int, count: int = _TAIL_BYTES) -> bytes:
    fh.seek(max(0, size - count))
    return fh.read(count)


def _shorter(size: int, declared: int, kind: str) -> str | None:
    if size < declared:
        return f"truncated: the {kind} is {size} bytes, its header says {declared}"
    return None

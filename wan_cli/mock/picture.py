"""Real PNG images of any size, drawn with the standard library (zlib and struct): a diagonal
gradient whose colours come from a seed text, so different prompts give different pictures and
the same prompt the same picture.

Speed matters (a 2048*2048 image is 12 MB of pixels): each row is a slice of one precomputed
strip of colours, shifted by the row number, so no Python code runs per pixel.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from wan_cli.files.png_stream import chunk
from wan_cli.files.sniff import PNG_SIGNATURE

# The number of vertical colour steps: enough for a smooth look, few enough to draw quickly.
_BANDS = 24


def palette(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """Three colours from the seed text (a hash: stable across runs and machines)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    first, second, third = ((digest[i], digest[i + 1], digest[i + 2]) for i in (0, 3, 6))
    return first, second, third


def draw_png(width: int, height: int, seed: str) -> bytes:
    """A `width`×`height` 8-bit RGB PNG: a diagonal gradient through the seed's colours, darker
    towards the bottom."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad image size {width}x{height}")
    first, second, third = palette(seed)
    strip_length = width + height
    # One strip of colours along the diagonal, per vertical band (shaded towards the bottom).
    strips: list[bytes] = []
    for band in range(_BANDS):
        shade = 1.0 - 0.45 * band / max(1, _BANDS - 1)
        strip = bytearray()
        for position in range(strip_length):
            t = position / max(1, strip_length - 1)
            a, b, u = (first, second, t * 2) if t < 0.5 else (second, third, t * 2 - 1)
            strip.extend(int((a[c] + (b[c] - a[c]) * u) * shade) for c in range(3))
        strips.append(bytes(strip))
    compressor = zlib.compressobj(6)
    chunks = []
    row_bytes = width * 3
    for y in range(height):
        band_strip = strips[y * _BANDS // height]
        start = (height - 1 - y) * 3
        chunks.append(compressor.compress(b"\x00" + band_strip[start : start + row_bytes]))
    chunks.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            chunk(b"IHDR", header),
            chunk(b"IDAT", b"".join(chunks)),
            chunk(b"IEND", b""),
        )
    )

"""Provenance: what produced an image, kept beside it (`foo.png.json`) and inside it (PNG iTXt).

Stdlib only. The metadata is built from plain values so this module depends on no other part of
`wan`. PNG text chunks are inserted by copying the file chunk by chunk in fixed-size blocks: the
pixels (IDAT) are never decoded or re-encoded, and memory use does not grow with the image.
(A download writes them as it saves the image instead: `png_stream`; this copy is its fallback.)
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from wan_cli import __version__
from wan_cli.files.fs import remove_quietly
from wan_cli.files.naming import create_temp
from wan_cli.files.png_stream import MAX_TEXT_CHUNK as _MAX_TEXT_CHUNK
from wan_cli.files.png_stream import TEXT_CHUNKS as _TEXT_CHUNKS
from wan_cli.files.png_stream import chunk_header, text_chunks, text_keyword
from wan_cli.files.sniff import PNG_SIGNATURE

METADATA_SCHEMA = 1
# The iTXt keyword holding the full JSON metadata.
METADATA_KEYWORD = "wan"

_BLOCK = 64 * 1024
# Parameter names that must never be recorded, should a caller pass them by mistake.
_SECRET_KEYS = frozenset({"api_key", "apikey", "api-key", "authorization", "key"})


# -- metadata ------------------------------------------------------------------------------


def build_metadata(
    *,
    prompt: str,
    index: int,
    negative_prompt: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    references: Sequence[str | Mapping[str, Any]] = (),
    model: str | None = None,
    provider: str | None = None,
    request_id: str | None = None,
    source_url: str | None = None,
    usage: Mapping[str, Any] | None = None,
    text: str | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    """The provenance record of one image, as a JSON-ready dict with a stable set of keys.

    `references` are the reference images as given (URL, data URI, or local path) or already
    made descriptors (mappings); they are reduced to descriptors: base64 data is never stored,
    local paths keep only the file name, URLs lose credentials and query strings. `text` is
    the model's interleaved text, if any. `created` defaults to now; stored as ISO-8601 UTC.
    """
    when = (created or datetime.now(UTC)).astimezone(UTC)
    params = {k: v for k, v in (parameters or {}).items() if k.lower() not in _SECRET_KEYS}
    return {
        "schema": METADATA_SCHEMA,
        "generator": f"wan {__version__}",
        "wan_version": __version__,
        "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": model,
        "provider": provider,
        "request_id": request_id,
        "index": index,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "parameters": params,
        "references": [describe_reference(ref) for ref in references],
        "text": text,
        "source_url": redact_url(source_url) if source_url else None,
        "usage": dict(usage) if usage is not None else None,
    }


def redact_url(url: str) -> str:
    """The URL without user:password, query or fragment.

    Result and reference links are often pre-signed: the query carries a signature (and an
    access key id) that grants access until it expires; it must not travel inside shared files.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def describe_reference(ref: str | Mapping[str, Any]) -> dict[str, Any]:
    """A small JSON description of a reference image, without its bytes."""
    if isinstance(ref, Mapping):
        out: dict[str, Any] = {}
        for key, value in ref.items():
            if key in ("data", "b64_json", "base64", "bytes_b64"):
                continue
            if isinstance(value, str):
                if value.startswith("data:"):
                    continue  # never copy inline image data
                if value.lower().startswith(("http://", "https://")):
                    value = redact_url(value)
                elif key in ("path", "source"):
                    value = Path(value).name  # a local path: keep the name only
            out[key] = value
        return out
    if ref.startswith("data:"):
        return _describe_data_uri(ref)
    scheme = ref.split(":", 1)[0].lower() if ":" in ref else ""
    if scheme in ("http", "https"):
        return {"kind": "url", "url": redact_url(ref)}
    # A local file: the name is useful; the full path may reveal a user name.
    return {"kind": "file", "name": Path(ref).name}


def _describe_data_uri(uri: str) -> dict[str, Any]:
    import base64
    import binascii
    import hashlib

    header, _, payload = uri.partition(",")
    mime = header[5:].split(";", 1)[0] or None
    out: dict[str, Any] = {"kind": "inline", "mime": mime}
    if header.endswith(";base64"):
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return out
        out["bytes"] = len(data)
        out["sha256"] = hashlib.sha256(data).hexdigest()
    return out


def png_text_entries(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The PNG text entries for an image: the full JSON under "wan", plus standard keywords."""
    entries = {
        METADATA_KEYWORD: json.dumps(metadata, ensure_ascii=False, separators=(",", ":")),
        "Software": f"wan {__version__}",
    }
    prompt = metadata.get("prompt")
    if isinstance(prompt, str) and prompt:
        entries["Description"] = prompt
    model = metadata.get("model")
    if isinstance(model, str) and model:
        entries["Source"] = model
    return entries


# -- sidecar -------------------------------------------------------------------------------


def sidecar_path(image_path: Path) -> Path:
    return image_path.with_name(image_path.name + ".json")


def write_sidecar(image_path: Path, metadata: Mapping[str, Any]) -> Path:
    """Write `{image}.json` (UTF-8, indented) atomically: readers see the old file or the new."""
    target = sidecar_path(image_path)
    text = json.dumps(metadata, ensure_ascii=False, indent=2, default=str) + "\n"
    fd, tmp = create_temp(target.parent, f".{target.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        remove_quietly(tmp)
        raise
    return target


# -- PNG text chunks -----------------------------------------------------------------------


def embed_png_text(path: Path, entries: Mapping[str, str]) -> tuple[str, int]:
    """Insert one uncompressed iTXt chunk per entry right after IHDR, rewriting the file; returns
    the new file's SHA-256 and size, measured as it is written (no second read).

    Existing text chunks with the same keywords are dropped (no duplicates after a re-embed);
    every other chunk is copied byte for byte, its CRC checked on the way. Raises ValueError
    for a file that is not a well-formed PNG; the original is then left untouched.
    """
    new_chunks, replaced = text_chunks(entries)
    fd, tmp = create_temp(path.parent, f".{path.name}.embed-")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as out:
            dst = _Measured(out)
            if src.read(8) != PNG_SIGNATURE:
                raise ValueError("not a PNG file (bad signature)")
            dst.write(PNG_SIGNATURE)
            length, ctype = _read_header(src)
            if ctype != b"IHDR" or length != 13:
                raise ValueError("not a PNG file (IHDR is not the first chunk)")
            _copy_chunk(src, dst, length, ctype)
            dst.write(new_chunks)
            while ctype != b"IEND":
                length, ctype = _read_header(src)
                if ctype in _TEXT_CHUNKS and length <= _MAX_TEXT_CHUNK:
                    data = _read_exact(src, length)
                    crc = _read_exact(src, 4)
                    _check_crc(ctype, data, crc)
                    if text_keyword(data) in replaced:
                        continue
                    dst.write(struct.pack(">I", length) + ctype + data + crc)
                else:
                    _copy_chunk(src, dst, length, ctype)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    return dst.digest.hexdigest(), dst.size


def read_png_text(path: Path) -> dict[str, str]:
    """All tEXt, zTXt and iTXt entries of a PNG, keyword → text (the last one wins)."""
    out: dict[str, str] = {}
    with open(path, "rb") as fh:
        if fh.read(8) != PNG_SIGNATURE:
            raise ValueError("not a PNG file (bad signature)")
        ctype = b""
        while ctype != b"IEND":
            length, ctype = _read_header(fh)
            if ctype in _TEXT_CHUNKS and length <= _MAX_TEXT_CHUNK:
                data = _read_exact(fh, length)
                _check_crc(ctype, data, _read_exact(fh, 4))
                keyword, text = _parse_text_chunk(ctype, data)
                out[keyword] = text
            else:
                fh.seek(length + 4, os.SEEK_CUR)
    return out


def make_png_embedder(
    entries: Mapping[str, str],
) -> Callable[[Path, str], tuple[str, int] | None]:
    """A `finalize(path, mime)` hook for downloads: embeds `entries` when the image is a PNG and
    returns the rewritten file's (sha256, size); None when it left the file alone.

    Other formats are left alone (their metadata lives in the sidecar only), and so is a PNG
    too malformed to rewrite safely: saving the image matters more than tagging it.
    """
    frozen = dict(entries)

    def finalize(path: Path, mime: str) -> tuple[str, int] | None:
        if mime != "image/png":
            return None
        try:
            return embed_png_text(path, frozen)
        except ValueError:
            return None

    return finalize


# -- helpers -------------------------------------------------------------------------------


class _Measured:
    """A file being written, hashed and counted on the way."""

    def __init__(self, out: IO[bytes]) -> None:
        import hashlib

        self._out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._out.write(data)


def _parse_text_chunk(ctype: bytes, data: bytes) -> tuple[str, str]:
    keyword_raw, _, rest = data.partition(b"\x00")
    keyword = keyword_raw.decode("latin-1")
    try:
        if ctype == b"tEXt":
            return keyword, rest.decode("latin-1")
        if ctype == b"zTXt":
            return keyword, zlib.decompress(rest[1:]).decode("latin-1")
        flag, _method = rest[0], rest[1]
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if flag:
            text = zlib.decompress(text)
        return keyword, text.decode("utf-8")
    except (IndexError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed {ctype.decode()} chunk: {exc}") from None


def _read_header(fh: IO[bytes]) -> tuple[int, bytes]:
    header = fh.read(8)
    if len(header) < 8:
        raise ValueError("truncated PNG (no IEND chunk)")
    return chunk_header(header)


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ValueError("truncated PNG chunk")
    return data


def _check_crc(ctype: bytes, data: bytes, crc: bytes) -> None:
    if zlib.crc32(data, zlib.crc32(ctype)) != struct.unpack(">I", crc)[0]:
        raise ValueError(f"bad CRC in PNG {ctype.decode()} chunk")


def _copy_chunk(src: IO[bytes], dst: _Measured, length: int, ctype: bytes) -> None:
    """Copy one chunk (header, data, CRC) in fixed-size blocks, checking its CRC."""
    dst.write(struct.pack(">I", length) + ctype)
    crc = zlib.crc32(ctype)
    left = length
    while left:
        block = src.read(min(left, _BLOCK))
        if not block:
            raise ValueError("truncated PNG chunk")
        crc = zlib.crc32(block, crc)
        dst.write(block)
        left -= len(block)
    stored = _read_exact(src, 4)
    if crc != struct.unpack(">I", stored)[0]:
        raise ValueError(f"bad CRC in PNG {ctype.decode()} chunk")
    dst.write(stored)

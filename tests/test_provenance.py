"""Provenance: metadata, sidecar JSON, and PNG iTXt chunks inserted without touching pixels."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fakeapi import jpeg_bytes, png_bytes
from wan_cli import __version__
from wan_cli.files.provenance import (
    build_metadata,
    describe_reference,
    embed_png_text,
    make_png_embedder,
    png_text_entries,
    read_png_text,
    redact_url,
    write_sidecar,
)


def parse_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """An independent PNG walker: every chunk's (type, data), asserting each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(ctype + body) == crc, f"bad CRC in {ctype!r}"
        chunks.append((ctype, body))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def metadata(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "prompt": "一只猫 on a skateboard",
        "index": 1,
        "negative_prompt": "blurry",
        "parameters": {"size": "1280*1280", "n": 1, "seed": 42, "api_key": "sk-secret"},
        "references": [
            "https://user:pw@example.com/ref.png?Signature=abc&OSSAccessKeyId=xyz#frag",
            "data:image/png;base64," + base64.b64encode(b"abc").decode(),
            "/home/alice/private/cat.jpg",
        ],
        "model": "wan2.6-image",
        "provider": "gateway",
        "request_id": "req-123",
        "source_url": "https://oss.example.com/out/1.png?Expires=1&Signature=s",
        "usage": {"image_count": 1, "total_tokens": 31},
        "text": "Here is your cat.",
        "created": datetime(2025, 1, 2, 11, 4, 5, tzinfo=timezone(timedelta(hours=8))),
    }
    values.update(overrides)
    return build_metadata(**values)  # type: ignore[arg-type]


def test_build_metadata() -> None:
    meta = metadata()
    assert meta["created"] == "2025-01-02T03:04:05Z"
    assert meta["wan_version"] == __version__
    assert meta["model"] == "wan2.6-image"
    assert meta["provider"] == "gateway"
    assert meta["request_id"] == "req-123"
    assert meta["index"] == 1
    assert meta["prompt"] == "一只猫 on a skateboard"
    assert meta["negative_prompt"] == "blurry"
    assert meta["parameters"] == {"size": "1280*1280", "n": 1, "seed": 42}
    assert meta["usage"] == {"image_count": 1, "total_tokens": 31}
    assert meta["text"] == "Here is your cat."
    assert meta["source_url"] == "https://oss.example.com/out/1.png"
    assert meta["references"] == [
        {"kind": "url", "url": "https://example.com/ref.png"},
        {
            "kind": "inline",
            "mime": "image/png",
            "bytes": 3,
            "sha256": hashlib.sha256(b"abc").hexdigest(),
        },
        {"kind": "file", "name": "cat.jpg"},
    ]
    text = json.dumps(meta)
    assert "sk-secret" not in text
    assert "base64" not in text
    assert "Signature" not in text
    assert "alice" not in text


def test_build_metadata_defaults() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    meta = build_metadata(prompt="p", index=2)
    created = datetime.strptime(str(meta["created"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= datetime.now(UTC)
    assert meta["references"] == []
    assert meta["parameters"] == {}
    assert meta["source_url"] is None
    assert meta["usage"] is None
    json.dumps(meta)  # JSON-ready


def test_describe_reference_mappings_drop_inline_data() -> None:
    ref = {"kind": "file", "name": "a.png", "data": "xyz", "uri": "data:image/png;base64,AAAA"}
    assert describe_reference(ref) == {"kind": "file", "name": "a.png"}
    assert describe_reference({"url": "http://h:8080/a?b=c"}) == {"url": "http://h:8080/a"}
    # The shape refs.RefImage.describe() produces.
    local = {"kind": "file", "source": "/home/alice/cat.png", "path": "/home/alice/cat.png"}
    assert describe_reference({**local, "mime": "image/png", "bytes": 10}) == {
        "kind": "file",
        "source": "cat.png",
        "path": "cat.png",
        "mime": "image/png",
        "bytes": 10,
    }
    signed = "https://b.example/r.png?X-Amz-Signature=s"
    assert describe_reference({"kind": "url", "source": signed, "url": signed}) == {
        "kind": "url",
        "source": "https://b.example/r.png",
        "url": "https://b.example/r.png",
    }
    inline = {"kind": "data", "source": "data:image/png;base64,…", "mime": "image/png"}
    assert describe_reference(inline) == {"kind": "data", "mime": "image/png"}


def test_redact_url() -> None:
    assert redact_url("https://u:p@h.example/a/b.png?x=1#f") == "https://h.example/a/b.png"
    assert redact_url("http://[::1]:8080/x?y") == "http://[::1]:8080/x"


def test_sidecar(tmp_path: Path) -> None:
    image = tmp_path / "cat-20250102-030405-1.png"
    image.write_bytes(png_bytes())
    meta = metadata()
    path = write_sidecar(image, meta)
    assert path == tmp_path / "cat-20250102-030405-1.png.json"
    raw = path.read_bytes()
    assert "一只猫".encode() in raw  # UTF-8, not \\u escapes
    assert raw.startswith(b"{\n  ")  # indented
    assert json.loads(raw) == meta
    # Rewriting replaces atomically and leaves no temp files behind.
    write_sidecar(image, {**meta, "sha256": "x"})
    assert json.loads(path.read_bytes())["sha256"] == "x"
    assert sorted(os.listdir(tmp_path)) == [image.name, path.name]


def test_embed_round_trip_keeps_pixels_and_crcs(tmp_path: Path) -> None:
    original = png_bytes(16, 9)
    image = tmp_path / "a.png"
    image.write_bytes(original)
    meta = metadata()
    entries = png_text_entries(meta)
    assert set(entries) == {"wan", "Software", "Description", "Source"}
    embed_png_text(image, entries)

    after = image.read_bytes()
    chunks = parse_chunks(after)
    before = parse_chunks(original)
    types = [c[0] for c in chunks]
    assert types[0] == b"IHDR" and types[-1] == b"IEND"
    assert types[1:5] == [b"iTXt"] * 4  # right after IHDR, before any IDAT
    # Pixels untouched: the IDAT (and IHDR) bytes are identical.
    assert [c for c in chunks if c[0] != b"iTXt"] == before

    texts = read_png_text(image)
    assert texts["Description"] == "一只猫 on a skateboard"
    assert texts["Software"] == f"wan {__version__}"
    assert texts["Source"] == "wan2.6-image"
    assert json.loads(texts["wan"]) == meta
    assert os.listdir(tmp_path) == ["a.png"]


def test_embed_returns_the_hash_and_size_of_the_file_it_wrote(tmp_path: Path) -> None:
    import hashlib

    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(40, 30))
    digest, size = embed_png_text(image, {"wan": '{"prompt": "秋天"}', "Comment": "x"})
    content = image.read_bytes()
    assert (digest, size) == (hashlib.sha256(content).hexdigest(), len(content))


def test_re_embedding_replaces_instead_of_duplicating(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes())
    embed_png_text(image, {"wan": "first", "Comment": "kept"})
    embed_png_text(image, {"wan": "second"})
    chunks = parse_chunks(image.read_bytes())
    assert sum(1 for c in chunks if c[0] == b"iTXt") == 2
    assert read_png_text(image) == {"wan": "second", "Comment": "kept"}


def test_read_png_text_understands_text_and_ztxt(tmp_path: Path) -> None:
    def chunk(ctype: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + ctype
            + data
            + struct.pack(">I", zlib.crc32(ctype + data))
        )

    png = png_bytes()
    iend = len(png) - 12
    extra = (
        chunk(b"tEXt", b"Title\x00caf\xe9")
        + chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"squeezed"))
        + chunk(b"iTXt", b"Note\x00\x01\x00en\x00Notiz\x00" + zlib.compress("größe".encode()))
    )
    image = tmp_path / "t.png"
    image.write_bytes(png[:iend] + extra + png[iend:])
    assert read_png_text(image) == {"Title": "café", "Comment": "squeezed", "Note": "größe"}


def test_pillow_can_open_the_result_if_installed(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(8, 8))
    embed_png_text(image, {"Description": "a cat"})
    with image_module.open(image) as im:
        im.load()
        assert im.size == (8, 8)
        assert im.text["Description"] == "a cat"


@pytest.mark.parametrize(
    "data",
    [
        jpeg_bytes(),
        b"not a png at all",
        png_bytes()[:-12],  # no IEND
        png_bytes()[:20],  # cut inside IHDR
    ],
)
def test_embed_refuses_non_png_and_leaves_the_file_alone(tmp_path: Path, data: bytes) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(data)
    with pytest.raises(ValueError):
        embed_png_text(image, {"wan": "{}"})
    assert image.read_bytes() == data
    assert os.listdir(tmp_path) == ["x.png"]


def test_embed_detects_a_corrupt_crc(tmp_path: Path) -> None:
    data = bytearray(png_bytes())
    data[-20] ^= 0xFF  # inside IDAT
    image = tmp_path / "x.png"
    image.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        embed_png_text(image, {"wan": "{}"})
    assert image.read_bytes() == bytes(data)


@pytest.mark.parametrize("keyword", ["", "k" * 80, " lead", "trail ", "two  spaces", "猫", "a\nb"])
def test_bad_keywords_are_refused(tmp_path: Path, keyword: str) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(png_bytes())
    with pytest.raises(ValueError):
        embed_png_text(image, {keyword: "text"})
    assert image.read_bytes() == png_bytes()


def test_png_embedder_only_touches_pngs(tmp_path: Path) -> None:
    finalize = make_png_embedder({"wan": "{}"})
    png = tmp_path / "a.png"
    png.write_bytes(png_bytes())
    finalize(png, "image/png")
    assert read_png_text(png) == {"wan": "{}"}

    jpg = tmp_path / "b.jpg"
    jpg.write_bytes(jpeg_bytes())
    finalize(jpg, "image/jpeg")
    assert jpg.read_bytes() == jpeg_bytes()

    # A broken PNG is saved as it came rather than lost.
    broken = tmp_path / "c.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    finalize(broken, "image/png")
    assert broken.read_bytes() == b"\x89PNG\r\n\x1a\ngarbage"


def test_embedding_a_large_png_uses_blocks(tmp_path: Path) -> None:
    # A 3 MB IDAT is copied through, not held whole; the bytes survive exactly.
    payload = os.urandom(3 * 1024 * 1024)
    png = png_bytes()
    ihdr_end = 8 + 25
    idat = struct.pack(">I", len(payload)) + b"IDAT" + payload
    idat += struct.pack(">I", zlib.crc32(b"IDAT" + payload))
    data = png[:ihdr_end] + idat + png[-12:]
    image = tmp_path / "big.png"
    image.write_bytes(data)
    embed_png_text(image, {"wan": "x"})
    chunks = parse_chunks(image.read_bytes())
    assert [c[0] for c in chunks] == [b"IHDR", b"iTXt", b"IDAT", b"IEND"]
    assert chunks[2][1] == payload

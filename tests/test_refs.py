"""Unit tests for wan_cli.files.refs: sniffing, dimension checks, data URIs, file errors."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest

from tests.conftest import read_permissions_enforced
from wan_cli.errors import ExitCode, UsageError
from wan_cli.files.refs import MAX_REF_BYTES, RefImage, load_ref
from wan_cli.files.sniff import sniff_image

# --- tiny images, built by hand ------------------------------------------------------------


def png(width: int = 256, height: int = 256) -> bytes:
    """A real, decodable 8-bit greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = (b"\x00" + b"\x00" * width) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = 320, height: int = 240, *, sof: int = 0xC0, exif: int = 0) -> bytes:
    """JPEG markers up to the scan: SOI, APP0 (JFIF), optional APP1 padding, DQT, SOFn, SOS, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\x00" * exif if exif else b""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(64))
    frame = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    sofn = bytes([0xFF, sof]) + struct.pack(">H", len(frame) + 2) + frame
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + app1 + dqt + sofn + sos + b"\x00" * 16 + b"\xff\xd9"


def bmp(
    width: int = 300, height: int = 300, *, core: bool = False, top_down: bool = False
) -> bytes:
    if core:
        dib = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:
        h = -height if top_down else height
        dib = struct.pack("<IiiHHIIiiII", 40, width, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    offset = 14 + len(dib)
    return b"BM" + struct.pack("<IHHI", offset + 16, 0, 0, offset) + dib + b"\x00" * 16


def webp(width: int = 400, height: int = 300, *, kind: str = "VP8X") -> bytes:
    if kind == "VP8X":
        payload = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
        payload += (height - 1).to_bytes(3, "little")
    elif kind == "VP8 ":
        payload = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 8
    else:  # VP8L
        bits = (width - 1) | ((height - 1) << 14)
        payload = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8
    chunk = kind.encode() + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00;"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


# --- sniff_image ---------------------------------------------------------------------------


def test_sniff_png() -> None:
    assert sniff_image(png(640, 480)) == ("image/png", 640, 480)


def test_sniff_png_truncated_header_has_no_dims() -> None:
    assert sniff_image(png()[:10]) == ("image/png", None, None)


def test_sniff_jpeg_baseline() -> None:
    assert sniff_image(jpeg(1024, 768)) == ("image/jpeg", 1024, 768)


def test_sniff_jpeg_progressive_after_big_exif() -> None:
    data = jpeg(3000, 2000, sof=0xC2, exif=60000)
    assert sniff_image(data) == ("image/jpeg", 3000, 2000)


def test_sniff_jpeg_without_frame_header_has_no_dims() -> None:
    assert sniff_image(b"\xff\xd8\xff\xe0\x00\x04\x00\x00\xff\xda\x00\x02") == (
        "image/jpeg",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("data", "dims"),
    [
        (bmp(300, 500), (300, 500)),
        (bmp(300, 500, top_down=True), (300, 500)),
        (bmp(250, 260, core=True), (250, 260)),
    ],
)
def test_sniff_bmp(data: bytes, dims: tuple[int, int]) -> None:
    assert sniff_image(data) == ("image/bmp", *dims)


@pytest.mark.parametrize("kind", ["VP8X", "VP8 ", "VP8L"])
def test_sniff_webp_variants(kind: str) -> None:
    assert sniff_image(webp(1000, 700, kind=kind)) == ("image/webp", 1000, 700)


@pytest.mark.parametrize(
    "data",
    [b"", GIF, HEIC, b"hello world, not an image", b"BMx is not a bitmap header at all..."],
)
def test_sniff_rejects_other_formats(data: bytes) -> None:
    assert sniff_image(data) is None


# --- load_ref: files -----------------------------------------------------------------------


def test_load_png_file(tmp_path: Path) -> None:
    data = png(256, 300)
    path = write(tmp_path, "cat.png", data)
    ref = load_ref(str(path))
    assert ref == RefImage(
        source=str(path),
        kind="file",
        value="data:image/png;base64,",  # the rest is encoded from the file as it is sent
        mime="image/png",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=256,
        height=300,
        path=str(path),
        from_path=True,
    )
    assert ref.data_uri() == "data:image/png;base64," + base64.b64encode(data).decode()


def test_describe_has_no_base64(tmp_path: Path) -> None:
    data = png()
    path = write(tmp_path, "cat.png", data)
    ref = load_ref(str(path))
    encoded = base64.b64encode(data).decode()
    assert ref.describe() == {
        "kind": "file",
        "source": str(path),
        "path": str(path),
        "mime": "image/png",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": 256,
        "height": 256,
    }
    assert encoded not in repr(ref)


def test_mime_comes_from_magic_bytes_not_extension(tmp_path: Path) -> None:
    assert load_ref(str(write(tmp_path, "really-png.jpg", png()))).mime == "image/png"
    assert load_ref(str(write(tmp_path, "really-jpeg.png", jpeg()))).mime == "image/jpeg"
    assert load_ref(str(write(tmp_path, "noext", webp()))).mime == "image/webp"
    assert load_ref(str(write(tmp_path, "x.bmp", bmp()))).data_uri().startswith("data:image/bmp;")


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, "me.png", png())
    ref = load_ref("~/me.png")
    assert ref.source == "~/me.png"
    assert ref.path == str(tmp_path / "me.png")


def test_relative_path_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "rel.png", png())
    assert load_ref("rel.png").path == str(tmp_path / "rel.png")


def test_exactly_10_mb_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "big.png", png())
    os.truncate(path, MAX_REF_BYTES)  # sparse tail of zeros: fast
    ref = load_ref(str(path))
    assert ref.size_bytes == MAX_REF_BYTES
    assert ref.encoded_length() == len("data:image/png;base64,") + (MAX_REF_BYTES + 2) // 3 * 4
    assert sum(len(chunk) for chunk in ref.chunks()) == ref.encoded_length()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not found: .*nope\.png") as info:
        load_ref(str(tmp_path / "nope.png"))
    assert info.value.exit_code == ExitCode.USAGE


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"is a directory: "):
        load_ref(str(tmp_path))


def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.png", png())
    path.chmod(0)
    try:
        with (
            read_permissions_enforced(),
            pytest.raises(UsageError, match=r"cannot read reference image .*secret\.png"),
        ):
            load_ref(str(path))
    finally:
        path.chmod(0o600)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"empty: .*empty\.png"):
        load_ref(str(write(tmp_path, "empty.png", b"")))


def test_oversized_file(tmp_path: Path) -> None:
    path = write(tmp_path, "huge.png", png())
    os.truncate(path, MAX_REF_BYTES + 1)
    with pytest.raises(UsageError, match=r"too large: .*huge.png .*10485761 bytes.*limit is 10 MB"):
        load_ref(str(path))


def test_gif_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"unsupported image format \(GIF\): .*anim.png .*JPEG, PNG, BMP, WEBP"
    ):
        load_ref(str(write(tmp_path, "anim.png", GIF)))


def test_text_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unsupported image format: .*notes.jpg"):
        load_ref(str(write(tmp_path, "notes.jpg", b"just some text\n")))


def test_heic_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unsupported image format \(HEIC/HEIF\)"):
        load_ref(str(write(tmp_path, "phone.heic", HEIC)))


def test_too_small_dimensions(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"tiny.png is 100x100 px; each side must be 240..8000"):
        load_ref(str(write(tmp_path, "tiny.png", png(100, 100))))


def test_too_large_dimension(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"is 9000x300 px"):
        load_ref(str(write(tmp_path, "wide.jpg", jpeg(9000, 300))))


def test_one_short_side_fails(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"is 1000x239 px"):
        load_ref(str(write(tmp_path, "strip.webp", webp(1000, 239))))


def test_unreadable_dimensions_do_not_fail(tmp_path: Path) -> None:
    data = b"\xff\xd8\xff\xe0\x00\x04\x00\x00\xff\xda\x00\x02" + b"\x00" * 64
    ref = load_ref(str(write(tmp_path, "odd.jpg", data)))
    assert (ref.mime, ref.width, ref.height) == ("image/jpeg", None, None)


def test_other_url_scheme_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unsupported reference image URL scheme 'file'"):
        load_ref("file:///tmp/definitely-not-here.png")


def test_blank_argument() -> None:
    with pytest.raises(UsageError, match="empty reference image argument"):
        load_ref("  ")


# --- load_ref: URLs and data URIs ----------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://example.com/a.png?sig=x&y=1", "http://127.0.0.1:8080/b", "HTTPS://Ex.com/c"]
)
def test_url_passes_through_unchanged(url: str) -> None:
    ref = load_ref(url)
    assert ref == RefImage(source=url, kind="url", value=url)
    assert ref.describe() == {"kind": "url", "source": url, "url": url}


@pytest.mark.parametrize(
    "url", ["http://", "https:///path", "https://exa mple.com/x", "http://[::1"]
)
def test_bad_url(url: str) -> None:
    with pytest.raises(UsageError, match="invalid reference image URL"):
        load_ref(url)


def test_data_uri_passes_through() -> None:
    data = png(300, 400)
    uri = data_uri("image/png", data)
    ref = load_ref(uri)
    assert ref.kind == "data"
    assert ref.value == uri
    assert (ref.mime, ref.width, ref.height, ref.size_bytes) == ("image/png", 300, 400, len(data))
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    described = ref.describe()
    assert described["source"] == "data:image/png;base64,…"
    assert base64.b64encode(data).decode() not in repr(ref) + repr(described)


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/gif;base64,R0lGODlh",
        "data:image/png,rawbytes",
        "data:image/png;base64,***",
        "data:text/plain;base64,aGVsbG8=",
    ],
)
def test_malformed_data_uri(uri: str) -> None:
    with pytest.raises(UsageError, match="malformed"):
        load_ref(uri)


def test_data_uri_with_wrong_declared_type() -> None:
    with pytest.raises(UsageError, match="says image/png but holds image/jpeg"):
        load_ref(data_uri("image/png", jpeg()))


def test_data_uri_with_gif_content() -> None:
    with pytest.raises(UsageError, match=r"unsupported image format \(GIF\)"):
        load_ref(data_uri("image/png", GIF))


def test_data_uri_with_small_image() -> None:
    with pytest.raises(UsageError, match="is 100x100 px"):
        load_ref(data_uri("image/png", png(100, 100)))

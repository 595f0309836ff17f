"""Downloads against the loopback fake server: verification, naming, retries, cleanup, safety."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import disk_full
from tests.fakeapi import FakeAPI, Reply, bmp_bytes, jpeg_bytes, png_bytes, webp_bytes
from wan_cli import __version__
from wan_cli.api.events.inline import InlineImage
from wan_cli.files.download import (
    PngText,
    SavedImage,
    download_image,
    make_download_client,
    save_inline,
    url_problem,
)
from wan_cli.files.png_stream import chunk as png_chunk
from wan_cli.files.png_stream import text_chunks
from wan_cli.files.provenance import make_png_embedder, read_png_text
from wan_cli.files.sniff import sniff_mime, truncation

if TYPE_CHECKING:
    from collections.abc import Callable

STEM = "a-cat-20250102-030405-1"
GIF = b"GIF89a" + b"\x05\x00\x03\x00" + b"\x00" * 20 + b";"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_download_client(timeout=10) as c:
        yield c


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def listing(directory: Path) -> list[str]:
    """Every entry, hidden temp files included."""
    return sorted(os.listdir(directory)) if directory.exists() else []


def fetch(client: httpx.Client, url: str, out: Path, **kwargs: object) -> SavedImage:
    kwargs.setdefault("retries", 0)
    return download_image(client, url, directory=out, stem=STEM, index=0, **kwargs)  # type: ignore[arg-type]


def assert_failed(saved: SavedImage, out: Path, *fragments: str) -> None:
    assert saved.error is not None, saved
    assert not saved.ok
    assert saved.path is None and saved.sha256 is None
    for fragment in fragments:
        assert fragment in saved.error
    assert listing(out) == []  # no temp file, no final file


# -- success -------------------------------------------------------------------------------


def test_success_takes_the_extension_from_magic_bytes(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    data = png_bytes(16, 9)
    fake_api.add("/img/photo.jpg", Reply.bytes(data, content_type="image/jpeg"))
    saved = fetch(client, f"{fake_api.url}/img/photo.jpg?sig=1", out / "nested" / "dir")
    assert saved.ok and saved.error is None
    assert saved.path == out / "nested" / "dir" / f"{STEM}.png"
    assert saved.path.read_bytes() == data
    assert saved.bytes == len(data)
    assert saved.sha256 == hashlib.sha256(data).hexdigest()
    assert saved.mime == "image/png"
    assert (saved.width, saved.height) == (16, 9)
    assert saved.index == 0
    assert saved.url == f"{fake_api.url}/img/photo.jpg?sig=1"
    assert listing(out / "nested" / "dir") == [f"{STEM}.png"]


@pytest.mark.parametrize(
    ("data", "content_type", "ext", "size"),
    [
        (jpeg_bytes(7, 5), "image/jpeg", "jpg", (7, 5)),
        (webp_bytes(6, 4), "image/webp", "webp", (6, 4)),
        (bmp_bytes(3, 2), "image/bmp", "bmp", (3, 2)),
        (GIF, "image/gif", "gif", (5, 3)),
        (png_bytes(), "application/octet-stream", "png", (4, 4)),
        (png_bytes(), None, "png", (4, 4)),
    ],
)
def test_formats(
    fake_api: FakeAPI,
    client: httpx.Client,
    out: Path,
    data: bytes,
    content_type: str | None,
    ext: str,
    size: tuple[int, int],
) -> None:
    reply = Reply.bytes(data, content_type=content_type or "")
    fake_api.add("/img/x", reply)
    saved = fetch(client, f"{fake_api.url}/img/x", out)
    assert saved.ok, saved.error
    assert saved.path is not None and saved.path.name == f"{STEM}.{ext}"
    assert (saved.width, saved.height) == size


def test_second_run_never_overwrites(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    first, second = png_bytes(4, 4), png_bytes(8, 8)
    fake_api.add("/img/a.png", Reply.bytes(first), Reply.bytes(second))
    one = fetch(client, f"{fake_api.url}/img/a.png", out)
    two = fetch(client, f"{fake_api.url}/img/a.png", out)
    assert one.path is not None and two.path is not None
    assert (one.path.name, two.path.name) == (f"{STEM}.png", f"{STEM}-2.png")
    assert one.path.read_bytes() == first
    assert two.path.read_bytes() == second


def test_progress_reports_bytes_and_total(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    data = png_bytes() + os.urandom(200_000)
    fake_api.add("/img/big.png", Reply.bytes(data, chunk_size=50_000))
    calls: list[tuple[int, int | None]] = []
    saved = fetch(
        client, f"{fake_api.url}/img/big.png", out, on_progress=lambda d, t: calls.append((d, t))
    )
    assert saved.ok
    assert calls[0] == (0, len(data))
    assert calls[-1] == (len(data), len(data))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_finalize_embeds_metadata_and_the_hash_matches_the_file(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.bytes(png_bytes()))
    finalize = make_png_embedder({"wan": '{"prompt": "a cat"}', "Description": "a cat"})
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, finalize=finalize)
    assert saved.ok and saved.path is not None
    assert read_png_text(saved.path) == {"wan": '{"prompt": "a cat"}', "Description": "a cat"}
    content = saved.path.read_bytes()
    assert saved.sha256 == hashlib.sha256(content).hexdigest()
    assert saved.bytes == len(content) > len(png_bytes())
    assert listing(out) == [saved.path.name]


@pytest.mark.parametrize("metadata", [True, False], ids=["png-metadata", "no-hook"])
def test_a_saved_image_is_written_and_synced_once_and_never_read_back_whole(
    fake_api: FakeAPI,
    client: httpx.Client,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    metadata: bool,
) -> None:
    """The embedder hashes what it writes; the download is synced only when nothing rewrites
    it (the rewritten copy is what gets published, and synced)."""
    import wan_cli.files.publish as publish

    data = png_bytes(64, 64)
    fake_api.add("/img/a.png", Reply.bytes(data))
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])

    def no_rehash(path: Path) -> tuple[str, int]:
        raise AssertionError(f"{path} was read back to hash it")

    monkeypatch.setattr(publish, "_hash_file", no_rehash)
    finalize = make_png_embedder({"wan": "{}"}) if metadata else None
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, finalize=finalize)
    assert saved.ok and saved.path is not None
    content = saved.path.read_bytes()
    assert saved.sha256 == hashlib.sha256(content).hexdigest() and saved.bytes == len(content)
    assert (content != data) == metadata
    assert len(synced) == 1


def test_a_hook_that_rewrites_without_saying_so_is_hashed_again(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.bytes(png_bytes()))

    def finalize(path: Path, mime: str) -> None:
        make_png_embedder({"Comment": "x"})(path, mime)  # drops the (sha256, size) it returns

    saved = fetch(client, f"{fake_api.url}/img/a.png", out, finalize=finalize)
    assert saved.ok and saved.path is not None
    assert saved.sha256 == hashlib.sha256(saved.path.read_bytes()).hexdigest()


def test_finalize_sees_the_temp_file_and_a_failing_hook_leaves_nothing(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.bytes(png_bytes()))
    seen: list[tuple[str, str]] = []

    def finalize(path: Path, mime: str) -> None:
        seen.append((path.name, mime))
        raise RuntimeError("boom")

    saved = fetch(client, f"{fake_api.url}/img/a.png", out, finalize=finalize)
    assert_failed(saved, out, "could not add metadata", "boom")
    [(name, mime)] = seen
    assert name.startswith(f".{STEM}.part-") and mime == "image/png"


# -- PNG text written as the image arrives (no copy) ---------------------------------------

ENTRIES = {"wan": '{"prompt": "a cat"}', "Description": "a cat"}


def big_png(payload: bytes | None = None) -> bytes:
    """A well-formed PNG with one large IDAT (random bytes: its CRC is all that is checked)."""
    base = png_bytes(8, 8)
    return base[:33] + png_chunk(b"IDAT", payload or os.urandom(300_000)) + base[-12:]


def tagged(data: bytes) -> bytes:
    """`data` with the text chunks of ENTRIES right after IHDR."""
    return data[:33] + text_chunks(ENTRIES)[0] + data[33:]


class Text:
    """A PNG text source as `run/save` makes one: `ready()` says None until `known` is set;
    `wait()` stands for the end of the answer. Notes how much had arrived when it waited."""

    def __init__(self) -> None:
        self.known = threading.Event()
        self.received: list[int] = [0]
        self.waited_after: list[int] = []

    def ready(self) -> dict[str, str] | None:
        return ENTRIES if self.known.is_set() else None

    def wait(self) -> dict[str, str]:
        self.waited_after.append(self.received[-1])
        return ENTRIES

    def hook(self) -> PngText:
        return PngText(self.ready, self.wait)


def temp_inode(out: Path) -> int:
    [name] = listing(out)
    assert name.startswith(f".{STEM}.part-")
    return (out / name).stat().st_ino


@pytest.mark.parametrize("known", ["at the start", "midway", "at the end"])
def test_png_text_is_written_as_the_image_arrives(
    fake_api: FakeAPI,
    client: httpx.Client,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    known: str,
) -> None:
    """One file written once, the chunks after IHDR, hashed as written, synced once and
    published as is: the temp file that received the bytes is the published file."""
    data = big_png()
    fake_api.add("/img/a.png", Reply.bytes(data, chunk_size=16_384))
    text = Text()
    if known == "at the start":
        text.known.set()
    inodes: list[int] = []

    def progress(done: int, total: int | None) -> None:
        text.received.append(done)
        if done and not inodes:
            inodes.append(temp_inode(out))
        if known == "midway" and done >= len(data) // 2:
            text.known.set()

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    saved = fetch(
        client, f"{fake_api.url}/img/a.png", out, png_text=text.hook(), on_progress=progress
    )
    assert saved.ok and saved.path is not None, saved.error
    content = saved.path.read_bytes()
    assert content == tagged(data)
    assert read_png_text(saved.path) == ENTRIES
    assert saved.sha256 == hashlib.sha256(content).hexdigest() and saved.bytes == len(content)
    assert (saved.width, saved.height) == (8, 8)
    assert saved.path.stat().st_ino == inodes[0]  # never copied to another file
    assert len(synced) == 1
    assert listing(out) == [saved.path.name]
    assert text.waited_after[0] == len(data)  # it waited for the text once the image was in


def test_png_text_is_written_as_an_inline_image_is_decoded(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out.mkdir()
    data = big_png()
    events = _spy_on_durability(monkeypatch)
    saved = save_inline(
        inline(data), directory=out, stem=STEM, index=0, png_text=PngText.known(ENTRIES)
    )
    assert saved.ok and saved.path is not None, saved.error
    content = saved.path.read_bytes()
    assert content == tagged(data)
    assert saved.sha256 == hashlib.sha256(content).hexdigest() and saved.bytes == len(content)
    inode = saved.path.stat().st_ino
    # Synced once and published by its temp file's link: a copy would be a second file,
    # synced, then moved over the temp file with os.replace.
    assert events == [("fsync", inode, len(content)), ("publish", inode, saved.path)]


def test_png_text_a_png_too_big_to_hold_is_tagged_by_the_copy(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    # 17 MiB and the text only known at the end: more than the splicer holds, so it writes
    # the image as it came and today's copy adds the chunks once the text is known.
    data = big_png(bytes(17 * 1024 * 1024))
    fake_api.add("/img/a.png", Reply.bytes(data, chunk_size=1 << 20))
    text = Text()
    inodes: list[int] = []

    def progress(done: int, total: int | None) -> None:
        if done and not inodes:
            inodes.append(temp_inode(out))

    saved = fetch(
        client, f"{fake_api.url}/img/a.png", out, png_text=text.hook(), on_progress=progress
    )
    assert saved.ok and saved.path is not None, saved.error
    content = saved.path.read_bytes()
    assert content == tagged(data)
    assert saved.sha256 == hashlib.sha256(content).hexdigest() and saved.bytes == len(content)
    assert saved.path.stat().st_ino != inodes[0]  # the copy
    assert listing(out) == [saved.path.name]


@pytest.mark.parametrize("known", ["at the start", "at the end"])
def test_png_text_a_corrupt_png_is_saved_as_it_came(
    fake_api: FakeAPI, client: httpx.Client, out: Path, known: str
) -> None:
    # A bad CRC in the pixels: saving the image matters more than tagging it. Found before
    # the text was known, the image is saved as it came (untagged, as the copy leaves it);
    # found after, the chunks already written stay and the rest is as it came.
    data = bytearray(big_png())
    data[100_000] ^= 0xFF
    fake_api.add("/img/a.png", Reply.bytes(bytes(data)))
    text = Text()
    if known == "at the start":
        text.known.set()
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, png_text=text.hook())
    assert saved.ok and saved.path is not None, saved.error
    content = saved.path.read_bytes()
    assert content == (tagged(bytes(data)) if known == "at the start" else data)
    assert saved.sha256 == hashlib.sha256(content).hexdigest() and saved.bytes == len(content)


def test_png_text_leaves_other_formats_alone_but_waits_for_the_text(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    # Their provenance is the sidecar's, which wants the whole run: published after the wait.
    data = jpeg_bytes(8, 8)
    fake_api.add("/img/a.jpg", Reply.bytes(data, content_type="image/jpeg"))
    text = Text()
    saved = fetch(client, f"{fake_api.url}/img/a.jpg", out, png_text=text.hook())
    assert saved.ok and saved.path is not None, saved.error
    assert saved.path.read_bytes() == data and saved.sha256 == hashlib.sha256(data).hexdigest()
    assert text.waited_after == [0]


def test_png_text_each_retry_starts_a_fresh_splice(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    data = big_png()
    fake_api.add(
        "/img/a.png",
        Reply.bytes(big_png(), cut_after_bytes=100_000, chunk_size=10_000),
        Reply.bytes(data),
    )
    saved = fetch(
        client, f"{fake_api.url}/img/a.png", out, png_text=PngText.known(ENTRIES), retries=1
    )
    assert saved.ok and saved.path is not None, saved.error
    assert saved.path.read_bytes() == tagged(data)
    assert len(fake_api.requests) == 2


def test_png_text_a_failing_source_fails_the_image_and_leaves_nothing(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.bytes(big_png()))

    def ready() -> dict[str, str] | None:
        raise RuntimeError("boom")

    saved = fetch(client, f"{fake_api.url}/img/a.png", out, png_text=PngText(ready, ready))
    assert_failed(saved, out, "could not add metadata", "boom")


def test_png_text_or_a_finalize_hook_not_both(client: httpx.Client, out: Path) -> None:
    with pytest.raises(ValueError):
        fetch(
            client,
            "http://127.0.0.1/x.png",
            out,
            png_text=PngText.known(ENTRIES),
            finalize=make_png_embedder(ENTRIES),
        )


# -- verification failures -----------------------------------------------------------------


def test_404(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    saved = fetch(client, f"{fake_api.url}/img/missing.png", out, retries=2)
    assert_failed(saved, out, "HTTP 404")
    assert len(fake_api.requests) == 1  # not worth retrying


@pytest.mark.parametrize(
    "reply",
    [
        Reply.status(204),
        Reply.bytes(png_bytes(), status=206, headers={"Content-Range": "bytes 0-99/5000"}),
    ],
    ids=["204", "206"],
)
def test_a_success_that_is_not_the_whole_image_is_not_saved(
    fake_api: FakeAPI, client: httpx.Client, out: Path, reply: Reply
) -> None:
    # 2xx, but no body (204) or a piece of one (206): neither is the image.
    fake_api.add("/img/a.png", reply)
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, retries=2)
    assert_failed(saved, out, f"HTTP {reply.status_code}")
    assert len(fake_api.requests) == 1  # the host answered: nothing to retry


def test_truncated_body_leaves_no_file(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    data = png_bytes() + os.urandom(100_000)
    fake_api.add("/img/a.png", Reply.bytes(data, cut_after_bytes=70_000, chunk_size=10_000))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out)
    assert_failed(saved, out, "cut short", f"of {len(data)} bytes")


def test_content_length_mismatch(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    data = png_bytes()
    fake_api.add("/img/a.png", Reply.bytes(data, content_length=len(data) + 500))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out)
    assert_failed(saved, out, "cut short", f"{len(data)} of {len(data) + 500} bytes")


def test_html_instead_of_an_image(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    html = b"<!DOCTYPE html><html><body>Access denied</body></html>"
    fake_api.add("/img/a.png", Reply.bytes(html, content_type="text/html; charset=utf-8"))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out)
    assert_failed(saved, out)
    assert saved.error == "not an image: text/html"


def test_html_labelled_as_an_image(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    html = b"<!DOCTYPE html><html><body>Access denied, with a long enough body</body></html>"
    fake_api.add("/img/a.png", Reply.bytes(html, content_type="image/png"))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out)
    assert_failed(saved, out, "not an image", "HTML")


@pytest.mark.parametrize("body", [b"", b"GIF8", b"\x00" * 100])
def test_empty_or_unknown_bodies(
    fake_api: FakeAPI, client: httpx.Client, out: Path, body: bytes
) -> None:
    fake_api.add("/img/a.png", Reply.bytes(body))
    assert_failed(fetch(client, f"{fake_api.url}/img/a.png", out), out, "not an image")


def test_size_cap_from_content_length(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    data = png_bytes() + bytes(5000)
    fake_api.add("/img/a.png", Reply.bytes(data))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, max_bytes=1000)
    assert_failed(saved, out, "too large")


def test_size_cap_while_streaming(out: Path) -> None:
    # No Content-Length (chunked): the cap is enforced on the bytes as they arrive. The fake
    # server always sends a length, so this one answer comes from an httpx transport instead.
    yielded: list[int] = []

    def body() -> Iterator[bytes]:
        yield png_bytes()
        for n in range(1000):
            yielded.append(n)
            yield bytes(10_000)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=body())

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        saved = fetch(client, "http://images.invalid/a.png", out, max_bytes=100_000)
    assert_failed(saved, out, "too large")
    assert len(yielded) < 20  # stopped reading at the cap, not at the end


# -- links that must not be fetched --------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "/img/relative.png",
        "http:/no-host.png",
        "",
    ],
)
def test_non_http_links_are_not_fetched(
    fake_api: FakeAPI, client: httpx.Client, out: Path, url: str
) -> None:
    saved = fetch(client, url, out)
    assert_failed(saved, out, "refused")
    assert fake_api.requests == []
    assert url_problem(url) is not None


def test_url_path_cannot_choose_the_location(
    fake_api: FakeAPI, client: httpx.Client, tmp_path: Path
) -> None:
    out = tmp_path / "a" / "b"
    fake_api.add("/etc/x.png", Reply.bytes(png_bytes()))
    fake_api.add("/img/..%2F..%2Fescape.png", Reply.bytes(png_bytes()))
    for url in (
        f"{fake_api.url}/img/../../etc/x.png",
        f"{fake_api.url}/img/..%2F..%2Fescape.png",
    ):
        saved = fetch(client, url, out)
        assert saved.ok, saved.error
        assert saved.path is not None and saved.path.parent == out
        assert saved.path.name.startswith(STEM)
    assert listing(out) == [f"{STEM}-2.png", f"{STEM}.png"]
    assert sorted(os.listdir(tmp_path)) == ["a"]
    assert listing(tmp_path / "a") == ["b"]


def test_unsafe_stem_is_a_programming_error(client: httpx.Client, out: Path) -> None:
    with pytest.raises(ValueError):
        download_image(client, "http://127.0.0.1/x", directory=out, stem="../x", index=0)


# -- redirects -----------------------------------------------------------------------------


def test_redirect_to_http_is_followed(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    fake_api.add("/r", Reply.redirect("/img/a.png"))
    fake_api.add("/img/a.png", Reply.bytes(png_bytes()))
    saved = fetch(client, f"{fake_api.url}/r", out)
    assert saved.ok, saved.error
    assert [r.path for r in fake_api.requests] == ["/r", "/img/a.png"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.png"])
def test_redirect_to_other_schemes_is_refused(
    fake_api: FakeAPI, client: httpx.Client, out: Path, target: str
) -> None:
    fake_api.add("/r", Reply.redirect(target))
    saved = fetch(client, f"{fake_api.url}/r", out, retries=2)
    assert_failed(saved, out, "refused a redirect")
    assert [r.path for r in fake_api.requests] == ["/r"]


def test_redirect_loop_stops(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    fake_api.add("/loop", Reply.redirect("/loop"))
    saved = fetch(client, f"{fake_api.url}/loop", out)
    assert_failed(saved, out, "too many redirects")
    assert len(fake_api.requests) == 6  # the first request and 5 redirects


# -- retries -------------------------------------------------------------------------------


def test_retry_after_503_then_success(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    fake_api.add(
        "/img/a.png",
        Reply.status(503, headers={"Retry-After": "0"}),
        Reply.status(429, headers={"Retry-After": "0"}),
        Reply.bytes(png_bytes()),
    )
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, retries=2)
    assert saved.ok, saved.error
    assert len(fake_api.requests) == 3
    assert listing(out) == [f"{STEM}.png"]


def test_retries_give_up_with_the_status(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.status(503, headers={"Retry-After": "0"}))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, retries=1)
    assert_failed(saved, out, "HTTP 503")
    assert len(fake_api.requests) == 2


def test_a_retry_after_a_cut_starts_from_zero(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    # The first attempt's bytes differ: any of them kept would corrupt the result.
    data = png_bytes() + os.urandom(50_000)
    fake_api.add(
        "/img/a.png",
        Reply.bytes(png_bytes() + os.urandom(50_000), cut_after_bytes=30_000),
        Reply.bytes(data),
    )
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, retries=1)
    assert saved.ok, saved.error
    assert saved.path is not None and saved.path.read_bytes() == data
    assert saved.sha256 == hashlib.sha256(data).hexdigest()
    assert listing(out) == [f"{STEM}.png"]


def test_an_image_host_timeout_is_retried(fake_api: FakeAPI, out: Path) -> None:
    fake_api.add("/img/a.png", Reply.bytes(png_bytes(), delay=30), Reply.bytes(png_bytes()))
    with make_download_client(timeout=0.5) as quick:
        saved = fetch(quick, f"{fake_api.url}/img/a.png", out, retries=1)
    assert saved.ok, saved.error
    assert len(fake_api.requests) == 2
    assert listing(out) == [f"{STEM}.png"]


def test_a_retry_after_over_the_cap_fails_fast(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.status(503, headers={"Retry-After": "3600"}))
    cancel = threading.Event()
    results: list[SavedImage] = []
    worker = threading.Thread(
        target=lambda: results.append(
            fetch(client, f"{fake_api.url}/img/a.png", out, retries=2, cancel=cancel)
        )
    )
    worker.start()
    worker.join(timeout=20)
    waited = worker.is_alive()
    cancel.set()  # ends a wait that should never have started
    worker.join()
    assert not waited, "it waited for the Retry-After (an hour) instead of failing"
    [saved] = results
    assert_failed(saved, out, "HTTP 503", "asked to wait 3600 s")
    assert len(fake_api.requests) == 1


def test_connection_refused(client: httpx.Client, out: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request: nothing listens
    saved = fetch(client, f"http://127.0.0.1:{port}/a.png", out)
    assert_failed(saved, out, "connection failed")


# -- secrets -------------------------------------------------------------------------------


def test_no_authorization_header_ever(fake_api: FakeAPI, out: Path) -> None:
    fake_api.add("/r", Reply.redirect("/img/a.png"))
    fake_api.add("/img/a.png", Reply.bytes(png_bytes()))
    with make_download_client(timeout=10) as client:
        # Even a caller that wrongly sets one cannot send it.
        client.headers["Authorization"] = "Bearer sk-must-not-leak"
        saved = fetch(client, f"{fake_api.url}/r", out)
    assert saved.ok, saved.error
    assert len(fake_api.requests) == 2
    for request in fake_api.requests:
        assert "authorization" not in request.headers
        assert "sk-must-not-leak" not in repr(request.headers)
        assert request.headers["user-agent"] == f"wan/{__version__}"


# -- interruption --------------------------------------------------------------------------


def big_reply(fake_api: FakeAPI) -> str:
    data = png_bytes() + os.urandom(1_000_000)
    fake_api.add("/img/big.png", Reply.bytes(data, chunk_size=65_536))
    return f"{fake_api.url}/img/big.png"


def test_keyboard_interrupt_mid_download_leaves_no_temp_file(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    url = big_reply(fake_api)
    temp_seen: list[str] = []

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            temp_seen.extend(listing(out))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(client, url, out, on_progress=progress)
    assert temp_seen and temp_seen[0].startswith(f".{STEM}.part-")  # it existed mid-way
    assert listing(out) == []


def test_cancel_mid_download(fake_api: FakeAPI, client: httpx.Client, out: Path) -> None:
    url = big_reply(fake_api)
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            cancel.set()

    saved = fetch(client, url, out, on_progress=progress, cancel=cancel, retries=2)
    assert_failed(saved, out, "cancelled")
    assert len(fake_api.requests) == 1


def test_a_cancel_between_chunks_stops_the_download(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    # Served slowly (100 chunks, 2 s): a cancel from another thread (Ctrl-C) is seen at the
    # next chunk, not after the whole body.
    data = png_bytes() + os.urandom(400_000)
    fake_api.add("/img/big.png", Reply.bytes(data, chunk_size=4096, chunk_delay=0.02))
    cancel = threading.Event()
    received: list[int] = []

    def cancel_once_started() -> None:
        fake_api.wait_bytes_sent("/img/big.png", 3 * 4096, timeout=20)
        cancel.set()

    canceller = threading.Thread(target=cancel_once_started)
    canceller.start()
    saved = fetch(
        client,
        f"{fake_api.url}/img/big.png",
        out,
        retries=2,
        cancel=cancel,
        on_progress=lambda done, _: received.append(done),
    )
    canceller.join()
    assert_failed(saved, out, "cancelled")
    assert max(received) < len(data) // 2, "the download went on after the cancel"
    assert len(fake_api.requests) == 1  # a cancel is not retried


def test_an_exception_in_a_hook_propagates_after_cleanup(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    url = big_reply(fake_api)

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            raise LookupError("bug in the caller")

    with pytest.raises(LookupError):
        fetch(client, url, out, on_progress=progress)
    assert listing(out) == []


def test_already_cancelled_fetches_nothing(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    cancel = threading.Event()
    cancel.set()
    saved = fetch(client, big_reply(fake_api), out, cancel=cancel)
    assert saved.error == "cancelled"
    assert fake_api.requests == []


def test_concurrent_downloads_of_the_same_stem(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    fake_api.add("/img/a.png", Reply.bytes(png_bytes()))
    results: list[SavedImage] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(fetch(client, f"{fake_api.url}/img/a.png", out))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results)
    assert len({r.path for r in results}) == 6
    assert len(listing(out)) == 6 and not any(n.startswith(".") for n in listing(out))


# -- the disk ------------------------------------------------------------------------------


def test_a_full_disk_fails_the_image_and_leaves_no_temp_file(
    fake_api: FakeAPI, client: httpx.Client, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_full(monkeypatch)
    fake_api.add("/img/a.png", Reply.bytes(png_bytes() + os.urandom(300_000)))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, retries=2)
    assert_failed(saved, out, "could not save", os.strerror(errno.ENOSPC))
    assert len(fake_api.requests) == 1  # a full disk is not the host's fault: not retried


def test_a_full_disk_fails_an_inline_image_too(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk_full(monkeypatch)
    out.mkdir()
    saved = save_inline(
        inline(png_bytes() + os.urandom(100_000)), directory=out, stem=STEM, index=0
    )
    assert_failed(saved, out, "could not save", os.strerror(errno.ENOSPC))


def _spy_on_durability(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, Any]]:
    """Record, in order: ("fsync", inode, size then) and ("publish", inode, destination) for
    every os.fsync, os.link and os.replace the code makes (they still happen for real)."""
    events: list[tuple[str, int, Any]] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "fsync":
                info = os.fstat(args[0])
                events.append(("fsync", info.st_ino, info.st_size))
            else:
                events.append(("publish", os.stat(args[0]).st_ino, Path(args[1])))
            return real(*args, **kwargs)

        return call

    for name in ("fsync", "link", "replace"):
        monkeypatch.setattr(os, name, spy(name, getattr(os, name)))
    return events


@pytest.mark.parametrize(
    ("data", "finalize"),
    [
        (png_bytes(8, 8), None),
        (jpeg_bytes(8, 8), None),
        (png_bytes(8, 8), make_png_embedder({"prompt": "a cat"})),  # rewritten before publishing
    ],
    ids=["png", "jpeg", "png-with-metadata"],
)
def test_the_image_is_on_disk_before_it_gets_its_name(
    fake_api: FakeAPI,
    client: httpx.Client,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    finalize: Callable[[Path, str], None] | None,
) -> None:
    # A crash (or power cut) right after the rename must not leave an empty or partial file
    # under the image's real name: its whole content is fsynced before it is published.
    fake_api.add("/img/a", Reply.bytes(data))
    events = _spy_on_durability(monkeypatch)
    saved = fetch(client, f"{fake_api.url}/img/a", out, finalize=finalize)
    assert saved.ok and saved.path is not None, saved.error
    final = saved.path.stat()
    [published] = [i for i, e in enumerate(events) if e[0] == "publish" and e[2] == saved.path]
    assert events[published][1] == final.st_ino
    assert ("fsync", final.st_ino, final.st_size) in events[:published], events


def test_an_inline_image_is_on_disk_before_it_gets_its_name(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out.mkdir()
    events = _spy_on_durability(monkeypatch)
    saved = save_inline(inline(jpeg_bytes(8, 8)), directory=out, stem=STEM, index=0)
    assert saved.ok and saved.path is not None, saved.error
    final = saved.path.stat()
    [published] = [i for i, e in enumerate(events) if e[0] == "publish" and e[2] == saved.path]
    assert ("fsync", final.st_ino, final.st_size) in events[:published], events


# -- inline (base64) images ----------------------------------------------------------------


def inline(data: bytes, *, lines: bool = False) -> InlineImage:
    encoded = base64.b64encode(data).decode()
    if lines:  # MIME-style: 76 characters a line
        encoded = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    return InlineImage(encoded)


def test_save_inline(out: Path) -> None:
    data = jpeg_bytes(9, 7)
    saved = save_inline(inline(data), directory=out, stem=STEM, index=2)
    assert saved.ok
    assert saved.path == out / f"{STEM}.jpg"
    assert saved.path.read_bytes() == data
    assert saved.url is None and saved.index == 2
    assert saved.sha256 == hashlib.sha256(data).hexdigest()
    assert (saved.width, saved.height, saved.mime) == (9, 7, "image/jpeg")
    again = save_inline(inline(data), directory=out, stem=STEM, index=2)
    assert again.path == out / f"{STEM}-2.jpg"


def test_save_inline_with_metadata(out: Path) -> None:
    saved = save_inline(
        inline(png_bytes()),
        directory=out,
        stem=STEM,
        index=0,
        finalize=make_png_embedder({"wan": "{}"}),
    )
    assert saved.path is not None and read_png_text(saved.path) == {"wan": "{}"}
    assert saved.sha256 == hashlib.sha256(saved.path.read_bytes()).hexdigest()


def test_save_inline_refuses_non_images(out: Path) -> None:
    saved = save_inline(inline(b"<html>nope</html>"), directory=out, stem=STEM, index=0)
    assert_failed(saved, out, "not an image")


def test_save_inline_decodes_in_slices(out: Path) -> None:
    # Many slices, some with line breaks: the bytes come out whole and in order.
    data = png_bytes(8, 8)[:-12] + os.urandom(3_000_001) + png_bytes()[-12:]
    for lines in (False, True):
        image = inline(data, lines=lines)
        assert image.decoded_size() == len(data)
        saved = save_inline(image, directory=out / str(lines), stem=STEM, index=0)
        assert saved.ok, saved.error
        assert saved.path is not None and saved.path.read_bytes() == data
        assert saved.sha256 == hashlib.sha256(data).hexdigest()


class WatchedInline(InlineImage):
    """Counts the bytes decoded from it."""

    decoded = 0

    def chunks(self, slice_chars: int = 1 << 20) -> Iterator[bytes]:
        for chunk in super().chunks(slice_chars):
            self.decoded += len(chunk)
            yield chunk


def test_save_inline_refuses_an_image_over_the_cap_before_decoding(out: Path) -> None:
    data = png_bytes(8, 8)[:-12] + bytes(200_000) + png_bytes()[-12:]
    image = WatchedInline(base64.b64encode(data).decode())
    saved = save_inline(image, directory=out, stem=STEM, index=0, max_bytes=100_000)
    assert_failed(saved, out, "too large", "limit")
    assert image.decoded == 0  # refused from its length alone
    assert save_inline(image, directory=out, stem=STEM, index=0, max_bytes=len(data)).ok
    assert image.decoded == len(data)


def test_save_inline_unreadable_base64(out: Path) -> None:
    encoded = base64.b64encode(png_bytes()).decode()
    saved = save_inline(InlineImage(encoded[:-2] + "!!"), directory=out, stem=STEM, index=0)
    assert_failed(saved, out, "base64")


@pytest.mark.parametrize(
    ("text", "start", "readable"),
    [
        ("iVBORw0K", 0, True),
        ("iVBORw0\nK", 0, True),  # a line break: decoded to tell
        ("data:image/png;base64,iVBORw0K", 22, True),
        ("abc", 0, False),  # no padding explains 3 characters
        ("", 0, False),
        ("data:image/png;base64,", 22, False),
        ("iVBORw0Ké", 0, False),
    ],
)
def test_inline_image_readable(text: str, start: int, readable: bool) -> None:
    assert InlineImage(text, start).readable() is readable


def test_inline_image_sizes_and_equality() -> None:
    for size in range(0, 10):
        data = os.urandom(size)
        assert inline(data).decoded_size() == size
        assert inline(data).decode() == data
    encoded = base64.b64encode(b"abcdef").decode()
    uri = InlineImage("data:image/png;base64," + encoded, 22)
    assert uri == InlineImage(encoded) and uri != InlineImage(encoded[:-4])
    assert encoded not in repr(uri)


def test_sniff_mime() -> None:
    assert sniff_mime(png_bytes()) == "image/png"
    assert sniff_mime(jpeg_bytes()) == "image/jpeg"
    assert sniff_mime(webp_bytes()) == "image/webp"
    assert sniff_mime(bmp_bytes()) == "image/bmp"
    assert sniff_mime(GIF) == "image/gif"
    assert sniff_mime(b"<html>") is None
    assert sniff_mime(b"") is None


# -- whole images: the end of the file is where its format says --------------------------


def judge(data: bytes, mime: str) -> str | None:
    return truncation(io.BytesIO(data), len(data), mime)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (png_bytes(), "image/png"),
        (png_bytes() + b"\0" * 5000, "image/png"),  # bytes after IEND are tolerated
        (png_bytes() + os.urandom(70_000), "image/png"),
        (jpeg_bytes(), "image/jpeg"),
        (jpeg_bytes() + b"\0" * 300, "image/jpeg"),  # zero padding after EOI
        (webp_bytes(), "image/webp"),
        (webp_bytes() + b"\0\0", "image/webp"),
        (bmp_bytes(), "image/bmp"),
        (GIF, "image/gif"),
        (GIF + b"\0" * 10, "image/gif"),
    ],
)
def test_whole_images_are_whole(data: bytes, mime: str) -> None:
    assert judge(data, mime) is None


@pytest.mark.parametrize(
    ("data", "mime", "why"),
    [
        (png_bytes(32, 32)[:-12], "image/png", "IEND"),  # IEND missing
        (png_bytes(32, 32)[:-6], "image/png", "IEND"),  # cut inside IEND
        (png_bytes(32, 32)[:40], "image/png", "IEND"),  # cut inside IDAT
        (png_bytes()[:8], "image/png", "IEND"),  # the signature alone
        (jpeg_bytes()[:-2], "image/jpeg", "end-of-image"),
        (jpeg_bytes()[:-1] + b"\0\0", "image/jpeg", "end-of-image"),
        (webp_bytes()[:-3], "image/webp", "its header says"),
        (bmp_bytes(8, 8)[:-10], "image/bmp", "its header says"),
        (GIF[:-1], "image/gif", "trailer"),
    ],
)
def test_cut_images_are_truncated(data: bytes, mime: str, why: str) -> None:
    reason = judge(data, mime)
    assert reason is not None and reason.startswith("truncated") and why in reason


def test_a_bmp_without_its_size_is_not_judged() -> None:
    data = bytearray(bmp_bytes())
    data[2:6] = bytes(4)  # some writers leave the file size out
    assert judge(bytes(data)[:-5], "image/bmp") is None


def test_a_cut_png_with_a_matching_length_is_not_saved(
    fake_api: FakeAPI, client: httpx.Client, out: Path
) -> None:
    # The host stored a partial file and serves it whole: HTTP cannot tell, the PNG can.
    cut = png_bytes(64, 64)[:-20]
    fake_api.add("/img/a.png", Reply.bytes(cut))
    saved = fetch(client, f"{fake_api.url}/img/a.png", out, retries=2)
    assert_failed(saved, out, "truncated", "IEND")
    assert len(fake_api.requests) == 1  # the same URL gives the same cut file: not retried


def test_a_cut_inline_image_is_not_saved(out: Path) -> None:
    saved = save_inline(inline(jpeg_bytes()[:-2]), directory=out, stem=STEM, index=0)
    assert_failed(saved, out, "truncated", "JPEG")

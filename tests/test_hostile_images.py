"""Broken or hostile answers about images, end to end through the real CLI against the loopback
fake API: an inline image past the size cap, more images than were asked for, an image cut short
behind a matching Content-Length, and the temp files a killed run leaves behind."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from pathlib import Path

from tests.conftest import IsolatedEnv, RunCli
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from wan_cli.files.naming import temp_prefix

API = "/v1/images/generations"
KEY = "sk-test-hostile-5150"
ENV = {"WAN_API_KEY": KEY}
MB = 1024 * 1024
# Above Linux's largest possible pid (2^22): never a live process.
DEAD_PID = 4_194_305


def args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a lighthouse", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def listing(directory: Path) -> list[str]:
    """Every entry, hidden temp files included."""
    return sorted(os.listdir(directory)) if directory.exists() else []


def images_in(directory: Path) -> list[str]:
    return [name for name in listing(directory) if not name.endswith(".json")]


def big_png(size: int) -> bytes:
    """A well-formed PNG of exactly `size` bytes: one IDAT of zeros, then IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
    tail = chunk(b"IEND", b"")
    return head + chunk(b"IDAT", bytes(size - len(head) - len(tail) - 12)) + tail


def inline_answer(*images: bytes) -> Reply:
    """An OpenAI-style images answer with each image inline (`b64_json`)."""
    data = [{"b64_json": base64.b64encode(image).decode()} for image in images]
    return Reply.json({"created": 1, "data": data, "request_id": "req-inline"})


def history_show(run_cli: RunCli, run_id: int) -> dict[str, object]:
    shown = run_cli(["history", "show", str(run_id), "--json"])
    assert shown.exit_code == 0, shown.stderr
    document: dict[str, object] = json.loads(shown.stdout)
    return document


# -- 1. an inline image is held to the size cap ------------------------------------------------


def test_an_inline_image_over_the_cap_is_refused(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    image = big_png(2 * MB)
    fake_api.add(API, inline_answer(image))
    out = tmp_path / "capped"
    result = run_cli(args(fake_api, out, "--json"), env={**ENV, "WAN_MAX_IMAGE_MB": "1"})
    assert result.exit_code == 7, result.stderr
    assert "too large: 2.0 MB (limit 1.0 MB)" in result.stderr
    [entry] = json.loads(result.stdout)["images"]
    assert entry["path"] is None and entry["error"] == "too large: 2.0 MB (limit 1.0 MB)"
    assert listing(out) == []  # nothing half-written, no temp file

    roomy = tmp_path / "roomy"
    result = run_cli(args(fake_api, roomy), env={**ENV, "WAN_MAX_IMAGE_MB": "3"})
    assert result.exit_code == 0, result.stderr
    [path] = result.stdout.splitlines()
    assert Path(path).parent == roomy and Path(path).stat().st_size >= len(image)
    assert Path(path).read_bytes()[-12:] == image[-12:]  # whole, metadata or not


def test_a_data_uri_over_the_cap_is_refused(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    uri = "data:image/png;base64," + base64.b64encode(big_png(2 * MB)).decode()
    body = {
        "output": {
            "choices": [
                {"finish_reason": "stop", "message": {"content": [{"image": uri}]}},
            ]
        },
        "request_id": "req-uri",
    }
    fake_api.add(API, Reply.json(body))
    result = run_cli(args(fake_api, tmp_path), env={**ENV, "WAN_MAX_IMAGE_MB": "1"})
    assert result.exit_code == 7
    assert "too large" in result.stderr and result.stdout == ""
    assert listing(tmp_path) == []


# -- 2. never more images than were asked for -----------------------------------------------


def test_five_hundred_links_for_one_image(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    urls = [f"{fake_api.url}/img/{n}.png" for n in range(500)]
    fake_api.add("/img/0.png", Reply.bytes(png_bytes()))
    body = {"created": 1, "data": [{"url": url} for url in urls], "request_id": "req-500"}
    fake_api.add(API, Reply.json(body))
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    [path] = result.stdout.splitlines()
    assert images_in(tmp_path) == [Path(path).name]
    assert [r.path for r in fake_api.requests if r.path.startswith("/img/")] == ["/img/0.png"]
    assert (
        "the answer held 500 images, 1 was asked for: 499 extra links were not saved;"
        " they are in history (`wan history show 1`)"
    ) in result.stderr
    recorded = history_show(run_cli, 1)
    images = recorded["images"]
    assert isinstance(images, list) and len(images) == 500
    assert [image["url"] for image in images] == urls
    assert images[0]["path"] == path
    assert {image["error"] for image in images[1:]} == {"not saved: 1 was asked for (max_images 1)"}
    assert recorded["exit_code"] == 0


def test_extra_images_in_the_json_document(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    urls = [fake_api.image_url(f"{n}.png") for n in range(4)]
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(image=url) for url in urls[:-1]] + [sse_chunk(image=urls[-1], finish="stop")]
        ),
    )
    result = run_cli(args(fake_api, tmp_path, "--max-images", "2", "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    images = document["images"]
    assert [image["url"] for image in images] == urls
    assert all(image["path"] and image["error"] is None for image in images[:2])
    assert "extra" not in images[0]
    for image in images[2:]:
        assert image["path"] is None and image["bytes"] is None and image["sha256"] is None
        assert image["extra"] is True
        assert image["error"] == "not saved: 2 were asked for (max_images 2)"
    assert len(images_in(tmp_path)) == 2
    assert "4 images, 2 were asked for: 2 extra links were not saved" in result.stderr


def test_extra_inline_images_are_not_kept(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, inline_answer(png_bytes(4, 4), png_bytes(8, 8), png_bytes(16, 16)))
    result = run_cli(
        [*args(fake_api, tmp_path), "--no-history"],
        env=ENV,
    )
    assert result.exit_code == 0, result.stderr
    assert len(images_in(tmp_path)) == 1
    assert "the answer held 3 images, 1 was asked for: 2 extra images were not saved" in (
        result.stderr
    )


def test_edit_keeps_n_images(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    reference = tmp_path / "ref.png"
    reference.write_bytes(png_bytes(300, 300))
    urls = [fake_api.image_url(f"{n}.png") for n in range(5)]
    fake_api.add(API, Reply.json({"data": [{"url": url} for url in urls]}))
    out = tmp_path / "out"
    result = run_cli(
        [
            "edit", "make it snow", "--ref", str(reference), "-n", "3",
            "--base-url", f"{fake_api.url}/v1", "-o", str(out),
        ],
        env=ENV,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3 == len(images_in(out))
    assert "5 images, 3 were asked for: 2 extra links were not saved" in result.stderr


def test_a_batch_line_keeps_what_it_asked_for(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    urls = [fake_api.image_url(f"{n}.png") for n in range(3)]
    fake_api.add(API, Reply.json({"data": [{"url": url} for url in urls]}))
    source = tmp_path / "prompts.txt"
    source.write_text("a lighthouse\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(
        ["batch", str(source), "--base-url", f"{fake_api.url}/v1", "-o", str(out)], env=ENV
    )
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert len([n for n in images_in(out) if n.endswith(".png")]) == 1
    assert "line 1: the answer held 3 images, 1 was asked for" in result.stderr


# -- 3. a cut image behind a matching Content-Length -----------------------------------------


def test_a_cut_png_is_not_saved(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    whole = big_png(300_000)
    # The host sends a cut file with a Content-Length that matches it: HTTP sees no problem.
    fake_api.add("/img/cut.png", Reply.bytes(whole[:200_000]))
    url = f"{fake_api.url}/img/cut.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 7
    assert result.stdout.strip() == url  # the link is the result
    assert "truncated: the PNG ends before its IEND chunk" in result.stderr
    assert listing(tmp_path) == []


def test_a_cut_inline_image_is_not_saved(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, inline_answer(big_png(50_000)[:30_000]))
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 7
    [entry] = json.loads(result.stdout)["images"]
    assert entry["error"] == "truncated: the PNG ends before its IEND chunk"
    assert listing(tmp_path) == []


# -- 4. temp files a killed run left behind ----------------------------------------------------


def test_a_run_removes_the_temp_files_of_dead_runs(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ours = temp_prefix("a-lighthouse-20250101-120000-1")  # this process: `wan` runs in it
    owner = ours.split(".part-", 1)[1].split("-", 1)[0]
    stale = out / f".a-lighthouse-20250101-120000-1.part-{owner}-{DEAD_PID}-0123abcd"
    live = out / f"{ours}89abcdef"
    unrelated = out / ".a-lighthouse-20250101-120000-1.png.json.tmp-0123abcd"
    for path in (stale, live, unrelated):
        path.write_bytes(b"\x89PNG\r\n\x1a\n half an image")
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url("a.png"), finish="stop")]))
    result = run_cli(args(fake_api, out), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert not stale.exists()
    assert live.exists() and unrelated.exists()
    assert len(images_in(out)) == 1 + 2  # the new image, and the two kept temp files

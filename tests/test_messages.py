"""What a new user reads: counts that agree with their number, hints that match the situation,
labelled times, a failure told once, and a suggestion for a shortened command name."""

from __future__ import annotations

import base64
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import RunCli, RunWan, SpawnWan, run_on_a_terminal
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from wan_cli.units import plural

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-messages-1234"}


def _args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a red fox", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def _inline(delay: float = 0.0) -> Reply:
    body = {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(png_bytes()).decode()}],
        "usage": {"total_tokens": 1},
        "request_id": "req-b",
    }
    return Reply.json(body, delay=delay)


def test_plural() -> None:
    assert plural(1, "image") == "1 image"
    assert plural(0, "image") == "0 images"
    assert plural(2, "run") == "2 runs"
    assert plural(3, "entry", "entries") == "3 entries"


# -- counts in messages ------------------------------------------------------------------------


@pytest.mark.regression("'1 image(s)' and 'their URLs are kept' for a single unsaved image")
def test_one_unsaved_image_is_spoken_of_in_the_singular(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    gone = f"{fake_api.url}/img/gone.png"  # unscripted: 404
    fake_api.add(API, Reply.sse([sse_chunk(image=gone, finish="stop")]))
    result = run_cli(_args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 7
    assert "1 of 1 image could not be saved" in result.stderr
    assert "its URL is kept in history" in result.stderr and "fetches it" in result.stderr
    assert "(s)" not in result.stderr


def test_several_unsaved_images_are_spoken_of_in_the_plural(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    first, second = f"{fake_api.url}/img/a.png", f"{fake_api.url}/img/b.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=first), sse_chunk(image=second, finish="stop")]))
    result = run_cli(_args(fake_api, tmp_path, "--max-images", "2"), env=ENV)
    assert result.exit_code == 7
    assert "2 of 2 images could not be saved" in result.stderr
    assert "their URLs are kept in history" in result.stderr and "fetches them" in result.stderr


# -- Ctrl-C: the hint says what there is -------------------------------------------------------


@pytest.mark.regression("Ctrl-C before any image said 'image URLs are listed above'")
def test_ctrl_c_before_any_image_mentions_no_urls(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        Reply.sse([sse_chunk(text="one"), sse_chunk(text="two")], stall_after_events=1, stall=30),
    )
    process = spawn_wan(_args(fake_api, tmp_path), env=ENV)
    fake_api.wait_events_sent(1, timeout=20)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "error: interrupted" in stderr
    assert "URL" not in stderr and "listed above" not in stderr and stdout == ""


def test_ctrl_c_mid_download_points_at_the_one_url_listed(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path
) -> None:
    big = png_bytes(64, 64) + b"\0" * 100_000
    fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=60))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    process = spawn_wan(_args(fake_api, tmp_path / "out"), env=ENV)
    fake_api.wait_bytes_sent("/img/big.png", 4096, timeout=20)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert stdout == url + "\n"
    assert f"image 1 not saved: cancelled: {url}" in stderr
    assert "the unsaved image's URL is listed above" in stderr


# -- hints that match the command --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "example"),
    [("generate", 'e.g. wan generate "'), ("edit", 'e.g. wan edit "make the sky stormy" --ref')],
)
def test_no_prompt_hint_shows_the_same_command(
    run_wan_subprocess: RunWan, command: str, example: str
) -> None:
    done = run_wan_subprocess([command], env=ENV)
    assert done.returncode == 2
    assert "no prompt" in done.stderr and example in done.stderr


@pytest.mark.regression("`wan gen` said 'No such command' with no suggestion")
@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("gen", "Did you mean 'generate'?"),
        ("ed", "Did you mean 'edit'?"),
        ("g", "Did you mean 'generate', 'gallery'?"),
        ("genrate", "Did you mean 'generate'?"),  # typer's own (spelt alike), not doubled
    ],
)
def test_a_shortened_command_is_suggested_and_not_run(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, typed: str, suggested: str
) -> None:
    done = run_wan_subprocess([typed, "a red fox", "--base-url", f"{fake_api.url}/v1"], env=ENV)
    assert done.returncode == 2
    assert f"No such command '{typed}'. {suggested}" in done.stderr
    assert done.stderr.count("Did you mean") == 1
    assert fake_api.requests == []


def test_an_unrelated_name_gets_no_suggestion(run_cli: RunCli) -> None:
    result = run_cli(["xyz"])
    assert result.exit_code == 2
    assert "No such command 'xyz'." in result.stderr and "Did you mean" not in result.stderr


# -- batch: labelled times, a stopped line told once -------------------------------------------


def _batch(fake: FakeAPI, source: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", str(source), "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def _prompts(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("".join(f"line {i}\n" for i in range(count)), encoding="utf-8")
    return path


@pytest.mark.regression("batch progress showed 'ETA 0:10 0:00:06': two times, one label")
def test_batch_progress_labels_both_times(fake_api: FakeAPI, tmp_path: Path) -> None:
    fake_api.add(API, _inline())
    source = _prompts(tmp_path, 2)
    logged = run_on_a_terminal(_batch(fake_api, source, tmp_path / "o", "--yes"), ENV)
    assert logged.returncode == 0, logged.shown
    assert "elapsed 0:00 · ETA " in logged.shown  # the live bar
    assert "0:00:0" not in logged.shown  # rich's unlabelled elapsed column is gone


def test_batch_log_lines_label_both_times(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(API, _inline())
    done = run_wan_subprocess(_batch(fake_api, _prompts(tmp_path, 2), tmp_path / "o"), env=ENV)
    assert done.returncode == 0, done.stderr
    assert "sending 2 requests" in done.stderr
    assert done.stderr.count("· elapsed 0:0") == 2 and done.stderr.count(" · ETA ") == 2


@pytest.mark.regression("an interrupted batch line was listed twice (as it stopped, and again)")
def test_an_interrupted_batch_line_is_listed_once(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path
) -> None:
    fake_api.add(API, _inline(), _inline(delay=30))
    process = spawn_wan(_batch(fake_api, _prompts(tmp_path, 2), tmp_path / "o", "-j", "2"), env=ENV)
    fake_api.wait_for_requests(2, timeout=20)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    # Either line may have drawn the answer that hangs.
    assert re.search(r"line [12] interrupted · ", stderr), stderr
    assert "(exit 130): interrupted" not in stderr
    for number in (1, 2):  # each line is told once, however it ended
        assert stderr.count(f"line {number} ") == 1, stderr
    assert "0 failed, 1 interrupted" in stderr or "0 failed, 2 interrupted" in stderr
    assert "interrupted · " in stderr.split("batch summary:")[1]  # counted in the summary

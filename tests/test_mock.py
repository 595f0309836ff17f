"""The offline mock, end to end: `--provider mock` (embedded) and `wan mock serve` (standalone),
driven by the real `wan` as a subprocess. Every scenario ends with its documented exit code."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import IsolatedEnv, RunWan, SpawnWan, wait_for_output
from wan_cli.mock.answers import plan_answer
from wan_cli.mock.picture import draw_png

FAST = {"WAN_MOCK_DELAY": "0"}
Serve = Callable[..., "tuple[subprocess.Popen[str], str]"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert (
        data[:8] == b"\x89PNG\r\n\x1a\n"
        and data[12:16] == b"IHDR"
        and data.endswith(b"IEND\xaeB`\x82")
    )
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def history_rows(env: IsolatedEnv) -> list[sqlite3.Row]:
    with sqlite3.connect(env.history) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute("SELECT * FROM runs ORDER BY id"))


# -- the pure parts -----------------------------------------------------------------------------


def test_pictures_are_real_pngs_coloured_by_their_seed() -> None:
    import zlib

    data = draw_png(37, 21, "a red fox")
    assert struct.unpack(">II", data[16:24]) == (37, 21)
    idat_length = struct.unpack(">I", data[33:37])[0]
    pixels = zlib.decompress(data[41 : 41 + idat_length])
    assert len(pixels) == 21 * (1 + 37 * 3)  # every row: filter byte + RGB
    assert draw_png(37, 21, "a red fox") == data
    assert draw_png(37, 21, "a blue whale") != data


def test_the_plan_follows_the_request() -> None:
    def body(interleave: bool, **parameters: object) -> dict[str, object]:
        content: list[dict[str, str]] = [{"text": "a cat"}]
        if not interleave:
            content.append({"image": "https://h.test/a.png"})
        return {
            "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": {"enable_interleave": interleave, **parameters},
        }

    generate = plan_answer(body(True, max_images=3, size="640*360"))
    assert len(generate.images) == 3 and generate.size == "640*360" and generate.words
    edit = plan_answer(body(False, n=2, size="2K"))
    assert len(edit.images) == 2 and edit.size == "2048*2048" and edit.words == ()
    assert (
        plan_answer(body(False)).size == "1024*1024" and len(plan_answer(body(False)).images) == 4
    )


# -- --provider mock ----------------------------------------------------------------------------


def test_readme_first_command_saves_a_real_png_with_no_key(
    run_wan_subprocess: RunWan, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    result = run_wan_subprocess(
        ["generate", "autumn painting", "--size", "1024*1024", "--provider", "mock"],
        env=FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    saved = tmp_path / line
    assert png_size(saved) == (1024, 1024)
    assert "offline mock" in result.stderr and "autumn painting" in result.stderr
    sidecar = json.loads(saved.with_name(saved.name + ".json").read_text())
    assert sidecar["provider"] == "mock"
    [row] = history_rows(isolated_env)
    assert row["provider"] == "mock" and row["status"] == "ok"


def test_mock_runs_are_marked_in_json_and_history(
    run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    result = run_wan_subprocess(
        ["generate", "a fox", "--provider", "mock", "--json", "-m", "2", "-o", str(tmp_path)],
        env=FAST,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["provider"] == "mock" and len(document["images"]) == 2
    assert "mock" in document["text"]
    listing = run_wan_subprocess(["history"])
    assert "mock" in listing.stdout
    page = tmp_path / "gallery.html"
    gallery = run_wan_subprocess(["gallery", "--history", "-o", str(page)])
    assert gallery.returncode == 0, gallery.stderr
    assert 'class="badge mock"' in page.read_text(encoding="utf-8")


def test_edit_makes_exactly_n_images_derived_from_the_references(
    run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    from tests.fakeapi import png_bytes

    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(png_bytes(300, 300))
    second.write_bytes(png_bytes(320, 300))

    def edit(ref: Path, out: str) -> list[Path]:
        result = run_wan_subprocess(
            [*("edit", "make it snow", "-r", str(ref), "-n", "3", "--size", "1280*960"),
             *("--provider", "mock", "-o", str(tmp_path / out))],
            env=FAST,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return [Path(line) for line in result.stdout.splitlines()]

    from_first, from_second = edit(first, "one"), edit(second, "two")
    assert len(from_first) == len(from_second) == 3
    assert all(png_size(path) == (1280, 960) for path in from_first)
    assert from_first[0].read_bytes() != from_second[0].read_bytes()
    assert len({path.read_bytes() for path in from_first}) == 3


def test_a_dry_run_of_the_mock_starts_nothing(run_wan_subprocess: RunWan) -> None:
    result = run_wan_subprocess(["generate", "x", "--provider", "mock", "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["url"] == "http://127.0.0.1:0/v1/images/generations"


# The exit code of each scenario, through a real `wan generate`.
SCENARIO_CODES = {
    "ok": 0,
    "json": 0,
    "rate-limited": 0,  # the 429 is retried after its Retry-After
    "unauthorized": 3,
    "rejected": 4,
    "unavailable": 6,
    "slow": 6,  # with --timeout 1: the answer does not start in time
    "stream-cut": 6,
    "expired-links": 7,
}
RUN_FLAGS = ["--retries", "1", "--timeout", "1"]


@pytest.mark.parametrize(("scenario", "code"), SCENARIO_CODES.items())
def test_each_scenario_embedded(
    scenario: str, code: int, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    result = run_wan_subprocess(
        ["generate", "a fox", "--provider", "mock", "-o", str(tmp_path), *RUN_FLAGS],
        env={**FAST, "WAN_MOCK_SCENARIO": scenario},
    )
    assert result.returncode == code, result.stderr
    if code in (0, 7):
        assert result.stdout.strip(), "a saved path or the image URL is on stdout"


# -- wan mock serve -----------------------------------------------------------------------------


@pytest.fixture
def serve(spawn_wan: SpawnWan) -> Iterator[Serve]:
    """serve(scenario, provider) -> (process, base URL): `wan mock serve` on a free port."""

    def start(scenario: str = "ok", provider: str = "gateway") -> tuple[subprocess.Popen[str], str]:
        process = spawn_wan(
            ["mock", "serve", "--scenario", scenario, "--provider", provider, "--delay", "0"]
        )
        url = wait_for_output(process.stdout, "\n").strip()
        return process, url

    yield start


@pytest.mark.parametrize(("scenario", "code"), SCENARIO_CODES.items())
def test_each_scenario_through_mock_serve(
    scenario: str, code: int, serve: Serve, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    process, url = serve(scenario)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    result = run_wan_subprocess(
        ["generate", "a fox", "-o", str(tmp_path), *RUN_FLAGS],
        env={"WAN_BASE_URL": url, "WAN_API_KEY": "test"},
    )
    assert result.returncode == code, result.stderr
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0 and "stopped" in stderr


def test_mock_serve_speaks_dashscope_with_async_tasks(
    serve: Serve, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    _, url = serve("ok", "dashscope")
    assert url.endswith("/api/v1")
    env = {
        "WAN_PROVIDER": "dashscope",
        "WAN_BASE_URL": url,
        "DASHSCOPE_API_KEY": "test",
        "WAN_POLL_INTERVAL": "0",
    }
    common = ["-o", str(tmp_path)]
    streamed = run_wan_subprocess(["generate", "a fox", *common], env=env)
    assert streamed.returncode == 0, streamed.stderr
    submitted = run_wan_subprocess(["generate", "a fox", "--async", *common], env=env)
    assert submitted.returncode == 0, submitted.stderr
    task_id = submitted.stdout.strip()
    waited = run_wan_subprocess(["task", "wait", task_id, "-o", str(tmp_path)], env=env)
    assert waited.returncode == 0, waited.stderr
    [saved] = waited.stdout.splitlines()
    assert png_size(Path(saved)) == (1280, 1280)
    other = run_wan_subprocess(["generate", "b", "--async", *common], env=env).stdout.strip()
    cancelled = run_wan_subprocess(["task", "cancel", other], env=env)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == "CANCELED", cancelled.stderr


def test_mock_serve_ends_cleanly_on_ctrl_c(serve: Serve) -> None:
    process, _ = serve()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0 and "mock server stopped" in stderr, stderr


def test_mock_serve_refuses_an_unknown_scenario(run_wan_subprocess: RunWan) -> None:
    result = run_wan_subprocess(["mock", "serve", "--scenario", "broken"])
    assert result.returncode == 2 and "unknown scenario" in result.stderr


# -- docs/mock.md ------------------------------------------------------------------------------


def test_the_ci_example_of_docs_mock_runs(tmp_path: Path) -> None:
    """The GitHub Actions step of docs/mock.md, run as written by bash (on a free port)."""
    import os
    import re
    import socket
    import sys
    import textwrap

    page = (Path(__file__).parent.parent / "docs" / "mock.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", page, re.S)
    assert block is not None, "docs/mock.md has its CI example"
    script = textwrap.dedent(block.group(1).split("run: |\n", 1)[1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = script.replace("8765", str(port))
    env = {**os.environ, **FAST, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    # Its own process group: whatever happens, no mock it started outlives the test.
    process = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert process.returncode == 0, stdout + stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 1  # the expired links saved nothing

"""Inputs that try to make `wan` pay twice, write where it should not, or read forever: each case
through the real CLI against the loopback fake, requests counted at the server.

- a batch killed with `kill -9` mid-answer, then resumed: the lines whose image links were
  already recorded in history are saved from them, never sent again; the `.part` files the
  killed run left are removed;
- a planted symlink as the manifest, a line's `output_dir` that leaves `-o`: refused, exit 2;
- `yes | wan generate`, `yes | wan batch -`, `--prompt-file /dev/zero`, a 100,000-deep JSON line,
  a FIFO as a reference image: refused with exit 2, nothing sent, nothing hangs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import WAN_BIN, IsolatedEnv, RunWan, SpawnWan, _environment
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from wan_cli.api.request import GenerateInputs
from wan_cli.batch.items import BatchItem
from wan_cli.batch.manifest import MANIFEST_NAME, ManifestRecord
from wan_cli.batch.plan import Resume, select_work
from wan_cli.history.rows import ImageRow, RunRow

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-hostile-inputs-4242"}


def batch_args(fake: FakeAPI, source: Path | str, out: Path, *extra: str) -> list[str]:
    return ["batch", str(source), "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll `condition` (a file or database state: nothing to be notified by) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def history_count(path: Path, query: str) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def part_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if ".part-" in p.name] if directory.exists() else []


def images_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.png") if not p.name.startswith("."))


def manifest_records(out: Path) -> list[dict[str, object]]:
    path = out / MANIFEST_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- 6. a batch resumed after kill -9 does not pay twice ------------------------------------------


@pytest.mark.regression("a batch resumed after kill -9 sent again the lines already paid for")
def test_a_batch_killed_mid_answer_is_resumed_from_history_without_paying_twice(
    fake_api: FakeAPI,
    spawn_wan: SpawnWan,
    run_wan_subprocess: RunWan,
    isolated_env: IsolatedEnv,
    tmp_path: Path,
) -> None:
    lines = 8
    picture = png_bytes(64, 64)
    for i in range(lines):
        # First fetch: 16 bytes, then nothing (a `.part` file is left mid-download); then whole.
        fake_api.add(
            f"/img/{i}.png",
            Reply.bytes(picture, chunk_size=16, chunk_delay=60),
            Reply.bytes(picture),
        )
    # Each answer streams text, then its image link, then stalls: the process is killed there.
    fake_api.add(
        API,
        *[
            Reply.sse(
                [sse_chunk(text=f"picture {i}"), sse_chunk(image=f"{fake_api.url}/img/{i}.png")],
                stall_after_events=2,
                stall=60,
            )
            for i in range(lines)
        ],
    )
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"a fox number {i}\n" for i in range(lines)))
    out = tmp_path / "out"
    args = batch_args(fake_api, source, out, "-j", str(lines))

    process = spawn_wan(args, env=ENV)
    urls = "SELECT count(*) FROM images WHERE url IS NOT NULL"
    wait_until(lambda: history_count(isolated_env.history, urls) == lines, "8 image URLs")
    # Every download has its first (stalled) reply: a temp file alone is made before the GET,
    # and a kill in between would leave that reply to stall the resumed run's download.
    for i in range(lines):
        fake_api.wait_bytes_sent(f"/img/{i}.png", 16, timeout=20)
    wait_until(lambda: len(part_files(out)) == lines, "8 partial downloads")
    process.kill()  # SIGKILL: nothing is cleaned up, no manifest record is written
    process.communicate(timeout=10)
    assert len(fake_api.requests_to(API)) == lines
    assert manifest_records(out) == []
    assert len(part_files(out)) == lines

    result = run_wan_subprocess(args, env=ENV)
    assert result.returncode == 0, result.stderr
    assert len(fake_api.requests_to(API)) == lines  # nothing was sent again
    assert "saved, not generated again" in result.stderr
    saved = images_in(out)
    assert len(saved) == lines  # with provenance, as a live run would have saved them
    assert all(p.read_bytes().startswith(picture[:8]) for p in saved)
    assert sorted(result.stdout.split()) == sorted(str(p) for p in saved)
    assert part_files(out) == []  # the killed run's temp files are gone
    records = manifest_records(out)
    assert [r["status"] for r in records] == ["done"] * lines
    assert all(isinstance(r["history_id"], int) for r in records)
    ended = "SELECT count(*) FROM runs WHERE status = 'ok' AND batch_key IS NOT NULL"
    assert history_count(isolated_env.history, ended) == lines  # no row left "unfinished"

    again = run_wan_subprocess(args, env=ENV)  # a third run: every line done
    assert again.returncode == 0, again.stderr
    assert len(fake_api.requests_to(API)) == lines


def test_a_line_killed_before_any_image_arrived_is_sent_again_and_says_so(
    fake_api: FakeAPI,
    spawn_wan: SpawnWan,
    run_wan_subprocess: RunWan,
    isolated_env: IsolatedEnv,
    tmp_path: Path,
) -> None:
    fake_api.add("/img/1.png", Reply.bytes(png_bytes()))
    stalled = Reply.sse([sse_chunk(text="thinking")], stall_after_events=1, stall=60)
    done = Reply.sse([sse_chunk(image=fake_api.image_url("1.png"), finish="stop")])
    fake_api.add(API, stalled, stalled, done)
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\n")
    out = tmp_path / "out"
    args = batch_args(fake_api, source, out, "-j", "2")

    process = spawn_wan(args, env=ENV)
    fake_api.wait_events_sent(2, timeout=20)
    rows = "SELECT count(*) FROM runs WHERE batch_key IS NOT NULL"
    wait_until(lambda: history_count(isolated_env.history, rows) == 2, "2 batch rows")
    process.kill()
    process.communicate(timeout=10)

    result = run_wan_subprocess(args, env=ENV)
    assert result.returncode == 0, result.stderr
    # Nothing had been received: the two requests are sent again (4 in all), and it is said.
    assert len(fake_api.requests_to(API)) == 4
    assert "2 lines cut off by an earlier run before any image arrived: sent again" in (
        result.stderr
    )
    assert len(images_in(out)) == 2


# -- 10. files outside where they belong ----------------------------------------------------------


@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_a_manifest_planted_as_a_symlink_is_refused(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    outside = tmp_path / "elsewhere" / "precious.txt"
    outside.parent.mkdir()
    outside.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).symlink_to(outside)
    source = tmp_path / "prompts.txt"
    source.write_text("a fox\n")

    result = run_wan_subprocess(batch_args(fake_api, source, out, *extra), env=ENV)
    assert result.returncode == 2, result.stderr
    assert "is a symbolic link: refused, nothing was sent" in result.stderr
    assert outside.read_text() == "precious\n"
    assert fake_api.requests == []


def test_a_manifest_given_as_a_symlink_with_manifest_is_refused(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("precious\n")
    link = tmp_path / "m.jsonl"
    link.symlink_to(outside)
    source = tmp_path / "prompts.txt"
    source.write_text("a fox\n")
    args = [*batch_args(fake_api, source, tmp_path / "out"), "--manifest", str(link)]
    result = run_wan_subprocess(args, env=ENV)
    assert result.returncode == 2, result.stderr
    assert "symbolic link" in result.stderr and outside.read_text() == "precious\n"
    assert fake_api.requests == []


def test_a_line_output_dir_outside_o_is_refused_with_its_line_numbers(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    escape = tmp_path / "escape"
    lines = [
        {"prompt": "fine", "output_dir": "sub/dir"},
        {"prompt": "absolute", "output_dir": str(escape)},
        {"prompt": "climbs", "output_dir": "sub/../../escape"},
        {"prompt": "home", "output_dir": "~/escape"},
    ]
    source = tmp_path / "lines.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    result = run_wan_subprocess(batch_args(fake_api, source, out), env=ENV)
    assert result.returncode == 2, result.stderr
    for number in (2, 3, 4):
        assert f"line {number}: " in result.stderr and "must be a folder inside -o" in (
            result.stderr
        )
    assert "line 1:" not in result.stderr
    assert "3 of 4 lines are invalid: nothing was sent" in result.stderr
    assert fake_api.requests == []
    assert not escape.exists() and not out.exists()


def test_a_line_output_dir_inside_o_is_used(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add("/img/1.png", Reply.bytes(png_bytes()))
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url("1.png"), finish="stop")]))
    source = tmp_path / "lines.jsonl"
    source.write_text(json.dumps({"prompt": "fine", "output_dir": "a/./b"}) + "\n")
    out = tmp_path / "out"
    result = run_wan_subprocess(batch_args(fake_api, source, out), env=ENV)
    assert result.returncode == 0, result.stderr
    assert len(images_in(out / "a" / "b")) == 1


# -- 11. inputs that never end ------------------------------------------------------------------


def run_fed_by_yes(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`yes | wan ARGS`: a real pipe that never ends; bounded only by the CLI's refusal."""
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    assert yes.stdout is not None
    try:
        return subprocess.run(
            [str(WAN_BIN), *args],
            stdin=yes.stdout,
            env=_environment(ENV),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        yes.stdout.close()  # `yes` then dies of SIGPIPE
        yes.kill()
        yes.wait(timeout=10)


def test_yes_piped_into_generate_is_refused_not_read_until_memory_runs_out(
    fake_api: FakeAPI,
) -> None:
    result = run_fed_by_yes(["generate", "--base-url", f"{fake_api.url}/v1"])
    assert result.returncode == 2, result.stderr
    assert "the prompt is longer than 65,536 characters (stdin)" in result.stderr
    assert "MemoryError" not in result.stderr and fake_api.requests == []


def test_yes_piped_into_batch_is_refused(fake_api: FakeAPI, tmp_path: Path) -> None:
    result = run_fed_by_yes(batch_args(fake_api, "-", tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "stdin is longer than 64 MiB" in result.stderr
    assert fake_api.requests == []


def test_a_prompt_file_that_never_ends_is_refused(
    fake_api: FakeAPI, run_wan_subprocess: RunWan
) -> None:
    args = ["generate", "--prompt-file", "/dev/zero", "--base-url", f"{fake_api.url}/v1"]
    result = run_wan_subprocess(args, env=ENV)
    assert result.returncode == 2, result.stderr
    assert "the prompt is longer than 65,536 characters (prompt file /dev/zero)" in result.stderr
    assert fake_api.requests == []


def test_a_batch_file_with_too_many_lines_is_refused(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    source = tmp_path / "many.txt"
    source.write_text("a fox\n" * 100_001)
    result = run_wan_subprocess(batch_args(fake_api, source, tmp_path / "out"), env=ENV)
    assert result.returncode == 2, result.stderr
    assert "has 100,001 lines, more than 100,000: nothing was sent" in result.stderr
    assert fake_api.requests == []


def test_a_batch_line_nested_100000_deep_is_a_line_problem(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    deep = '{"prompt": "a", "seed": ' + "[" * 100_000 + "]" * 100_000 + "}"
    source = tmp_path / "deep.jsonl"
    source.write_text('{"prompt": "fine"}\n' + deep + "\n")
    result = run_wan_subprocess(batch_args(fake_api, source, tmp_path / "out"), env=ENV)
    assert result.returncode == 2, result.stderr
    assert "line 2: not valid JSON: JSON nested more than 100 levels deep" in result.stderr
    assert "RecursionError" not in result.stderr and "Traceback" not in result.stderr
    assert fake_api.requests == []


def test_a_fifo_as_a_reference_image_is_refused_without_hanging(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fifo = tmp_path / "ref.png"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it to read would block forever
    args = ["generate", "a fox", "--ref", str(fifo), "--base-url", f"{fake_api.url}/v1"]
    result = run_wan_subprocess(args, env=ENV, timeout=20)
    assert result.returncode == 2, result.stderr
    assert f"reference image is not a regular file: {fifo}" in result.stderr
    assert fake_api.requests == []

    source = tmp_path / "lines.jsonl"
    source.write_text(json.dumps({"prompt": "a fox", "refs": [str(fifo)]}) + "\n")
    batch = run_wan_subprocess(batch_args(fake_api, source, tmp_path / "out"), env=ENV, timeout=20)
    assert batch.returncode == 2, batch.stderr
    assert "line 1: reference image is not a regular file" in batch.stderr
    assert fake_api.requests == []


# -- what a resumed batch does with each line (pure) ----------------------------------------------


def _row(run_id: int, status: str, *, url: str | None = None, saved: bool = False) -> RunRow:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    images = ()
    if url is not None or saved:
        image = ImageRow(0, url, url is None, when, "x.png" if saved else None, None, None, None,
                         when if saved else None)  # fmt: skip
        images = (image,)
    return RunRow(run_id, when, None, "generate", "m", "p", "h", "a fox", {}, [], "/out", None,
                  status, None, None, None, "", None, images)  # fmt: skip


def _item(key: str) -> BatchItem:
    inputs = GenerateInputs(mode="generate", prompt=key)
    return BatchItem(number=1, position=0, key=key, inputs=inputs, output_dir=Path("/out"))


@pytest.mark.parametrize(
    ("record", "row", "resume", "fate"),
    [
        # killed mid-answer with a link recorded: saved from it, whatever the policy but --force
        (None, _row(5, "unfinished", url="u"), Resume.PENDING, "rescue"),
        (None, _row(5, "unfinished", url="u"), Resume.RETRY_FAILED, "rescue"),
        (None, _row(5, "unfinished", url="u"), Resume.FORCE, "send"),
        (None, _row(5, "unfinished", saved=True), Resume.PENDING, "rescue"),
        # killed before any image: nothing to save, sent again (and said so)
        (None, _row(5, "unfinished"), Resume.PENDING, "resend"),
        # another process is sending it right now
        (None, _row(5, "running", url="u"), Resume.PENDING, "skip:being sent by another"),
        # ended, but its manifest record was never written
        (None, _row(5, "ok", saved=True), Resume.PENDING, "skip:done"),
        (None, _row(5, "unsaved", url="u"), Resume.PENDING, "skip:paid for"),
        (None, _row(5, "unsaved", url="u"), Resume.RETRY_FAILED, "send"),
        (None, _row(5, "failed"), Resume.PENDING, "send"),
        # the manifest is newer than the row: it decides
        (("done", 0, 9), _row(5, "unfinished", url="u"), Resume.PENDING, "skip:done"),
        (("failed", 6, 9), _row(5, "unfinished", url="u"), Resume.PENDING, "send"),
        # the same run, Ctrl-C'd after its link arrived: saved, not paid again
        (("interrupted", 130, 5), _row(5, "interrupted", url="u"), Resume.PENDING, "rescue"),
        (("interrupted", 130, 5), _row(5, "interrupted"), Resume.PENDING, "send"),
        # the row is newer than the manifest: a later run was killed
        (("failed", 6, 3), _row(5, "unfinished", url="u"), Resume.PENDING, "rescue"),
    ],
)
def test_resume_decides_by_the_newer_of_manifest_and_history(
    record: tuple[str, int, int] | None, row: RunRow, resume: Resume, fate: str
) -> None:
    item = _item("k")
    previous = {}
    if record is not None:
        status, code, history_id = record
        previous["k"] = ManifestRecord("k", 1, status, code, history_id=history_id)
    chosen = select_work([item], previous, resume, {"k": row})
    if fate == "rescue":
        assert chosen.rescue == ((item, row),) and not chosen.send
    elif fate == "resend":
        assert chosen.send == (item,) and chosen.resent == ((item, row.id),)
    elif fate == "send":
        assert chosen.send == (item,) and not chosen.resent and not chosen.rescue
    else:
        [(skipped, why)] = chosen.skipped
        assert skipped is item and why.startswith(fate.removeprefix("skip:")), why


def test_a_row_left_running_by_a_killed_process_whose_pid_is_now_ours_is_unfinished(
    isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    # In a container the next `wan` may get the killed one's pid: its row looks alive.
    import io

    from wan_cli.batch.rescue import recorded_runs
    from wan_cli.history import open_store
    from wan_cli.ui.output import Output

    out_dir = tmp_path / "out"
    store = open_store(isolated_env.history)
    assert store is not None
    row_id = store.record_start(
        command="generate",
        model="m",
        provider="p",
        host="h",
        prompt="a fox",
        parameters={},
        references=[],
        output_dir=str(out_dir.absolute()),
    )  # recorded with this process's pid, as a killed `wan` with the same pid would have
    store.record_batch_key(row_id, "k")
    store.record_image(row_id, 0, "https://img.example/1.png")
    store.close()
    item = BatchItem(1, 0, "k", GenerateInputs(mode="generate", prompt="a fox"), out_dir)
    found = recorded_runs(True, [item], Output(stderr=io.StringIO()))
    assert found["k"].status == "unfinished" and found["k"].id == row_id
    chosen = select_work([item], {}, Resume.PENDING, found)
    assert chosen.rescue == ((item, found["k"]),)

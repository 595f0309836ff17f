"""End to end: how a run is stopped from outside. A deadline bounds the whole run (a trickle
never trips `--timeout`), and Ctrl-C/SIGTERM stop `wan` once: the cleanup the first one starts
finishes whatever else arrives, and it acts at once even while history waits for a lock. The
real `wan` as a child process, real signals, the loopback fake."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import IsolatedEnv, RunWan, SpawnWan, wait_for_output
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from wan_cli.history import RunRow, open_existing

API = "/v1/images/generations"
KEY = "sk-test-secret-key-9876"
ENV = {"WAN_API_KEY": KEY}
KEEP_ALIVE = b": keep-alive\n\n"
IMAGE = png_bytes(64, 64) + b"\0" * 100_000


def args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a lighthouse", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def runs(env: IsolatedEnv) -> list[RunRow]:
    """Newest first."""
    store = open_existing(env.history)
    if store is None:
        return []
    try:
        return store.list_runs(limit=None)
    finally:
        store.close()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"no {what} in {timeout} s"
        time.sleep(0.005)


# -- the deadline -------------------------------------------------------------------------------


@pytest.mark.regression("a server trickling keep-alives kept a run alive forever")
@pytest.mark.parametrize("given", ["flag", "env", "config"])
def test_keep_alives_forever_end_at_the_deadline(
    fake_api: FakeAPI,
    run_wan_subprocess: RunWan,
    tmp_path: Path,
    isolated_env: IsolatedEnv,
    given: str,
) -> None:
    fake_api.add(API, Reply.endless(b"", KEEP_ALIVE, interval=0.2))
    extra = ["--deadline", "1"] if given == "flag" else []
    env = {**ENV, "WAN_DEADLINE": "1"} if given == "env" else ENV
    if given == "config":
        isolated_env.config.write_text("[default]\ndeadline = 1\n", encoding="utf-8")
    started = time.monotonic()
    done = run_wan_subprocess(args(fake_api, tmp_path / "out", *extra), env=env, timeout=30)
    elapsed = time.monotonic() - started
    assert done.returncode == 6, done.stderr
    assert "the run passed its deadline of 1 s" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert elapsed < 10  # ~1 s and start-up; the read timeout (300 s) never trips
    [run] = runs(isolated_env)
    assert (run.status, run.exit_code) == ("failed", 6)
    assert run.error == "the run passed its deadline of 1 s"


@pytest.mark.parametrize("json_output", [False, True], ids=["plain", "json"])
def test_a_trickling_image_host_ends_at_the_deadline_with_the_url_kept(
    fake_api: FakeAPI,
    run_wan_subprocess: RunWan,
    tmp_path: Path,
    isolated_env: IsolatedEnv,
    json_output: bool,
) -> None:
    # The image's bytes come 16 at a time, 5 a second: each read is quick, the whole never ends.
    fake_api.add("/img/slow.png", Reply.bytes(IMAGE, chunk_size=16, chunk_delay=0.2))
    url = f"{fake_api.url}/img/slow.png"
    fake_api.add(
        API, Reply.sse([sse_chunk(text="A lighthouse."), sse_chunk(image=url, finish="stop")])
    )
    out = tmp_path / "out"
    extra = ["--deadline", "1", *(["--json"] if json_output else [])]
    started = time.monotonic()
    done = run_wan_subprocess(args(fake_api, out, *extra), env=ENV, timeout=30)
    assert time.monotonic() - started < 10
    assert done.returncode == 6, done.stderr
    assert "the run passed its deadline of 1 s" in done.stderr
    assert "Traceback" not in done.stderr
    if json_output:
        document = json.loads(done.stdout)
        assert document["exit_code"] == 6 and document["images"][0]["url"] == url
        assert document["images"][0]["path"] is None
        assert document["error"]["code"] == "DeadlinePassed"
        assert document["text"] == "A lighthouse."
    else:
        assert done.stdout.strip() == url
    assert leftovers(out) == []  # the download was cancelled and its temp file removed
    [run] = runs(isolated_env)
    assert (run.status, run.exit_code) == ("failed", 6)
    [image] = run.images
    assert image.url == url and not image.is_saved
    assert f"wan history download {run.id}" in done.stderr


def test_no_deadline_with_zero(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    # A slow but finite answer: 0 turns the deadline off, a short one would have ended it.
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(text="slow"), sse_chunk(image=fake_api.image_url(), finish="stop")],
            stall_after_events=1,
            stall=1.5,
        ),
    )
    done = run_wan_subprocess(
        args(fake_api, tmp_path, "--deadline", "0"), env={**ENV, "WAN_DEADLINE": "1"}
    )
    assert done.returncode == 0, done.stderr
    refused = run_wan_subprocess(args(fake_api, tmp_path, "--deadline", "-1"), env=ENV)
    assert refused.returncode == 2 and "deadline" in refused.stderr


@pytest.mark.regression(
    "a retry sent on the kept-alive connection, to a server silent before its headers, "
    "outlived its deadline: nothing knew that connection's socket, so --timeout was waited out"
)
def test_a_retry_silent_before_its_headers_ends_at_the_deadline(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    busy = {"code": "ServiceUnavailable", "message": "busy"}
    fake_api.add(
        API,
        Reply.json(busy, status=503, headers={"Retry-After": "0"}),
        Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")], delay=30),
    )
    started = time.monotonic()
    argv = [*args(fake_api, tmp_path), "--deadline", "2", "--timeout", "40"]
    done = run_wan_subprocess(argv, env=ENV, timeout=50)
    elapsed = time.monotonic() - started
    assert done.returncode == 6, done.stderr
    assert "deadline of 2 s" in done.stderr, done.stderr
    assert elapsed < 20, f"{elapsed:.1f} s: the read outlived the deadline"
    assert len(fake_api.requests_to(API)) == 2


@pytest.mark.regression("a deadline must end its own batch line only, not the lines beside it")
def test_a_batch_line_passing_its_deadline_ends_alone(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    from wan_cli.batch.manifest import MANIFEST_NAME

    # -j 2: the first request waits 2 s for its answer; the second trickles keep-alives until
    # its deadline (4 s); the third starts when the first is done (2 s) and is still reading
    # its slow stream when the second line is stopped (4 s): it must finish (5 s), before its
    # own deadline (6 s), although the lines share their connections' clients.
    slow_link = fake_api.image_url("third.png")
    fake_api.add(
        API,
        Reply.sse([sse_chunk(image=fake_api.image_url("first.png"), finish="stop")], delay=2),
        Reply.endless(b"", KEEP_ALIVE, interval=0.2),
        Reply.sse(
            [sse_chunk(text="slow"), sse_chunk(image=slow_link, finish="stop")],
            stall_after_events=1,
            stall=3,
        ),
    )
    source = tmp_path / "prompts.txt"
    source.write_text("one\ntwo\nthree\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["batch", str(source), "--base-url", f"{fake_api.url}/v1", "-o", str(out)]
    done = run_wan_subprocess([*argv, "-j", "2", "--deadline", "4"], env=ENV, timeout=50)
    assert done.returncode == 6, done.stderr
    records = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["done", "done", "failed"], records
    [failed] = [r for r in records if r["status"] == "failed"]
    assert failed["exit_code"] == 6 and "deadline of 4 s" in failed["error"]
    assert "Traceback" not in done.stderr


# -- signals ------------------------------------------------------------------------------------


def _stalled_download(fake_api: FakeAPI) -> str:
    """An answer whose image host sends the headers and a first chunk, then nothing for a
    minute: the run is downloading when the signals come."""
    fake_api.add("/img/stalled.png", Reply.bytes(IMAGE, chunk_size=4096, chunk_delay=60))
    url = f"{fake_api.url}/img/stalled.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    return url


@pytest.mark.regression("two Ctrl-C 5-9 ms apart lost the paid URLs; later, killed by the signal")
@pytest.mark.parametrize(
    ("first", "second", "after_message"),
    [
        (signal.SIGINT, signal.SIGINT, False),
        (signal.SIGINT, signal.SIGTERM, False),
        (signal.SIGINT, signal.SIGINT, True),
    ],
    ids=["ctrl-c-twice", "ctrl-c-then-sigterm", "second-after-the-message"],
)
def test_a_second_signal_never_cuts_the_cleanup_short(
    fake_api: FakeAPI,
    spawn_wan: SpawnWan,
    tmp_path: Path,
    isolated_env: IsolatedEnv,
    first: signal.Signals,
    second: signal.Signals,
    after_message: bool,
) -> None:
    url = _stalled_download(fake_api)
    for trial in range(4):
        out = tmp_path / f"out-{trial}"
        process = spawn_wan(args(fake_api, out), env=ENV)
        # The link is in history before its download starts: the download's bytes mean the
        # run holds a paid URL.
        fake_api.wait_bytes_sent("/img/stalled.png", 4096 * (trial + 1), timeout=20)
        process.send_signal(first)
        seen = ""
        if after_message:  # the second lands while the report is written or the process exits
            seen = wait_for_output(process.stderr, "interrupted")
        process.send_signal(second)
        stdout, stderr = process.communicate(timeout=20)
        stderr = seen + stderr
        assert process.returncode == 130, f"trial {trial}: {process.returncode} {stderr}"
        assert stdout.strip() == url, f"trial {trial}: {stderr}"
        assert "error: interrupted" in stderr and "Traceback" not in stderr, stderr
        run = runs(isolated_env)[0]
        assert (run.status, run.exit_code) == ("interrupted", 130), f"trial {trial}"
        assert [image.url for image in run.images] == [url]
        assert leftovers(out) == []


@pytest.mark.regression("Ctrl-C while history waited for a lock took ~4 s and printed nothing")
@pytest.mark.parametrize("history", ["new", "in use"])
def test_ctrl_c_while_history_waits_for_a_lock_acts_at_once(
    fake_api: FakeAPI,
    spawn_wan: SpawnWan,
    run_wan_subprocess: RunWan,
    tmp_path: Path,
    isolated_env: IsolatedEnv,
    history: str,
) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see the history file open")
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    if history == "in use":  # WAL: reading goes on, the new run's row waits for the writer
        done = run_wan_subprocess(args(fake_api, tmp_path / "first"), env=ENV)
        assert done.returncode == 0, done.stderr
    # Another process in the middle of a write (a new file: even reading waits).
    locker = sqlite3.connect(isolated_env.history, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        process = spawn_wan(args(fake_api, tmp_path / "out"), env=ENV)
        history_file = str(isolated_env.history.resolve())

        def history_open() -> bool:
            try:
                names = os.listdir(f"/proc/{process.pid}/fd")
                return any(
                    os.readlink(f"/proc/{process.pid}/fd/{n}") == history_file for n in names
                )
            except OSError:  # the process is starting (or a descriptor just closed)
                return False

        wait_until(history_open, "history file open")
        signalled = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
        elapsed = time.monotonic() - signalled
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert process.returncode == 130, stderr
    assert "error: interrupted" in stderr and "Traceback" not in stderr
    assert elapsed < 2, f"{elapsed:.2f} s: the busy timeout (5 s) was waited out"
    assert len(fake_api.requests_to(API)) == (1 if history == "in use" else 0)  # none sent now
    assert stdout == ""


_LOST_WAKEUP = """
import _thread, signal, sys, threading
from wan_cli import signals
signals.install()
lock = threading.Lock()
lock.acquire()
def take_the_signal_in_c():  # a thread not made deaf: the signal's C handler runs here
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
_thread.start_new_thread(take_the_signal_in_c, ())
try:
    lock.acquire(timeout=float(sys.argv[1]))  # the main thread, already blocked
except KeyboardInterrupt:
    print("interrupted")
else:
    print("slept through it")
"""


@pytest.mark.regression(
    "a Ctrl-C that landed just before the main thread blocked was taken in C and lost: the run "
    "went on until its download ended (seen on a loaded machine, 1 run in ~20)"
)
def test_a_signal_taken_in_c_still_wakes_the_blocked_main_thread() -> None:
    # The lost wakeup, made certain: the signal's C handler runs on another thread while the
    # main thread waits on a lock, so nothing interrupts the wait. The watchdog must.
    import subprocess
    import sys

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _LOST_WAKEUP, "30"], capture_output=True, text=True, timeout=60
    )
    assert (done.stdout.strip(), done.returncode) == ("interrupted", 0), done.stderr
    assert time.monotonic() - started < 20, "woken only when the wait ended"


# -- the parts: a run's cancel, its deadline, its reads ------------------------------------------


def test_a_cancel_reaches_its_followers_and_not_back() -> None:
    from wan_cli.run.stopping import Cancel

    batch = Cancel()
    line, other = batch.follower(), batch.follower()
    line.set()  # one line's deadline
    assert line.is_set() and not other.is_set() and not batch.is_set()
    batch.set()  # the batch's Ctrl-C
    assert other.is_set()
    assert batch.follower().is_set()  # a line started afterwards is cancelled from the start


def test_a_deadline_fires_once_unless_the_run_ended_first() -> None:
    import threading

    from wan_cli.run.stopping import Deadline

    fired = threading.Event()
    passing = Deadline(0.05, fired.set)
    assert fired.wait(10)
    passing.end()
    assert passing.passed and "deadline of 0.05 s" in passing.error().message
    assert passing.error().exit_code == 6
    calls: list[int] = []
    ended = Deadline(30, lambda: calls.append(1))
    ended.end()
    assert not ended.passed and calls == []
    assert not Deadline(None, lambda: calls.append(1)).passed


def test_a_run_aborts_its_own_reads_only(fake_api: FakeAPI) -> None:
    import httpx

    from wan_cli.api.abort import ReadScope, abortable, bound

    fake_api.add("/quick", Reply.bytes(b"q" * 10))
    fake_api.add("/slow", Reply.bytes(b"s" * 60, chunk_size=10, chunk_delay=0.05))
    with httpx.Client(trust_env=False) as client:
        abortable(client)
        earlier, later, last = ReadScope(), ReadScope(), ReadScope()
        with bound(earlier):
            assert client.get(f"{fake_api.url}/quick").content == b"q" * 10
        with bound(later), client.stream("GET", f"{fake_api.url}/slow") as response:
            chunks = response.iter_raw()
            first = next(chunks)
            earlier.abort()  # the earlier run's deadline: its connection now serves another run
            assert first + b"".join(chunks) == b"s" * 60
        with bound(last), client.stream("GET", f"{fake_api.url}/slow") as response:
            chunks = response.iter_raw()
            next(chunks)
            last.abort()  # this run's own deadline: the read fails at once
            with pytest.raises(httpx.HTTPError):
                b"".join(chunks)
        with bound(last), pytest.raises(httpx.ConnectError, match="the run was stopped"):
            client.get(f"{fake_api.url}/quick")  # a stopped run sends nothing more
    quick, slow, last_slow = fake_api.requests
    assert quick.client_port == slow.client_port == last_slow.client_port  # one pooled connection
    assert len(fake_api.requests) == 3

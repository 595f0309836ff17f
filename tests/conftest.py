"""Shared fixtures: the loopback fake API, an isolated environment, and ways to run `wan`.

- `isolated_env` (autouse): every test gets its own config/history paths and no credentials,
  proxies or colour settings from the developer's shell. Request it to learn the paths.
- `fake_api`: a started `tests.fakeapi.FakeAPI`, stopped after the test.
- `run_cli(args, input=None, env=None)`: the typer app in-process; `result.stdout` and
  `result.stderr` are separate (typer 0.29's CliRunner always keeps them apart).
- `run_wan_subprocess(args, env=None, input=None)`: the installed `wan` script as a real process.
- `spawn_wan(args, env=None, ...)`: a `Popen` of `wan` (for signals), killed after the test.
- `wait_for_output(stream, text)`: block until a child's pipe has shown `text` (no sleeping).
- `read_permissions_enforced()`: file modes apply to this thread even when the tests run as root.
- `disk_full(monkeypatch)`: from then on, writes to our temp files (`.part-`) fail with ENOSPC.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests.fakeapi import FakeAPI

if TYPE_CHECKING:
    from typer.testing import Result

# The Ctrl-C tests send SIGINT to a `wan` child, as a terminal would to a foreground program.
# A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored across
# exec: run from such a job, every child would ignore Ctrl-C. A handled signal is reset to the
# default in a child, so handling it here gives each `wan` the disposition a terminal gives.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Variables that would leak the developer's setup into a test.
_CLEARED = (
    "WAN_API_KEY",
    "WAN_BASE_URL",
    "WAN_MODEL",
    "WAN_PROFILE",
    "WAN_DEBUG",
    "DASHSCOPE_API_KEY",
    "NO_COLOR",
    "FORCE_COLOR",
    "GITHUB_ACTIONS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)

# Next to the interpreter running the tests (.venv/bin); not resolved, so it stays in the venv.
WAN_BIN = Path(sys.executable).parent / "wan"

RunCli = Callable[..., "Result"]
RunWan = Callable[..., "subprocess.CompletedProcess[str]"]
SpawnWan = Callable[..., "subprocess.Popen[str]"]


@dataclass(frozen=True)
class IsolatedEnv:
    """Where this test's `wan` keeps its state (nothing exists until `wan` creates it)."""

    root: Path
    config: Path  # $WAN_CONFIG
    history: Path  # $WAN_HISTORY


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IsolatedEnv]:
    root = tmp_path_factory.mktemp("wan-env")
    env = IsolatedEnv(root=root, config=root / "config.toml", history=root / "history.db")
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAN_CONFIG", str(env.config))
    monkeypatch.setenv("WAN_HISTORY", str(env.history))
    # platformdirs follows XDG: keep any default path inside the test's directory too.
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(root / name.lower()))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # A guard: anything not on loopback goes to a proxy on a closed loopback port and fails at
    # once, without a DNS lookup. Tests only ever talk to 127.0.0.1.
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    _reset_output(monkeypatch)
    yield env


def _reset_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process-wide output sink so the next one binds to the current streams."""
    import wan_cli.ui.output

    # output.py has set_output(Output) but no reset; setting the private slot is the only way.
    monkeypatch.setattr(wan_cli.ui.output, "_current", None)


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    with FakeAPI() as api:
        yield api


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run the app in-process: run_cli(["doctor"], input="...", env={"WAN_API_KEY": "k"})."""
    from typer.testing import CliRunner

    from wan_cli.cli.app import app

    def run(
        args: Sequence[str],
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        catch_exceptions: bool = True,
    ) -> Result:
        _reset_output(monkeypatch)  # a fresh sink per run: the runner swaps sys.stdout/stderr
        runner = CliRunner()
        return runner.invoke(
            app,
            list(args),
            input=input,
            env=env,
            catch_exceptions=catch_exceptions,
            prog_name="wan",
        )

    return run


def _environment(env: Mapping[str, str | None] | None) -> dict[str, str]:
    merged = dict(os.environ)  # already isolated by `isolated_env`
    for name, value in (env or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


@pytest.fixture
def run_wan_subprocess() -> RunWan:
    """Run `wan` for real: run_wan_subprocess(["--version"], env={...}, input="...")."""

    def run(
        args: Sequence[str],
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
        timeout: float = 60,
        cwd: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WAN_BIN), *args],
            env=_environment(env),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )

    return run


@pytest.fixture
def spawn_wan() -> Iterator[SpawnWan]:
    """Start `wan` without waiting (e.g. to send SIGINT); any still running is killed after."""
    started: list[subprocess.Popen[str]] = []

    def spawn(
        args: Sequence[str], env: Mapping[str, str | None] | None = None, **popen: Any
    ) -> subprocess.Popen[str]:
        popen.setdefault("stdin", subprocess.DEVNULL)
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        process: subprocess.Popen[str] = subprocess.Popen(
            [str(WAN_BIN), *args], env=_environment(env), text=True, **popen
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def wait_for_output(stream: IO[str] | None, text: str, timeout: float = 20) -> str:
    """Read a child's pipe until `text` has appeared; return what was read. Reads the raw fd
    (nothing is left in a buffer, so `communicate()` afterwards gets the rest); fails at once
    if the child closes the pipe first, and after `timeout` seconds if it stays silent."""
    import selectors
    import time

    assert stream is not None, "the pipe was not opened (stdout/stderr=PIPE)"
    deadline = time.monotonic() + timeout
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream.fileno(), selectors.EVENT_READ)
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and selector.select(left), f"no {text!r} in {timeout}s: {seen!r}"
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"the pipe closed before {text!r}: {seen!r}"
            seen += chunk
    return seen.decode("utf-8", "replace")


@contextlib.contextmanager
def read_permissions_enforced() -> Iterator[None]:
    """Within the block, this thread reads files as their mode bits say, even as root.

    Root reads a file of mode 0 through CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH); CI runs as
    root, so an "unreadable file" test needs these two capabilities out of the effective set.
    Capabilities are per thread on Linux, and the effective set is restored from the permitted
    one afterwards: nothing else in the test process is affected. A no-op for other users."""
    if os.geteuid() != 0:
        yield
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))

    class Data(ctypes.Structure):
        _fields_ = (
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        )

    libc = ctypes.CDLL(None, use_errno=True)
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    saved = (Data * 2)()
    if libc.capget(ctypes.byref(header), saved) != 0:
        pytest.fail(f"capget: {os.strerror(ctypes.get_errno())}")
    dropped = (Data * 2)(*(Data(d.effective, d.permitted, d.inheritable) for d in saved))
    dropped[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(header), dropped) != 0:
        pytest.fail(f"capset: {os.strerror(ctypes.get_errno())}")
    try:
        yield
    finally:
        libc.capset(ctypes.byref(header), saved)


def disk_full(monkeypatch: pytest.MonkeyPatch, marker: str = ".part-") -> None:
    """Make the disk full for the temp files whose name holds `marker`, in this process.

    When such a file is wrapped with `os.fdopen` (how `wan` writes every temp file), its
    descriptor is pointed at /dev/full with `dup2` first: the file exists on disk as usual,
    and every write to it fails in the kernel with ENOSPC, exactly as on a full disk."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    real_fdopen = os.fdopen

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(OSError):
            if marker in os.readlink(f"/proc/self/fd/{fd}"):
                full = os.open("/dev/full", os.O_WRONLY)
                os.dup2(full, fd)
                os.close(full)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)


@dataclass(frozen=True)
class TerminalRun:
    """A `wan` run whose stderr (and optionally stdin) was a real terminal."""

    returncode: int
    stdout: str  # a pipe: what scripts would read
    shown: str  # everything the terminal received


def run_on_a_terminal(
    args: Sequence[str],
    env: Mapping[str, str | None] | None = None,
    *,
    typed: str | None = None,
) -> TerminalRun:
    """Run the installed `wan` with stderr on a pty (and stdin too when `typed` is given: the
    keystrokes wait in the terminal until the program reads them); stdout stays a pipe."""
    import threading

    master, slave = os.openpty()
    received: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child closed the terminal
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    if typed is not None:
        os.write(master, typed.encode())
    try:
        done = subprocess.run(
            [str(WAN_BIN), *args],
            stdin=slave if typed is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=_environment({"TERM": "xterm-256color", **(env or {})}),
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return TerminalRun(done.returncode, done.stdout, b"".join(received).decode("utf-8", "replace"))

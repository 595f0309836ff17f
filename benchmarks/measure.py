"""Measuring tools shared by the benchmarks: child processes, medians, and the result rows.

Every memory figure is the peak resident set size (`ru_maxrss`) of one fresh child process,
read with `os.wait4` for exactly that child: nothing another benchmark (or this runner) did can
leak into it. Times are wall-clock seconds around the child, from spawn to exit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    """One row of the results table."""

    section: str
    name: str
    value: str
    goal: str  # "" when the figure is context for another one (no goal of its own)
    passed: bool | None  # None: no goal


@dataclass(frozen=True)
class ChildRun:
    """One finished child process."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    terminal: bool = False,
) -> ChildRun:
    """Run `argv` to completion; its wall time and its own peak RSS (not its children's).

    Output goes to temp files, not pipes, so the parent does nothing while the child runs;
    with `terminal`, stdout is a pseudo-terminal (as in an interactive shell) instead.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        tty = _Pty() if terminal else None
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=tty.child if tty is not None else out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
        peak = _maxrss_bytes(process)
        seconds = time.perf_counter() - started
        if tty is not None:
            out.write(tty.close())
        out.seek(0)
        err.seek(0)
        return ChildRun(
            seconds=seconds,
            peak_rss=peak,
            returncode=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


class _Pty:
    """A pseudo-terminal for a child's stdout, drained by a thread so the child never blocks."""

    def __init__(self) -> None:
        import pty
        import threading

        self.parent, self.child = pty.openpty()
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.parent, 65536)
            except OSError:  # EIO: every writer is gone
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def close(self) -> bytes:
        os.close(self.child)
        self._reader.join(timeout=5)
        os.close(self.parent)
        return b"".join(self._chunks)


def _maxrss_bytes(process: subprocess.Popen[bytes]) -> int:
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports kilobytes (macOS bytes).
    return int(usage.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)


def run_python_child(module: str, *args: str, env: Mapping[str, str] | None = None) -> ChildRun:
    """`python -m benchmarks.<module> args…` from the repository root (so imports resolve)."""
    return run_child([sys.executable, "-m", f"benchmarks.{module}", *args], env=env, cwd=REPO)


def child_report(run: ChildRun) -> dict[str, object]:
    """The JSON document a benchmark child printed as its last stdout line."""
    if run.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({run.returncode}): {run.stderr.strip()}")
    document = json.loads(run.stdout.strip().splitlines()[-1])
    if not isinstance(document, dict):
        raise RuntimeError(f"benchmark child printed {document!r}")
    return document


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def self_peak_rss() -> int:
    """This process's peak RSS so far, in bytes (for children reporting on themselves)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


def mb(n: float) -> str:
    return f"{n / MB:.1f} MB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"

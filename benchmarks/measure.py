"""Measuring tools shared by the benchmarks: child processes, medians, and the result rows.

Every memory figure is the peak resident set size (`ru_maxrss`) of one fresh child process,
read with `os.wait4` for exactly that child by a small launcher process (see `_LAUNCHER`), so
nothing another benchmark or this runner did leaks into it. Times are wall-clock seconds from
the launcher's fork to the child's exit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
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


def result(figure: Figure) -> str:
    """PASS, FAIL, or "" for a figure without a goal."""
    if figure.passed is None:
        return ""
    return "PASS" if figure.passed else "FAIL"


def print_figures(figures: Sequence[Figure]) -> int:
    """A section run on its own (`python -m benchmarks.e2e`): one line per figure; the exit
    status is 1 when a goal fails."""
    for figure in figures:
        print(f"{figure.name}: {figure.value}  (goal {figure.goal}) {result(figure)}".rstrip())
    return 0 if all(figure.passed is not False for figure in figures) else 1


@dataclass(frozen=True)
class ChildRun:
    """One finished child process."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str


# The process that starts each measured one. A child's peak RSS (`ru_maxrss`) counts the memory
# of the process it was forked from until it calls exec, so children forked from this runner
# (tens of MB by the time it has built a 10,000-event stream) would all report at least the
# runner's size. This launcher is ~8 MB (`python -S -I`, stdlib only): it forks the measured
# command, waits for it and writes its wall time, own peak RSS and exit code to a file.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(report, "w") as fh:
    fh.write(f"{seconds!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    terminal: bool = False,
) -> ChildRun:
    """Run `argv` to completion: its wall time (fork to exit) and its own peak RSS.

    Output goes to temp files, not pipes, so nothing has to read while the command runs; with
    `terminal`, stdout is a pseudo-terminal (as in an interactive shell) instead.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="wan-bench-") as tmp,
    ):
        report = Path(tmp) / "report"
        tty = _Pty() if terminal else None
        launcher = [sys.executable, "-S", "-I", "-c", _LAUNCHER, str(report), *argv]
        subprocess.run(
            launcher,
            stdin=subprocess.DEVNULL,
            stdout=tty.child if tty is not None else out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
        )
        if tty is not None:
            out.write(tty.close())
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        try:
            seconds, peak, code = report.read_text(encoding="utf-8").split()
        except (OSError, ValueError):
            raise RuntimeError(f"the launcher failed for {list(argv)}: {stderr.strip()}") from None
        return ChildRun(
            seconds=float(seconds),
            peak_rss=int(peak) * (1 if sys.platform == "darwin" else 1024),  # Linux: KiB
            returncode=int(code),
            stdout=stdout,
            stderr=stderr,
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

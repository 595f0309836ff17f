"""What a person sees while a batch runs (stderr): a line per finished request and one overall
bar on a terminal (`LiveProgress`), timestamped lines in logs (`PlainProgress`), or nothing."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wan_cli.errors import ExitCode, with_request_id
from wan_cli.ui.output import Output, escape_markup
from wan_cli.units import plural

if TYPE_CHECKING:
    from rich.progress import Task

    from wan_cli.batch.items import BatchItem
    from wan_cli.batch.outcome import LineOutcome


@dataclass(frozen=True)
class Tally:
    """Progress so far (a snapshot)."""

    total: int
    done: int
    failed: int
    elapsed_s: float
    interrupted: int = 0  # stopped by Ctrl-C: neither done nor failed

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.interrupted

    @property
    def rate(self) -> float:
        """Finished lines per second."""
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.finished or self.rate <= 0:
            return None
        return (self.total - self.finished) / self.rate


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _rate(per_second: float) -> str:
    return f"{per_second:.2f}/s" if per_second >= 1 else f"{per_second * 60:.1f}/min"


class BatchProgress(Protocol):
    """What a person sees while a batch runs (stderr). Called from worker threads."""

    def start(self, total: int, rescued: int = 0) -> None:
        """`total` lines to take, `rescued` of them saved from an earlier run's links."""

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None: ...
    def finished(self, outcome: LineOutcome, tally: Tally) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


def _finished_line(outcome: LineOutcome) -> str:
    item = outcome.item
    label = f"line {item.number}" + (f" ({item.name})" if item.name else "")
    if outcome.code == ExitCode.OK:
        first = outcome.paths[0] if outcome.paths else ""
        more = f" +{len(outcome.paths) - 1} more" if len(outcome.paths) > 1 else ""
        return f"{label} done in {outcome.elapsed_s:.1f} s: {first}{more}"
    if outcome.code == ExitCode.INTERRUPTED:  # the error says no more than the status
        return f"{label} interrupted"
    message = with_request_id(str(outcome.error), outcome.request_id)
    return f"{label} {outcome.status} (exit {int(outcome.code)}): {message}"


def _retry_line(item: BatchItem, attempt: int, delay: float, why: str) -> str:
    return f"line {item.number}: {why}; every request waits {delay:.1f} s (attempt {attempt + 1})"


def _times(elapsed_s: float, eta_s: float | None) -> str:
    """The two times of a batch, each with its label."""
    return f"elapsed {_duration(elapsed_s)} · ETA {_duration(eta_s)}"


def _tally_line(tally: Tally) -> str:
    stopped = f", {tally.interrupted} interrupted" if tally.interrupted else ""
    return (
        f"{tally.finished}/{tally.total} finished, {tally.failed} failed{stopped} · "
        f"{_rate(tally.rate)} · {_times(tally.elapsed_s, tally.eta_s)}"
    )


class QuietProgress:
    def start(self, total: int, rescued: int = 0) -> None:
        pass

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None:
        pass

    def finished(self, outcome: LineOutcome, tally: Tally) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """Timestamped lines for logs: one per finished request, with the running totals."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._lock = threading.Lock()

    def start(self, total: int, rescued: int = 0) -> None:
        with self._lock:
            saving = f", saving {plural(rescued, 'line')} from recorded links" if rescued else ""
            self._out.info(f"sending {plural(total - rescued, 'request')}{saving}")

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None:
        with self._lock:
            self._out.warn(_retry_line(item, attempt, delay, why))

    def finished(self, outcome: LineOutcome, tally: Tally) -> None:
        text = f"{_finished_line(outcome)} · {_tally_line(tally)}"
        with self._lock:
            if outcome.code == ExitCode.OK:
                self._out.info(text)
            else:
                self._out.warn(text)

    def note(self, message: str) -> None:
        with self._lock:
            self._out.info(message)

    def close(self) -> None:
        pass


class LiveProgress:
    """One overall bar (done / failed / total, rate, ETA) on a terminal; a line per finished
    request printed above it."""

    def __init__(self, out: Output) -> None:
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        class Times(ProgressColumn):
            """`elapsed 0:06 · ETA 0:10`: rich's elapsed column has no label."""

            def render(self, task: Task) -> Text:
                eta = task.fields.get("eta_s")
                return Text(_times(task.elapsed or 0.0, eta))

        self._out = out
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("batch"),
            BarColumn(bar_width=30),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("[green]{task.fields[done]} done[/] · [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[rate]} ·"),
            Times(),
            console=out.console,
            transient=True,
            refresh_per_second=8,
        )
        self._task = self._progress.add_task(
            "batch", total=0, done=0, failed=0, rate="", eta_s=None
        )

    def start(self, total: int, rescued: int = 0) -> None:
        with self._lock:
            self._progress.update(self._task, total=total)
            self._progress.start()

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None:
        with self._lock:
            text = _retry_line(item, attempt, delay, escape_markup(why))
            self._progress.console.print(f"[yellow]{text}[/yellow]")

    def finished(self, outcome: LineOutcome, tally: Tally) -> None:
        text = escape_markup(_finished_line(outcome))
        mark = "[green]✓[/green]" if outcome.code == ExitCode.OK else "[red]✗[/red]"
        with self._lock:
            self._progress.console.print(f"{mark} {text}")
            self._progress.update(
                self._task,
                completed=tally.finished,
                done=tally.done,
                failed=tally.failed,
                rate=_rate(tally.rate),
                eta_s=tally.eta_s,
            )

    def note(self, message: str) -> None:
        with self._lock:
            self._progress.console.print(escape_markup(message))

    def close(self) -> None:
        with self._lock:
            self._progress.stop()


def make_progress(out: Output) -> BatchProgress:
    if out.quiet:
        return QuietProgress()
    if out.fancy:
        return LiveProgress(out)
    return PlainProgress(out)

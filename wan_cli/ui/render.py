"""What a person sees while a generation runs (stderr only; results never go through here).

Two views with one interface: `LiveView` (rich: streamed text, spinner with elapsed time, a
progress bar per download, refreshed at a bounded rate) for a colour terminal, and `PlainView`
(timestamped lines, no ANSI codes) for pipes, CI logs, `NO_COLOR` and `TERM=dumb`. `QuietView`
shows nothing (errors still go through `Output.error`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wan_cli.ui.output import Output, escape_markup, sanitize
from wan_cli.units import human_bytes, plural

if TYPE_CHECKING:
    from rich.live import Live
    from rich.progress import Progress, TaskID

    from wan_cli.api.events import Usage
    from wan_cli.files.download import SavedImage


@dataclass(frozen=True)
class Summary:
    """The end-of-run facts a person wants: what was saved, what it cost, how long it took."""

    saved: tuple[SavedImage, ...]
    usage: Usage | None
    request_id: str | None
    elapsed_s: float


class View(Protocol):
    def waiting(self, what: str) -> None: ...
    def retrying(self, attempt: int, delay: float, why: str) -> None: ...
    def text(self, fragment: str) -> None: ...
    def image_found(self, index: int, url: str | None) -> None: ...
    def download_progress(self, index: int, done: int, total: int | None) -> None: ...
    def image_saved(self, image: SavedImage) -> None: ...
    def finish(self, summary: Summary) -> None: ...
    def close(self) -> None: ...


def retry_message(attempt: int, delay: float, why: str) -> str:
    """What people are told before a request is sent again (`attempt` is the one that failed)."""
    return f"{why}; retrying in {delay:.1f} s (attempt {attempt + 1})"


def usage_line(usage: Usage | None) -> str | None:
    if usage is None:
        return None
    parts = []
    if usage.input_tokens is not None or usage.output_tokens is not None:
        parts.append(
            f"tokens in {usage.input_tokens or 0} / out {usage.output_tokens or 0} / "
            f"total {usage.total_tokens if usage.total_tokens is not None else '?'}"
        )
    if usage.image_count is not None:
        parts.append(plural(usage.image_count, "image"))
    if usage.size and usage.size != "0*0":
        parts.append(f"size {usage.size}")
    return " · ".join(parts) or None


class QuietView:
    """--quiet: nothing for people but errors."""

    def waiting(self, what: str) -> None:
        pass

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        pass

    def text(self, fragment: str) -> None:
        pass

    def image_found(self, index: int, url: str | None) -> None:
        pass

    def download_progress(self, index: int, done: int, total: int | None) -> None:
        pass

    def image_saved(self, image: SavedImage) -> None:
        pass

    def finish(self, summary: Summary) -> None:
        pass

    def close(self) -> None:
        pass


class PlainView:
    """Timestamped lines for logs: text is written a whole line at a time, never redrawn."""

    def __init__(self, out: Output) -> None:
        self._out = out
        # The current line's fragments: joined once the line is complete (appending to one
        # string would copy the whole line for every fragment of a long line).
        # Only the main thread streams text (downloads report through image_saved): no lock.
        self._pieces: list[str] = []

    def waiting(self, what: str) -> None:
        self._out.info(what)

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        self._out.warn(retry_message(attempt, delay, why))

    def text(self, fragment: str) -> None:
        if "\n" not in fragment:  # most fragments: no line ends here
            self._pieces.append(fragment)
            return
        head, _, tail = fragment.rpartition("\n")
        self._pieces.append(head)
        complete = "".join(self._pieces)
        self._pieces = [tail]
        self._out.info(complete)

    def _flush_text(self) -> None:
        pending = "".join(self._pieces)
        self._pieces = []
        if pending.strip():
            self._out.info(pending)

    def image_found(self, index: int, url: str | None) -> None:
        self._flush_text()
        self._out.info(f"[image {index + 1}] {'received' if url is None else url}")

    def download_progress(self, index: int, done: int, total: int | None) -> None:
        pass  # a log wants the result, not a progress stream

    def image_saved(self, image: SavedImage) -> None:
        if image.error is None and image.path is not None:
            self._out.info(
                f"saved image {image.index + 1}: {image.path} ({human_bytes(image.bytes)})"
            )

    def finish(self, summary: Summary) -> None:
        self._flush_text()
        line = usage_line(summary.usage)
        if line:
            self._out.info(f"usage: {line}")
        tail = f"done in {summary.elapsed_s:.1f} s"
        if summary.request_id:
            tail += f" · request_id {summary.request_id}"
        self._out.info(tail)

    def close(self) -> None:
        self._flush_text()


class LiveView:
    """A rich live view on stderr, refreshed at most `refresh_per_second` times a second.

    Completed lines of text are printed above the live area (so they stay in scrollback), in
    batches at most `refresh_per_second` times a second: every print redraws the live area, so
    a stream of one-line fragments must not print each one. Until printed, they show in the live
    area with the partial line, the spinner and one bar per download. The live area is built
    when rich redraws it (`get_renderable`), never per event.
    """

    def __init__(self, out: Output, refresh_per_second: float = 8.0) -> None:
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self._out = out
        self._console = out.console
        self._lock = threading.RLock()
        self._lines: list[str] = []  # complete lines not printed yet
        self._pieces: list[str] = []  # fragments of the current line
        self._print_interval = 1.0 / refresh_per_second
        self._next_print = 0.0
        self._writing = False
        # One line for "what is happening" (spinner, elapsed), one bar per download.
        self._spinner: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self._console,
        )
        self._status: TaskID = self._spinner.add_task("starting", total=None)
        self._progress: Progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(bar_width=24),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self._console,
        )
        self._downloads: dict[int, TaskID] = {}
        self._live: Live = Live(
            console=self._console,
            refresh_per_second=refresh_per_second,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=self._renderable,
        )
        self._live.start()

    def _renderable(self) -> Any:
        """The live area, built by rich's refresh (its thread, under its lock). It reads our
        state without our lock: taking it here could deadlock with a print made under it."""
        from rich.console import Group
        from rich.text import Text

        shown = "\n".join([*self._lines, "".join(self._pieces)])
        return Group(Text(shown), self._spinner, self._progress)

    def _print_text(self, *, partial: bool) -> None:
        """Print the waiting complete lines (and with `partial`, the current line) at once."""
        from rich.text import Text

        lines = self._lines
        if partial and self._pieces:
            lines = [*lines, "".join(self._pieces)]
            self._pieces = []
        self._lines = []
        if lines:
            self._console.print(Text("\n".join(lines)))
        self._next_print = time.monotonic() + self._print_interval

    def waiting(self, what: str) -> None:
        with self._lock:
            self._writing = False
            self._spinner.update(self._status, description=escape_markup(what))

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        with self._lock:
            self._console.print(
                f"[yellow]{escape_markup(retry_message(attempt, delay, why))}[/yellow]"
            )

    def text(self, fragment: str) -> None:
        # rich's Text keeps ESC: the service's text must not drive the terminal.
        fragment = sanitize(fragment)
        with self._lock:
            if "\n" in fragment:
                head, _, tail = fragment.rpartition("\n")
                self._pieces.append(head)
                self._lines.extend("".join(self._pieces).split("\n"))
                self._pieces = [tail]
                if time.monotonic() >= self._next_print:
                    self._print_text(partial=False)
            else:
                self._pieces.append(fragment)
            if not self._writing:
                self._writing = True
                self._spinner.update(self._status, description="writing")

    def image_found(self, index: int, url: str | None) -> None:
        with self._lock:
            self._print_text(partial=True)
            self._console.print(f"[bold cyan]▣ image {index + 1}[/bold cyan]")
            self._downloads[index] = self._progress.add_task(f"image {index + 1}", total=None)

    def download_progress(self, index: int, done: int, total: int | None) -> None:
        with self._lock:
            task = self._downloads.get(index)
            if task is not None:
                self._progress.update(task, completed=done, total=total)

    def image_saved(self, image: SavedImage) -> None:
        with self._lock:
            task = self._downloads.pop(image.index, None)
            if task is not None:
                self._progress.remove_task(task)
            if image.error is None and image.path is not None:
                path = image.path.resolve()
                link = escape_markup(str(image.path))
                self._console.print(
                    f"[green]✓[/green] saved [link={path.as_uri()}]{link}[/link] "
                    f"[dim]({human_bytes(image.bytes)})[/dim]"
                )

    def finish(self, summary: Summary) -> None:
        with self._lock:
            self._print_text(partial=True)
            self._spinner.update(self._status, visible=False)
        self.close()
        parts = [f"done in {summary.elapsed_s:.1f} s"]
        line = usage_line(summary.usage)
        if line:
            parts.append(line)
        if summary.request_id:
            parts.append(f"request_id {summary.request_id}")
        self._console.print(f"[dim]{escape_markup(' · '.join(parts))}[/dim]")

    def close(self) -> None:
        with self._lock:
            if self._live.is_started:
                self._print_text(partial=True)  # what was streamed stays on screen
                self._live.stop()


def make_view(out: Output) -> View:
    if out.quiet:
        return QuietView()
    if out.fancy:
        return LiveView(out)
    return PlainView(out)

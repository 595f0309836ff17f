"""What a person sees while a generation runs (stderr only; results never go through here).

Two views with one interface: `LiveView` (rich: streamed text, spinner with elapsed time, a
progress bar per download, refreshed at a bounded rate) for a colour terminal, and `PlainView`
(timestamped lines, no ANSI codes) for pipes, CI logs, `NO_COLOR` and `TERM=dumb`. `QuietView`
shows nothing (errors still go through `Output.error`).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wan_cli.ui.output import Output, escape_markup, is_terminal, sanitize, terminal_width
from wan_cli.ui.wrap import StreamWrapper
from wan_cli.units import human_bytes, plural

if TYPE_CHECKING:
    from rich.live import Live
    from rich.progress import Progress, TaskID

    from wan_cli.api.events import Usage
    from wan_cli.files.download import SavedImage


# What sets the model's words apart from the tool's own lines, in every view.
LABEL = "model: "


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
    tokens_in, tokens_out = usage.input_tokens, usage.output_tokens
    if tokens_in is not None or tokens_out is not None:
        tokens = f"tokens in {tokens_in or 0} / out {tokens_out or 0}"
        total = usage.total_tokens
        if total is None and tokens_in is not None and tokens_out is not None:
            total = tokens_in + tokens_out
        parts.append(tokens + (f" / total {total}" if total is not None else ""))
    if usage.image_count is not None:
        parts.append(plural(usage.image_count, "image"))
    if usage.size and usage.size != "0*0":
        parts.append(f"size {usage.size.replace('*', '×')}")  # a size, not a glob
    return " · ".join(parts) or None


def saved_line(image: SavedImage, *, path_shown: bool) -> str:
    """`saved image 1: out/a.png (1.2 MB)`; without the path when stdout (which gets it as the
    result) is the same terminal: it would show twice."""
    size = human_bytes(image.bytes)
    if path_shown:
        return f"saved image {image.index + 1}: {image.path} ({size})"
    return f"saved image {image.index + 1} ({size})"


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
    """Timestamped lines, never redrawn: for logs, and for terminals refusing colour.

    The model's text is labelled `model:`. In a log it is written a whole line at a time; on
    a terminal (`NO_COLOR`, `TERM=dumb`) word by word as it arrives, wrapped to the width.
    """

    def __init__(self, out: Output, *, width: int | None = None) -> None:
        self._out = out
        self._lock = threading.Lock()  # downloads report from their own threads
        # The current line's fragments (logs): joined once the line is complete (appending to
        # one string would copy the whole line for every fragment of a long line).
        self._pieces: list[str] = []
        self._wrap: StreamWrapper | None = None  # a terminal: the text streams
        self._path_shown = not out.results_on_screen
        if is_terminal(out.stderr):
            columns = width or terminal_width(out.stderr)
            self._wrap = StreamWrapper(columns, lambda: f"{time.strftime('%H:%M:%S')} {LABEL}")

    def _tool_line(self, message: str, *, warning: bool = False, flush: bool = True) -> None:
        with self._lock:
            self._end_text(flush=flush)
            (self._out.warn if warning else self._out.info)(message)

    def waiting(self, what: str) -> None:
        self._tool_line(what)

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        self._tool_line(retry_message(attempt, delay, why), warning=True)

    def text(self, fragment: str) -> None:
        if self._wrap is not None:
            # A terminal: a download's line must not land inside the line being written.
            with self._lock:
                self._write(self._wrap.feed(sanitize(fragment)))
        # A log: only the main thread streams text, and each line is written whole: no lock.
        elif "\n" not in fragment:  # most fragments: no line ends here
            self._pieces.append(fragment)
        else:
            head, _, tail = fragment.rpartition("\n")
            self._pieces.append(head)
            complete = "".join(self._pieces)
            self._pieces = [tail]
            self._log_text(complete)

    def _write(self, text: str) -> None:
        if text:
            self._out.stderr.write(text)
            self._out.stderr.flush()

    def _log_text(self, text: str) -> None:
        self._out.info("\n".join(f"{LABEL}{line}".rstrip() for line in text.split("\n")))

    def _end_text(self, *, flush: bool) -> None:
        """Before a line of our own: end the model's line (`flush`: its last word too)."""
        if self._wrap is not None:
            self._write(self._wrap.flush() if flush else self._wrap.end_line())
            return
        if flush:
            pending = "".join(self._pieces)
            self._pieces = []
            if pending.strip():
                self._log_text(pending)

    def image_found(self, index: int, url: str | None) -> None:
        with self._lock:
            self._end_text(flush=True)
            self._out.info(f"[image {index + 1}] {'received' if url is None else url}")

    def download_progress(self, index: int, done: int, total: int | None) -> None:
        pass  # a log wants the result, not a progress stream

    def image_saved(self, image: SavedImage) -> None:
        if image.error is None and image.path is not None:
            # From a download's thread, maybe mid-word: the model's line ends at its last
            # whole word, and the rest follows below, labelled again.
            self._tool_line(saved_line(image, path_shown=self._path_shown), flush=False)

    def finish(self, summary: Summary) -> None:
        with self._lock:
            self._end_text(flush=True)
        line = usage_line(summary.usage)
        if line:
            self._out.info(f"usage: {line}")
        tail = f"done in {summary.elapsed_s:.1f} s"
        if summary.request_id:
            tail += f" · request_id {summary.request_id}"
        self._out.info(tail)

    def close(self) -> None:
        with self._lock:
            self._end_text(flush=True)


class LiveView:
    """A rich live view on stderr, refreshed at most `refresh_per_second` times a second.

    The model's text is laid out by `StreamWrapper` (labelled, wrapped between words). Its
    completed lines are printed above the live area (so they stay in scrollback), in batches at
    most `refresh_per_second` times a second: every print redraws the live area, so a stream of
    one-line fragments must not print each one. Until printed, they show in the live area with
    the line being written, a line saying what is happening (spinner, elapsed time) and one bar
    per download. The live area is built when rich redraws it (`get_renderable`), from a string
    prepared under our lock, never per event.
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
        self._wrap = StreamWrapper(self._console.width, lambda: LABEL)
        self._lines: list[str] = []  # complete lines of text not printed yet
        self._current = ""  # the line being written (whole words)
        self._shown = ""  # the text part of the live area
        self._path_shown = not out.results_on_screen
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
        """The live area, built by rich's refresh (its thread, under its lock). It reads only
        `_shown` (replaced whole under our lock): taking our lock here could deadlock with a
        print made under it."""
        from rich.console import Group

        # Cropped: a line wider than a (very narrow) terminal would break rich's redraw.
        return Group(model_text(self._shown, crop=True), self._spinner, self._progress)

    def _phase(self, what: str) -> None:
        self._spinner.update(self._status, description=escape_markup(what))

    def _add(self, laid_out: str) -> None:
        """Take text laid out by the wrapper: complete lines wait to be printed."""
        if "\n" in laid_out:
            *complete, self._current = (self._current + laid_out).split("\n")
            self._lines.extend(complete)
        else:
            self._current += laid_out

    def _show(self) -> None:
        self._shown = "\n".join([*self._lines, self._current + self._wrap.preview()])

    def _print_text(self, *, partial: bool) -> None:
        """Print the waiting complete lines; with `partial`, end the model's line there (its
        last word too) and print it: a line of ours comes next."""
        if partial:
            self._add(self._wrap.flush())
        lines, self._lines = self._lines, []
        self._show()  # first: a print redraws the live area at once
        if lines:
            self._console.print(model_text("\n".join(lines)))
        self._next_print = time.monotonic() + self._print_interval

    def waiting(self, what: str) -> None:
        with self._lock:
            self._writing = False
            self._phase(what)

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        with self._lock:
            self._console.print(
                f"[yellow]{escape_markup(retry_message(attempt, delay, why))}[/yellow]"
            )

    def text(self, fragment: str) -> None:
        # rich's Text keeps ESC: the service's text must not drive the terminal.
        fragment = sanitize(fragment)
        with self._lock:
            self._wrap.width = self._console.width
            self._add(self._wrap.feed(fragment))
            if self._lines and time.monotonic() >= self._next_print:
                self._print_text(partial=False)
            else:
                self._show()
            if not self._writing:
                self._writing = True
                self._phase("the model is writing (text)")

    def image_found(self, index: int, url: str | None) -> None:
        with self._lock:
            self._writing = False
            self._phase("waiting for more from the model")
            self._downloads[index] = self._progress.add_task(
                f"downloading image {index + 1}", total=None
            )
            self._print_text(partial=True)
            self._console.print(f"[bold cyan]▣ image {index + 1}[/bold cyan] [dim]received[/dim]")

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
                # A download ends at any time, maybe mid-word: the model's line ends at its
                # last whole word; the rest follows, labelled again, below our line.
                self._add(self._wrap.end_line())
                self._print_text(partial=False)
                line = f"saved image {image.index + 1}"
                if self._path_shown:  # else stdout, the same terminal, shows it
                    uri = image.path.resolve().as_uri()
                    line += f": [link={uri}]{escape_markup(str(image.path))}[/link]"
                size = human_bytes(image.bytes)
                self._console.print(f"[green]✓[/green] {line} [dim]({size})[/dim]")

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
        # Wrapped between words: no path in it to keep whole.
        self._console.print(f"[dim]{escape_markup(' · '.join(parts))}[/dim]", soft_wrap=False)

    def close(self) -> None:
        with self._lock:
            if self._live.is_started:
                self._print_text(partial=True)  # what was streamed stays on screen
                self._live.stop()


def model_text(laid_out: str, *, crop: bool = False) -> Any:
    """Lines laid out by `StreamWrapper`, as rich text: the label stands out, the words are
    the terminal's own colour, and nothing is wrapped again (the lines already fit)."""
    from rich.text import Text

    text = Text(laid_out, no_wrap=True, overflow="crop" if crop else "ignore")
    text.highlight_regex(rf"(?m)^{re.escape(LABEL.rstrip())}", "bold magenta")
    return text


def make_view(out: Output) -> View:
    if out.quiet:
        return QuietView()
    if out.fancy:
        return LiveView(out)
    return PlainView(out)

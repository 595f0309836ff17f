"""The single sink for everything `wan` prints.

Results go to stdout (saved paths, JSON documents); everything meant for people goes to stderr.
Colour and live redraws are decided here, from the TTY and `NO_COLOR`/`TERM=dumb`, and never from
`FORCE_COLOR`/`GITHUB_ACTIONS` (which typer/rich honour and which would put escape codes into
piped output). Service-provided text is always escaped before it is shown.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

# C0/C1 control characters except tab and newline: never let service text drive the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """Remove terminal control sequences (ESC, BEL, CR…) from untrusted text."""
    return _CONTROL.sub("", text)


def printable_url(url: str) -> str:
    """A service's link for a line of stdout: control characters (which could drive a terminal
    or split the line) percent-encoded, as a browser would; any usable link is unchanged."""
    from urllib.parse import quote

    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda match: quote(match.group(0)), url)


def ask_yes_no(question: str, stdin: TextIO, stderr: TextIO, *, if_interrupted: str) -> bool:
    """A yes/no question on the terminal (stderr; stdout carries only results), answered on
    stdin. No is the default, and end of input (Ctrl-D) is no; Ctrl-C is `Interrupted`
    (exit 130) with the message `if_interrupted`. Not `typer.confirm`: it writes to stdout and
    turns Ctrl-D and Ctrl-C into exit 1."""
    try:
        # The prompt is written inside the try: once it shows, a Ctrl-C may come at any
        # bytecode, even before readline (it was a silent exit 130 when it came just after).
        stderr.write(f"{question} [y/N] ")
        stderr.flush()
        answer = stdin.readline()
    except KeyboardInterrupt:
        stderr.write("\n")
        from wan_cli.errors import Interrupted

        raise Interrupted(if_interrupted) from None
    return answer.strip().lower() in ("y", "yes")


def escape_markup(text: str) -> str:
    """Sanitize and escape rich markup, so `[bold]` in service text stays literal."""
    from rich.markup import escape

    return escape(sanitize(text))


def is_terminal(stream: object) -> bool:
    """Whether a stream is a terminal (False for in-memory, closed or detached streams)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def same_terminal(first: TextIO, second: TextIO) -> bool:
    """Whether two streams are one terminal (stdout and stderr both on the screen)."""
    if not (is_terminal(first) and is_terminal(second)):
        return False
    try:
        one = os.fstat(first.fileno())
        other = os.fstat(second.fileno())
    except (OSError, ValueError, AttributeError):  # in-memory streams
        return False
    return (one.st_dev, one.st_rdev) == (other.st_dev, other.st_rdev)


def terminal_width(stream: TextIO, default: int = 80) -> int:
    """Columns of the terminal behind `stream`: `COLUMNS` first (as rich reads it), then the
    terminal's own size, else `default`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or default
    except (OSError, ValueError, AttributeError):
        return default


def color_allowed(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Colour only for a real terminal, and never when NO_COLOR or TERM=dumb says no."""
    if "NO_COLOR" in env or env.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


@dataclass
class Output:
    """Where and how to print: one per process, configured by the CLI's entry point."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    quiet: bool = False
    verbose: bool = False
    # None: decide from the stream and environment.
    fancy: bool | None = None
    _console: Console | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.fancy is None:
            self.fancy = color_allowed(self.stderr, os.environ)

    @property
    def results_on_screen(self) -> bool:
        """Whether results (stdout) show on the terminal people read (stderr): then a line for
        people need not repeat a result (a saved path) that stdout prints anyway."""
        return same_terminal(self.stdout, self.stderr)

    # -- stdout: results only -------------------------------------------------------------
    def result(self, line: str) -> None:
        try:
            self.stdout.write(line + "\n")
        except UnicodeEncodeError:
            # stdout cannot encode it (a Windows pipe, a legacy locale): escape what it cannot
            # show rather than fail after the images were paid for and saved.
            encoding = getattr(self.stdout, "encoding", None) or "ascii"
            self.stdout.write(line.encode(encoding, "backslashreplace").decode(encoding) + "\n")
        self.stdout.flush()

    def result_json(self, document: Any) -> None:
        import json  # here, not at the top: most commands never print JSON

        pretty = is_terminal(self.stdout)
        text = json.dumps(document, indent=2 if pretty else None, ensure_ascii=False)
        encoding = getattr(self.stdout, "encoding", None)
        if encoding and not text.isascii():
            try:
                text.encode(encoding)
            except UnicodeEncodeError:  # \u escapes: the same document, readable anywhere
                text = json.dumps(document, indent=2 if pretty else None, ensure_ascii=True)
        self.result(text)

    # -- stderr: for people ---------------------------------------------------------------
    @property
    def console(self) -> Console:
        """A rich console on stderr (created on first use: rich costs start-up time)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stderr,
                force_terminal=bool(self.fancy),
                no_color=not self.fancy,
                highlight=False,
                soft_wrap=True,
                color_system="auto" if self.fancy else None,
            )
        return self._console

    def _plain(self, prefix: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in sanitize(message).splitlines() or [""]:
            self.stderr.write(f"{stamp} {prefix}{line}\n")
        self.stderr.flush()

    def info(self, message: str, *, markup: str | None = None) -> None:
        """A progress or status line. `markup` is an already-escaped rich version of it."""
        if self.quiet:
            return
        if self.fancy:
            self.console.print(markup if markup is not None else escape_markup(message))
        else:
            self._plain("", message)

    def detail(self, message: str) -> None:
        """Request/response metadata, shown with -v only."""
        if self.verbose and not self.quiet:
            if self.fancy:
                self.console.print(f"[dim]{escape_markup(message)}[/dim]")
            else:
                self._plain("debug: ", message)

    def warn(self, message: str) -> None:
        if self.quiet:
            return
        if self.fancy:
            self.console.print(f"[yellow]warning:[/yellow] {escape_markup(message)}")
        else:
            self._plain("warning: ", message)

    def error(self, message: str, *, hint: str | None = None) -> None:
        """One line (plus an optional hint) on stderr; shown even with --quiet."""
        if self.fancy:
            self.console.print(f"[bold red]error:[/bold red] {escape_markup(message)}")
            if hint:
                self.console.print(f"  [dim]{escape_markup(hint)}[/dim]")
        else:
            self.stderr.write(f"error: {sanitize(message)}\n")
            if hint:
                self.stderr.write(f"  {sanitize(hint)}\n")
            self.stderr.flush()


_current: Output | None = None


def get_output() -> Output:
    """The process's output sink (a default one until the CLI configures it)."""
    global _current
    if _current is None:
        _current = Output()
    return _current


def set_output(output: Output) -> Output:
    global _current
    _current = output
    return output

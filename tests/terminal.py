"""A terminal for tests: `wan` run on a pty (`OnATerminal`), and a small emulator (`Screen`)
that shows what a person would see after it wrote there.

It plays the subset of VT100 that `wan` (rich's live view, the plain view, half-block
previews) writes: text with automatic wrap at the last column (the way a real terminal cuts a
line that is too long, mid-word), CR, LF, cursor up/down/left/right/column, erase in line,
SGR colours (ignored), OSC (hyperlinks, titles: ignored) and APC/DCS images (ignored: they draw
pixels, not text). Scrollback is unlimited; the screen is the last `rows` lines.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
import unicodedata
from collections.abc import Mapping, Sequence

_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z@])")
_STRING = re.compile(r"\x1b[\]_P^X].*?(?:\x07|\x1b\\)", re.S)  # OSC, APC, DCS, PM, SOS


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class Screen:
    def __init__(self, cols: int, rows: int = 24) -> None:
        self.cols, self.rows = cols, rows
        self.lines: list[list[str]] = [[]]
        self.row = self.col = 0
        self.wrapped: set[int] = set()  # rows the terminal continued from the row above

    def feed(self, data: str) -> Screen:
        data = _STRING.sub("", data)
        at = 0
        while at < len(data):
            match = _CSI.match(data, at)
            if match:
                self._csi(match.group(1), match.group(2))
                at = match.end()
                continue
            char = data[at]
            at += 1
            if char == "\r":
                self.col = 0
            elif char == "\n":
                self._down()
            elif char == "\b":
                self.col = max(0, self.col - 1)
            elif char == "\x1b":
                at += 1  # a two-character escape (ESC 7, ESC =, …): nothing visible
            elif char >= " ":
                self._put(char)
        return self

    def _line(self) -> list[str]:
        while len(self.lines) <= self.row:
            self.lines.append([])
        return self.lines[self.row]

    def _down(self) -> None:
        self.row += 1
        self._line()

    def _put(self, char: str) -> None:
        width = _width(char)
        if self.col + width > self.cols:  # the terminal wraps: the word is cut here
            self.col = 0
            self._down()
            self.wrapped.add(self.row)
        line = self._line()
        while len(line) < self.col + width:
            line.append(" ")
        line[self.col] = char
        if width == 2:
            line[self.col + 1] = ""
        self.col += width

    def _csi(self, params: str, final: str) -> None:
        if params.startswith("?"):
            return  # modes: cursor shown/hidden
        numbers = [int(n) if n else 0 for n in params.split(";")] if params else []
        count = max(1, numbers[0]) if numbers else 1
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            self.row += count
            self._line()
        elif final == "C":
            self.col = min(self.cols - 1, self.col + count)
        elif final == "D":
            self.col = max(0, self.col - count)
        elif final == "G":
            self.col = count - 1
        elif final == "K":
            line = self._line()
            mode = numbers[0] if numbers else 0
            if mode == 2:
                line.clear()
            elif mode == 0:
                del line[self.col :]
            else:
                for i in range(min(self.col + 1, len(line))):
                    line[i] = " "
        # SGR (m) and anything else: no effect on the text

    def text(self) -> list[str]:
        """Every line, scrollback included, without trailing blanks (empty ones at the end too)."""
        lines = ["".join(line).rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def visible(self) -> list[str]:
        """What the screen shows at the end: the last `rows` lines up to the cursor's."""
        lines = ["".join(line).rstrip() for line in self.lines[: self.row + 1]]
        return lines[-self.rows :]


# -- `wan` on a terminal --------------------------------------------------------------------


class OnATerminal:
    """`wan` with stderr (and with `stdout_too`, stdout) on a pty of `cols`×`rows` cells.

    `wait_for(text)` blocks until the terminal has received `text` (no sleeping); `finish()`
    waits for the exit and returns everything the terminal received. Use as a context manager:
    the process is killed if the test leaves early."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str | None] | None = None,
        *,
        cols: int = 80,
        rows: int = 24,
        stdout_too: bool = False,
    ) -> None:
        from tests.conftest import WAN_BIN, _environment

        self.cols, self.rows = cols, rows
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._seen = b""
        self.process: subprocess.Popen[str] = subprocess.Popen(
            [str(WAN_BIN), *args],
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_too else subprocess.PIPE,
            stderr=slave,
            env=_environment({"TERM": "xterm-256color", **(env or {})}),
            text=True,
        )
        os.close(slave)

    def _read(self, deadline: float) -> bool:
        """Read what has arrived (waiting until `deadline`); False once the terminal closed."""
        left = deadline - time.monotonic()
        ready, _, _ = select.select([self._master], [], [], max(0.0, left))
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            return False
        self._seen += chunk
        return bool(chunk)

    @property
    def shown(self) -> str:
        return self._seen.decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self._seen:
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {self.shown!r}"
            assert self._read(deadline), f"the terminal closed before {text!r}: {self.shown!r}"
        return self.shown

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """(exit code, stdout when it was a pipe, everything the terminal showed)."""
        import threading

        deadline = time.monotonic() + timeout
        piped: list[str] = []
        pipe = self.process.stdout
        reader = threading.Thread(target=lambda: piped.append(pipe.read() if pipe else ""))
        reader.start()  # both at once: a full terminal buffer must not stall the child
        while self._read(deadline):
            assert time.monotonic() < deadline, f"the terminal stayed open: {self.shown!r}"
        code = self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        reader.join(timeout=10)
        return code, "".join(piped), self.shown

    def screen(self) -> Screen:
        return Screen(self.cols, self.rows).feed(self.shown)

    def __enter__(self) -> OnATerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()
        os.close(self._master)

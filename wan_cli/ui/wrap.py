"""The model's streamed text laid out for a terminal: broken between words (a word is cut only
when it is wider than a whole line), under a label (`model: `) whose width indents the lines
after it, so the model's words stand apart from the tool's own lines.

Pure and append-only: `feed` takes fragments as they arrive and returns what may be written now
(whole words; a word still arriving is held back, so "au" + "tumn" is never split by a line
end). The plain view writes that straight to the terminal; the live view prints the completed
lines and shows the rest, with `preview()` of the held-back word, in its live area.
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable

# Below this many columns for the text, the label would crowd it out: lines are this wide.
MIN_TEXT_WIDTH = 16
TAB = "    "


def char_width(char: str) -> int:
    """Terminal cells of one character: 2 for East Asian wide ones, 0 for combining marks."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    return sum(char_width(char) for char in text)


class StreamWrapper:
    """Lays streamed text out in lines of at most `width` cells (settable between fragments).

    Each block of text starts with `label()` (called when the block's first line begins, so
    it can hold the time); later lines are indented by as many spaces. A line end in the text
    ends the line; spaces at a wrap are dropped; blank lines at the start of a block are not
    shown. `end_line()` ends a block (a tool line is about to be shown): the next text is
    labelled again.
    """

    def __init__(self, width: int, label: Callable[[], str]) -> None:
        self.width = width
        self._label = label
        self._indent = " " * text_width(label())
        self._first = True  # the next line starts a block: labelled
        self._shown = False  # something of this block was written
        self._started = False  # the current line's label or indent was written
        self._col = 0  # cells used on the current line after the label or indent
        self._space = ""  # spaces waiting for the next word on this line
        self._word: list[str] = []  # the word still arriving
        self._word_width = 0

    def feed(self, text: str) -> str:
        """What can be written now for `text`: whole words, line ends and indents."""
        out: list[str] = []
        for char in text:
            if char == "\n":
                self._place_word(out)
                self._new_line(out)
            elif char in " \t":
                self._place_word(out)
                self._space += TAB if char == "\t" else char
            else:
                width = char_width(char)
                self._word.append(char)
                self._word_width += width
                if width == 2:  # wide scripts have no spaces: a line may end after any one
                    self._place_word(out)
        return "".join(out)

    def preview(self) -> str:
        """What `flush` would write now, without writing it (the live area shows it)."""
        shadow = copy.copy(self)
        shadow._word = list(self._word)
        out: list[str] = []
        shadow._place_word(out)
        return "".join(out)

    def end_line(self) -> str:
        """End the block's current line (a word still arriving stays held back)."""
        ended = "\n" if self._started else ""
        self._first, self._shown, self._started = True, False, False
        self._col, self._space = 0, ""
        return ended

    def flush(self) -> str:
        """Write the held-back word and end the block: the text is over, or paused."""
        out: list[str] = []
        self._place_word(out)
        return "".join(out) + self.end_line()

    @property
    def _room(self) -> int:
        """Cells for the text on a line: the width less the label's (or indent's)."""
        return max(MIN_TEXT_WIDTH, self.width - len(self._indent))

    def _new_line(self, out: list[str]) -> None:
        if self._shown:
            out.append("\n")
        self._started, self._col, self._space = False, 0, ""

    def _start_line(self, out: list[str]) -> None:
        if self._first:
            label = self._label()
            self._indent = " " * text_width(label)
            out.append(label)
            self._first = False
        else:
            out.append(self._indent)
        self._started = self._shown = True

    def _place_word(self, out: list[str]) -> None:
        if not self._word:
            return
        word, width, space = "".join(self._word), self._word_width, self._space
        self._word, self._word_width, self._space = [], 0, ""
        if self._started and self._col + text_width(space) + width > self._room:
            out.append("\n")  # the word goes to the next line; the space before it goes away
            self._started, self._col, space = False, 0, ""
        if not self._started:
            self._start_line(out)
        out.append(space)
        self._col += text_width(space)
        if self._col + width <= self._room:
            out.append(word)
            self._col += width
            return
        for char in word:  # wider than a whole line: cut where the line ends
            cells = char_width(char)
            if self._col + cells > self._room and self._col > 0:
                out.append("\n" + self._indent)
                self._col = 0
            out.append(char)
            self._col += cells

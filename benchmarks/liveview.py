"""How often `LiveView` writes to the terminal while a long stream goes through it.

Every write to a terminal under a rich `Live` is a redraw of the live area. The view must
redraw at a bounded rate (its `refresh_per_second`, plus one print per image found, saved or
finished), never once per event. Used by the benchmark table and by tests/test_startup.py.
"""

from __future__ import annotations

import io
import time

REFRESH_PER_SECOND = 8.0
# Starting and stopping the live display, the final summary: writes that are not redraws.
_FIXED_WRITES = 10


class CountingTerminal(io.StringIO):
    """A stand-in terminal that counts the writes rich makes to it (and keeps nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        if text:
            self.writes += 1
        return len(text)

    def isatty(self) -> bool:
        return True


def count_live_writes(chunks: list[bytes]) -> tuple[int, float, int]:
    """(terminal writes, seconds taken, the most writes allowed) for the stream in `chunks`
    through a `LiveView` on a counting terminal."""
    from benchmarks.stream import show
    from wan_cli.api.events import events_from_sse
    from wan_cli.api.sse import iter_sse
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import LiveView

    terminal = CountingTerminal()
    out = Output(stdout=io.StringIO(), stderr=terminal, fancy=True)
    started = time.monotonic()
    view = LiveView(out, refresh_per_second=REFRESH_PER_SECOND)
    try:
        images = show(events_from_sse(iter_sse(chunks)), view)
    finally:
        view.close()
    seconds = time.monotonic() - started
    # Each image: the text before it and its own line (two prints).
    allowed = int(seconds * REFRESH_PER_SECOND) + 2 * images + _FIXED_WRITES
    return terminal.writes, seconds, allowed

"""A `View` for a run behind an MCP tool call: everything the terminal would show goes to the
log on stderr (an inner view), and the milestones become progress messages for the client.

Called from the run's thread (text) and from download threads: `report` must be thread-safe
(the server hands the messages to its event loop). Text and download progress are reported at
most every `interval` seconds, so a long stream does not flood the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wan_cli.ui.render import retry_message
from wan_cli.units import human_bytes

if TYPE_CHECKING:
    from wan_cli.files.download import SavedImage
    from wan_cli.ui.render import Summary, View

REPORT_INTERVAL_S = 0.25


class ProgressView:
    def __init__(
        self,
        inner: View,
        report: Callable[[str], None],
        *,
        interval: float = REPORT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._report = report
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._chars = 0
        self._next_text = 0.0  # the first fragment is reported at once
        self._next_download: dict[int, float] = {}

    def _due(self, key: int | None) -> bool:
        """Whether a throttled report (text: None, image i's download: i) may go now."""
        now = self._clock()
        with self._lock:
            due = self._next_text if key is None else self._next_download.get(key, 0.0)
            if now < due:
                return False
            if key is None:
                self._next_text = now + self._interval
            else:
                self._next_download[key] = now + self._interval
            return True

    def waiting(self, what: str) -> None:
        self._inner.waiting(what)
        self._report(what)

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        self._inner.retrying(attempt, delay, why)
        self._report(retry_message(attempt, delay, why))

    def text(self, fragment: str) -> None:
        self._inner.text(fragment)
        self._chars += len(fragment)  # only the run's thread streams text
        if self._due(None):
            self._report(f"the model is writing ({self._chars} characters so far)")

    def image_found(self, index: int, url: str | None) -> None:
        self._inner.image_found(index, url)
        self._report(f"image {index + 1} received: downloading")

    def download_progress(self, index: int, done: int, total: int | None) -> None:
        self._inner.download_progress(index, done, total)
        if self._due(index):
            of = f" of {human_bytes(total)}" if total else ""
            self._report(f"image {index + 1}: {human_bytes(done)}{of} downloaded")

    def image_saved(self, image: SavedImage) -> None:
        self._inner.image_saved(image)
        if image.error is None and image.path is not None:
            self._report(f"image {image.index + 1} saved: {image.path}")
        else:
            self._report(f"image {image.index + 1} not saved: {image.error or 'unknown error'}")

    def finish(self, summary: Summary) -> None:
        self._inner.finish(summary)

    def close(self) -> None:
        self._inner.close()

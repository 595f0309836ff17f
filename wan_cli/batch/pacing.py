"""The pace every worker of a batch shares: one "not before" time each send waits for
(`RateLimiter`), shared HTTP clients, and a cancel that aborts in-flight reads (`BatchPacer`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wan_cli.errors import Interrupted

if TYPE_CHECKING:
    import httpx

    from wan_cli.run.stopping import Cancel


class RateLimiter:
    """A shared "not before" time. When any request is told to retry (429 Retry-After, or a
    5xx/network backoff) every worker waits it out before its next send, instead of each
    hammering the service on its own schedule."""

    def __init__(
        self, cancel: threading.Event, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cancel = cancel
        self._clock = clock
        self._changed = threading.Condition()
        self._not_before = 0.0

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` from now (a longer pause already set is kept)."""
        with self._changed:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))
            self._changed.notify_all()

    def remaining(self) -> float:
        with self._changed:
            return max(0.0, self._not_before - self._clock())

    def wait(self) -> None:
        """Block until sending is allowed; `Interrupted` if the batch is cancelled meanwhile."""
        with self._changed:
            while True:
                if self._cancel.is_set():
                    raise Interrupted("interrupted")
                left = self._not_before - self._clock()
                if left <= 0:
                    return
                self._changed.wait(left)

    def wake(self) -> None:
        """Make waiters look again (after a cancel, or when the clock was moved in tests)."""
        with self._changed:
            self._changed.notify_all()


class BatchPacer:
    """The `run.Pacer` every line of a batch shares: the rate limiter; one API client and one
    download client (connections are reused: making a client per request costs ~15 ms of CPU
    each, mostly its TLS context); and a cancel that also shuts down the sockets of those
    clients (a worker blocked reading an answer cannot be interrupted any other way; the read
    then fails and the run ends as Interrupted)."""

    def __init__(
        self,
        cancel: Cancel,
        limiter: RateLimiter | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.cancel = cancel
        self.limiter = limiter or RateLimiter(cancel)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._aborts: list[Callable[[], None]] = []  # one per client (download.abortable)
        self._api: httpx.Client | None = None
        self._download: httpx.Client | None = None

    def before_send(self) -> None:
        self.limiter.wait()

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        self.limiter.pause(delay)

    def sleep(self, seconds: float) -> None:
        self.limiter.pause(seconds)
        self.limiter.wait()

    def api_client(self) -> httpx.Client:
        with self._lock:
            if self._api is None:
                from wan_cli.api.client import make_api_client

                self._api = self._watch(make_api_client(self._timeout))
            return self._api

    def download_client(self) -> httpx.Client:
        with self._lock:
            if self._download is None:
                from wan_cli.files.download import make_download_client

                self._download = self._watch(make_download_client(self._timeout))
            return self._download

    def close(self) -> None:
        with self._lock:
            clients = [c for c in (self._api, self._download) if c is not None]
            self._api = self._download = None
        for client in clients:
            client.close()

    def _watch(self, client: httpx.Client) -> httpx.Client:
        """Make `client`'s reads abortable by `abort` (called with the lock held)."""
        from wan_cli.files.download import abortable

        abort = abortable(client)
        if self.cancel.is_set():
            abort()  # cancelled already: whatever it opens is shut at once
        self._aborts.append(abort)
        return client

    def abort(self) -> None:
        """Cancel the batch: nobody sends again, reads in flight fail at once."""
        self.cancel.set()
        self.limiter.wake()
        with self._lock:
            aborts = list(self._aborts)
        for abort in aborts:
            abort()

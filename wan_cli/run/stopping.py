"""How a run is stopped from outside its main loop: a cancel others can follow (`Cancel`: a
batch's Ctrl-C reaches each line's run) and the run's deadline (`Deadline`: a timer bounding
the whole run, which `--timeout`, bounding each read, cannot do against a trickle)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from wan_cli.errors import ServiceUnavailable, WanError


class Cancel(threading.Event):
    """A cancel that others can follow: setting it sets every cancel made by `follower()`.

    A batch's cancel stops every line; a line's own cancel (its run's: its downloads check it)
    can also be set alone, by the line's deadline, without stopping the others."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._followers: weakref.WeakSet[Cancel] = weakref.WeakSet()

    def follower(self) -> Cancel:
        """A new cancel, set when this one is (at once if it already is)."""
        follower = Cancel()
        with self._lock:
            self._followers.add(follower)
        if self.is_set():
            follower.set()
        return follower

    def set(self) -> None:
        super().set()
        with self._lock:
            followers = list(self._followers)
        for follower in followers:
            follower.set()


class Deadline:
    """The bound on a whole run: after `seconds`, `on_expire` runs (once, on a timer thread)
    unless the run ended first (`end`). `seconds` None: no bound."""

    def __init__(self, seconds: float | None, on_expire: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_expire = on_expire
        self._lock = threading.Lock()
        self._ended = False
        self._passed = False
        self._timer: threading.Timer | None = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._expire)
            self._timer.daemon = True
            self._timer.name = "deadline"
            self._timer.start()

    @property
    def passed(self) -> bool:
        """Whether the deadline passed before the run ended (stable once `end` returned)."""
        return self._passed

    def end(self) -> None:
        """The run is over: the timer will not fire any more (it may have fired already)."""
        with self._lock:
            self._ended = True
        if self._timer is not None:
            self._timer.cancel()

    def error(self) -> WanError:
        """What a run that passed its deadline ends with (exit 6)."""
        return deadline_error(self.seconds or 0.0)

    def _expire(self) -> None:
        with self._lock:
            if self._ended:
                return
            self._passed = True
            # Under the lock: `end` returns only once the run has been stopped.
            self._on_expire()


def deadline_error(seconds: float) -> WanError:
    return ServiceUnavailable(
        f"the run passed its deadline of {seconds:g} s",
        hint="the service or the image host kept sending too slowly to finish; raise "
        "--deadline (or the `deadline` setting, 0 for none) if that is expected",
        code="DeadlinePassed",
    )

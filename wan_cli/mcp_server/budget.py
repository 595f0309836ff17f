"""The session's image budget: `wan mcp --max-images N` images at most, over every call.

A call reserves the most images its request can bring (its `max_images` or `n`, as sent)
before anything is sent, and is refused when that would pass the limit; when it ends, the
reservation is replaced by the images the service actually delivered (each one billed).
Calls may run at once (each in its own thread): the counts are kept under a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from wan_cli.errors import UsageError
from wan_cli.units import plural

DEFAULT_SESSION_IMAGES = 10


class BudgetExceeded(UsageError):
    """The call would pass the session's image limit: refused, nothing sent."""


@dataclass(frozen=True)
class BudgetState:
    limit: int
    spent: int  # images delivered so far (billed)
    reserved: int  # images calls in flight may still bring

    @property
    def left(self) -> int:
        return max(self.limit - self.spent - self.reserved, 0)


class Budget:
    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise UsageError(f"--max-images must be 0 or more, got {limit}")
        self._limit = limit
        self._spent = 0
        self._reserved = 0
        self._lock = threading.Lock()

    def state(self) -> BudgetState:
        with self._lock:
            return BudgetState(self._limit, self._spent, self._reserved)

    def reserve(self, count: int) -> None:
        """Hold `count` images for a call about to send; `BudgetExceeded` if they do not fit."""
        with self._lock:
            left = self._limit - self._spent - self._reserved
            if count > left:
                message, hint = _refusal(count, max(left, 0), self._limit, self._reserved)
                raise BudgetExceeded(message, hint=hint)
            self._reserved += count

    def settle(self, reserved: int, delivered: int) -> None:
        """A call has ended: its reservation is released and what it delivered is spent."""
        with self._lock:
            self._reserved = max(self._reserved - reserved, 0)
            self._spent += max(delivered, 0)


def _refusal(count: int, left: int, limit: int, reserved: int) -> tuple[str, str]:
    busy = f", {reserved} held by calls in progress" if reserved else ""
    if left == 0:
        what = f"this session's image budget is used up ({plural(limit, 'image')}{busy})"
        todo = "the user can restart the server with a higher limit (`wan mcp --max-images N`)"
    else:
        what = (
            f"this call could make {plural(count, 'image')} but only {left} of this session's"
            f" {limit} remain{busy}"
        )
        todo = f"ask for at most {plural(left, 'image')} (max_images or n)"
    return f"refused before sending: {what}", todo

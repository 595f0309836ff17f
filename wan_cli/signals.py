"""Ctrl-C and SIGTERM, at one boundary: each stops `wan` once.

`install` (from `__main__`, before anything else) makes the first SIGINT or SIGTERM raise
KeyboardInterrupt in the main thread, as Ctrl-C always does; every later one is only noted. The
first one starts the cleanup (downloads cancelled, temp files removed, history marked
interrupted, URLs printed, exit 130) and nothing that arrives afterwards can cut it short: a
second Ctrl-C a few milliseconds later used to land inside the cleanup and lose the paid URLs,
or, once the process was exiting, kill it by the signal.

`held()` marks a section that a first signal must not cut either (a run's report): a signal
arriving inside it is noted, not raised, and counts as the process's one.

Only the main thread takes these signals: every other thread (downloads, a batch's workers, the
deadline's timer, rich's refresh) starts with them blocked. A signal that the kernel hands to
another thread runs its handler only when the main thread next runs Python, and a main thread
waiting on a lock (for its downloads) never did: SIGINT and SIGTERM a moment apart could both
land on a download thread, and the run hung until the download ended.

A signal is never lost on a main thread that is about to block. CPython runs a signal's Python
handler only when the main thread next runs bytecode, and a blocking call (a lock, a socket
read) is interrupted only by a signal that arrives while it is blocked. One that lands in
between, after the last check and before the system call (easily hit on a loaded machine:
releasing the GIL hands the CPU to another thread right there), is taken in C and the main
thread sleeps on: Ctrl-C did nothing until a 60 s download ended. So the C handler also writes
each signal to a pipe (`signal.set_wakeup_fd`), and a watchdog thread reading it interrupts the
main thread with the same signal (`signal.pthread_kill`) every 50 ms until the Python handler
has run.

Ignored signals stay ignored (a background job's SIGINT, a `nohup`), and without `install`
(tests in-process) nothing changes. `signal`, `os` and `threading` only: `wan --help` pays
~0.1 ms for this (a pipe and a thread).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_STOPPING = (signal.SIGINT, signal.SIGTERM)
# How long the watchdog lets the main thread take a signal before interrupting it again.
_POKE_EVERY_S = 0.05


class _State:
    installed = False
    stopped = False  # a signal came (raised or noted): no other one is raised
    held = 0  # depth of `held()` sections in the main thread
    handled = threading.Event()  # the Python handler ran (for the watchdog)


_state = _State()


def install() -> None:
    """SIGINT and SIGTERM stop `wan` once (see the module). Called by `wan`'s entry point."""
    if _state.installed:
        return
    caught = []
    for signum in _STOPPING:
        current = signal.getsignal(signum)
        if current is signal.default_int_handler or current is signal.SIG_DFL:
            signal.signal(signum, _handle)
            caught.append(signum)
    _state.installed = True
    if hasattr(signal, "pthread_sigmask"):  # POSIX; elsewhere signals reach the main thread
        _start_threads_deaf()
        if caught:
            _start_watchdog()


def _start_watchdog() -> None:
    """The pipe the C handler writes each signal to, and the thread that makes sure the main
    thread takes it (see the module)."""
    main = threading.main_thread().ident
    if main is None:  # not started: cannot happen in the main thread, which calls this
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # the C handler must never block
    try:
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except (ValueError, OSError):  # not the main thread, or refused: as before, no watchdog
        os.close(read_end)
        os.close(write_end)
        return
    watchdog = threading.Thread(
        target=_watch, args=(read_end, main), name="wan-signal-watchdog", daemon=True
    )
    watchdog.start()  # deaf, like every thread (`_start_threads_deaf`)


def _watch(read_end: int, main: int) -> None:
    stopping = {int(signum) for signum in _STOPPING}
    while True:
        try:
            arrived = os.read(read_end, 64)
        except OSError:
            return
        if not arrived:
            return
        for signum in arrived:
            if signum not in stopping:
                continue
            # Until the main thread runs the handler, break whatever wait it is in.
            while not _state.handled.wait(_POKE_EVERY_S):
                try:
                    signal.pthread_kill(main, signum)
                except (ProcessLookupError, OSError):
                    return


def _start_threads_deaf() -> None:
    """From now on a thread started by the main thread has SIGINT and SIGTERM blocked (a new
    thread inherits its creator's mask, so its own threads have them blocked too)."""
    start = threading.Thread.start

    def start_deaf(thread: threading.Thread) -> None:
        if threading.current_thread() is not threading.main_thread():
            start(thread)
            return
        # Blocked for the moment of the start only; a signal meanwhile waits, then lands here.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
        try:
            start(thread)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    setattr(threading.Thread, "start", start_deaf)  # noqa: B010 - the one patch of threading


def _handle(signum: int, frame: FrameType | None) -> None:
    _state.handled.set()
    if _state.stopped or _state.held:
        _state.stopped = True  # noted: the cleanup (or report) under way finishes
        return
    _state.stopped = True
    raise KeyboardInterrupt


def stop_raising() -> None:
    """From now on signals are only noted (the process is ending: nothing may cut it)."""
    _state.stopped = True


def stopping() -> bool:
    """Whether a stopping signal has come (raised or noted)."""
    return _state.stopped


@contextmanager
def held() -> Iterator[None]:
    """Within the block (in the main thread, where signals land) a first SIGINT or SIGTERM is
    noted instead of raised: the block finishes, and no later signal is raised either."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.held += 1
    try:
        yield
    finally:
        _state.held -= 1

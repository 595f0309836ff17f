"""Small OS helpers shared by the writers of images, sidecars and temp files, and by history:
removing a file of ours quietly, and whether a process (a run's, a temp file's owner) lives."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` exists on this machine (in our pid namespace); unknown counts as
    alive, so nothing of a live process is ever taken for a leftover. No pid: not alive."""
    if pid is None or pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


def remove_quietly(path: Path | str) -> None:
    """Remove a file we made, if it is still there: cleanup must never raise over the error
    that made it necessary."""
    with contextlib.suppress(OSError):
        os.unlink(path)

"""Small file-system helpers shared by the writers of images, sidecars and temp files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (in our pid namespace); unknown counts as
    alive, so nothing of a live process is ever taken for a leftover."""
    if pid <= 0:
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

"""Small file-system helpers shared by the writers of images, sidecars and temp files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def remove_quietly(path: Path | str) -> None:
    """Remove a file we made, if it is still there: cleanup must never raise over the error
    that made it necessary."""
    with contextlib.suppress(OSError):
        os.unlink(path)

"""`wan doctor`: a diagnostics block for bug reports (never the key)."""

from __future__ import annotations


def doctor() -> None:
    """Print versions, config sources and terminal capabilities for a bug report."""

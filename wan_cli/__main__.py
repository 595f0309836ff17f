"""`python -m wan_cli` and the `wan` console script."""

from __future__ import annotations

import sys


def main() -> None:
    # First of all: SIGTERM (a cancelled CI job, `kill`) ends a run the way Ctrl-C does, and
    # either stops `wan` once; the cleanup it starts cannot be cut short (wan_cli/signals.py).
    from wan_cli import signals

    signals.install()
    _skip_trio()
    from wan_cli.cli.app import app

    try:
        app(prog_name="wan")
    finally:
        signals.stop_raising()  # exiting (threads joined, buffers flushed): no signal cuts it


def _skip_trio() -> None:
    """httpcore imports trio, when it is installed, for the locks of its async client (~40 ms,
    more than httpx itself). `wan` runs no async code with trio (httpx's sync client; `wan mcp`
    runs on asyncio), so the `wan` process never imports trio (httpcore then takes it as not
    installed)."""
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

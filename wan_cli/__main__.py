"""`python -m wan_cli` and the `wan` console script."""

from __future__ import annotations

import sys


def main() -> None:
    # First of all: SIGTERM (a cancelled CI job, `kill`) ends a run the way Ctrl-C does, and
    # either stops `wan` once; the cleanup it starts cannot be cut short (wan_cli/signals.py).
    from wan_cli import signals

    signals.install()
    _skip_unused_modules()
    from wan_cli.cli.app import app

    try:
        app(prog_name="wan")
    finally:
        signals.stop_raising()  # exiting (threads joined, buffers flushed): no signal cuts it


def _skip_unused_modules() -> None:
    """Modules that our dependencies import but `wan` never runs; each is marked as missing, so
    the importer takes its fallback:
    - trio: httpcore imports it, when installed, for the locks of its async client (~40 ms,
      more than httpx itself). `wan` runs no async code with trio (httpx's sync client; `wan
      mcp` runs on asyncio).
    - httpx._main: httpx's own command line (`httpx URL`), imported by `import httpx` along
      with click, rich's progress bars and pygments (~45 ms, half the cost of importing httpx).
      httpx falls back to a `main` that says its CLI extras are missing; `wan` never calls it.
    """
    for name in ("trio", "httpx._main"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

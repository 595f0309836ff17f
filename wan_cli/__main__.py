"""`python -m wan_cli` and the `wan` console script."""

from __future__ import annotations


def main() -> None:
    # First of all: SIGTERM (a cancelled CI job, `kill`) ends a run the way Ctrl-C does, and
    # either stops `wan` once; the cleanup it starts cannot be cut short (wan_cli/signals.py).
    from wan_cli import signals

    signals.install()
    from wan_cli.cli.app import app

    try:
        app(prog_name="wan")
    finally:
        signals.stop_raising()  # exiting (threads joined, buffers flushed): no signal cuts it


if __name__ == "__main__":
    main()

"""`python -m wan_cli` and the `wan` console script."""

from __future__ import annotations

import signal
from types import FrameType


def main() -> None:
    _stop_on_sigterm()
    from wan_cli.cli.app import app

    app(prog_name="wan")


def _stop_on_sigterm() -> None:
    """SIGTERM (a cancelled CI job, `kill`) ends a run the way Ctrl-C does: downloads cancelled,
    temp files removed, history marked interrupted, exit 130. An ignored SIGTERM stays ignored."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()

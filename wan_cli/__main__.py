"""`python -m wan_cli` and the `wan` console script."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def main() -> None:
    _stop_on_sigterm()
    _skip_trio()
    from wan_cli.cli.app import app

    app(prog_name="wan")


def _stop_on_sigterm() -> None:
    """SIGTERM (a cancelled CI job, `kill`) ends a run the way Ctrl-C does: downloads cancelled,
    temp files removed, history marked interrupted, exit 130. An ignored SIGTERM stays ignored."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _skip_trio() -> None:
    """httpcore imports trio, when it is installed, for the locks of its async client (~40 ms,
    more than httpx itself). `wan` runs no async code: its HTTP is httpx's sync client, so the
    `wan` process never imports trio (httpcore then takes it as not installed)."""
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()

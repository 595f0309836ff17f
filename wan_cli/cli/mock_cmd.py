"""`wan mock serve`: the offline mock service for other programs. Wiring only (see mock/)."""

from __future__ import annotations

from typing import Annotated

import typer

mock_app = typer.Typer(
    help="An offline mock of the wan2.6-image service: try wan, or test your scripts and CI, "
    "without a key, a network or a bill. (`--provider mock` runs one inside wan itself.)"
    "\n\nExamples:\n\n\b\n  wan mock serve --port 8765"
    "\n  wan mock serve --scenario rate-limited --provider dashscope",
    no_args_is_help=True,
)


@mock_app.command("serve")
def serve(
    port: Annotated[
        int,
        typer.Option("--port", "-p", metavar="N", help="Port on 127.0.0.1 (0: a free one)."),
    ] = 0,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            metavar="NAME",
            help="ok, slow, rate-limited, unavailable, rejected, unauthorized, stream-cut, "
            "expired-links or json (see docs/mock.md).",
        ),
    ] = "ok",
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            metavar="gateway|dashscope",
            help="Whose base URL to print (both protocols are served).",
        ),
    ] = "gateway",
    delay: Annotated[
        float | None,
        typer.Option(
            "--delay",
            metavar="SECONDS",
            help="Seconds between streamed words (default 0.05, or WAN_MOCK_DELAY; 0: at once).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the mock until Ctrl-C or SIGTERM; its base URL is printed on stdout.

    Point anything at it: WAN_BASE_URL=URL wan generate …, curl, or your own code. Any
    non-empty API key is accepted.

    Examples:

    \b
      wan mock serve --port 8765 &
      WAN_BASE_URL=http://127.0.0.1:8765/v1 WAN_API_KEY=test wan generate "a fox"
    """
    from wan_cli.mock.command import serve_mock

    code = serve_mock(port=port, scenario=scenario, provider=provider, delay=delay)
    if code:
        raise typer.Exit(int(code))

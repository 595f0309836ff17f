"""`wan mock serve`: run the mock in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

from wan_cli.errors import ExitCode, UsageError
from wan_cli.ui.output import Output, set_output


def serve_mock(*, port: int, scenario: str, provider: str, delay: float | None) -> ExitCode:
    """Print the base URL on stdout (one line, flushed: a script can wait for it), notes on
    stderr, then serve until interrupted; ends cleanly (exit 0)."""
    from wan_cli.mock.embedded import word_delay
    from wan_cli.mock.server import SCENARIOS, MockServer, MockSettings

    out = set_output(Output())
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}", hint=f"one of: {', '.join(SCENARIOS)}")
    if provider not in ("gateway", "dashscope"):
        raise UsageError(f"--provider must be gateway or dashscope, got {provider!r}")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {port}")
    if delay is not None and not 0 <= delay <= 5:
        raise UsageError(f"--delay must be 0..5 seconds, got {delay:g}")
    settings = MockSettings(scenario=scenario, word_delay=word_delay() if delay is None else delay)
    try:
        server = MockServer(settings, port=port)
    except OSError as error:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
    base_url = server.base_url(provider)
    try:  # from here on, Ctrl-C or SIGTERM (which acts like it) is the normal way to stop
        out.info(f"mock {provider} API, scenario {scenario}: {SCENARIOS[scenario]}")
        if provider == "dashscope":
            out.info(
                f"try: WAN_PROVIDER=dashscope WAN_BASE_URL={base_url} DASHSCOPE_API_KEY=test"
                ' wan generate "a red fox"   (async tasks too: --async, then wan task wait)'
            )
        else:
            out.info(f'try: WAN_BASE_URL={base_url} WAN_API_KEY=test wan generate "a red fox"')
        out.info("Ctrl-C stops it")
        out.result(base_url)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    out.info("mock server stopped")
    return ExitCode.OK

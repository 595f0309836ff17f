"""`--provider mock`: the mock service started by `wan` itself, on a free loopback port, for
the length of one command. The run then goes through the real pipeline (an HTTP request, SSE
parsing, downloads, history, provenance) with nothing sent off the machine and nothing billed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from wan_cli.providers import MOCK

if TYPE_CHECKING:
    from wan_cli.settings import Settings

ENV_MOCK_DELAY = "WAN_MOCK_DELAY"  # seconds between the mock's streamed words (0: at once)
ENV_MOCK_SCENARIO = "WAN_MOCK_SCENARIO"  # how the embedded mock behaves (default "ok")
DEFAULT_WORD_DELAY = 0.05
# The key the embedded mock is sent: never the user's real one, which it has no use for.
MOCK_KEY = "mock-key-not-secret"


def word_delay(env: Mapping[str, str] | None = None) -> float:
    """The pace of the mock's text: WAN_MOCK_DELAY seconds a word, else a realistic default."""
    raw = (os.environ if env is None else env).get(ENV_MOCK_DELAY, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_WORD_DELAY
    except ValueError:
        return DEFAULT_WORD_DELAY
    return min(max(value, 0.0), 5.0)


@contextmanager
def mock_service(settings: Settings, *, start: bool = True) -> Iterator[Settings]:
    """With the mock provider: the embedded mock running, and the settings pointed at it.
    With any other provider, or `start` False (a dry run): the settings as they are."""
    if settings.provider != MOCK or not start:
        yield settings
        return
    from wan_cli.mock.server import SCENARIOS, MockServer, MockSettings

    scenario = os.environ.get(ENV_MOCK_SCENARIO, "").strip() or "ok"
    if scenario not in SCENARIOS:
        from wan_cli.errors import UsageError

        raise UsageError(
            f"{ENV_MOCK_SCENARIO}={scenario!r} is not a mock scenario",
            hint=f"one of: {', '.join(SCENARIOS)}",
        )
    server = MockServer(MockSettings(scenario=scenario, word_delay=word_delay())).start()
    try:
        yield replace(settings, base_url=server.base_url("gateway"), api_key=MOCK_KEY)
    finally:
        server.stop()

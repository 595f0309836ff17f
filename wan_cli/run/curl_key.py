"""Where `--curl`'s command finds the key: the place this run's key came from, as a shell
expression that works where the user stands, never the key itself."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wan_cli.providers import MOCK

if TYPE_CHECKING:
    from wan_cli.settings import Settings

ENV_KEY = "WAN_API_KEY"


@dataclass(frozen=True)
class CurlKey:
    expression: str  # expanded by the shell inside "Authorization: Bearer …" (double quotes)
    note: str | None = None  # one line for stderr, when the command needs something first


def curl_key(settings: Settings) -> CurlKey:
    """`$WAN_API_KEY` / `$DASHSCOPE_API_KEY` for a key from the environment; `$(wan config get
    api-key --reveal [--profile NAME])` for a stored one; `$WAN_API_KEY` with a note for a key
    given by `--api-key` (not written anywhere) and when there is no key at all."""
    from wan_cli.settings import DEFAULT_PROFILE, ENV_DASHSCOPE_KEY

    source = settings.sources["api-key"]
    if source.source == "env" and source.origin in (ENV_KEY, ENV_DASHSCOPE_KEY):
        return CurlKey(f"${source.origin}")
    if source.source == "file":
        profile = (
            ""
            if settings.profile == DEFAULT_PROFILE
            else f" --profile {shlex.quote(settings.profile)}"
        )
        return CurlKey(f"$(wan config get api-key --reveal{profile})")
    fallback = f"${ENV_KEY}"
    if settings.provider == MOCK:
        return CurlKey(fallback)
    if source.source == "flag":
        return CurlKey(
            fallback,
            f"the key given by --api-key is not written into the command: it reads ${ENV_KEY},"
            f" so export {ENV_KEY} before running it",
        )
    return CurlKey(
        fallback,
        f"no API key is set: the command reads ${ENV_KEY}, so export {ENV_KEY} before running it"
        " (or store one: `wan config set api-key`)",
    )

"""The settings' values: their keys, environment variables and built-in defaults; parsing each
one (CLI/env text or a TOML value), formatting and masking it; `Sourced` and `Settings`.

Pure: no file and no environment is read here (that is `file` and `resolve`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wan_cli.errors import UsageError
from wan_cli.providers import DEFAULT_BASE_URLS, DEFAULT_MODEL, DEFAULT_PROVIDER, PROVIDERS
from wan_cli.sizes import parse_any_mode_size

Source = Literal["flag", "env", "file", "default"]

DEFAULT_PROFILE = "default"
BUILTIN = "built-in default"

# The CLI spelling of every setting, in display order.
KEYS = (
    "api-key",
    "base-url",
    "model",
    "provider",
    "size",
    "output-dir",
    "timeout",
    "deadline",
    "retries",
    "max-image-mb",
    "metadata",
    "history",
    "preview",
)
# The settings that have an environment variable; `DASHSCOPE_API_KEY` is a separate fallback.
# size/metadata/history/preview have none: WAN_HISTORY already names the history database's path.
ENV_VARS = {
    "api-key": "WAN_API_KEY",
    "base-url": "WAN_BASE_URL",
    "model": "WAN_MODEL",
    "provider": "WAN_PROVIDER",
    "output-dir": "WAN_OUTPUT_DIR",
    "timeout": "WAN_TIMEOUT",
    "deadline": "WAN_DEADLINE",
    "retries": "WAN_RETRIES",
    "max-image-mb": "WAN_MAX_IMAGE_MB",
}
ENV_PROFILE = "WAN_PROFILE"
ENV_CONFIG = "WAN_CONFIG"
ENV_DASHSCOPE_KEY = "DASHSCOPE_API_KEY"

# base-url has no fixed default: it follows the provider (see `resolve`).
DEFAULTS: dict[str, object] = {
    "api-key": None,
    "model": DEFAULT_MODEL,
    "provider": DEFAULT_PROVIDER,
    "size": None,
    "output-dir": None,
    "timeout": 300.0,
    # A whole run (the answer and every download) ends after this; `timeout` bounds each read,
    # which a trickle (keep-alives, a slow image host) never exceeds. 0: no bound.
    "deadline": 1800.0,
    "retries": 2,
    "max-image-mb": 200,  # a saved image larger than this is refused (the service's are ~2-20 MB)
    "metadata": True,
    "history": True,
    "preview": False,  # draw saved images in the terminal (TTY only)
}

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


@dataclass(frozen=True)
class Sourced:
    """An effective value and where it came from."""

    value: object = field(repr=False)  # may be the API key
    source: Source
    # e.g. "--timeout", "WAN_API_KEY", "profile 'work' (/path/config.toml)", "built-in default"
    origin: str


@dataclass(frozen=True)
class Settings:
    """The effective settings of one run. `repr` leaves the key out."""

    api_key: str | None = field(repr=False)
    base_url: str
    model: str
    provider: str
    size: str | None
    output_dir: str | None
    timeout: float
    deadline: float  # 0: none
    retries: int
    max_image_mb: int
    metadata: bool
    history: bool
    preview: bool
    profile: str
    config_path: Path
    sources: Mapping[str, Sourced] = field(repr=False)  # by CLI key name
    notes: tuple[str, ...] = ()
    # (level "warn"/"info", text): notes a command that sends shows without -v (also in `notes`),
    # e.g. a base URL set aside, or paired with a provider from another layer.
    notices: tuple[tuple[str, str], ...] = ()
    # Which profile is in use and why ("--profile", "WAN_PROFILE", "default_profile in …", …).
    profile_source: Sourced = Sourced(DEFAULT_PROFILE, "default", BUILTIN)


def normalize_key(key: str) -> str:
    """The CLI spelling of a key (`api_key` → `api-key`); UsageError listing the keys if unknown."""
    spelled = key.strip().lower().replace("_", "-")
    if "=" in key:  # `api-key=sk-…`: never echo what follows the "=" (it may be the key)
        name = key.partition("=")[0].strip()
        raise UsageError(
            f"unknown setting '{name}=…': a setting and its value are written `KEY VALUE`"
            " (a space, not '=')"
        )
    if spelled not in KEYS:
        raise UsageError(f"unknown setting {key!r}: valid keys are {', '.join(KEYS)}")
    return spelled


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be text (got {type(raw).__name__})")
    text = raw.strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _api_key(raw: object) -> str:
    key = _text(raw)
    # A key with whitespace or control characters would break (or inject into) the header.
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise ValueError("must not contain spaces or control characters")
    return key


def _base_url(raw: object) -> str:
    from urllib.parse import urlsplit

    url = _text(raw)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError as error:
        raise ValueError(f"is not a valid URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError(f"must be an http(s) URL such as {DEFAULT_BASE_URLS['gateway']}")
    if parts.query or parts.fragment:
        # The endpoint's path is appended to the base URL: after a query it would be garbage.
        raise ValueError(f"must not have a query or fragment, like {DEFAULT_BASE_URLS['gateway']}")
    return url.rstrip("/")


def _provider(raw: object) -> str:
    name = _text(raw).lower()
    if name not in PROVIDERS:
        raise ValueError(f"must be one of {', '.join(PROVIDERS)}")
    return name


def _size(raw: object) -> str:
    # The grammar of `--size`; a size is kept when some mode accepts it (`1K` serves edit only).
    return parse_any_mode_size(_text(raw))


def _output_dir(raw: object) -> str:
    # `~` is expanded here because nothing else would expand it inside the TOML file.
    return os.path.expanduser(_text(raw))


def _timeout(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError("must be a positive number of seconds")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"must be a positive number of seconds (got {raw!r})") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"must be a positive number of seconds (got {raw!r})")
    return seconds


def _deadline(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError("must be a number of seconds, 0 or more (0: no deadline)")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"must be a number of seconds, 0 or more (got {raw!r})") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a number of seconds, 0 or more (got {raw!r})")
    return seconds


def _retries(raw: object) -> int:
    count: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        count = raw
    elif isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw):
        count = int(raw)
    if count is None or not 0 <= count <= 10:
        raise ValueError(f"must be a whole number from 0 to 10 (got {raw!r})")
    return count


def _megabytes(raw: object) -> int:
    count: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        count = raw
    elif isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw):
        count = int(raw)
    if count is None or not 1 <= count <= 100_000:
        raise ValueError(f"must be a whole number of megabytes from 1 to 100000 (got {raw!r})")
    return count


def _boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError(f"must be true/false, yes/no or 1/0 (got {raw!r})")


_PARSERS: dict[str, Callable[[object], object]] = {
    "api-key": _api_key,
    "base-url": _base_url,
    "model": _text,
    "provider": _provider,
    "size": _size,
    "output-dir": _output_dir,
    "timeout": _timeout,
    "deadline": _deadline,
    "retries": _retries,
    "max-image-mb": _megabytes,
    "metadata": _boolean,
    "history": _boolean,
    "preview": _boolean,
}


def parse_value(key: str, raw: object) -> object:
    """Validate and convert one value (CLI/env text or a TOML value); ValueError if bad."""
    return _PARSERS[key](raw)


def checked(key: str, raw: object, where: str, error_type: type[UsageError]) -> object:
    """`parse_value`, its ValueError turned into `error_type` naming where the value came from."""
    try:
        return parse_value(key, raw)
    except ValueError as error:
        raise error_type(f"{where}: {key} {error}") from None


def format_value(value: object) -> str:
    """A value as people write it: true/false, 300 rather than 300.0, "" for unset."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mask_key(key: str | None) -> str:
    """`sk-…1234`: enough to tell keys apart, never enough to use one. Short keys: `…`."""
    if not key:
        return "(not set)"
    if len(key) < 16:
        return "…"
    return f"{key[:3]}…{key[-4:]}"


def display_value(key: str, value: object) -> str:
    """A value safe to show: the API key masked, unset values as "(not set)"."""
    if key == "api-key":
        return mask_key(value if isinstance(value, str) else None)
    if key == "base-url" and isinstance(value, str) and "@" in value:
        return _without_password(value)
    return "(not set)" if value is None else format_value(value)


def _without_password(url: str) -> str:
    """A URL with any user:password@ replaced by ***@ (a base URL may carry credentials)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"

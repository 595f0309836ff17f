"""Which base URL goes with the provider in effect: the one rule (docs/configuration.md).

A base URL is used only with the provider it is given for, so a key is never sent to a URL meant
for another provider:

- `--base-url` is for the command's provider, whichever layer chose it;
- `WAN_BASE_URL` is for `WAN_PROVIDER` when that is set beside it; a stored `base-url` is for
  the provider stored in its table, or in a table under it (`[default]` under a profile);
- a base URL given with no provider is the default provider's (the gateway's), and serves another
  provider only when its path ends with that provider's suffix (`…/api/v1`: DashScope).

Any other is set aside for the next layer's, or the provider's built-in URL. What was set aside
or paired with a provider from another layer is a notice (shown without -v); the rest are notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wan_cli.errors import ConfigError, UsageError
from wan_cli.providers import BASE_URL_SUFFIXES, DEFAULT_BASE_URLS, DEFAULT_PROVIDER, MOCK
from wan_cli.settings.values import BUILTIN, ENV_VARS, Sourced, checked, display_value

KEY = "base-url"
Layers = list[tuple[Mapping[str, object], str]]


@dataclass(frozen=True)
class BaseUrlChoice:
    chosen: Sourced
    notes: tuple[str, ...]  # for `config show`, `doctor` and -v
    # (level, text), level "warn" or "info": shown at normal verbosity (and in `notes`).
    notices: tuple[tuple[str, str], ...]


def resolve_base_url(
    flag_values: Mapping[str, object],
    env: Mapping[str, str],
    layers: Layers,
    provider: Sourced,
) -> BaseUrlChoice:
    """The base URL for `provider` from the layers, most specific first (see the module doc)."""
    name = str(provider.value)
    candidates = _candidates(flag_values, env, layers, name)
    notes: list[str] = []
    notices: list[tuple[str, str]] = []
    chosen = Sourced(DEFAULT_BASE_URLS[name], "default", f"{BUILTIN} for {name}")
    if name == MOCK:
        if candidates:
            notes.append("base URLs are not used with provider mock: it serves on its own port")
        candidates = []
    chose = f"provider {name} (from {_short(provider.origin)})"
    set_aside: list[str] = []
    for candidate, named in candidates:
        url = display_value(KEY, candidate.value)
        meant_for = named or DEFAULT_PROVIDER
        if meant_for == name:
            chosen = candidate
            if candidate.source == "flag" and provider.source in ("env", "file"):
                notices.append(("info", f"--{KEY} {url} used with {chose}"))
            break
        suffix = BASE_URL_SUFFIXES[name]
        if named is None and _path_of(str(candidate.value)).endswith(suffix):
            chosen = candidate
            where = _short(candidate.origin)
            notices.append(
                ("info", f"base URL {url} from {where} used with {chose}: it ends with {suffix}")
            )
            break
        why = f"for {named}" if named else "no provider beside it: a gateway URL"
        set_aside.append(f"{_short(candidate.origin)} {url} ({why})")
    if set_aside:
        listed = ", ".join(set_aside)
        notices.insert(
            0, ("warn", f"base URL set aside for {chose}: {listed}; give --base-url to choose one")
        )
    if chosen.source in ("flag", "env"):
        for shadowed, _ in candidates:
            if shadowed.source == "file":
                notes.append(f"{chosen.origin} shadows the {KEY} stored in {shadowed.origin}")
                break
    notes.extend(text for _, text in notices)
    return BaseUrlChoice(chosen, tuple(notes), tuple(notices))


def _candidates(
    flag_values: Mapping[str, object], env: Mapping[str, str], layers: Layers, provider: str
) -> list[tuple[Sourced, str | None]]:
    """Each base URL given, most specific first, with the provider named beside it (or None)."""
    found: list[tuple[Sourced, str | None]] = []
    if KEY in flag_values:
        value = checked(KEY, flag_values[KEY], f"--{KEY}", UsageError)
        found.append((Sourced(value, "flag", f"--{KEY}"), provider))
    env_name = ENV_VARS[KEY]
    env_raw = _env_value(env, env_name)
    if env_raw is not None:
        value = checked(KEY, env_raw, f"environment variable {env_name}", ConfigError)
        named = _env_value(env, ENV_VARS["provider"])
        if named is not None:
            where = "environment variable WAN_PROVIDER"
            named = str(checked("provider", named, where, ConfigError))
        found.append((Sourced(value, "env", env_name), named))
    for depth, (table, origin) in enumerate(layers):
        if KEY in table:
            stored = [str(under["provider"]) for under, _ in layers[depth:] if "provider" in under]
            found.append((Sourced(table[KEY], "file", origin), stored[0] if stored else None))
    return found


def _short(origin: str) -> str:
    """An origin without the file's path: "profile 'ds' (/…/config.toml)" → "profile 'ds'"."""
    return origin.split(" (", 1)[0]


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value and value.strip() else None


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url.strip()).path.rstrip("/")

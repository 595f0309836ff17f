"""Resolution: command-line flag > environment > profile > `[default]` > built-in default.

Every effective value remembers where it came from (`Sourced`), so `wan config show` and
`wan doctor` can explain it. `resolve` itself is pure: the environment and the parsed file are
passed in; `resolve_settings` reads them. A stored API key belongs to the provider of its layer,
and is passed over (with a note) when a layer above switches provider; a base URL goes only with
the provider it is given for (`settings.base_url`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from wan_cli.errors import AuthError, ConfigError, UsageError
from wan_cli.settings.file import ConfigFile, config_path, load_config
from wan_cli.settings.values import (
    BUILTIN,
    DEFAULT_PROFILE,
    DEFAULTS,
    ENV_DASHSCOPE_KEY,
    ENV_PROFILE,
    ENV_VARS,
    KEYS,
    Settings,
    Sourced,
    checked,
)
from wan_cli.sizes import PRESET_MODES, PRESETS

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    # An empty variable (`WAN_MODEL=`) counts as unset, as most tools treat it.
    value = env.get(name)
    return value if value and value.strip() else None


def _flag_values(flags: Mapping[str, object | None]) -> tuple[dict[str, object], object | None]:
    values: dict[str, object] = {}
    profile: object | None = None
    for name, value in flags.items():
        key = name.replace("_", "-")
        if key == "profile":
            profile = value
        elif key not in KEYS:
            raise ValueError(f"resolve_settings: unknown flag {name!r}")  # a bug, not user input
        elif value is not None:
            values[key] = value
    return values, profile


def choose_profile(flag: object | None, env: Mapping[str, str], config: ConfigFile) -> Sourced:
    """The profile in use: `--profile` > WAN_PROFILE > the file's default_profile > "default"."""
    if isinstance(flag, str) and flag.strip():
        return Sourced(flag.strip(), "flag", "--profile")
    from_env = _env_value(env, ENV_PROFILE)
    if from_env:
        return Sourced(from_env.strip(), "env", ENV_PROFILE)
    if config.default_profile:
        return Sourced(config.default_profile, "file", f"default_profile in {config.path}")
    return Sourced(DEFAULT_PROFILE, "default", BUILTIN)


def check_profile_exists(chosen: Sourced, config: ConfigFile) -> str:
    """The chosen profile's name; UsageError listing the profiles if it was named but is absent."""
    name = str(chosen.value)
    known = config.profile_names()
    if name not in known:
        raise UsageError(
            f"unknown profile {name!r} (from {chosen.origin}): profiles are {', '.join(known)}",
            hint="create it with `wan config set --profile NAME KEY VALUE`",
        )
    return name


def _flag_origin(key: str, value: object) -> str:
    return f"--no-{key}" if value is False else f"--{key}"


def resolve(
    flags: Mapping[str, object | None],
    env: Mapping[str, str],
    config: ConfigFile,
    origins: Mapping[str, str] | None = None,
) -> Settings:
    """Pure resolution: flag > env > profile > [default] > built-in, with notes on shadowing.

    `origins` names where a flag-layer value came from when it is not a flag the user typed
    (`wan task` sets the provider itself): messages then say so instead of `--provider`."""
    flag_values, profile_flag = _flag_values(flags)
    profile_source = choose_profile(profile_flag, env, config)
    profile = check_profile_exists(profile_source, config)
    file_label = f"({config.path})"
    layers: list[tuple[Mapping[str, object], str]] = []
    if profile != DEFAULT_PROFILE:
        layers.append((config.profiles.get(profile, {}), f"profile {profile!r} {file_label}"))
    layers.append((config.default, f"[default] {file_label}"))

    sources: dict[str, Sourced] = {}
    notes = list(config.notes)

    def from_file(key: str) -> Sourced | None:
        for table, origin in layers:
            if key in table:
                return Sourced(table[key], "file", origin)
        return None

    for key in KEYS:
        if key == "base-url":
            continue  # its default depends on the provider: resolved below
        stored = from_file(key)
        env_name = ENV_VARS.get(key)
        env_raw = _env_value(env, env_name) if env_name else None
        if key in flag_values:
            value = checked(key, flag_values[key], f"--{key}", UsageError)
            origin = (origins or {}).get(key) or _flag_origin(key, value)
            sources[key] = Sourced(value, "flag", origin)
        elif env_name and env_raw is not None:
            value = checked(key, env_raw, f"environment variable {env_name}", ConfigError)
            sources[key] = Sourced(value, "env", env_name)
            if stored is not None:
                notes.append(f"{env_name} shadows the {key} stored in {stored.origin}")
        elif stored is not None:
            sources[key] = stored
        else:
            sources[key] = Sourced(DEFAULTS[key], "default", BUILTIN)

    provider = str(sources["provider"].value)
    _keep_stored_key_for_its_provider(sources, layers, provider, notes)
    _resolve_dashscope_key(sources, env, provider, notes)
    notices = _resolve_base_url(sources, flag_values, env, layers, notes)

    def get(key: str) -> Any:
        return sources[key].value

    return Settings(
        api_key=get("api-key"),
        base_url=get("base-url"),
        model=get("model"),
        provider=provider,
        size=get("size"),
        output_dir=get("output-dir"),
        timeout=get("timeout"),
        deadline=get("deadline"),
        retries=get("retries"),
        max_image_mb=get("max-image-mb"),
        metadata=get("metadata"),
        history=get("history"),
        preview=get("preview"),
        profile=profile,
        config_path=config.path,
        sources=sources,
        notes=tuple(notes),
        notices=notices,
        profile_source=profile_source,
    )


def _keep_stored_key_for_its_provider(
    sources: dict[str, Sourced],
    layers: list[tuple[Mapping[str, object], str]],
    provider: str,
    notes: list[str],
) -> None:
    """A stored key belongs to the provider of its layer: a gateway key is never sent to
    DashScope because a flag or a profile switched provider above it (the key would be refused,
    and would have travelled to a host it is not for). Keys given by flag or env are used."""
    if sources["api-key"].source != "file":
        return
    for depth, (table, origin) in enumerate(layers):
        if "api-key" not in table:
            continue
        # Only a provider stored with (or under) the key says whom it is for.
        stored = [layer["provider"] for layer, _ in layers[depth:] if "provider" in layer]
        meant_for = str(stored[0]) if stored else provider
        if meant_for == provider:
            sources["api-key"] = Sourced(table["api-key"], "file", origin)
            return
        notes.append(
            f"the api-key stored in {origin} is for provider {meant_for}, not {provider}: not used"
        )
    sources["api-key"] = Sourced(None, "default", BUILTIN)


def _resolve_dashscope_key(
    sources: dict[str, Sourced], env: Mapping[str, str], provider: str, notes: list[str]
) -> None:
    fallback = _env_value(env, ENV_DASHSCOPE_KEY)
    if fallback is None:
        return
    if provider != "dashscope":
        notes.append(f"{ENV_DASHSCOPE_KEY} is ignored: it is used only with provider dashscope")
    elif sources["api-key"].value is None:
        value = checked(
            "api-key", fallback, f"environment variable {ENV_DASHSCOPE_KEY}", ConfigError
        )
        sources["api-key"] = Sourced(value, "env", ENV_DASHSCOPE_KEY)


def _resolve_base_url(
    sources: dict[str, Sourced],
    flag_values: Mapping[str, object],
    env: Mapping[str, str],
    layers: list[tuple[Mapping[str, object], str]],
    notes: list[str],
) -> tuple[tuple[str, str], ...]:
    """The base URL that goes with the provider (`settings.base_url`: the one rule); returns the
    notices to show at normal verbosity."""
    from urllib.parse import urlsplit

    from wan_cli.settings.base_url import resolve_base_url

    choice = resolve_base_url(flag_values, env, layers, sources["provider"])
    notes.extend(choice.notes)
    chosen = sources["base-url"] = choice.chosen
    parts = urlsplit(str(chosen.value))
    if parts.scheme.lower() == "http" and (parts.hostname or "") not in _LOOPBACK:
        notes.append(f"base-url {chosen.value} is plain http: the API key would travel unencrypted")
    return choice.notices


def resolve_settings(
    flags: Mapping[str, object | None],
    env: Mapping[str, str] | None = None,
    origins: Mapping[str, str] | None = None,
) -> Settings:
    """Effective settings for a run.

    `flags` maps setting names (CLI spelling `api-key` or `api_key`) and "profile" to the
    command line's values; None means "not given". `env` defaults to `os.environ`. `origins`
    as for `resolve`.
    """
    env = os.environ if env is None else env
    return resolve(flags, env, load_config(config_path(env)), origins)


def require_api_key(settings: Settings) -> str:
    """The key, or AuthError (exit 3) saying how to set one."""
    if settings.api_key:
        return settings.api_key
    hint = "or set DASHSCOPE_API_KEY" if settings.provider == "dashscope" else None
    skipped = [note for note in settings.notes if note.startswith("the api-key stored in")]
    if skipped:
        hint = f"{skipped[0]}; store one for {settings.provider} in the profile you use"
    raise AuthError("no API key: run `wan config set api-key` or set WAN_API_KEY", hint=hint)


def size_for_mode(settings: Settings, mode: str) -> str | None:
    """The configured size as a run in `mode` uses it: `1K`/`2K` exist in edit only, so a
    generate run leaves them to the service's default instead of failing on a setting it was
    not given (None = send no size). A `--size` flag is the caller's, and always wins."""
    size = settings.size
    if size is not None and mode not in PRESET_MODES and size.strip().upper() in PRESETS:
        return None
    return size

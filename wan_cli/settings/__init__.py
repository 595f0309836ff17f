"""Settings: command-line flag > environment > profile > `[default]` section > built-in defaults.

- `values`: the keys, their environment variables and defaults; parsing, formatting and masking
  each value; `Sourced` and `Settings`.
- `file`: the config file (path, reading and validating the TOML, atomic 0600 writes, set/unset).
- `resolve`: the precedence, the provider rule for a stored key, `resolve_settings`,
  `require_api_key`, and `size_for_mode` (the configured size as a run in a mode uses it).
- `base_url`: which base URL goes with the provider in effect (the one rule), and its notices.

Everything is re-exported here: import from `wan_cli.settings`.
"""

from __future__ import annotations

from wan_cli.providers import DEFAULT_BASE_URLS, PROVIDERS
from wan_cli.settings.file import (
    ConfigFile,
    check_profile_name,
    config_path,
    load_config,
    set_value,
    unset_value,
    write_document,
)
from wan_cli.settings.resolve import (
    check_profile_exists,
    choose_profile,
    require_api_key,
    resolve,
    resolve_settings,
    size_for_mode,
)
from wan_cli.settings.values import (
    BUILTIN,
    DEFAULT_PROFILE,
    DEFAULTS,
    ENV_CONFIG,
    ENV_DASHSCOPE_KEY,
    ENV_PROFILE,
    ENV_VARS,
    KEYS,
    Settings,
    Source,
    Sourced,
    display_value,
    format_value,
    mask_key,
    normalize_key,
    parse_value,
)

__all__ = [
    "BUILTIN",
    "DEFAULTS",
    "DEFAULT_BASE_URLS",
    "DEFAULT_PROFILE",
    "ENV_CONFIG",
    "ENV_DASHSCOPE_KEY",
    "ENV_PROFILE",
    "ENV_VARS",
    "KEYS",
    "PROVIDERS",
    "ConfigFile",
    "Settings",
    "Source",
    "Sourced",
    "check_profile_exists",
    "check_profile_name",
    "choose_profile",
    "config_path",
    "display_value",
    "format_value",
    "load_config",
    "mask_key",
    "normalize_key",
    "parse_value",
    "require_api_key",
    "resolve",
    "resolve_settings",
    "set_value",
    "size_for_mode",
    "unset_value",
    "write_document",
]

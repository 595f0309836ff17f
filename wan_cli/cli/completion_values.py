"""Values that shell completion offers: sizes per mode, profile names, settings keys and values.

The shell calls `wan` with `_WAN_COMPLETE` set on every Tab press, so these run on the hot path
of an interactive shell: they import only cheap project modules, lazily, and never raise (a broken
config file must not turn Tab into a traceback). Each returns the candidates that start with
what was typed, with a short help text that zsh and fish show beside them.
"""

from __future__ import annotations

from typing import Any

Candidates = list[tuple[str, str]]

# Names people use for aspect ratios whose reduced form looks different (21:9 is 7:3).
_RATIO_NAMES = {(7, 3): "21:9", (3, 7): "9:21"}


def _ratio(size: str) -> str:
    """`1280*720` → `16:9`; presets such as `1K` are described, not divided."""
    from math import gcd

    width, sep, height = size.partition("*")
    if not sep:
        return f"preset: {size} output"
    w, h = int(width), int(height)
    d = gcd(w, h)
    reduced = (w // d, h // d)
    return _RATIO_NAMES.get(reduced, f"{reduced[0]}:{reduced[1]}")


def sizes_for(mode: str) -> Candidates:
    """The recommended sizes for `generate` or `edit`, each with its aspect ratio."""
    from wan_cli.api.request import RECOMMENDED_SIZES

    return [(size, _ratio(size)) for size in RECOMMENDED_SIZES.get(mode, ())]


def _matching(candidates: Candidates, incomplete: str) -> Candidates:
    return [(value, text) for value, text in candidates if value.startswith(incomplete)]


def complete_generate_size(incomplete: str) -> Candidates:
    """`wan generate --size`: the recommended W*H sizes."""
    return _matching(sizes_for("generate"), incomplete)


def complete_edit_size(incomplete: str) -> Candidates:
    """`wan edit --size`: the recommended W*H sizes and the 1K/2K presets."""
    return _matching(sizes_for("edit"), incomplete)


def profile_names() -> list[str]:
    """The profiles in the config file ("default" first); just that one if it cannot be read."""
    try:
        from wan_cli.settings import DEFAULT_PROFILE, config_path, load_config
    except Exception:  # pragma: no cover - a broken install must not break the shell
        return []
    try:
        return load_config(config_path()).profile_names()
    except Exception:  # a corrupt or unreadable config file: offer what always exists
        return [DEFAULT_PROFILE]


def complete_profile(incomplete: str) -> Candidates:
    """`--profile`: the profiles configured in the config file."""
    return [(name, "profile") for name in profile_names() if name.startswith(incomplete)]


def complete_provider(incomplete: str) -> Candidates:
    """`--provider`: the supported API providers."""
    from wan_cli.api.request import DEFAULT_BASE_URLS, PROVIDERS

    return _matching([(name, DEFAULT_BASE_URLS[name]) for name in PROVIDERS], incomplete)


def complete_config_key(incomplete: str) -> Candidates:
    """`wan config set|get|unset KEY`: the setting names, with their environment variable."""
    from wan_cli.settings import ENV_VARS, KEYS

    candidates = [(key, f"env {ENV_VARS[key]}" if key in ENV_VARS else "setting") for key in KEYS]
    return _matching(candidates, incomplete)


def config_values(key: str) -> Candidates:
    """Typical values for one setting (empty when any text goes, e.g. base-url)."""
    from wan_cli.api.request import DEFAULT_MODEL, PROVIDERS, RECOMMENDED_SIZES
    from wan_cli.settings import normalize_key

    try:
        key = normalize_key(key)
    except Exception:
        return []
    if key == "provider":
        return [(name, "provider") for name in PROVIDERS]
    if key in ("metadata", "history", "preview"):
        return [("true", "on"), ("false", "off")]
    if key == "model":
        return [(DEFAULT_MODEL, "default model")]
    if key == "size":
        # A stored size serves both modes: offer the W*H sizes that both accept.
        both = [s for s in RECOMMENDED_SIZES["generate"] if s in RECOMMENDED_SIZES["edit"]]
        return [(size, _ratio(size)) for size in both]
    return []


def complete_config_value(ctx: Any, incomplete: str) -> Candidates:
    """`wan config set KEY VALUE`: values for the KEY already on the command line."""
    params = getattr(ctx, "params", None) or {}
    key = params.get("key")
    if not isinstance(key, str):
        return []
    return _matching(config_values(key), incomplete)

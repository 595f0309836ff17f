"""Values that shell completion offers: sizes per mode, profile names, settings keys and values,
preview protocols, run and task ids from history, and image files for `--ref`.

The shell calls `wan` with `_WAN_COMPLETE` set on every Tab press, so these run on the hot path
of an interactive shell: they import only cheap project modules, lazily, and never raise (a broken
config file must not turn Tab into a traceback). Each returns the candidates that start with
what was typed, with a short help text that zsh and fish show beside them.
"""

from __future__ import annotations

import os
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


# Shown beside each --preview-protocol value (the values themselves come from ui.preview).
_PROTOCOL_HELP = {
    "auto": "detect from the terminal",
    "kitty": "kitty graphics (kitty, WezTerm, Ghostty, Konsole)",
    "iterm2": "iTerm2 inline images (iTerm2, WezTerm, VS Code)",
    "sixel": "sixel (foot, mlterm, xterm -ti vt340, Windows Terminal)",
    "blocks": "coloured half blocks (any true-colour terminal)",
}


def complete_preview_protocol(incomplete: str) -> Candidates:
    """`--preview-protocol`: auto and the protocols `ui.preview` can draw with."""
    from wan_cli.ui.preview import PROTOCOL_CHOICES

    candidates = [(name, _PROTOCOL_HELP.get(name, "protocol")) for name in PROTOCOL_CHOICES]
    return _matching(candidates, incomplete.lower())


# -- ids from history -----------------------------------------------------------------------

# How many ids one Tab offers (the newest): enough to find a recent run, few enough to read.
_RECENT = 50
_HELP_CHARS = 60


def _one_line(text: object, limit: int = _HELP_CHARS) -> str:
    """A prompt as a short help text: one line, at most `limit` characters."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _history_rows(query: str, values: tuple[object, ...]) -> list[tuple[object, ...]]:
    """Rows of a read-only query on history; [] when there is none or it cannot be read.

    Opened read-only (`mode=ro`): a Tab press never creates, migrates or locks the database,
    and gives up at once (no busy wait) if a writer holds it. Any column a newer or older
    schema lacks is an error here, so it too means "nothing to offer".
    """
    try:
        import sqlite3

        from wan_cli.history.store import history_path

        path = history_path()
        if not path.is_file():
            return []
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0)
        try:
            return [tuple(row) for row in conn.execute(query, values).fetchall()]
        finally:
            conn.close()
    except Exception:  # a broken or locked history must not turn Tab into a traceback
        return []


def _like_prefix(incomplete: str) -> str:
    escaped = incomplete.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def complete_run_id(incomplete: str) -> Candidates:
    """`wan history show|download|rerun ID`: recent run ids, newest first, the prompt as help."""
    rows = _history_rows(
        "SELECT id, prompt FROM runs WHERE CAST(id AS TEXT) LIKE ? ESCAPE '\\'"
        " ORDER BY id DESC LIMIT ?",
        (_like_prefix(incomplete), _RECENT),
    )
    return [(str(run_id), _one_line(prompt)) for run_id, prompt in rows]


def complete_task_id(incomplete: str) -> Candidates:
    """`wan task status|wait|cancel TASK_ID`: tasks from history's task rows, newest first,
    with their last known state and prompt."""
    rows = _history_rows(
        "SELECT task_id, task_status, prompt, max(id) AS newest FROM runs"
        " WHERE task_id IS NOT NULL AND task_id LIKE ? ESCAPE '\\'"
        " GROUP BY task_id ORDER BY newest DESC LIMIT ?",
        (_like_prefix(incomplete), _RECENT),
    )
    return [
        (str(task_id), _one_line(f"{status or 'task'} · {prompt}"))
        for task_id, status, prompt, _ in rows
    ]


# -- reference images -----------------------------------------------------------------------

# The formats a reference may be in (files.refs decides by magic bytes; this only picks names).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".webp", ".bmp")
# Characters a shell would need quoted: such names are left to the shell's own file completion,
# which quotes them (typer's bash script splits candidates on whitespace).
_NEEDS_QUOTING = r"[^\w@%+=:,./~-]"


def complete_image_path(incomplete: str) -> Candidates:
    """`--ref`: image files (by extension) and folders first. With no image to offer, or a URL
    being typed, nothing: the shell then completes every file name itself (names that need
    quoting included: typer's bash script would split them, so they are left to the shell)."""
    import re

    if incomplete.startswith(("http:", "https:", "data:")):
        return []
    head, sep, tail = incomplete.rpartition("/")
    folder = head + sep  # as typed ("", "out/", "~/Pictures/", "/"): candidates keep it
    directory = os.path.expanduser(folder) if folder else "."
    images: Candidates = []
    folders: Candidates = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if not name.startswith(tail) or (name[:1] == "." and tail[:1] != "."):
                    continue
                if re.search(_NEEDS_QUOTING, folder + name):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    folders.append((f"{folder}{name}/", "folder"))
                elif name.lower().endswith(IMAGE_SUFFIXES):
                    images.append((folder + name, "image"))
    except OSError:
        return []
    return sorted(images) + sorted(folders) if images else []

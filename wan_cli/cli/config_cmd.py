"""`wan config …`: read and write settings in the config file, and explain the effective ones.

Values and results go to stdout; confirmations and warnings to stderr. The API key is shown
masked everywhere except `wan config get api-key --reveal`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from wan_cli.cli.completion_values import (
    complete_config_key,
    complete_config_value,
    complete_profile,
)

if TYPE_CHECKING:
    from wan_cli.settings import ConfigFile, Settings, Sourced

config_app = typer.Typer(
    help="Show and change settings (API key, base URL, model, profiles)."
    "\n\nExamples:\n\n\b\n  wan config set api-key\n  wan config show",
    no_args_is_help=True,
)

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Profile to use (default: WAN_PROFILE, the file's default_profile, or 'default').",
        show_default=False,
        autocompletion=complete_profile,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
KeyArgument = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        # Spelled out (not built from settings.KEYS) so --help does not import settings;
        # tests/test_cli_config.py checks it names every key.
        help="api-key, base-url, model, provider, size, output-dir, timeout, deadline, "
        "retries, max-image-mb, metadata, history or preview.",
        show_default=False,
        autocompletion=complete_config_key,
    ),
]


def _active_profile(flag: str | None) -> tuple[str, ConfigFile]:
    """The profile to write to (it need not exist yet) and the loaded file (leniently: a bad
    value must not stop `set`/`unset` from repairing it)."""
    import os

    from wan_cli.settings import check_profile_name, choose_profile, config_path, load_config

    config = load_config(config_path(os.environ), lenient=True)
    return check_profile_name(str(choose_profile(flag, os.environ, config).value)), config


def _settings(profile: str | None) -> Settings:
    from wan_cli.settings import resolve_settings

    return resolve_settings({"profile": profile})


def _read_key_from_stdin() -> str:
    """The key from a hidden prompt on a terminal, or one line of piped stdin."""
    import sys

    from wan_cli.errors import UsageError

    stdin = sys.stdin
    if stdin is None or stdin.closed:
        raise UsageError(
            "no API key given: run this in a terminal to be prompted, or pipe the key on stdin"
        )
    if stdin.isatty():
        import getpass

        try:
            return getpass.getpass("API key (input hidden): ")
        except EOFError:
            raise UsageError("no API key given") from None
    line = stdin.readline()
    if not line.strip():
        raise UsageError("no API key on stdin: pipe it in, e.g. `wan config set api-key < key.txt`")
    return line


@config_app.command("set")
def set_command(
    key: KeyArgument,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value. For api-key leave it out: you are prompted (or it is read from "
            "stdin), so the key stays out of your shell history.",
            show_default=False,
            autocompletion=complete_config_value,
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Store a setting in the config file (in the chosen profile, created if new).

    Examples:

    \b
      wan config set api-key
      wan config set provider dashscope --profile ds
    """
    import os

    from wan_cli.errors import UsageError
    from wan_cli.settings import ENV_VARS, display_value, normalize_key, set_value
    from wan_cli.ui.output import get_output

    out = get_output()
    key = normalize_key(key)
    name, config = _active_profile(profile)
    if value is None:
        if key != "api-key":
            raise UsageError(f"missing VALUE: `wan config set {key} VALUE`")
        value = _read_key_from_stdin()
    elif key == "api-key":
        out.warn(
            "a key given on the command line lands in your shell history; next time run "
            "`wan config set api-key` and paste it at the prompt"
        )
    stored = set_value(config.path, name, key, value)
    out.info(f"set {key} = {display_value(key, stored)} in profile {name!r} ({config.path})")
    env_name = ENV_VARS.get(key)
    if env_name and os.environ.get(env_name, "").strip():
        out.warn(f"{env_name} is set and takes precedence over the stored {key}")


@config_app.command("get")
def get_command(
    key: KeyArgument,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the API key itself instead of masking it.")
    ] = False,
    profile: ProfileOption = None,
) -> None:
    """Print a setting's effective value (the API key masked unless --reveal).

    Examples:

    \b
      wan config get base-url
      wan config get model --profile ds
    """
    from wan_cli.settings import display_value, format_value, normalize_key
    from wan_cli.ui.output import get_output

    out = get_output()
    key = normalize_key(key)
    sourced = _settings(profile).sources[key]
    if sourced.value is None:
        out.info(f"{key} is not set")
        return
    if key == "api-key" and not reveal:
        out.result(display_value(key, sourced.value))
    else:
        out.result(format_value(sourced.value))


@config_app.command("unset")
def unset_command(key: KeyArgument, profile: ProfileOption = None) -> None:
    """Remove a setting from the chosen profile of the config file.

    Examples:

    \b
      wan config unset output-dir
    """
    from wan_cli.settings import normalize_key, unset_value
    from wan_cli.ui.output import get_output

    out = get_output()
    key = normalize_key(key)
    name, config = _active_profile(profile)
    if unset_value(config.path, name, key):
        out.info(f"removed {key} from profile {name!r} ({config.path})")
    else:
        out.info(f"{key} was not set in profile {name!r}; nothing changed")


def sourced_json(key: str, sourced: Sourced) -> dict[str, Any]:
    """One setting as JSON, the key masked (and a password in the base URL)."""
    from wan_cli.settings import display_value

    value = sourced.value
    if key in ("api-key", "base-url") and value:
        value = display_value(key, value)
    return {"value": value, "source": sourced.source, "origin": sourced.origin}


def settings_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(key, safe value, "(source: origin)") for the profile and every setting."""
    from wan_cli.settings import KEYS, display_value

    profile = settings.profile_source
    rows = [("profile", settings.profile, f"({profile.source}: {profile.origin})")]
    for key in KEYS:
        sourced = settings.sources[key]
        value = display_value(key, sourced.value)
        rows.append((key, value, f"({sourced.source}: {sourced.origin})"))
    return rows


def aligned(rows: list[tuple[str, str, str]], indent: str = "") -> list[str]:
    """Rows as `key  value  (source: origin)` lines with aligned columns."""
    key_width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    return [
        f"{indent}{k.ljust(key_width)}  {v.ljust(value_width)}  {origin}".rstrip()
        for k, v, origin in rows
    ]


@config_app.command("show")
def show_command(profile: ProfileOption = None, as_json: JsonOption = False) -> None:
    """Print every effective setting with where it comes from (the key masked).

    Examples:

    \b
      wan config show
      wan config show --json --profile ds
    """
    from wan_cli.settings import KEYS
    from wan_cli.ui.output import get_output

    out = get_output()
    settings = _settings(profile)
    exists = settings.config_path.is_file()
    if as_json:
        out.result_json(
            {
                "profile": sourced_json("profile", settings.profile_source),
                "config_path": str(settings.config_path),
                "config_exists": exists,
                "settings": {key: sourced_json(key, settings.sources[key]) for key in KEYS},
                "notes": list(settings.notes),
            }
        )
        return
    for line in aligned(settings_rows(settings)):
        out.result(line)
    state = "" if exists else "  (not created yet)"
    out.result(f"config file: {settings.config_path}{state}")
    for note in settings.notes:
        out.result(f"note: {note}")


@config_app.command("path")
def path_command() -> None:
    """Print the config file's path (WAN_CONFIG overrides it).

    Examples:

    \b
      wan config path
    """
    from wan_cli.settings import config_path
    from wan_cli.ui.output import get_output

    get_output().result(str(config_path()))


@config_app.command("profiles")
def profiles_command(profile: ProfileOption = None, as_json: JsonOption = False) -> None:
    """List the profiles in the config file; `*` marks the active one.

    Examples:

    \b
      wan config profiles
    """
    import os

    from wan_cli.settings import choose_profile, config_path, load_config
    from wan_cli.ui.output import get_output

    out = get_output()
    config = load_config(config_path(os.environ))
    chosen = choose_profile(profile, os.environ, config)
    names = config.profile_names()
    active = str(chosen.value)
    if as_json:
        out.result_json({"profiles": names, "active": active if active in names else None})
    else:
        for name in names:
            out.result(f"{'*' if name == active else ' '} {name}")
    if active not in names:
        out.warn(f"profile {active!r} (from {chosen.origin}) does not exist")

"""`wan doctor`: a diagnostics block for bug reports (never the key).

It reports problems instead of failing on them: a corrupt config file or an unknown profile is
exactly what a bug report needs to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

PACKAGES = ("typer", "rich", "httpx", "httpx-sse", "platformdirs", "tomli-w")
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


def redact_proxy(value: str) -> str:
    """A proxy URL with any user:password replaced by `***` (everything up to the last `@`)."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    if "@" not in rest:
        return value
    host = rest.rpartition("@")[2]
    return f"{scheme}{sep}***@{host}"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _proxies(env: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PROXY_VARS:
        for spelling in (name, name.lower()):
            value = env.get(spelling)
            if value:
                found[spelling] = value if name == "NO_PROXY" else redact_proxy(value)
    return found


def _config_state(path: Any) -> dict[str, Any]:
    import os
    import stat

    state: dict[str, Any] = {"path": str(path), "exists": False, "mode": None}
    try:
        info = os.stat(path)
    except OSError:
        return state
    state["exists"] = True
    mode = stat.S_IMODE(info.st_mode)
    state["mode"] = f"{mode:04o}"
    state["private"] = not (mode & 0o077)
    return state


def _history_state(env: Mapping[str, str]) -> dict[str, Any]:
    """Where the history database is and whether it exists (not opened: no sqlite3 here)."""
    from wan_cli.history import history_path

    path = history_path(dict(env))
    return {"path": str(path), "exists": path.is_file()}


def collect(env: Mapping[str, str], profile: str | None) -> dict[str, Any]:
    """Everything the report shows, as plain data (the key only ever masked)."""
    import platform
    import shutil
    import sys

    from wan_cli import __version__
    from wan_cli.cli.config_cmd import sourced_json
    from wan_cli.errors import WanError
    from wan_cli.settings import (
        ENV_DASHSCOPE_KEY,
        KEYS,
        config_path,
        display_value,
        resolve_settings,
    )
    from wan_cli.ui.output import is_terminal

    problems: list[str] = []
    config = _config_state(config_path(env))
    if config["exists"] and not config.get("private", True):
        problems.append(
            f"config file mode {config['mode']} lets others read it: chmod 600 {config['path']}"
        )
    report: dict[str, Any] = {
        "wan": __version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "packages": _versions(),
        "config": config,
    }
    try:
        settings = resolve_settings({"profile": profile}, env)
    except WanError as error:
        problems.append(f"settings: {error.message}")
        report.update(profile=None, settings=None, api_key_source=None, base_url=None, notes=[])
    else:
        key_source = settings.sources["api-key"]
        report.update(
            profile=sourced_json("profile", settings.profile_source),
            settings={key: sourced_json(key, settings.sources[key]) for key in KEYS},
            api_key_source=None if settings.api_key is None else key_source.origin,
            base_url=display_value("base-url", settings.base_url),
            notes=list(settings.notes),
        )
        if settings.api_key is None:
            problems.append("no API key: run `wan config set api-key` or set WAN_API_KEY")
    report["history"] = _history_state(env)
    report["environment"] = sorted(
        name for name in env if name.startswith("WAN_") or name == ENV_DASHSCOPE_KEY
    )
    report["proxy"] = _proxies(env)
    report["terminal"] = {
        "stdout_isatty": is_terminal(sys.stdout),
        "stderr_isatty": is_terminal(sys.stderr),
        "NO_COLOR": env.get("NO_COLOR"),
        "TERM": env.get("TERM"),
        "COLORTERM": env.get("COLORTERM"),
        "width": shutil.get_terminal_size().columns,
    }
    report["problems"] = problems
    return report


def render(report: Mapping[str, Any]) -> list[str]:
    """The report as plain `label: value` lines, ready to paste into an issue."""
    from wan_cli.cli.config_cmd import aligned

    python = report["python"]
    config = report["config"]
    packages = ", ".join(f"{name} {ver}" for name, ver in report["packages"].items())
    if config["exists"]:
        warn = "" if config.get("private", True) else " (not private: should be 0600)"
        state = f"exists, mode {config['mode']}{warn}"
    else:
        state = "does not exist"
    lines = [
        f"wan: {report['wan']}",
        f"python: {python['version']} ({python['implementation']}) {python['executable']}",
        f"platform: {report['platform']}",
        f"packages: {packages}",
        f"config file: {config['path']} ({state})",
    ]
    if report["settings"] is None:
        lines.append("settings: unavailable (see problems)")
    else:
        profile = report["profile"]
        lines.append(f"profile: {profile['value']} ({profile['source']}: {profile['origin']})")
        lines.append("settings:")
        rows = [
            (
                key,
                "(not set)" if s["value"] is None else _plain(s["value"]),
                f"({s['source']}: {s['origin']})",
            )
            for key, s in report["settings"].items()
        ]
        lines.extend(aligned(rows, indent="  "))
        lines.append(f"api key source: {report['api_key_source'] or '(not set)'}")
        lines.append(f"base url: {report['base_url']}")
    history = report["history"]
    lines.append(f"history: {history['path']} ({'exists' if history['exists'] else 'not yet'})")
    lines.append(f"environment: {', '.join(report['environment']) or '(no WAN_* variables)'}")
    proxies = report["proxy"]
    lines.append(
        "proxy: " + (", ".join(f"{k}={v}" for k, v in proxies.items()) if proxies else "(none)")
    )
    term = report["terminal"]
    lines.append(
        f"terminal: stdout tty {_yes(term['stdout_isatty'])}, stderr tty "
        f"{_yes(term['stderr_isatty'])}, NO_COLOR {_env(term['NO_COLOR'])}, "
        f"TERM {_env(term['TERM'])}, COLORTERM {_env(term['COLORTERM'])}, width {term['width']}"
    )
    for note in report["notes"]:
        lines.append(f"note: {note}")
    for problem in report["problems"]:
        lines.append(f"problem: {problem}")
    return lines


def _plain(value: Any) -> str:
    from wan_cli.settings import format_value

    return format_value(value)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _env(value: str | None) -> str:
    return "(unset)" if value is None else repr(value)


def doctor(
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", metavar="NAME", help="Profile to report on."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Print versions, config sources and terminal capabilities for a bug report.

    Examples:

    \b
      wan doctor
      wan doctor --json
    """
    import os

    from wan_cli.ui.output import get_output

    report = collect(os.environ, profile)
    out = get_output()
    if as_json:
        out.result_json(report)
        return
    for line in render(report):
        out.result(line)

"""The config file: where it is, reading and validating the TOML, and writing it back atomically
with mode 0600 (`set_value`/`unset_value`).

Layout (keys spelled as on the command line)::

    default_profile = "work"        # optional: the profile used when none is chosen
    [default]
    api-key = "sk-..."
    [profiles.work]
    model = "wan2.6-image"
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wan_cli.errors import ConfigError, UsageError
from wan_cli.settings.values import DEFAULT_PROFILE, ENV_CONFIG, KEYS, checked, normalize_key

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ConfigFile:
    """The parsed and validated config file (empty when it does not exist)."""

    path: Path
    exists: bool = False
    mode: int | None = None  # permission bits, when the file exists
    default_profile: str | None = None
    default: Mapping[str, object] = field(default_factory=dict, repr=False)
    profiles: Mapping[str, Mapping[str, object]] = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = ()

    def profile_names(self) -> list[str]:
        """ "default" first (it always exists), then the named profiles in sorted order."""
        return [DEFAULT_PROFILE, *sorted(name for name in self.profiles if name != DEFAULT_PROFILE)]


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """`WAN_CONFIG`, else `config.toml` in the platform's user config directory for `wan`."""
    env = os.environ if env is None else env
    override = env.get(ENV_CONFIG, "").strip()
    if override:
        return Path(os.path.expanduser(override))
    from platformdirs import user_config_dir

    return Path(user_config_dir("wan")) / "config.toml"


def _read_document(path: Path) -> tuple[dict[str, Any], os.stat_result | None]:
    """The raw TOML document ({} if there is no file). ConfigError, one line, on any problem."""
    import tomllib

    try:
        info = path.stat()
    except FileNotFoundError:
        return {}, None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {path} is not a regular file")
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"config file {path} is not valid TOML: {reason}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid TOML: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    return document, info


def _table_label(profile: str) -> str:
    return "[default]" if profile == DEFAULT_PROFILE else f"[profiles.{profile}]"


def _validated_table(
    path: Path, profile: str, table: object, notes: list[str], lenient: bool = False
) -> dict[str, object]:
    label = _table_label(profile)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: {label} must be a table")
    values: dict[str, object] = {}
    for raw_key, raw in table.items():
        key = raw_key.replace("_", "-")
        if key not in KEYS:
            notes.append(f"unknown key {raw_key!r} in {label} of {path} is ignored")
            continue
        try:
            values[key] = checked(key, raw, f"config file {path} {label}", ConfigError)
        except ConfigError as error:
            if not lenient:
                raise
            notes.append(f"{error.message} (ignored)")
    return values


def load_config(path: Path, *, lenient: bool = False) -> ConfigFile:
    """Read and validate the config file; a missing file is an empty config.

    `lenient`: an invalid value is left out with a note instead of failing, so that
    `wan config set/unset` can still repair the file (broken TOML or layout still fails)."""
    document, info = _read_document(path)
    return _parse_document(path, document, info, lenient=lenient)


def _parse_document(
    path: Path, document: Mapping[str, Any], info: os.stat_result | None, lenient: bool = False
) -> ConfigFile:
    if info is None:
        return ConfigFile(path=path)
    notes: list[str] = []
    default = _validated_table(path, DEFAULT_PROFILE, document.get("default", {}), notes, lenient)
    raw_profiles = document.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise ConfigError(f"config file {path}: [profiles] must contain [profiles.NAME] tables")
    profiles = {
        name: _validated_table(path, name, table, notes, lenient)
        for name, table in raw_profiles.items()
    }
    if DEFAULT_PROFILE in profiles:
        notes.append(f"[profiles.default] in {path} is ignored: the default profile is [default]")
    default_profile = document.get("default_profile")
    if default_profile is not None and not isinstance(default_profile, str):
        raise ConfigError(f"config file {path}: default_profile must be a profile name")
    for name in document:
        if name not in ("default", "profiles", "default_profile"):
            notes.append(f"unknown entry {name!r} in {path} is ignored")
    mode = stat.S_IMODE(info.st_mode)
    if os.name == "posix" and mode & 0o077:
        notes.append(
            f"config file {path} has mode {mode:04o} (others may read your key); "
            "the next `wan config set` rewrites it as 0600"
        )
    return ConfigFile(
        path=path,
        exists=True,
        mode=mode,
        default_profile=default_profile,
        default=default,
        profiles=profiles,
        notes=tuple(notes),
    )


def _make_private_dirs(directory: Path) -> None:
    """Create missing directories as 0700 (chmod too: mkdir's mode is filtered by the umask)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)


def write_document(path: Path, document: Mapping[str, Any]) -> None:
    """Write the TOML file atomically with mode 0600 (a temp file created 0600, then replace)."""
    import secrets

    import tomli_w

    target = Path(os.path.realpath(path))  # keep a symlinked dotfile a symlink
    data = tomli_w.dumps(dict(document)).encode("utf-8")
    try:
        _make_private_dirs(target.parent)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        # O_EXCL + mode 0600 at creation: the key is never readable by others, not even briefly.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    except OSError as error:
        raise ConfigError(f"cannot write config file {path}: {error.strerror or error}") from None


def check_profile_name(name: str) -> str:
    if not _PROFILE_NAME.fullmatch(name):
        raise UsageError(
            f"invalid profile name {name!r}: use letters, digits, '-' and '_' (up to 64)"
        )
    return name


def _profile_table(
    document: dict[str, Any], profile: str, *, create: bool
) -> dict[str, Any] | None:
    if profile == DEFAULT_PROFILE:
        holder, name = document, "default"
    else:
        holder = document.setdefault("profiles", {}) if create else document.get("profiles", {})
        name = profile
    table = holder.get(name)
    if table is None and create:
        table = holder[name] = {}
    return table if isinstance(table, dict) else None


def _stored_value(value: object) -> object:
    # Whole-number timeouts are written as integers: `timeout = 300`, not `300.0`.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def set_value(path: Path, profile: str, key: str, raw: object) -> object:
    """Validate `raw` and store it under `key` in `profile` (created if new); returns the value."""
    key = normalize_key(key)
    check_profile_name(profile)
    value = checked(key, raw, "invalid value", UsageError)
    document, info = _read_document(path)
    _parse_document(path, document, info, lenient=True)  # its layout, before changing it
    table = _profile_table(document, profile, create=True)
    if table is None:
        raise ConfigError(f"config file {path}: {_table_label(profile)} must be a table")
    for spelling in (key, key.replace("-", "_")):
        table.pop(spelling, None)
    table[key] = _stored_value(value)
    if info is not None:
        # Setting a bad value right repairs the file; any other bad value still refuses it.
        _parse_document(path, document, info)
    write_document(path, document)
    return value


def unset_value(path: Path, profile: str, key: str) -> bool:
    """Remove `key` from `profile`; False if it was not stored there (nothing is written)."""
    key = normalize_key(key)
    document, info = _read_document(path)
    _parse_document(path, document, info, lenient=True)  # its layout; bad values may go
    table = _profile_table(document, profile, create=False)
    if table is None:
        return False
    removed = [table.pop(s) for s in (key, key.replace("-", "_")) if s in table]
    if not removed:
        return False
    write_document(path, document)
    return True

"""Settings: command-line flag > environment > profile > `[default]` section > built-in defaults.

Every effective value remembers where it came from (`Sourced`), so `wan config show` and
`wan doctor` can explain it. Resolution itself (`resolve`) is pure: the environment and the parsed
file are passed in. The edges are `load_config` (read and validate the TOML file) and
`set_value`/`unset_value` (atomic read-modify-write, mode 0600).

File layout (keys spelled as on the command line)::

    default_profile = "work"        # optional: the profile used when none is chosen
    [default]
    api-key = "sk-..."
    [profiles.work]
    model = "wan2.6-image"
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wan_cli.errors import AuthError, ConfigError, UsageError

Source = Literal["flag", "env", "file", "default"]

PROVIDERS = ("gateway", "dashscope")
DEFAULT_BASE_URLS = {
    "gateway": "https://api.tokenhot.ai/v1",
    "dashscope": "https://dashscope.aliyuncs.com/api/v1",
}
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
    "retries": "WAN_RETRIES",
    "max-image-mb": "WAN_MAX_IMAGE_MB",
}
ENV_PROFILE = "WAN_PROFILE"
ENV_CONFIG = "WAN_CONFIG"
ENV_DASHSCOPE_KEY = "DASHSCOPE_API_KEY"

# base-url has no fixed default: it follows the provider (see `resolve`).
_DEFAULTS: dict[str, object] = {
    "api-key": None,
    "model": "wan2.6-image",
    "provider": "gateway",
    "size": None,
    "output-dir": None,
    "timeout": 300.0,
    "retries": 2,
    "max-image-mb": 200,  # a saved image larger than this is refused (the service's are ~2-20 MB)
    "metadata": True,
    "history": True,
    "preview": False,  # draw saved images in the terminal (TTY only)
}
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


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
    retries: int
    max_image_mb: int
    metadata: bool
    history: bool
    preview: bool
    profile: str
    config_path: Path
    sources: Mapping[str, Sourced] = field(repr=False)  # by CLI key name
    notes: tuple[str, ...] = ()
    # Which profile is in use and why ("--profile", "WAN_PROFILE", "default_profile in …", …).
    profile_source: Sourced = Sourced(DEFAULT_PROFILE, "default", BUILTIN)


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


# -- values ---------------------------------------------------------------------------------


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
    # The exact forms (W*H, 1K, 2K) and pixel limits are checked where the request is built.
    size = _text(raw)
    if any(ch.isspace() for ch in size):
        raise ValueError("must not contain spaces (e.g. 1280*1280)")
    return size


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
    "retries": _retries,
    "max-image-mb": _megabytes,
    "metadata": _boolean,
    "history": _boolean,
    "preview": _boolean,
}


def parse_value(key: str, raw: object) -> object:
    """Validate and convert one value (CLI/env text or a TOML value); ValueError if bad."""
    return _PARSERS[key](raw)


def _checked(key: str, raw: object, where: str, error_type: type[UsageError]) -> object:
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


# -- the file -------------------------------------------------------------------------------


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
            values[key] = _checked(key, raw, f"config file {path} {label}", ConfigError)
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
    value = _checked(key, raw, "invalid value", UsageError)
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


# -- resolution -----------------------------------------------------------------------------


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
    flags: Mapping[str, object | None], env: Mapping[str, str], config: ConfigFile
) -> Settings:
    """Pure resolution: flag > env > profile > [default] > built-in, with notes on shadowing."""
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
            value = _checked(key, flag_values[key], f"--{key}", UsageError)
            sources[key] = Sourced(value, "flag", _flag_origin(key, value))
        elif env_name and env_raw is not None:
            value = _checked(key, env_raw, f"environment variable {env_name}", ConfigError)
            sources[key] = Sourced(value, "env", env_name)
            if stored is not None:
                notes.append(f"{env_name} shadows the {key} stored in {stored.origin}")
        elif stored is not None:
            sources[key] = stored
        else:
            sources[key] = Sourced(_DEFAULTS[key], "default", BUILTIN)

    provider = str(sources["provider"].value)
    _keep_stored_key_for_its_provider(sources, layers, provider, notes)
    _resolve_dashscope_key(sources, env, provider, notes)
    _resolve_base_url(sources, flag_values, env, layers, provider, notes)

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
        retries=get("retries"),
        max_image_mb=get("max-image-mb"),
        metadata=get("metadata"),
        history=get("history"),
        preview=get("preview"),
        profile=profile,
        config_path=config.path,
        sources=sources,
        notes=tuple(notes),
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
        value = _checked(
            "api-key", fallback, f"environment variable {ENV_DASHSCOPE_KEY}", ConfigError
        )
        sources["api-key"] = Sourced(value, "env", ENV_DASHSCOPE_KEY)


def _resolve_base_url(
    sources: dict[str, Sourced],
    flag_values: Mapping[str, object],
    env: Mapping[str, str],
    layers: list[tuple[Mapping[str, object], str]],
    provider: str,
    notes: list[str],
) -> None:
    """The base URL, which belongs to a provider: one set in a layer whose provider differs
    from the one chosen above it (`--provider dashscope` over a stored gateway URL, a profile
    switching provider under `[default]`'s URL) is passed over for the chosen provider's."""
    from urllib.parse import urlsplit

    key = "base-url"
    env_name = ENV_VARS[key]
    # Layers from the most specific; each candidate is (Sourced, the provider of its layer).
    candidates: list[tuple[Sourced, str]] = []
    if key in flag_values:
        value = _checked(key, flag_values[key], f"--{key}", UsageError)
        candidates.append((Sourced(value, "flag", f"--{key}"), provider))
    env_raw = _env_value(env, env_name)
    if env_raw is not None:
        value = _checked(key, env_raw, f"environment variable {env_name}", ConfigError)
        candidates.append((Sourced(value, "env", env_name), _provider_from(env, layers, 0)))
    for depth, (table, origin) in enumerate(layers):
        if key in table:
            stored = Sourced(table[key], "file", origin)
            candidates.append((stored, _provider_from(None, layers, depth)))
    chosen = Sourced(DEFAULT_BASE_URLS[provider], "default", f"{BUILTIN} for {provider}")
    for candidate, meant_for in candidates:
        if meant_for == provider:
            chosen = candidate
            break
        notes.append(
            f"{key} {display_value(key, candidate.value)} from {candidate.origin} is for provider "
            f"{meant_for}, not {provider}: not used (give --base-url to choose)"
        )
    if chosen.source in ("flag", "env"):
        for shadowed, _ in candidates:
            if shadowed.source == "file":
                notes.append(f"{chosen.origin} shadows the {key} stored in {shadowed.origin}")
                break
    sources[key] = chosen
    parts = urlsplit(str(chosen.value))
    if parts.scheme.lower() == "http" and (parts.hostname or "") not in _LOOPBACK:
        notes.append(f"base-url {chosen.value} is plain http: the API key would travel unencrypted")


def _provider_from(
    env: Mapping[str, str] | None, layers: list[tuple[Mapping[str, object], str]], depth: int
) -> str:
    """The provider as the layers from `depth` down (and `env`, if given) would choose it."""
    if env is not None and (raw := _env_value(env, ENV_VARS["provider"])) is not None:
        return str(_checked("provider", raw, "environment variable WAN_PROVIDER", ConfigError))
    for table, _ in layers[depth:]:
        if "provider" in table:
            return str(table["provider"])
    return str(_DEFAULTS["provider"])


def resolve_settings(
    flags: Mapping[str, object | None], env: Mapping[str, str] | None = None
) -> Settings:
    """Effective settings for a run.

    `flags` maps setting names (CLI spelling `api-key` or `api_key`) and "profile" to the
    command line's values; None means "not given". `env` defaults to `os.environ`.
    """
    env = os.environ if env is None else env
    return resolve(flags, env, load_config(config_path(env)))


def require_api_key(settings: Settings) -> str:
    """The key, or AuthError (exit 3) saying how to set one."""
    if settings.api_key:
        return settings.api_key
    hint = "or set DASHSCOPE_API_KEY" if settings.provider == "dashscope" else None
    skipped = [note for note in settings.notes if note.startswith("the api-key stored in")]
    if skipped:
        hint = f"{skipped[0]}; store one for {settings.provider} in the profile you use"
    raise AuthError("no API key: run `wan config set api-key` or set WAN_API_KEY", hint=hint)

"""Settings: precedence, profiles, validation, masking, and the TOML file on disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import read_permissions_enforced
from wan_cli.errors import AuthError, ConfigError, ExitCode, UsageError
from wan_cli.settings import (
    DEFAULT_BASE_URLS,
    KEYS,
    ConfigFile,
    config_path,
    load_config,
    mask_key,
    normalize_key,
    parse_value,
    require_api_key,
    resolve,
    resolve_settings,
    set_value,
    size_for_mode,
    unset_value,
)

KEY = "sk-0123456789abcdefghij5678"
PATH = Path("/cfg/config.toml")


def make_config(
    default: dict[str, object] | None = None,
    profiles: dict[str, dict[str, object]] | None = None,
    default_profile: str | None = None,
) -> ConfigFile:
    return ConfigFile(
        path=PATH,
        exists=True,
        mode=0o600,
        default_profile=default_profile,
        default=default or {},
        profiles=profiles or {},
    )


# -- precedence: one test per layer ---------------------------------------------------------


def test_flag_beats_env() -> None:
    settings = resolve({"model": "from-flag"}, {"WAN_MODEL": "from-env"}, make_config())
    assert settings.model == "from-flag"
    assert settings.sources["model"].source == "flag"
    assert settings.sources["model"].origin == "--model"


def test_env_beats_profile() -> None:
    config = make_config(profiles={"work": {"timeout": 10.0}})
    settings = resolve({"profile": "work"}, {"WAN_TIMEOUT": "42"}, config)
    assert settings.timeout == 42.0
    assert settings.sources["timeout"].source == "env"
    assert settings.sources["timeout"].origin == "WAN_TIMEOUT"


def test_profile_beats_default_section() -> None:
    config = make_config(default={"retries": 1}, profiles={"work": {"retries": 5}})
    settings = resolve({"profile": "work"}, {}, config)
    assert settings.retries == 5
    assert settings.sources["retries"].source == "file"
    assert "profile 'work'" in settings.sources["retries"].origin
    assert str(PATH) in settings.sources["retries"].origin


def test_default_section_fills_what_the_profile_lacks() -> None:
    config = make_config(default={"model": "m-default"}, profiles={"work": {"retries": 5}})
    settings = resolve({"profile": "work"}, {}, config)
    assert settings.model == "m-default"
    assert settings.sources["model"].origin.startswith("[default]")


def test_default_section_beats_builtin() -> None:
    settings = resolve({}, {}, make_config(default={"size": "1280*1280", "metadata": False}))
    assert settings.size == "1280*1280"
    assert settings.metadata is False
    assert settings.sources["size"].source == "file"


def test_builtin_defaults() -> None:
    settings = resolve({}, {}, ConfigFile(path=PATH))
    assert settings.api_key is None
    assert settings.base_url == "https://api.tokenhot.ai/v1"
    assert settings.model == "wan2.6-image"
    assert settings.provider == "gateway"
    assert settings.size is None
    assert settings.output_dir is None
    assert settings.timeout == 300.0
    assert settings.retries == 2
    assert settings.metadata is True
    assert settings.history is True
    assert settings.profile == "default"
    assert settings.config_path == PATH
    assert {s.source for s in settings.sources.values()} == {"default"}
    assert set(settings.sources) == set(KEYS)
    assert settings.notes == ()


def test_base_url_default_follows_provider() -> None:
    settings = resolve({}, {"WAN_PROVIDER": "dashscope"}, make_config())
    assert settings.base_url == DEFAULT_BASE_URLS["dashscope"]
    assert "dashscope" in settings.sources["base-url"].origin


def test_base_url_precedence() -> None:
    config = make_config(default={"base-url": "https://file.example/v1"})
    assert resolve({}, {}, config).base_url == "https://file.example/v1"
    env = {"WAN_BASE_URL": "https://env.example/v1"}
    assert resolve({}, env, config).base_url == "https://env.example/v1"
    flags = {"base_url": "http://127.0.0.1:8080/v1"}
    settings = resolve(flags, env, config)
    assert settings.base_url == "http://127.0.0.1:8080/v1"
    assert settings.sources["base-url"].source == "flag"
    assert not any("unencrypted" in note for note in settings.notes)  # loopback http is fine


def test_plain_http_base_url_is_noted() -> None:
    settings = resolve({"base-url": "http://gateway.example/v1"}, {}, make_config())
    assert any("unencrypted" in note for note in settings.notes)


def test_flags_accept_dashes_or_underscores_and_none_means_not_given() -> None:
    env = {"WAN_OUTPUT_DIR": "/env/out"}
    settings = resolve({"output_dir": None, "api-key": KEY}, env, make_config())
    assert settings.output_dir == "/env/out"
    assert settings.api_key == KEY
    assert settings.sources["api-key"].origin == "--api-key"
    assert (
        resolve({"history": False}, {}, make_config()).sources["history"].origin == "--no-history"
    )


def test_unknown_flag_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown flag"):
        resolve({"colour": "red"}, {}, make_config())


def test_empty_env_var_counts_as_unset() -> None:
    settings = resolve({}, {"WAN_MODEL": "", "WAN_API_KEY": "  "}, make_config())
    assert settings.model == "wan2.6-image"
    assert settings.api_key is None


def test_only_documented_env_vars_are_settings() -> None:
    # WAN_HISTORY is the history database's path, not the `history` switch.
    env = {"WAN_HISTORY": "/tmp/history.db", "WAN_SIZE": "bogus size", "WAN_METADATA": "?"}
    settings = resolve({}, env, make_config())
    assert settings.history is True
    assert settings.size is None
    assert settings.metadata is True


def test_env_shadowing_a_stored_key_is_noted() -> None:
    config = make_config(default={"api-key": KEY})
    settings = resolve({}, {"WAN_API_KEY": KEY + "x"}, config)
    assert settings.api_key == KEY + "x"
    assert any(
        note.startswith("WAN_API_KEY shadows the api-key stored in [default]")
        for note in settings.notes
    )
    assert not any(KEY in note for note in settings.notes)


# -- DASHSCOPE_API_KEY ------------------------------------------------------------------------


def test_dashscope_key_is_a_fallback_for_dashscope() -> None:
    env = {"WAN_PROVIDER": "dashscope", "DASHSCOPE_API_KEY": KEY}
    settings = resolve({}, env, make_config())
    assert settings.api_key == KEY
    assert settings.sources["api-key"].origin == "DASHSCOPE_API_KEY"


def test_dashscope_key_is_ignored_for_the_gateway() -> None:
    settings = resolve({}, {"DASHSCOPE_API_KEY": KEY}, make_config())
    assert settings.api_key is None
    assert any("DASHSCOPE_API_KEY is ignored" in note for note in settings.notes)


@pytest.mark.parametrize(
    ("flags", "env", "stored", "winner"),
    [
        ({"api_key": "sk-flagflagflagflag1"}, {}, None, "--api-key"),
        ({}, {"WAN_API_KEY": "sk-envenvenvenvenv1"}, None, "WAN_API_KEY"),
        ({}, {}, "sk-filefilefilefile1", "[default] (/cfg/config.toml)"),
    ],
)
def test_dashscope_key_never_beats_another_key(
    flags: dict[str, object], env: dict[str, str], stored: str | None, winner: str
) -> None:
    config = make_config(default={"api-key": stored} if stored else {})
    env = {**env, "WAN_PROVIDER": "dashscope", "DASHSCOPE_API_KEY": KEY}
    settings = resolve(flags, env, config)
    assert settings.api_key != KEY
    assert settings.sources["api-key"].origin == winner


# -- profiles ---------------------------------------------------------------------------------


def test_wan_profile_selects_the_profile() -> None:
    config = make_config(default={"model": "a"}, profiles={"work": {"model": "b"}})
    settings = resolve({}, {"WAN_PROFILE": "work"}, config)
    assert settings.profile == "work"
    assert settings.model == "b"
    assert settings.profile_source.origin == "WAN_PROFILE"


def test_profile_flag_beats_wan_profile() -> None:
    config = make_config(profiles={"work": {}, "home": {"model": "h"}})
    settings = resolve({"profile": "home"}, {"WAN_PROFILE": "work"}, config)
    assert settings.profile == "home"
    assert settings.model == "h"
    assert settings.profile_source.source == "flag"


def test_default_profile_in_the_file() -> None:
    config = make_config(profiles={"work": {"model": "w"}}, default_profile="work")
    settings = resolve({}, {}, config)
    assert settings.profile == "work"
    assert settings.model == "w"
    assert settings.profile_source.source == "file"
    # …and the environment still beats it
    assert resolve({}, {"WAN_PROFILE": "default"}, config).profile == "default"


def test_unknown_profile_lists_the_profiles() -> None:
    config = make_config(profiles={"work": {}, "home": {}})
    with pytest.raises(UsageError) as caught:
        resolve({}, {"WAN_PROFILE": "wrok"}, config)
    assert "'wrok'" in caught.value.message
    assert "default, home, work" in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("provider", "DashScope", "dashscope"),
        ("timeout", "2.5", 2.5),
        ("timeout", 30, 30.0),
        ("retries", "0", 0),
        ("retries", 10, 10),
        ("metadata", "yes", True),
        ("metadata", "0", False),
        ("history", "FALSE", False),
        ("history", True, True),
        ("base-url", "https://h.example/v1/", "https://h.example/v1"),
        ("api-key", f"  {KEY}\n", KEY),
        ("size", "1280*1280", "1280*1280"),
        ("size", "1280 x 720", "1280*720"),
        ("size", "1k", "1K"),
        ("output-dir", "~/pics", os.path.expanduser("~/pics")),
    ],
)
def test_valid_values(key: str, raw: object, expected: object) -> None:
    assert parse_value(key, raw) == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("provider", "openai"),
        ("timeout", "0"),
        ("timeout", "-1"),
        ("timeout", "soon"),
        ("timeout", "nan"),
        ("timeout", True),
        ("retries", "11"),
        ("retries", "-1"),
        ("retries", "1.5"),
        ("retries", True),
        ("metadata", "maybe"),
        ("base-url", "ftp://h.example"),
        ("base-url", "api.tokenhot.ai/v1"),
        ("base-url", "https://"),
        ("api-key", ""),
        ("api-key", "sk-abc def"),
        ("api-key", "sk-abc\r\nX-Evil: 1"),
        ("model", "   "),
        ("model", 3),
        ("size", "big"),
        ("size", "100*100"),
    ],
)
def test_invalid_values(key: str, raw: object) -> None:
    with pytest.raises(ValueError):
        parse_value(key, raw)


@pytest.mark.parametrize(
    ("stored", "mode", "expected"),
    [
        (None, "generate", None),
        (None, "edit", None),
        ("1280*720", "generate", "1280*720"),
        ("1280*720", "edit", "1280*720"),
        ("2048*2048", "edit", "2048*2048"),
        ("1K", "edit", "1K"),
        ("2K", "edit", "2K"),
        ("1K", "generate", None),  # edit-only: generate leaves it to the service's default
        ("2K", "generate", None),
    ],
)
def test_size_for_mode(stored: str | None, mode: str, expected: str | None) -> None:
    config = make_config(default={} if stored is None else {"size": stored})
    assert size_for_mode(resolve({}, {}, config), mode) == expected


def test_size_for_mode_takes_the_configured_spelling() -> None:
    settings = resolve({}, {}, make_config(default={"size": parse_value("size", " 2k ")}))
    assert settings.size == "2K"
    assert size_for_mode(settings, "generate") is None
    assert size_for_mode(settings, "edit") == "2K"


def test_unknown_key_lists_valid_keys() -> None:
    assert normalize_key("API_KEY") == "api-key"
    with pytest.raises(UsageError) as caught:
        normalize_key("colour")
    assert all(key in caught.value.message for key in KEYS)


def test_invalid_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="WAN_RETRIES"):
        resolve({}, {"WAN_RETRIES": "many"}, make_config())


def test_invalid_flag_value_names_the_flag() -> None:
    with pytest.raises(UsageError, match="--timeout"):
        resolve({"timeout": -3}, {}, make_config())


def test_invalid_key_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({}, {"WAN_API_KEY": "sk-secret secret"}, make_config())
    assert "secret" not in caught.value.message


# -- masking and the key ------------------------------------------------------------------------


def test_mask_key() -> None:
    assert mask_key(KEY) == "sk-…5678"
    assert mask_key("short-key") == "…"
    assert mask_key(None) == "(not set)"
    assert mask_key("") == "(not set)"


def test_settings_repr_leaves_the_key_out() -> None:
    settings = resolve({"api-key": KEY}, {}, make_config())
    assert KEY not in repr(settings)
    assert KEY not in repr(settings.sources["api-key"])


def test_require_api_key() -> None:
    assert require_api_key(resolve({}, {"WAN_API_KEY": KEY}, make_config())) == KEY
    with pytest.raises(AuthError) as caught:
        require_api_key(resolve({}, {}, make_config()))
    assert caught.value.exit_code == ExitCode.AUTH
    assert "wan config set api-key" in caught.value.message


# -- the file ---------------------------------------------------------------------------------


def test_config_path() -> None:
    assert config_path({"WAN_CONFIG": "/x/y.toml"}) == Path("/x/y.toml")
    default = config_path({})
    assert default.name == "config.toml"
    assert default.parent.name == "wan"


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "none" / "config.toml")
    assert not config.exists
    assert config.profile_names() == ["default"]


def test_resolve_settings_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[default]\nmodel = "m1"\n[profiles.work]\nmodel = "m2"\n')
    path.chmod(0o600)
    env = {"WAN_CONFIG": str(path), "WAN_PROFILE": "work"}
    settings = resolve_settings({}, env)
    assert settings.model == "m2"
    assert settings.config_path == path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[default\nmodel = 1", "not valid TOML"),
        ('[default]\ntimeout = "soon"\n', "timeout must be a positive number"),
        ('default = "x"\n', "[default] must be a table"),
        ('profiles = "x"\n', "[profiles] must contain"),
        ("[profiles]\nwork = 3\n", "[profiles.work] must be a table"),
        ("default_profile = 3\n", "default_profile must be"),
    ],
)
def test_broken_file_is_one_line_naming_the_path(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = caught.value.message
    assert str(path) in message
    assert problem in message
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.USAGE


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[default]\nmodel = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[default]\n")
    path.chmod(0)
    with read_permissions_enforced(), pytest.raises(ConfigError, match="cannot read config file"):
        load_config(path)


def test_unknown_keys_and_loose_mode_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[default]\nmodle = "x"\napi_key = "sk-abcdefghijklmnop"\n')
    path.chmod(0o644)
    config = load_config(path)
    assert config.default == {"api-key": "sk-abcdefghijklmnop"}  # underscore spelling accepted
    assert any("'modle'" in note for note in config.notes)
    assert any("0644" in note for note in config.notes)


def test_set_and_unset_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.toml"
    assert set_value(path, "default", "timeout", "60") == 60.0
    assert set_value(path, "work", "api_key", KEY) == KEY
    set_value(path, "work", "metadata", "no")
    text = path.read_text()
    assert "timeout = 60\n" in text  # whole numbers stay integers
    assert "[profiles.work]" in text
    config = load_config(path)
    assert config.default == {"timeout": 60.0}
    assert config.profiles["work"] == {"api-key": KEY, "metadata": False}
    assert unset_value(path, "work", "api-key") is True
    assert unset_value(path, "work", "api-key") is False
    assert unset_value(path, "nope", "model") is False
    assert load_config(path).profiles["work"] == {"metadata": False}


def test_writes_are_private_and_atomic(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask must not loosen anything
    try:
        path = tmp_path / "a" / "b" / "config.toml"
        set_value(path, "default", "api-key", KEY)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["config.toml"]  # no temp file left behind


def test_loose_file_is_rewritten_private(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[default]\nmodel = "m"\n')
    path.chmod(0o644)
    set_value(path, "default", "retries", "3")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path).default == {"model": "m", "retries": 3}


def test_set_refuses_to_overwrite_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[default\n")
    with pytest.raises(ConfigError):
        set_value(path, "default", "model", "m")
    assert path.read_text() == "[default\n"


def test_set_validates_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(UsageError, match="retries"):
        set_value(path, "default", "retries", "eleven")
    with pytest.raises(UsageError, match="profile name"):
        set_value(path, "bad name", "model", "m")
    assert not path.exists()


# -- a base URL belongs to a provider ----------------------------------------------------------

GATEWAY_PROXY = "https://my-gateway.example.com/v1"
DASHSCOPE_INTL = "https://dashscope-intl.aliyuncs.com/api/v1"


def test_provider_flag_over_a_stored_gateway_url_uses_the_dashscope_default() -> None:
    config = make_config(default={"base-url": GATEWAY_PROXY})
    settings = resolve({"provider": "dashscope"}, {}, config)
    assert settings.base_url == DEFAULT_BASE_URLS["dashscope"]
    assert any("base URL set aside for provider dashscope" in note for note in settings.notes)
    # without the flag, the stored URL is the gateway's and is used
    assert resolve({}, {}, config).base_url == GATEWAY_PROXY


def test_a_profile_switching_provider_does_not_inherit_the_default_sections_url() -> None:
    config = make_config(
        default={"base-url": GATEWAY_PROXY},
        profiles={
            "ds": {"provider": "dashscope"},
            "intl": {"provider": "dashscope", "base-url": DASHSCOPE_INTL},
        },
    )
    assert resolve({"profile": "ds"}, {}, config).base_url == DEFAULT_BASE_URLS["dashscope"]
    assert resolve({"profile": "intl"}, {}, config).base_url == DASHSCOPE_INTL


def test_a_base_url_given_with_the_provider_is_always_used() -> None:
    config = make_config(default={"base-url": GATEWAY_PROXY})
    flags = {"provider": "dashscope", "base-url": DASHSCOPE_INTL}
    assert resolve(flags, {}, config).base_url == DASHSCOPE_INTL
    env = {"WAN_PROVIDER": "dashscope", "WAN_BASE_URL": DASHSCOPE_INTL}
    assert resolve({}, env, config).base_url == DASHSCOPE_INTL
    # WAN_BASE_URL meant for the gateway, with --provider dashscope on top: not used
    assert (
        resolve({"provider": "dashscope"}, {"WAN_BASE_URL": GATEWAY_PROXY}, config).base_url
        == DEFAULT_BASE_URLS["dashscope"]
    )


def test_a_stored_key_is_not_sent_to_another_provider() -> None:
    config = make_config(
        default={"provider": "gateway", "api-key": "sk-gatewaygateway01"},
        profiles={"ds": {"provider": "dashscope"}},
    )
    switched = resolve({"provider": "dashscope"}, {}, config)
    assert switched.api_key is None
    assert any("is for provider gateway, not dashscope" in n for n in switched.notes)
    with pytest.raises(AuthError) as refused:
        require_api_key(switched)
    assert "is for provider gateway" in (refused.value.hint or "")
    assert resolve({"profile": "ds"}, {}, config).api_key is None
    # DASHSCOPE_API_KEY then serves, and a key given by flag or env is always used
    fallback = resolve({"provider": "dashscope"}, {"DASHSCOPE_API_KEY": KEY}, config)
    assert fallback.api_key == KEY
    assert resolve({"provider": "dashscope", "api_key": KEY}, {}, config).api_key == KEY
    assert resolve({}, {}, config).api_key == "sk-gatewaygateway01"


# -- the one rule: a base URL goes only with the provider it is given for ----------------------

LOCAL = "http://127.0.0.1:8080/v1"
DS_DEFAULT = DEFAULT_BASE_URLS["dashscope"]
GW_DEFAULT = DEFAULT_BASE_URLS["gateway"]
PAIRING_CONFIG = make_config(
    default={},
    profiles={
        "ds": {"provider": "dashscope"},
        "gw": {"provider": "gateway"},
        "intl": {"provider": "dashscope", "base-url": DASHSCOPE_INTL},
    },
)


@pytest.mark.parametrize(
    ("flags", "env", "default", "expected", "levels"),
    [
        # WAN_BASE_URL with no provider beside it: a gateway URL ...
        ({}, {"WAN_BASE_URL": LOCAL}, {}, LOCAL, []),
        ({"profile": "gw"}, {"WAN_BASE_URL": LOCAL}, {}, LOCAL, []),
        ({}, {"WAN_BASE_URL": LOCAL}, {"provider": "gateway"}, LOCAL, []),
        # ... set aside for DashScope, whichever layer chose it (flag, profile, [default], env)
        ({"provider": "dashscope"}, {"WAN_BASE_URL": LOCAL}, {}, DS_DEFAULT, ["warn"]),
        ({"profile": "ds"}, {"WAN_BASE_URL": LOCAL}, {}, DS_DEFAULT, ["warn"]),
        ({}, {"WAN_BASE_URL": LOCAL}, {"provider": "dashscope"}, DS_DEFAULT, ["warn"]),
        # ... unless its path is DashScope's (…/api/v1)
        ({"provider": "dashscope"}, {"WAN_BASE_URL": DASHSCOPE_INTL}, {}, DASHSCOPE_INTL, ["info"]),
        ({"profile": "ds"}, {"WAN_BASE_URL": DASHSCOPE_INTL}, {}, DASHSCOPE_INTL, ["info"]),
        # WAN_PROVIDER beside WAN_BASE_URL pairs them: used as is, set aside for another provider
        ({}, {"WAN_BASE_URL": LOCAL, "WAN_PROVIDER": "dashscope"}, {}, LOCAL, []),
        ({"profile": "gw"}, {"WAN_BASE_URL": LOCAL, "WAN_PROVIDER": "dashscope"}, {}, LOCAL, []),
        (
            {"provider": "dashscope"},
            {"WAN_BASE_URL": DASHSCOPE_INTL, "WAN_PROVIDER": "gateway"},
            {},
            DS_DEFAULT,
            ["warn"],
        ),
        # --base-url is for the command's provider, whichever layer chose it
        ({"base_url": LOCAL}, {}, {}, LOCAL, []),
        ({"base_url": LOCAL, "provider": "dashscope"}, {}, {}, LOCAL, []),
        ({"base_url": LOCAL, "profile": "ds"}, {}, {}, LOCAL, ["info"]),
        ({"base_url": LOCAL}, {"WAN_PROVIDER": "dashscope"}, {}, LOCAL, ["info"]),
        ({"base_url": LOCAL, "profile": "intl"}, {}, {}, LOCAL, ["info"]),
        # a stored base-url is for the provider stored with it (or under it, in [default])
        ({}, {}, {"base-url": LOCAL}, LOCAL, []),
        ({"profile": "ds"}, {}, {"base-url": LOCAL}, DS_DEFAULT, ["warn"]),
        ({}, {"WAN_PROVIDER": "dashscope"}, {"base-url": LOCAL}, DS_DEFAULT, ["warn"]),
        ({"profile": "ds"}, {}, {"base-url": DASHSCOPE_INTL}, DASHSCOPE_INTL, ["info"]),
        ({"profile": "intl"}, {}, {}, DASHSCOPE_INTL, []),
        (
            {"provider": "gateway"},
            {},
            {"provider": "dashscope", "base-url": DASHSCOPE_INTL},
            GW_DEFAULT,
            ["warn"],
        ),
        (
            {"profile": "gw"},
            {},
            {"provider": "dashscope", "base-url": DASHSCOPE_INTL},
            GW_DEFAULT,
            ["warn"],
        ),
        # one set aside, the next layer's used: the profile's own DashScope URL
        ({"profile": "intl"}, {"WAN_BASE_URL": LOCAL}, {}, DASHSCOPE_INTL, ["warn"]),
        # the mock serves on its own port: no base URL is used, nothing to warn about
        ({"provider": "mock"}, {"WAN_BASE_URL": LOCAL}, {}, DEFAULT_BASE_URLS["mock"], []),
    ],
)
def test_a_base_url_goes_only_with_the_provider_it_is_given_for(
    flags: dict[str, object],
    env: dict[str, str],
    default: dict[str, object],
    expected: str,
    levels: list[str],
) -> None:
    config = make_config(default=default, profiles=dict(PAIRING_CONFIG.profiles))
    settings = resolve(flags, env, config)
    assert settings.base_url == expected
    assert [level for level, _ in settings.notices] == levels
    for _, text in settings.notices:
        assert text in settings.notes  # `config show` and `doctor` list them too
        assert "\n" not in text


def test_a_profile_with_its_own_dashscope_url_stays_in_a_profile_of_another() -> None:
    config = make_config(
        default={"provider": "dashscope", "base-url": DASHSCOPE_INTL},
        profiles={"eu": {"base-url": "https://eu.example/api/v1"}},
    )
    # the profile names no provider: the one under it in [default] is its provider
    settings = resolve({"profile": "eu"}, {}, config)
    assert settings.base_url == "https://eu.example/api/v1"
    assert settings.notices == ()


def test_a_set_aside_url_is_named_with_where_it_came_from_and_why() -> None:
    settings = resolve({"profile": "ds"}, {"WAN_BASE_URL": LOCAL}, PAIRING_CONFIG)
    [(level, text)] = settings.notices
    assert level == "warn"
    assert text.startswith("base URL set aside for provider dashscope (from profile 'ds'): ")
    assert f"WAN_BASE_URL {LOCAL} (no provider beside it: a gateway URL)" in text
    assert "--base-url" in text


def test_a_password_in_a_set_aside_url_stays_masked() -> None:
    env = {"WAN_BASE_URL": "https://user:hunter2@gw.example/v1"}
    settings = resolve({"provider": "dashscope"}, env, PAIRING_CONFIG)
    [(_, text)] = settings.notices
    assert "hunter2" not in text
    assert "***@gw.example" in text

"""`wan config …` and `wan doctor` through the real CLI (typer's CliRunner)."""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import wan_cli.ui.output
from tests.conftest import IsolatedEnv, RunCli
from wan_cli.cli.app import app
from wan_cli.settings import KEYS

KEY = "sk-live-0123456789abcdefSECRET9876"
Invoke = Callable[..., Result]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "conf" / "config.toml"


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, config_file: Path) -> Invoke:
    """Run `wan ARGS` with the config file in tmp and no WAN_*/proxy variables from outside."""
    for name in list(os.environ):
        if name.startswith("WAN_") or name == "DASHSCOPE_API_KEY" or "PROXY" in name.upper():
            monkeypatch.delenv(name)
    monkeypatch.setenv("WAN_CONFIG", str(config_file))
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        # The output sink binds sys.stdout/stderr when first used: let it bind the runner's.
        monkeypatch.setattr(wan_cli.ui.output, "_current", None)
        return runner.invoke(app, list(args), input=input, env=env)

    return run


def everything(result: Result) -> str:
    return result.stdout + result.stderr


# -- set / get / unset ------------------------------------------------------------------------


def test_set_api_key_from_stdin_round_trips(invoke: Invoke, config_file: Path) -> None:
    result = invoke("config", "set", "api-key", input=KEY + "\n")
    assert result.exit_code == 0, everything(result)
    assert KEY not in everything(result)
    assert "sk-…9876" in result.stderr
    assert "history" not in result.stderr  # no shell-history warning: the key came from stdin

    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700

    masked = invoke("config", "get", "api-key")
    assert masked.exit_code == 0
    assert masked.stdout == "sk-…9876\n"
    revealed = invoke("config", "get", "api-key", "--reveal")
    assert revealed.stdout == KEY + "\n"


def test_set_api_key_as_argument_warns_about_history(invoke: Invoke) -> None:
    result = invoke("config", "set", "api-key", KEY)
    assert result.exit_code == 0
    assert "shell history" in result.stderr
    assert KEY not in everything(result)


def test_set_api_key_with_empty_stdin_fails(invoke: Invoke, config_file: Path) -> None:
    result = invoke("config", "set", "api-key", input="")
    assert result.exit_code == 2
    assert "no API key" in result.stderr
    assert not config_file.exists()


def test_set_other_key_needs_a_value(invoke: Invoke) -> None:
    result = invoke("config", "set", "model")
    assert result.exit_code == 2
    assert "missing VALUE" in result.stderr


def test_set_get_unset(invoke: Invoke) -> None:
    assert invoke("config", "set", "timeout", "45").exit_code == 0
    assert invoke("config", "get", "timeout").stdout == "45\n"
    assert invoke("config", "set", "metadata", "no").exit_code == 0
    assert invoke("config", "get", "metadata").stdout == "false\n"

    removed = invoke("config", "unset", "timeout")
    assert removed.exit_code == 0
    assert "removed timeout" in removed.stderr
    assert invoke("config", "get", "timeout").stdout == "300\n"
    again = invoke("config", "unset", "timeout")
    assert again.exit_code == 0
    assert "was not set" in again.stderr


@pytest.mark.parametrize("text", ["1280 x 720", "1280x720", "1280×720", " 1280 * 720 "])
def test_set_size_takes_the_flags_grammar_and_stores_it_normalised(
    invoke: Invoke, config_file: Path, text: str
) -> None:
    result = invoke("config", "set", "size", text)
    assert result.exit_code == 0, everything(result)
    assert 'size = "1280*720"' in config_file.read_text(encoding="utf-8")
    assert invoke("config", "get", "size").stdout == "1280*720\n"


@pytest.mark.parametrize("text", ["big", "1280", "1.5K", "3K", "100*100", "4000*400"])
def test_set_size_refuses_what_no_mode_accepts(
    invoke: Invoke, config_file: Path, text: str
) -> None:
    result = invoke("config", "set", "size", text)
    assert result.exit_code == 2
    assert "invalid value: size" in result.stderr
    assert not config_file.exists()


def test_set_size_preset_is_normalised(invoke: Invoke) -> None:
    assert invoke("config", "set", "size", "2k").exit_code == 0
    assert invoke("config", "get", "size").stdout == "2K\n"


def test_get_unset_value_prints_nothing(invoke: Invoke) -> None:
    result = invoke("config", "get", "size")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "size is not set" in result.stderr


def test_env_shadowing_is_reported_on_set(invoke: Invoke) -> None:
    result = invoke("config", "set", "model", "m1", env={"WAN_MODEL": "m2"})
    assert result.exit_code == 0
    assert "WAN_MODEL is set and takes precedence" in result.stderr
    assert invoke("config", "get", "model", env={"WAN_MODEL": "m2"}).stdout == "m2\n"


@pytest.mark.parametrize("command", ["set", "get", "unset"])
def test_unknown_key_exits_2_listing_keys(invoke: Invoke, command: str) -> None:
    result = invoke("config", command, "colour", *(["red"] if command == "set" else []))
    assert result.exit_code == 2
    assert "unknown setting 'colour'" in result.stderr
    assert all(key in result.stderr for key in KEYS)
    assert "Traceback" not in everything(result)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("provider", "openai", "gateway, dashscope"),
        ("timeout", "0", "positive number"),
        ("retries", "11", "0 to 10"),
        ("base-url", "ftp://x", "http(s) URL"),
        ("history", "perhaps", "true/false"),
    ],
)
def test_invalid_values_exit_2(
    invoke: Invoke, config_file: Path, key: str, value: str, problem: str
) -> None:
    result = invoke("config", "set", key, value)
    assert result.exit_code == 2
    assert problem in result.stderr
    assert not config_file.exists()


@pytest.mark.regression("`config set api-key=sk-…` echoed the whole argument, key included")
@pytest.mark.parametrize("command", ["set", "get", "unset"])
def test_key_equals_value_is_refused_without_echoing_the_value(
    command: str, run_cli: RunCli
) -> None:
    result = run_cli(["config", command, f"api-key={KEY}"])
    assert result.exit_code == 2
    assert KEY not in result.stdout + result.stderr
    assert "KEY VALUE" in result.stderr


# -- a bad stored value can be repaired with `wan config set|unset` ----------------------------


@pytest.mark.regression("a bad stored value made `config set/unset` refuse to repair it too")
@pytest.mark.parametrize(
    ("text", "args", "left"),
    [
        ('[default]\ntimeout = "abc"\nmodel = "m"\n', ["unset", "timeout"], {"model": "m"}),
        ('[default]\ntimeout = "abc"\n', ["set", "timeout", "60"], {"timeout": 60}),
        (
            '[profiles.work]\nretries = "many"\n',
            ["unset", "retries", "--profile", "work"],
            {},
        ),
    ],
)
def test_the_commands_the_error_points_to_can_repair_a_bad_value(
    text: str, args: list[str], left: dict[str, object], run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    # Every command said "timeout must be a positive number", `config set/unset` too: the
    # only way out was to edit the file by hand.
    isolated_env.config.write_text(text)
    assert run_cli(["config", "show"]).exit_code == 2
    result = run_cli(["config", *args])
    assert result.exit_code == 0, result.stderr
    assert run_cli(["config", "show"]).exit_code == 0
    document = tomllib.loads(isolated_env.config.read_text())
    table = document["profiles"]["work"] if "--profile" in args else document["default"]
    assert table == left


@pytest.mark.regression("the repair fix must not let `set` write a file left invalid")
def test_set_still_refuses_to_write_a_file_left_invalid(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    text = '[default]\ntimeout = "abc"\n'
    isolated_env.config.write_text(text)
    result = run_cli(["config", "set", "model", "m"])
    assert result.exit_code == 2
    assert "timeout must be a positive number" in result.stderr
    assert isolated_env.config.read_text() == text


# -- show -------------------------------------------------------------------------------------


def test_show_never_contains_the_key(invoke: Invoke) -> None:
    invoke("config", "set", "api-key", input=KEY + "\n")
    stored = invoke("config", "show")
    assert stored.exit_code == 0
    assert KEY not in everything(stored)
    assert "sk-…9876" in stored.stdout

    other = "sk-from-env-abcdefghijklmnop4321"
    shadowed = invoke("config", "show", env={"WAN_API_KEY": other})
    assert KEY not in everything(shadowed)
    assert other not in everything(shadowed)
    assert "(env: WAN_API_KEY)" in shadowed.stdout
    assert "WAN_API_KEY shadows the api-key stored in [default]" in shadowed.stdout

    as_json = invoke("config", "show", "--json", env={"WAN_API_KEY": other})
    assert KEY not in everything(as_json)
    assert other not in everything(as_json)


def test_show_lines_are_key_value_source(invoke: Invoke, config_file: Path) -> None:
    invoke("config", "set", "model", "m-file")
    result = invoke("config", "show")
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["model"].split()[:2] == ["model", "m-file"]
    assert f"(file: [default] ({config_file}))" in lines["model"]
    assert lines["retries"].endswith("(default: built-in default)")
    assert "(not set)" in lines["api-key"]


def test_show_json_shape(invoke: Invoke, config_file: Path) -> None:
    invoke("config", "set", "api-key", input=KEY + "\n")
    result = invoke("config", "show", "--json", env={"WAN_TIMEOUT": "12"})
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert set(document) == {"profile", "config_path", "config_exists", "settings", "notes"}
    assert document["config_path"] == str(config_file)
    assert document["config_exists"] is True
    assert document["profile"] == {
        "value": "default",
        "source": "default",
        "origin": "built-in default",
    }
    assert list(document["settings"]) == list(KEYS)
    assert document["settings"]["api-key"]["value"] == "sk-…9876"
    assert document["settings"]["api-key"]["source"] == "file"
    assert document["settings"]["timeout"] == {
        "value": 12.0,
        "source": "env",
        "origin": "WAN_TIMEOUT",
    }
    assert document["settings"]["size"]["value"] is None
    assert document["notes"] == []


def test_corrupt_file_exits_2_naming_the_path(invoke: Invoke, config_file: Path) -> None:
    config_file.parent.mkdir()
    config_file.write_text("[default\napi-key = 'x'\n")
    for args in (["config", "show"], ["config", "get", "model"], ["config", "set", "model", "m"]):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert str(config_file) in result.stderr
        assert "not valid TOML" in result.stderr
        assert "Traceback" not in everything(result)
        assert len(result.stderr.strip().splitlines()) == 1
    assert config_file.read_text() == "[default\napi-key = 'x'\n"  # left as it was


# -- profiles and path ------------------------------------------------------------------------


def test_profiles(invoke: Invoke) -> None:
    assert invoke("config", "set", "--profile", "work", "model", "m-work").exit_code == 0
    assert invoke("config", "set", "model", "m-default").exit_code == 0

    listed = invoke("config", "profiles")
    assert listed.stdout.splitlines() == ["* default", "  work"]
    via_env = invoke("config", "profiles", env={"WAN_PROFILE": "work"})
    assert via_env.stdout.splitlines() == ["  default", "* work"]
    as_json = invoke("config", "profiles", "--json", "--profile", "work")
    assert json.loads(as_json.stdout) == {"profiles": ["default", "work"], "active": "work"}

    assert invoke("config", "get", "model").stdout == "m-default\n"
    assert invoke("config", "get", "model", "-p", "work").stdout == "m-work\n"
    assert invoke("config", "get", "model", env={"WAN_PROFILE": "work"}).stdout == "m-work\n"
    shown = invoke("config", "show", "--profile", "work")
    assert re.search(r"^profile +work ", shown.stdout, re.M), shown.stdout
    assert "(flag: --profile)" in shown.stdout


def test_unknown_profile_exits_2_listing_profiles(invoke: Invoke) -> None:
    invoke("config", "set", "--profile", "work", "model", "m")
    result = invoke("config", "show", "--profile", "wrok")
    assert result.exit_code == 2
    assert "unknown profile 'wrok'" in result.stderr
    assert "default, work" in result.stderr
    listed = invoke("config", "profiles", env={"WAN_PROFILE": "wrok"})
    assert listed.exit_code == 0
    assert "does not exist" in listed.stderr


def test_loose_mode_is_noted_and_fixed_by_the_next_write(invoke: Invoke, config_file: Path) -> None:
    config_file.parent.mkdir()
    config_file.write_text('[default]\nmodel = "m"\n')
    config_file.chmod(0o644)
    assert "mode 0644" in invoke("config", "show").stdout
    assert invoke("config", "set", "retries", "1").exit_code == 0
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600


def test_path(invoke: Invoke, config_file: Path) -> None:
    result = invoke("config", "path")
    assert result.exit_code == 0
    assert result.stdout == f"{config_file}\n"


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_never_prints_the_key(invoke: Invoke, config_file: Path) -> None:
    invoke("config", "set", "api-key", input=KEY + "\n")
    env = {
        "WAN_API_KEY": KEY + "2",
        "HTTPS_PROXY": "http://alice:s3cr3t@proxy.example:3128",
        "NO_PROXY": "localhost",
    }
    text = invoke("doctor", env=env)
    assert text.exit_code == 0, everything(text)
    output = everything(text)
    assert KEY not in output
    assert "s3cr3t" not in output and "alice" not in output
    assert "HTTPS_PROXY=http://***@proxy.example:3128" in output
    assert f"config file: {config_file} (exists, mode 0600)" in output
    assert "api key source: WAN_API_KEY" in output
    assert "base url: https://api.tokenhot.ai/v1" in output
    assert "wan: 0.1.0" in output
    assert "terminal: stdout tty no" in output

    as_json = invoke("doctor", "--json", env=env)
    assert as_json.exit_code == 0
    assert KEY not in everything(as_json)
    assert "s3cr3t" not in everything(as_json)
    document = json.loads(as_json.stdout)
    assert document["settings"]["api-key"]["value"] == "sk-…8762"
    assert document["api_key_source"] == "WAN_API_KEY"
    assert document["config"]["mode"] == "0600"
    assert set(document["packages"]) >= {"typer", "rich", "httpx"}
    assert document["terminal"]["stdout_isatty"] is False
    assert "WAN_API_KEY" in document["environment"]


def test_doctor_reports_a_broken_config_instead_of_failing(
    invoke: Invoke, config_file: Path
) -> None:
    config_file.parent.mkdir()
    config_file.write_text("[default\n")
    config_file.chmod(0o644)
    result = invoke("doctor")
    assert result.exit_code == 0
    assert "not valid TOML" in result.stdout
    assert "mode 0644" in result.stdout
    assert "Traceback" not in everything(result)


def test_doctor_without_key_says_so(invoke: Invoke) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0
    assert "api key source: (not set)" in result.stdout
    assert "problem: no API key" in result.stdout


def test_key_argument_help_names_every_setting() -> None:
    from typer.testing import CliRunner

    from wan_cli.cli.app import app
    from wan_cli.settings import KEYS

    text = CliRunner().invoke(app, ["config", "set", "--help"]).stdout
    assert all(key in text for key in KEYS), text


def test_credentials_in_the_base_url_are_never_shown(run_cli: RunCli) -> None:
    url = "https://alice:s3cret-pass@gateway.example.com/v1"
    for argv in (
        ["config", "show"],
        ["config", "show", "--json"],
        ["doctor"],
        ["doctor", "--json"],
    ):
        result = run_cli(argv, env={"WAN_BASE_URL": url})
        assert result.exit_code == 0, result.stderr
        assert "s3cret-pass" not in result.stdout + result.stderr, argv
        assert "gateway.example.com" in result.stdout, argv

"""`--curl` through the real CLI: the printed command finds the key where this run found it
(WAN_API_KEY, DASHSCOPE_API_KEY, the config file), never holds the key itself, and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import WAN_BIN, IsolatedEnv, RunCli
from tests.fakeapi import FakeAPI

KEY = "sk-curl-secret-key-4321"
GATEWAY_PATH = "/v1/images/generations"
DS_PATH = "/api/v1/services/aigc/multimodal-generation/generation"


def _curl(run_cli: RunCli, args: list[str], env: dict[str, str | None] | None = None) -> str:
    result = run_cli(["generate", "a fox", "--curl", *args], env=env)
    assert result.exit_code == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    return result.stdout


def _run(command: str, isolated_env: IsolatedEnv, env: dict[str, str]) -> str:
    """Run the printed command in bash as the user would, with `wan` on PATH; the
    Authorization header the fake API saw is checked by the caller."""
    path = f"{WAN_BIN.parent}{os.pathsep}{os.environ['PATH']}"
    shell_env = {
        "PATH": path,
        "HOME": str(isolated_env.root),
        "WAN_CONFIG": str(isolated_env.config),
        "WAN_HISTORY": str(isolated_env.history),
        "NO_PROXY": "*",
        **env,
    }
    done = subprocess.run(
        ["bash", "-c", command], env=shell_env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _authorization(fake: FakeAPI, path: str) -> str:
    [request] = fake.requests_to(path)
    return request.headers["authorization"]


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@needs_curl
def test_a_key_from_wan_api_key_is_read_from_it(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    command = _curl(run_cli, ["--base-url", f"{fake_api.url}/v1"], {"WAN_API_KEY": KEY})
    assert '-H "Authorization: Bearer $WAN_API_KEY"' in command
    _run(command, isolated_env, {"WAN_API_KEY": KEY})
    assert _authorization(fake_api, GATEWAY_PATH) == f"Bearer {KEY}"


@needs_curl
def test_a_key_from_dashscope_api_key_is_read_from_it(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    args = ["--provider", "dashscope", "--base-url", f"{fake_api.url}/api/v1"]
    command = _curl(run_cli, args, {"DASHSCOPE_API_KEY": KEY})
    assert '-H "Authorization: Bearer $DASHSCOPE_API_KEY"' in command
    _run(command, isolated_env, {"DASHSCOPE_API_KEY": KEY})
    assert _authorization(fake_api, DS_PATH) == f"Bearer {KEY}"


@pytest.mark.regression("issue 17: --curl after `wan config set api-key` sent an empty key")
@needs_curl
def test_a_stored_key_is_read_from_wan_config(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    assert run_cli(["config", "set", "api-key"], input=f"{KEY}\n").exit_code == 0
    command = _curl(run_cli, ["--base-url", f"{fake_api.url}/v1"])
    assert '-H "Authorization: Bearer $(wan config get api-key --reveal)"' in command
    _run(command, isolated_env, {})  # no WAN_API_KEY where the user stands
    assert _authorization(fake_api, GATEWAY_PATH) == f"Bearer {KEY}"


@needs_curl
def test_a_key_stored_in_a_profile_names_the_profile(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    assert run_cli(["config", "set", "api-key"], input="sk-default-not-this-one\n").exit_code == 0
    stored = run_cli(["config", "set", "api-key", "--profile", "work"], input=f"{KEY}\n")
    assert stored.exit_code == 0, stored.stderr
    command = _curl(run_cli, ["--profile", "work", "--base-url", f"{fake_api.url}/v1"])
    expected = "$(wan config get api-key --reveal --profile work)"
    assert f'-H "Authorization: Bearer {expected}"' in command
    _run(command, isolated_env, {})
    assert _authorization(fake_api, GATEWAY_PATH) == f"Bearer {KEY}"


@needs_curl
def test_a_key_given_by_flag_is_left_out_with_a_note(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    result = run_cli(
        ["generate", "a fox", "--curl", "--api-key", KEY, "--base-url", f"{fake_api.url}/v1"]
    )
    assert result.exit_code == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    assert '-H "Authorization: Bearer $WAN_API_KEY"' in result.stdout
    [note] = [line for line in result.stderr.splitlines() if "not written into the command" in line]
    assert "export WAN_API_KEY" in note
    _run(result.stdout, isolated_env, {"WAN_API_KEY": KEY})
    assert _authorization(fake_api, GATEWAY_PATH) == f"Bearer {KEY}"


def test_no_key_at_all_is_said_on_stderr(fake_api: FakeAPI, run_cli: RunCli) -> None:
    result = run_cli(["generate", "a fox", "--curl", "--base-url", f"{fake_api.url}/v1"])
    assert result.exit_code == 0, result.stderr
    assert '-H "Authorization: Bearer $WAN_API_KEY"' in result.stdout
    assert "no API key is set: the command reads $WAN_API_KEY" in result.stderr
    assert "no API key" not in result.stdout  # stdout stays the command alone


def test_the_printed_command_is_valid_bash_for_every_source(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    assert (
        run_cli(["config", "set", "api-key", "--profile", "p-1"], input=f"{KEY}\n").exit_code == 0
    )
    for args, env in (
        ([], {"WAN_API_KEY": KEY}),
        (["--provider", "dashscope"], {"DASHSCOPE_API_KEY": KEY}),
        (["--profile", "p-1"], {}),
    ):
        command = _curl(run_cli, args, env)
        subprocess.run(["bash", "-n"], input=command, text=True, check=True)


def test_a_dry_run_never_shows_the_key(run_cli: RunCli) -> None:
    result = run_cli(["generate", "a fox", "--dry-run"], env={"WAN_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert "Authorization" not in document["headers"]  # the client adds it when sending
    assert KEY not in result.stdout + result.stderr


def test_config_get_reveal_prints_the_bare_key(run_cli: RunCli) -> None:
    assert run_cli(["config", "set", "api-key"], input=f"{KEY}\n").exit_code == 0
    result = run_cli(["config", "get", "api-key", "--reveal"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{KEY}\n"

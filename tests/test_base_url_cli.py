"""The base URL through the real CLI: a 404/405 names the URL tried and a base URL's shape, the
status line shows the full URL, and a base URL set aside (or paired across layers) is said
without -v."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import IsolatedEnv, RunCli
from tests.fakeapi import FakeAPI, Reply, sse_chunk

KEY = "sk-test-secret-key-9876"
NOT_FOUND_PAGE = (
    b"<!doctype html><html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1></body></html>"
)


def _stream(fake: FakeAPI) -> Reply:
    return Reply.sse([sse_chunk(text="A fox."), sse_chunk(image=fake.image_url(), finish="stop")])


@pytest.mark.regression("issue 17: a base URL without /v1 gave a bare 404 with no word on it")
def test_a_404_html_page_names_the_url_and_what_a_base_url_looks_like(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # A web server at the root: no /v1, so the request goes to /images/generations.
    fake_api.add(
        "/images/generations", Reply.status(404, NOT_FOUND_PAGE, {"Content-Type": "text/html"})
    )
    result = run_cli(
        ["generate", "a fox", "-o", str(tmp_path)],
        env={"WAN_API_KEY": KEY, "WAN_BASE_URL": fake_api.url},
    )
    assert result.exit_code == 4, result.stderr
    tried = f"{fake_api.url}/images/generations"
    assert "HTTP 404 Not Found: an HTML page, not the API's answer" in result.stderr
    assert f"(POST {tried})" in result.stderr
    assert (
        f"the base URL {fake_api.url} does not end with /v1 (try {fake_api.url}/v1)"
        in result.stderr
    )
    assert "https://api.tokenhot.ai/v1" in result.stderr
    assert "/api/v1" in result.stderr  # DashScope's shape too
    assert KEY not in result.stderr + result.stdout
    assert len(fake_api.requests_to("/images/generations")) == 1  # a 404 is never retried


def test_a_405_on_a_dashscope_base_url_without_api_names_its_suffix(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    path = "/v1/services/aigc/multimodal-generation/generation"
    fake_api.add(path, Reply.status(405, b"Method Not Allowed"))
    result = run_cli(
        [
            *("generate", "a fox", "-o", str(tmp_path), "--provider", "dashscope"),
            *("--base-url", f"{fake_api.url}/v1"),
        ],
        env={"DASHSCOPE_API_KEY": KEY},
    )
    assert result.exit_code == 4, result.stderr
    assert f"(POST {fake_api.url}{path})" in result.stderr
    wrong, right = f"{fake_api.url}/v1", f"{fake_api.url}/api/v1"
    assert f"the base URL {wrong} does not end with /api/v1 (try {right})" in result.stderr


def test_a_404_with_a_right_looking_base_url_still_says_what_to_check(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # /v1 is there, but nothing answers under it (a wrong host or prefix): unscripted → 404
    fake_api.add(
        "/v1/images/generations", Reply.status(404, NOT_FOUND_PAGE, {"Content-Type": "text/html"})
    )
    result = run_cli(
        ["generate", "a fox", "-o", str(tmp_path), "--base-url", f"{fake_api.url}/v1"],
        env={"WAN_API_KEY": KEY},
    )
    assert result.exit_code == 4, result.stderr
    assert f"(POST {fake_api.url}/v1/images/generations)" in result.stderr
    assert "no API answers at this URL: check the base URL" in result.stderr


def test_the_status_line_shows_the_full_url(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add("/v1/images/generations", _stream(fake_api))
    result = run_cli(
        ["generate", "a fox", "-o", str(tmp_path), "--base-url", f"{fake_api.url}/v1"],
        env={"WAN_API_KEY": KEY},
    )
    assert result.exit_code == 0, result.stderr
    assert f"sending to {fake_api.url}/v1/images/generations: wan2.6-image" in result.stderr


def test_the_status_line_masks_a_password_in_the_url(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add("/v1/images/generations", _stream(fake_api))
    base = f"http://user:hunter2@127.0.0.1:{fake_api.port}/v1"
    result = run_cli(
        ["generate", "a fox", "-o", str(tmp_path)], env={"WAN_API_KEY": KEY, "WAN_BASE_URL": base}
    )
    assert result.exit_code == 0, result.stderr
    masked = f"http://***@127.0.0.1:{fake_api.port}/v1/images/generations"
    assert f"sending to {masked}: wan2.6-image" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_the_mock_keeps_its_own_status_line(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(
        ["generate", "a fox", "-o", str(tmp_path), "--provider", "mock"],
        env={"WAN_MOCK_DELAY": "0", "WAN_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert result.exit_code == 0, result.stderr
    assert "sending to the offline mock (nothing is billed): wan2.6-image" in result.stderr
    assert "127.0.0.1:9" not in result.stderr  # no base URL is used, none warned about


# -- one rule for a base URL from another layer than the provider ---------------------------


def _profile(run_cli: RunCli, name: str, *pairs: tuple[str, str]) -> None:
    for key, value in pairs:
        result = run_cli(["config", "set", key, value, "--profile", name])
        assert result.exit_code == 0, result.stderr


def _dry_run_url(run_cli: RunCli, args: list[str], env: dict[str, str]) -> tuple[str, str]:
    import json

    result = run_cli(["generate", "a fox", "--dry-run", *args], env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["url"], result.stderr


DS_PATH = "/services/aigc/multimodal-generation/generation"
DS_DEFAULT = "https://dashscope.aliyuncs.com/api/v1"
INTL = "https://dashscope-intl.aliyuncs.com/api/v1"


@pytest.mark.regression("issue 17: --provider ignored WAN_BASE_URL, a dashscope profile used it")
@pytest.mark.parametrize("chooser", [["--provider", "dashscope"], ["--profile", "ds"]])
def test_an_exported_gateway_url_is_set_aside_for_dashscope_however_chosen(
    run_cli: RunCli, chooser: list[str]
) -> None:
    _profile(run_cli, "ds", ("provider", "dashscope"))
    url, stderr = _dry_run_url(run_cli, chooser, {"WAN_BASE_URL": "http://127.0.0.1:9/v1"})
    assert url == DS_DEFAULT + DS_PATH
    [line] = [line for line in stderr.splitlines() if "base URL" in line]
    assert "warning: base URL set aside for provider dashscope" in line
    assert "WAN_BASE_URL http://127.0.0.1:9/v1 (no provider beside it: a gateway URL)" in line


@pytest.mark.parametrize("chooser", [["--provider", "dashscope"], ["--profile", "ds"]])
def test_an_exported_dashscope_shaped_url_is_used_and_said(
    run_cli: RunCli, chooser: list[str]
) -> None:
    _profile(run_cli, "ds", ("provider", "dashscope"))
    url, stderr = _dry_run_url(run_cli, chooser, {"WAN_BASE_URL": INTL})
    assert url == INTL + DS_PATH
    assert f"base URL {INTL} from WAN_BASE_URL used with provider dashscope" in stderr
    assert "it ends with /api/v1" in stderr


def test_wan_provider_beside_wan_base_url_pairs_them_silently(run_cli: RunCli) -> None:
    env = {"WAN_BASE_URL": "http://127.0.0.1:9/proxy", "WAN_PROVIDER": "dashscope"}
    url, stderr = _dry_run_url(run_cli, [], env)
    assert url == "http://127.0.0.1:9/proxy" + DS_PATH
    assert "base URL" not in stderr


def test_base_url_flag_is_used_with_a_profiles_provider_and_said(run_cli: RunCli) -> None:
    _profile(run_cli, "ds", ("provider", "dashscope"))
    url, stderr = _dry_run_url(
        run_cli, ["--profile", "ds", "--base-url", "http://127.0.0.1:9/proxy"], {}
    )
    assert url == "http://127.0.0.1:9/proxy" + DS_PATH
    assert "--base-url http://127.0.0.1:9/proxy used with provider dashscope" in stderr
    # with the provider on the command line too: one pair, nothing to say
    url, stderr = _dry_run_url(
        run_cli, ["--provider", "dashscope", "--base-url", "http://127.0.0.1:9/proxy"], {}
    )
    assert "base URL" not in stderr


def test_a_profiles_own_url_is_used_and_an_unpaired_default_url_set_aside(
    run_cli: RunCli,
) -> None:
    assert run_cli(["config", "set", "base-url", "http://127.0.0.1:9/v1"]).exit_code == 0
    _profile(run_cli, "intl", ("provider", "dashscope"), ("base-url", INTL))
    _profile(run_cli, "ds", ("provider", "dashscope"))
    url, stderr = _dry_run_url(run_cli, ["--profile", "intl"], {})
    assert url == INTL + DS_PATH
    assert "base URL" not in stderr
    url, stderr = _dry_run_url(run_cli, ["--profile", "ds"], {})
    assert url == DS_DEFAULT + DS_PATH
    assert "[default] http://127.0.0.1:9/v1 (no provider beside it" in stderr
    url, stderr = _dry_run_url(run_cli, [], {})  # the gateway: the stored URL is its own
    assert url == "http://127.0.0.1:9/v1/images/generations"
    assert "base URL" not in stderr


def test_a_profiles_dashscope_key_never_goes_to_an_exported_gateway_url(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    _profile(run_cli, "ds", ("provider", "dashscope"))
    stored = run_cli(["config", "set", "api-key", "--profile", "ds"], input=f"{KEY}\n")
    assert stored.exit_code == 0, stored.stderr
    fake_api.add("/v1/images/generations", _stream(fake_api))
    result = run_cli(
        ["generate", "a fox", "-o", str(tmp_path), "--profile", "ds", "--retries", "0"],
        env={"WAN_BASE_URL": f"{fake_api.url}/v1"},
    )
    # sent to DashScope's own URL instead (unreachable from the tests: the proxy guard)
    assert result.exit_code == 6, result.stderr
    assert "base URL set aside for provider dashscope (from profile 'ds')" in result.stderr
    assert f"sending to {DS_DEFAULT}{DS_PATH}" in result.stderr
    assert fake_api.requests == []


def test_config_show_lists_the_set_aside_url(run_cli: RunCli) -> None:
    _profile(run_cli, "ds", ("provider", "dashscope"))
    result = run_cli(
        ["config", "show", "--profile", "ds"], env={"WAN_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    assert result.exit_code == 0, result.stderr
    assert "note: base URL set aside for provider dashscope" in result.stdout

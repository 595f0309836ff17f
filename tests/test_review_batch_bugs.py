"""Regression tests for bugs found in review of `wan batch`, settings, config and errors."""

from __future__ import annotations

import pytest

from tests.conftest import RunCli
from wan_cli.batch.plan import parse_shard
from wan_cli.errors import UsageError
from wan_cli.settings import parse_value

KEY = "sk-review-secret-0123456789"


@pytest.mark.parametrize("text", ["²/3", "1/³", "1/²"])
def test_a_shard_of_non_decimal_digits_is_a_usage_error_not_a_crash(text: str) -> None:
    # "²".isdigit() is True but int("²") raises ValueError: this was exit 1, a traceback.
    with pytest.raises(UsageError, match="invalid --shard"):
        parse_shard(text)


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc/v1", "https://127.0.0.1:99999/v1"])
def test_a_base_url_with_a_bad_port_is_refused_before_sending(url: str, run_cli: RunCli) -> None:
    # It used to pass validation and fail in httpx: exit 1, "internal error: InvalidURL".
    with pytest.raises(ValueError, match=r"(?i)port"):
        parse_value("base-url", url)
    result = run_cli(["generate", "a fox", "--base-url", url], env={"WAN_API_KEY": KEY})
    assert result.exit_code == 2, result.stderr
    assert "--base-url" in result.stderr and "internal error" not in result.stderr
    stored = run_cli(["config", "set", "base-url", url])
    assert stored.exit_code == 2, stored.stderr

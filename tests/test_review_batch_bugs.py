"""Regression tests for bugs found in review of `wan batch`, settings, config and errors."""

from __future__ import annotations

import pytest

from wan_cli.batch.plan import parse_shard
from wan_cli.errors import UsageError


@pytest.mark.parametrize("text", ["²/3", "1/³", "1/²"])
def test_a_shard_of_non_decimal_digits_is_a_usage_error_not_a_crash(text: str) -> None:
    # "²".isdigit() is True but int("²") raises ValueError: this was exit 1, a traceback.
    with pytest.raises(UsageError, match="invalid --shard"):
        parse_shard(text)

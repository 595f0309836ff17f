"""Retry timing rules (pure): backoff and Retry-After."""

from __future__ import annotations

import email.utils

from wan_cli.api.client import RetryPolicy, backoff_delay, parse_retry_after


def test_backoff_doubles_from_half_a_second_and_caps_at_eight() -> None:
    policy = RetryPolicy()
    ceilings = [backoff_delay(attempt, policy, jitter=1.0) for attempt in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    # jitter keeps at least half the ceiling, so retries are never instant
    assert backoff_delay(3, policy, jitter=0.0) == 1.0


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 7 ") == 7.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == 30.0
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None

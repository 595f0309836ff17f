"""The one table where a failure class meets an exit code."""

from __future__ import annotations

import pytest

from wan_cli.errors import ExitCode, error_from_api, is_retryable


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "InvalidApiKey", ExitCode.AUTH),
        (403, "AccessDenied", ExitCode.AUTH),
        (403, "AllocationQuota.FreeTierOnly", ExitCode.AUTH),
        (400, "InvalidParameter", ExitCode.REJECTED),
        (400, "DataInspectionFailed", ExitCode.REJECTED),
        (400, "IPInfringementSuspect", ExitCode.REJECTED),
        (404, "ModelNotFound", ExitCode.REJECTED),
        (413, "BadRequest.TooLarge", ExitCode.REJECTED),
        (415, "BadRequest.InputDownloadFailed", ExitCode.REJECTED),
        (422, None, ExitCode.REJECTED),
        (400, "Arrearage", ExitCode.RATE_LIMITED),
        (429, "Throttling", ExitCode.RATE_LIMITED),
        (429, "Throttling.AllocationQuota", ExitCode.RATE_LIMITED),
        (408, "RequestTimeOut", ExitCode.UNAVAILABLE),
        (500, "InternalError", ExitCode.UNAVAILABLE),
        (503, "ModelUnavailable", ExitCode.UNAVAILABLE),
        (None, "DataInspectionFailed", ExitCode.REJECTED),  # an error event mid-stream
        (None, "InternalError.Algo", ExitCode.UNAVAILABLE),
        (None, "Throttling.RateQuota", ExitCode.RATE_LIMITED),
        (None, "RequestTimeOut", ExitCode.UNAVAILABLE),  # a failed task: the service timed out
        (200, "UnexpectedAnswer", ExitCode.UNAVAILABLE),
    ],
)
def test_error_class_per_status_and_code(
    status: int | None, code: str | None, expected: int
) -> None:
    error = error_from_api(status, code, "message", "req-9")
    assert error.exit_code == expected
    assert error.request_id == "req-9"
    if code:
        assert code in error.message


@pytest.mark.parametrize(
    ("status", "code", "retry"),
    [
        (429, "Throttling", True),
        (429, "Throttling.RateQuota", True),
        (429, "Throttling.AllocationQuota", False),
        (429, "PrepaidBillOverdue", False),
        (500, None, True),
        (502, None, True),
        (503, "ModelUnavailable", True),
        (504, None, True),
        (408, None, True),
        (400, "InvalidParameter", False),
        (401, None, False),
    ],
)
def test_which_answers_are_retried(status: int, code: str | None, retry: bool) -> None:
    assert is_retryable(status, code) is retry

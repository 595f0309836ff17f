"""The project's error types: the one place where a failure class meets an exit code.

Every failure `wan` expects is a `WanError` subclass; the entry point turns it into a one-line
message on stderr and its `exit_code`. Anything else is a bug (exit 1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit-code contract for scripts (documented in docs/output.md and `wan --help`)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    REJECTED = 4
    RATE_LIMITED = 5
    UNAVAILABLE = 6
    SAVE_FAILED = 7
    INTERRUPTED = 130


class WanError(Exception):
    """An expected failure with a message for people and an exit code for scripts."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.request_id = request_id
        self.status = status

    def describe(self) -> str:
        """The one-line message people see: the message and, when known, the request id."""
        return with_request_id(self.message, self.request_id)


def with_request_id(message: str, request_id: str | None) -> str:
    """The request-id phrase every message uses, so support can grep for one form."""
    return f"{message} (request_id {request_id})" if request_id else message


def error_document(error: WanError) -> dict[str, object]:
    """The `error` object of every `--json` document (generate, edit, task, batch)."""
    return {
        "message": error.message,
        "code": error.code,
        "status": error.status,
        "class": type(error).__name__,
        "request_id": error.request_id,
    }


class UsageError(WanError):
    """Bad flag or input; nothing was sent."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The config file is unreadable, corrupt, or a key/value is invalid."""


class AuthError(WanError):
    """No key, or the service refused it (401/403)."""

    exit_code = ExitCode.AUTH


class ApiRejected(WanError):
    """The service rejected the request (400, invalid parameter, moderation)."""

    exit_code = ExitCode.REJECTED


class RateLimited(WanError):
    """429 after retries, or out of quota / billing."""

    exit_code = ExitCode.RATE_LIMITED


class ServiceUnavailable(WanError):
    """5xx, timeout, connection error, cut stream or unreadable answer after retries."""

    exit_code = ExitCode.UNAVAILABLE


class SaveFailed(WanError):
    """The generation succeeded but one or more images could not be saved."""

    exit_code = ExitCode.SAVE_FAILED


class Interrupted(WanError):
    """Ctrl-C."""

    exit_code = ExitCode.INTERRUPTED


# Service error codes whose class is not obvious from the HTTP status alone.
MODERATION_CODES = frozenset({"DataInspectionFailed", "IPInfringementSuspect"})
# 429 codes that mean quota or billing: retrying cannot help.
QUOTA_CODES = frozenset(
    {
        "Throttling.AllocationQuota",
        "PrepaidBillOverdue",
        "PostpaidBillOverdue",
        "CommodityNotPurchased",
        "Arrearage",
    }
)
AUTH_CODES = frozenset(
    {"InvalidApiKey", "AccessDenied", "Model.AccessDenied", "AllocationQuota.FreeTierOnly"}
)
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def is_retryable(status: int, code: str | None) -> bool:
    """Whether an HTTP error answer is worth sending again (nothing was generated or billed)."""
    if status not in RETRYABLE_STATUSES:
        return False
    return not (status == 429 and code in QUOTA_CODES)


def error_from_api(
    status: int | None,
    code: str | None,
    message: str | None,
    request_id: str | None = None,
) -> WanError:
    """Map a service error (HTTP status and/or the body's code) to the matching error class."""
    text = message or (f"HTTP {status}" if status else "the service reported an error")
    label = f"{code}: {text}" if code else text
    kind, hint = _classify(status, code or "")
    return kind(label, hint=hint, code=code, request_id=request_id, status=status)


def _classify(status: int | None, code: str) -> tuple[type[WanError], str | None]:
    if code in AUTH_CODES or status in (401, 403):
        return AuthError, "check the API key: `wan config set api-key` or WAN_API_KEY"
    if code in MODERATION_CODES:
        return ApiRejected, "the prompt or an image was refused by content moderation"
    if code in QUOTA_CODES:
        return RateLimited, "quota or billing: check your account"
    if status == 429 or code.startswith("Throttling"):
        return RateLimited, "rate limited: wait and try again"
    if status is not None and (status >= 500 or status == 408):
        return ServiceUnavailable, "the service is unavailable: try again later"
    if status is not None and 400 <= status < 500:
        return ApiRejected, None
    # By code alone (a failed task, an error event mid-stream): the retryable 408/5xx codes.
    if code.startswith("InternalError") or code in (
        "SystemError",
        "ModelUnavailable",
        "RequestTimeOut",
    ):
        return ServiceUnavailable, "the service is unavailable: try again later"
    if code == "UnexpectedAnswer":  # a 2xx body we cannot read: the service misbehaved
        return ServiceUnavailable, "the answer had no images or text we could read"
    return ApiRejected, None

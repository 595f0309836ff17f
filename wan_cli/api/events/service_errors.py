"""Errors the service reports, as `ApiError`: HTTP error bodies (JSON, SSE, HTML, plain text)
and error JSON where an answer was expected, with any echoed API key masked."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from wan_cli.api.events.types import ApiError
from wan_cli.api.jsontext import TooDeep, loads
from wan_cli.api.sse import iter_sse

if TYPE_CHECKING:
    import re

# Keys that mark a body as an answer (not an error) whatever else it holds.
_CONTENT_KEYS = ("output", "data", "choices")


def error_event(status: int, body: bytes, content_type: str | None) -> ApiError:
    """The ApiError for an HTTP error answer, whatever its body.

    JSON `{"code", "message"|"msg", "request_id"}` or OpenAI's `{"error": {...}}`; an SSE body
    whose first data line holds that JSON; an HTML page from a proxy (its title is kept); plain
    text; or nothing at all. The message never repeats an API key the body might echo.
    """
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.strip()
    kind = (content_type or "").lower()
    if not stripped:
        return ApiError(None, f"{_status_line(status)} with an empty body", None, status)
    if "event-stream" in kind or stripped.startswith(("data:", "event:", "id:", ":")):
        for message in iter_sse([body]):
            if message.data:
                stripped = message.data.strip()
                break
    if stripped.startswith(("{", "[")):
        try:
            document = loads(stripped)
        except TooDeep as too_deep:
            return ApiError(None, f"{_status_line(status)}: the body is {too_deep}", None, status)
        except ValueError:
            document = None
        if isinstance(document, dict):
            error = _error_in(document, status, force=True)
            if error is not None:
                return error
            return ApiError(None, f"{_status_line(status)} ({_keys(document)})", None, status)
    if "html" in kind or stripped.startswith("<"):
        title = _html_title(stripped)
        detail = f": {title}" if title else ""
        return ApiError(
            None,
            f"{_status_line(status)}: an HTML page, not the API's answer{detail}",
            None,
            status,
        )
    return ApiError(
        None, f"{_status_line(status)}: {_excerpt(stripped, quote=False)}", None, status
    )


def _error_in(
    document: dict[str, Any], status: int | None, *, force: bool = False
) -> ApiError | None:
    """The error a JSON body reports, or None if it is an answer.

    An error is OpenAI's `{"error": ...}`, or `code` / `message` / `msg` in a body with no
    answer keys. With an HTTP error status (or `force`), any body is an error.
    """
    request_id = _text(document.get("request_id"))
    failing = force or (status is not None and status >= 400)
    nested = document.get("error")
    if isinstance(nested, dict):
        return ApiError(
            _text(nested.get("code")) or _text(nested.get("type")),
            _redact_or_none(_text(nested.get("message")) or _text(nested.get("msg"))),
            request_id or _text(nested.get("request_id")),
            status,
        )
    has_answer = any(key in document for key in _CONTENT_KEYS)
    if has_answer and not failing:
        return None
    code = _text(document.get("code"))
    message = _text(document.get("message")) or _text(document.get("msg"))
    if isinstance(nested, str) and nested:
        message = message or nested
    if code or message:
        return ApiError(code, _redact_or_none(message), request_id, status)
    if failing and status is not None and status >= 400:
        return ApiError(None, f"{_status_line(status)} ({_keys(document)})", request_id, status)
    return None


def _keys(document: dict[str, Any]) -> str:
    return "JSON keys: " + (", ".join(sorted(map(str, document))) or "none")


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _html_title(page: str) -> str | None:
    import html
    import re

    match = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    if match is None:
        return None
    title = " ".join(html.unescape(match.group(1)).split())
    return _redact(title[:200]) or None


@cache
def _secret_pattern() -> re.Pattern[str]:
    import re

    return re.compile(r"(?i)(bearer\s+|\bsk-)[A-Za-z0-9._\-]{4,}")


def _redact(text: str) -> str:
    """Mask anything shaped like an API key (`sk-…`, `Bearer …`) a service echoed back."""
    if "sk-" not in text and "earer" not in text.lower():
        return text
    return _secret_pattern().sub(lambda match: match.group(1) + "***", text)


def _redact_or_none(text: str | None) -> str | None:
    return _redact(text) if text else None


def _excerpt(text: str, *, quote: bool = True, limit: int = 120) -> str:
    """A short one-line piece of untrusted text, for messages."""
    short = " ".join(text.split())
    if len(short) > limit:
        short = short[: limit - 1] + "…"
    return repr(short) if quote else short


def _text(value: object) -> str | None:
    """A non-empty string field (numbers, as some services send codes, become strings)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None

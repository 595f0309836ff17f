"""Sending a prepared request: the httpx client, timeouts, retries, opening the answer.

This module decides *whether to send again*; it never interprets a successful body (that is
`events`). Retries happen only before any of the answer was consumed: once the caller starts
reading a stream, a failure is reported, never silently re-sent (a generation costs money).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wan_cli import __version__
from wan_cli.errors import (
    ApiRejected,
    RateLimited,
    ServiceUnavailable,
    UsageError,
    WanError,
    error_from_api,
    is_retryable,
)

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.intake import ServiceAnswer
    from wan_cli.api.request import PreparedRequest

USER_AGENT = f"wan/{__version__}"
CONNECT_TIMEOUT = 10.0
# A Retry-After longer than this fails fast instead of keeping a script waiting.
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0


# Called before sleeping: (attempt number starting at 1, seconds to wait, why).
RetryHook = Callable[[int, float, str], None]


def backoff_delay(attempt: int, policy: RetryPolicy, jitter: float | None = None) -> float:
    """Exponential backoff with full jitter: 0.5 s doubling, capped at 8 s."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** (attempt - 1)))
    fraction = random.random() if jitter is None else jitter
    return float(ceiling * (0.5 + fraction / 2))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only for a date (~3 ms of imports; servers nearly always send seconds)

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def check_api_key(api_key: str) -> str:
    """The key, if it can be sent in a header; else UsageError (exit 2) saying why, without
    showing it. Checked before anything is recorded or sent."""
    for position, char in enumerate(api_key, start=1):
        if not char.isascii():
            why = f"a non-ASCII character (position {position})"
        elif not char.isprintable():
            why = f"a control character (position {position})"
        else:
            continue
        raise UsageError(
            f"the API key contains {why}, so it cannot be sent in an HTTP header",
            hint="copy the key again from the provider's console: `wan config set api-key`",
        )
    return api_key


# Every request opens its own connection. A run's deadline ends its reads by shutting down the
# sockets its requests connected (`api.abort`); a kept-alive connection reused by a retry, or
# by a batch's next line, was connected by another request, and its socket was known only once
# headers came back, so a server silent before its headers outlived the deadline (until
# --timeout). A connection costs a handshake, next to a generation that takes seconds.
NO_KEEPALIVE = 0


def make_api_client(timeout: float) -> httpx.Client:
    """One client per run: proxies from the environment, our User-Agent, no redirects, and
    only the encodings `intake` decodes itself (with a bound on the decompressed size).

    Redirects are not followed so the Authorization header can never be carried to another host.
    TLS certificates are loaded on the first https connection (`tls`), shared by every client.
    Connections are not kept alive (`NO_KEEPALIVE`).
    """
    import httpx

    from wan_cli.api.intake import ACCEPT_ENCODING
    from wan_cli.api.tls import tls_context

    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        follow_redirects=False,
        trust_env=True,
        verify=tls_context(trust_env=True),
        limits=httpx.Limits(max_keepalive_connections=NO_KEEPALIVE),
    )


def _error_from_response(answer: ServiceAnswer) -> WanError:
    from wan_cli.api.events import error_event
    from wan_cli.api.intake import ERROR_LIMIT

    body = answer.read(ERROR_LIMIT, what="an error body", cut=True)
    event = error_event(answer.status_code, body, answer.content_type)
    return error_from_api(
        event.status or answer.status_code,
        event.code,
        event.message,
        event.request_id or answer.headers.get("x-request-id"),
    )


@contextmanager
def open_answer(
    client: httpx.Client,
    prepared: PreparedRequest,
    api_key: str,
    policy: RetryPolicy,
    on_retry: RetryHook | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] | None = None,
) -> Iterator[ServiceAnswer]:
    """Send `prepared` and yield the successful (2xx) answer, open for streaming.

    Retries connection errors, timeouts before the answer, and retryable statuses; raises the
    matching `WanError` when the service says no or the attempts run out. `log` receives
    request/response metadata for `--verbose`, with the key masked. Every answer, and every
    error's text, comes through `intake`: bounded, and with the key redacted.
    """
    import httpx

    from wan_cli.api.intake import Redactor, ServiceAnswer

    redactor = Redactor(api_key)
    headers = {**prepared.headers, "Authorization": f"Bearer {api_key}"}
    # The body is streamed (reference images encoded from their files as they go), never built
    # whole; its length is known up front, so it is sent as-is, not chunked.
    size = prepared.content_length()
    if size:
        headers["Content-Length"] = str(size)
    if log is not None:
        log(describe_request(prepared.method, prepared.url, headers, size, api_key))
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        failure: WanError
        request = client.build_request(
            prepared.method,
            prepared.url,
            headers=headers,
            content=prepared.body_chunks() if size else None,  # produced again for each attempt
        )
        try:
            answer = ServiceAnswer(client.send(request, stream=True), redactor)
        except httpx.TimeoutException:
            failure = ServiceUnavailable(
                f"no answer from {request.url.host} in time",
                hint="the service may be busy: try again, or raise --timeout",
            )
        except httpx.TransportError as error:
            failure = ServiceUnavailable(
                f"cannot reach {request.url.host}: {redactor.text(_transport_reason(error))}",
                hint="check the network, proxy settings and --base-url",
            )
        else:
            if log is not None:
                log(describe_response(answer))
            if answer.is_success:
                try:
                    yield answer
                finally:
                    answer.close()
                return
            if answer.is_redirect:
                answer.close()
                where = answer.headers.get("location", "elsewhere")
                raise ApiRejected(
                    f"the API answered HTTP {answer.status_code}, a redirect to {where}: "
                    "not followed, so the API key stays with the configured host",
                    hint="check --base-url / WAN_BASE_URL (https? the /v1 suffix?)",
                    status=answer.status_code,
                )
            try:
                failure = _error_from_response(answer)
            except httpx.HTTPError:
                failure = ServiceUnavailable(
                    f"HTTP {answer.status_code} and the connection broke while reading the error"
                )
            except WanError as unreadable:  # an encoding we cannot decode: the status says it
                failure = error_from_api(answer.status_code, None, unreadable.message)
            finally:
                answer.close()
            if answer.status_code in (404, 405):  # a wrong base URL, most likely: say so
                from wan_cli.api.not_found import explain_not_found

                failure = explain_not_found(failure, prepared)
            if not is_retryable(answer.status_code, failure.code):
                raise failure
            wait = parse_retry_after(answer.headers.get("retry-after"))
            if wait is not None and wait > MAX_RETRY_AFTER:
                failure.hint = f"the service asks to wait {wait:.0f} s before trying again"
                raise failure
        if attempt > policy.retries:
            if isinstance(failure, RateLimited | ServiceUnavailable) and policy.retries:
                failure.message += f" (after {attempt} attempts)"
            raise failure
        delay = wait if wait is not None else backoff_delay(attempt, policy)
        if on_retry is not None:
            on_retry(attempt, delay, failure.message)
        sleep(delay)


def describe_request(
    method: str, url: str, headers: dict[str, str], size: int, api_key: str
) -> str:
    """One line per header, the key and any password in the URL masked: for `--verbose`."""
    from wan_cli.api.request import url_without_password
    from wan_cli.settings import mask_key

    lines = [f"{method} {url_without_password(url)} ({size} bytes)"]
    for name, value in headers.items():
        shown = value.replace(api_key, mask_key(api_key)) if api_key else value
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines)


def describe_response(answer: ServiceAnswer) -> str:
    interesting = (
        "content-type",
        "content-length",
        "content-encoding",
        "x-request-id",
        "x-dashscope-request-id",
    )
    lines = [f"HTTP {answer.status_code} {answer.reason}".rstrip()]
    for name in interesting:
        if name in answer.headers:
            lines.append(f"  {name}: {answer.headers[name]}")
    return "\n".join(lines)


def _transport_reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0]

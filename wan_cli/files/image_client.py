"""The HTTP client for image hosts: no credentials of any kind (a request hook strips any
Authorization header and refuses non-http(s) redirect targets), our User-Agent, and reads that
another thread can abort (`abortable`, from `api.abort`: Ctrl-C reaches only the main thread)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_cli.api.abort import abortable as abortable
from wan_cli.api.client import CONNECT_TIMEOUT, NO_KEEPALIVE, USER_AGENT

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5


class RefusedURL(Exception):
    """A link or redirect target that is not http(s): never fetched."""


def make_download_client(timeout: float, proxy_env_ok: bool = True) -> httpx.Client:
    """An httpx client for image hosts: no credentials of any kind, our User-Agent, redirects
    followed (at most 5) only to http(s). `timeout` bounds each read; connecting takes ≤ 10 s.

    `proxy_env_ok=False` ignores HTTP(S)_PROXY and friends (httpx's `trust_env`).
    """
    import httpx

    from wan_cli.api.tls import tls_context

    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "image/*,*/*;q=0.8",
            # Compressed transfer would make Content-Length differ from the bytes we count.
            "Accept-Encoding": "identity",
        },
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        trust_env=proxy_env_ok,
        verify=tls_context(trust_env=proxy_env_ok),
        # Each download on its own connection, so a run's deadline can end it (`NO_KEEPALIVE`).
        limits=httpx.Limits(max_keepalive_connections=NO_KEEPALIVE),
        event_hooks={"request": [_guard_request]},
    )


def _guard_request(request: httpx.Request) -> None:
    """Runs before every request, redirects included: http(s) only, never an Authorization."""
    if request.url.scheme not in ("http", "https"):
        raise RefusedURL(f"refused a redirect to a {request.url.scheme}: link")
    request.headers.pop("Authorization", None)


def url_problem(url: str) -> str | None:
    """Why `url` must not be fetched, or None when it is an http(s) link with a host."""
    scheme, sep, rest = url.partition(":")
    scheme = scheme.strip().lower()
    if not sep or scheme not in ("http", "https"):
        label = f"{scheme}:" if sep and scheme.isascii() and scheme.isalnum() else "this"
        return f"refused to download a {label} link: only http(s) links are fetched"
    if not rest.startswith("//") or not rest[2:].split("/", 1)[0]:
        return "refused to download a link without a host"
    return None

"""The HTTP client for image hosts: no credentials of any kind (a request hook strips any
Authorization header and refuses non-http(s) redirect targets), our User-Agent, and reads that
another thread can abort (Ctrl-C reaches only the main thread)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from wan_cli.api.client import CONNECT_TIMEOUT, USER_AGENT

if TYPE_CHECKING:
    import socket

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
        event_hooks={"request": [_guard_request]},
    )


def abortable(client: httpx.Client) -> Callable[[], None]:
    """Make the reads of `client` abortable from another thread; returns the abort.

    Ctrl-C reaches only the main thread, and a download thread blocked on a silent image host
    would otherwise wait out the read timeout (minutes). The abort shuts down the socket of
    every connection the client opened (the blocked read then fails at once), and of any it
    opens afterwards.
    """
    import weakref

    lock = threading.Lock()
    sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
    aborted = False

    def track(name: str, info: Mapping[str, Any]) -> None:
        # TCP, then TLS (wrapping a socket for TLS detaches the plain one); direct or through
        # a proxy ("connection.…", "proxy.…", "socks.…").
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with lock:
                    sockets.add(sock)
                    if not aborted:
                        return
                _shutdown(sock)

    def add_trace(request: httpx.Request) -> None:
        request.extensions = {**request.extensions, "trace": track}

    def abort() -> None:
        nonlocal aborted
        with lock:
            aborted = True
            opened = list(sockets)
        for sock in opened:
            _shutdown(sock)

    hooks = client.event_hooks
    hooks["request"] = [*hooks.get("request", []), add_trace]
    client.event_hooks = hooks
    return abort


def _shutdown(sock: socket.socket) -> None:
    import socket as socket_module

    with contextlib.suppress(OSError):  # already closed (or detached): nothing to abort
        sock.shutdown(socket_module.SHUT_RDWR)


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

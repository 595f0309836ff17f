"""Reads that another thread can abort: a blocked socket read ends at once when its socket is
shut down, and that is the only way to stop it from outside (Ctrl-C reaches only the main
thread; a deadline's timer is a thread of its own).

Two scopes, both fed by one trace installed on a client (`abortable`):
- the client's: `abortable(client)` returns an abort that shuts every connection the client
  opened, and any it opens afterwards (a batch's Ctrl-C, which ends everything);
- a run's: a `ReadScope` bound to the threads of one run (`bound`, `bind`) collects the
  sockets its own requests read from, and `ReadScope.abort` shuts those only (a run's
  deadline: the lines of a batch share clients, and another line's reads must go on). A
  socket leaves the scope when its response is closed (the connection may then serve others).

`wan`'s own clients keep no connection alive (`api.client.NO_KEEPALIVE`): every request
connects, so its socket is in its scope from the start. On a reused connection the socket is
known only once the headers came back (`note_reused`), and a server silent before them could
not be cut short.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

    import httpx


class ReadScope:
    """The sockets one run is reading from; `abort` shuts them (and any added later) down, and
    from then on the run's threads send nothing more (`abortable`'s request hook)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._aborted = False
        self._closed = False
        self._stopped = threading.Event()  # set by `abort`, for waits (`wait`)

    @property
    def aborted(self) -> bool:
        return self._stopped.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait `seconds` unless aborted meanwhile; True if aborted."""
        return self._stopped.wait(seconds)

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed:
                return
            if not self._aborted:
                self._sockets.add(sock)
                return
        shutdown(sock)  # aborted already: a retry's new connection fails at once

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def abort(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._aborted = True
            reading = list(self._sockets)
        self._stopped.set()
        for sock in reading:
            shutdown(sock)

    def close(self) -> None:
        """The run is over: nothing is tracked or aborted any more."""
        with self._lock:
            self._closed = True
            self._sockets.clear()


_bound = threading.local()


def current_scope() -> ReadScope | None:
    """The scope of the run this thread works for, if any."""
    scope = getattr(_bound, "scope", None)
    return scope if isinstance(scope, ReadScope) else None


def bind(scope: ReadScope | None) -> None:
    """This thread works for `scope`'s run from now on (a run's own worker threads)."""
    _bound.scope = scope


@contextlib.contextmanager
def bound(scope: ReadScope) -> Iterator[None]:
    """Within the block this thread works for `scope`'s run (a batch worker runs many)."""
    previous = current_scope()
    bind(scope)
    try:
        yield
    finally:
        bind(previous)


class _ClientSockets:
    """Every socket one client opened, for `abortable`'s abort."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.aborted = False

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.add(sock)
            if not self.aborted:
                return
        shutdown(sock)

    def abort(self) -> None:
        with self.lock:
            self.aborted = True
            opened = list(self.sockets)
        for sock in opened:
            shutdown(sock)


class _RequestTrace:
    """httpcore's trace of one request: the sockets it reads from go to its client's set and
    to the scope of the thread that sent it, and leave the scope when the response closes."""

    __slots__ = ("client", "scope", "sockets")

    def __init__(self, client: _ClientSockets, scope: ReadScope | None) -> None:
        self.client = client
        self.scope = scope
        self.sockets: list[socket.socket] = []

    def __call__(self, name: str, info: Mapping[str, Any]) -> None:
        # TCP, then TLS (wrapping a socket for TLS detaches the plain one); direct or through
        # a proxy ("connection.…", "proxy.…", "socks.…").
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            sock = _socket_of(info.get("return_value"))
            if sock is not None:
                self.attach(sock)
        elif name.endswith(".response_closed.complete") and self.scope is not None:
            for sock in self.sockets:
                self.scope.discard(sock)

    def attach(self, sock: socket.socket) -> None:
        self.sockets.append(sock)
        self.client.add(sock)
        if self.scope is not None:
            self.scope.add(sock)


def abortable(client: httpx.Client) -> Callable[[], None]:
    """Make the reads of `client` abortable from another thread; returns the abort of the
    whole client. Each request's reads also join the `ReadScope` of the thread sending it."""
    sockets = _ClientSockets()

    def add_trace(request: httpx.Request) -> None:
        scope = current_scope()
        if scope is not None and scope.aborted:
            # A stopped run sends nothing more (a retry, a redirect): the request might be a
            # billed generation on a pooled connection that no abort could reach in time.
            import httpx

            raise httpx.ConnectError("not sent: the run was stopped", request=request)
        request.extensions = {**request.extensions, "trace": _RequestTrace(sockets, scope)}

    def note_reused(response: httpx.Response) -> None:
        # A pooled connection was not connected by this request: its socket comes with the
        # response (after the headers), so a long body on it can still be aborted.
        trace = response.request.extensions.get("trace")
        if isinstance(trace, _RequestTrace) and not trace.sockets:
            sock = _socket_of(response.extensions.get("network_stream"))
            if sock is not None:
                trace.attach(sock)

    hooks = client.event_hooks
    hooks["request"] = [*hooks.get("request", []), add_trace]
    hooks["response"] = [*hooks.get("response", []), note_reused]
    client.event_hooks = hooks
    return sockets.abort


def _socket_of(stream: object) -> socket.socket | None:
    get_extra_info = getattr(stream, "get_extra_info", None)
    if get_extra_info is None:
        return None
    sock = get_extra_info("socket")
    import socket as socket_module

    return sock if isinstance(sock, socket_module.socket) else None


def shutdown(sock: socket.socket) -> None:
    """End every read of `sock` now (a blocked one fails at once)."""
    import socket as socket_module

    with contextlib.suppress(OSError):  # already closed (or detached): nothing to abort
        sock.shutdown(socket_module.SHUT_RDWR)

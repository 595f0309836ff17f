"""A real HTTP server on 127.0.0.1 that plays the wan2.6-image service for end-to-end tests.

It records every request and answers from a per-path script of `Reply`s. Tests run the real CLI
(in-process or as a subprocess) against `fake_api.url`; nothing is mocked.

Usage (the `fake_api` fixture in tests/conftest.py starts and stops one per test)::

    from tests.fakeapi import FakeAPI, Reply, sse_chunk, sse_error

    def test_stream(fake_api: FakeAPI, run_cli) -> None:
        img = fake_api.image_url("1.png")                  # a tiny real PNG at /img/1.png
        fake_api.add(
            "/v1/images/generations",
            Reply.json({"code": "Throttling", "message": "slow down"}, status=429,
                       headers={"Retry-After": "0"}),      # first request: 429
            Reply.sse([sse_chunk(text="A cat"), sse_chunk(image=img, finish="stop")]),
        )                                                   # later requests: this stream, forever
        result = run_cli(["generate", "a cat", "--base-url", fake_api.url])
        [first, second] = fake_api.requests_to("/v1/images/generations")
        assert second.headers["authorization"].startswith("Bearer ")
        assert second.json["parameters"]["stream"] is True

Scripts: `add(path, *replies)` queues replies for an exact path (the query string is ignored
unless the script's path contains "?"). They are consumed in order and the last one repeats
forever, so `add(path, Reply.status(503))` means "503 forever". Unscripted paths answer 404 JSON
`{"code": "NotFound", ...}`. Calling `add` again for a path appends to its queue.

Replies (all take `status`, `headers` and `delay` = seconds to wait before answering):
- `Reply.json(obj)`: an application/json body.
- `Reply.sse(events, event_delay=, cut_after_events=, stall_after_events=, stall=,
  line_ending=, bom=)`: a chunked text/event-stream. Items are raw `str` (written as-is, for
  malformed framing), events from `sse_chunk`/`sse_error`/`sse_frame` (re-framed with
  `line_ending`; `sse_chunk` events get their position as id and a running cumulative usage
  unless given), or dicts (framed as a DashScope `event:result` whose data is the dict).
- `Reply.bytes(data, content_type=, cut_after_bytes=, content_length=, chunk_size=,
  chunk_delay=)` and `Reply.file(path, ...)` (streamed from disk): downloads.
- `Reply.redirect(location)`, `Reply.status(code, body=b"")`.
- `Reply.endless(head, repeat, interval=)`: a chunked body that sends `head`, then `repeat` over
  and over (every `interval` seconds) until the client goes away (an endless stream, one line
  that never ends, or keep-alives trickling forever).
- Compressed bodies: pass `gzip_bomb(prefix, size)` (gzip of `prefix` and `size` more bytes,
  about 1 KB per MB) with `headers={"Content-Encoding": "gzip"}`.

Waiting without sleeping: `wait_for_requests(n)`, `wait_events_sent(n)`,
`wait_bytes_sent(path, n)` and `wait_idle()` block on a condition and raise `TimeoutError` if it
does not happen in time.

The answer shapes and SSE framing come from `wan_cli.mock.shapes`, which the offline mock
(`wan mock serve`, `--provider mock`) serves too: one description of the service, not two.

Image fixtures: `png_bytes` makes a real decodable PNG; `jpeg_bytes`, `webp_bytes`, `bmp_bytes`
make files whose magic bytes and header dimensions are right (enough for type/size sniffing).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import mimetypes
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from wan_cli.mock import shapes

__all__ = [
    "FakeAPI",
    "Headers",
    "Recorded",
    "Reply",
    "SSEEvent",
    "bmp_bytes",
    "gzip_bomb",
    "jpeg_bytes",
    "png_bytes",
    "sse_chunk",
    "sse_error",
    "sse_frame",
    "webp_bytes",
]

# A peer going away mid-reply is a normal test scenario, never worth a traceback.
_DISCONNECTS = (BrokenPipeError, ConnectionError, TimeoutError, socket.timeout)


# -- recorded requests ------------------------------------------------------------------------
class Headers(Mapping[str, str]):
    """Request headers with lowercase keys; lookups ignore case. Repeated headers are joined."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._data: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            self._data[key] = f"{self._data[key]}, {value}" if key in self._data else value

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Headers({self._data!r})"


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it (recorded before any reply is sent)."""

    method: str
    path: str  # without the query string
    query: str  # raw query string, "" if none
    headers: Headers
    body: bytes = field(repr=False)
    time: float  # time.monotonic() when the request was complete
    client_port: int  # the client's side of the connection: equal ports = a reused connection

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None if it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# -- SSE events -------------------------------------------------------------------------------
class SSEEvent(str):
    """A framed SSE event: usable as a plain `str`, and re-framed by `Reply.sse`.

    The string value uses "\\n" line endings. `Reply.sse` renders it with its own line ending,
    and for `sse_chunk` events fills in the id (position in the reply) and cumulative usage.
    """

    event: str | None
    data: str
    event_id: str | None
    status_comment: int | None
    # Only for sse_chunk events that did not fix these themselves:
    payload: dict[str, Any] | None
    auto_id: bool
    usage_step: tuple[int, int, str] | None  # (output tokens, images, size) added by this chunk
    _event_field: str

    def __new__(
        cls,
        data: str,
        *,
        event: str | None = None,
        event_id: str | None = None,
        status_comment: int | None = None,
        payload: dict[str, Any] | None = None,
        auto_id: bool = False,
        usage_step: tuple[int, int, str] | None = None,
        event_field: str = "event:",
    ) -> SSEEvent:
        text = _frame(data, event, event_id, status_comment, event_field)
        self = super().__new__(cls, text)
        self.event, self.data, self.event_id = event, data, event_id
        self.status_comment, self.payload = status_comment, payload
        self.auto_id, self.usage_step = auto_id, usage_step
        self._event_field = event_field
        return self

    def render(self, position: int, usage: dict[str, Any] | None, line_ending: str) -> str:
        """The event as sent at 1-based `position`, with the reply's running `usage`."""
        data, event_id = self.data, self.event_id
        if self.payload is not None and usage is not None:
            data = json.dumps({**self.payload, "usage": usage}, ensure_ascii=False)
        if self.auto_id:
            event_id = str(position)
        text = _frame(data, self.event, event_id, self.status_comment, self._event_field)
        return text.replace("\n", line_ending)


def _frame(
    data: str, event: str | None, event_id: str | None, status: int | None, event_field: str
) -> str:
    return shapes.sse_frame(
        data, event=event, event_id=event_id, http_status=status, event_field=event_field
    )


def sse_frame(
    data: Mapping[str, Any] | str,
    *,
    event: str | None = "result",
    event_id: str | None = None,
    http_status: int | None = 200,
) -> SSEEvent:
    """One event with DashScope framing around any payload (dicts are JSON-encoded)."""
    text = data if isinstance(data, str) else json.dumps(dict(data), ensure_ascii=False)
    return SSEEvent(text, event=event, event_id=event_id, status_comment=http_status)


def sse_chunk(
    text: str | None = None,
    image: str | None = None,
    finish: str = "null",
    usage: Mapping[str, Any] | None = None,
    request_id: str = "req-1",
    image_style: Literal["typed", "bare", "text"] = "typed",
    event_id: str | None = None,
) -> SSEEvent:
    """One DashScope stream chunk as the real service frames it (no space after colons).

    `image_style`: "typed" -> {"type":"image","image":url}, "bare" -> {"image":url},
    "text" -> {"type":"image","text":url} (the gateway's variant). Without `usage`, `Reply.sse`
    sends a usage cumulative over the reply's chunks (input_tokens 28, output_tokens = words so
    far, image_count = images so far, size "1280*1280" once an image was sent, else "0*0");
    without `event_id`, the id is the chunk's 1-based position in the reply.
    """
    payload = shapes.stream_chunk(text, image, finish=finish, image_style=image_style)
    step = (len(text.split()) if text else 0, 1 if image else 0, "1280*1280")
    fixed_usage = dict(usage) if usage is not None else _usage_after([step])
    document = {**payload, "usage": fixed_usage, "request_id": request_id}
    return SSEEvent(
        json.dumps(document, ensure_ascii=False),
        event="result",
        event_id=event_id if event_id is not None else "1",
        status_comment=200,
        payload={**payload, "request_id": request_id} if usage is None else None,
        auto_id=event_id is None,
        usage_step=step if usage is None else None,
    )


def _usage_after(steps: Sequence[tuple[int, int, str]]) -> dict[str, Any]:
    return shapes.usage(
        output_tokens=sum(s[0] for s in steps),
        image_count=sum(s[1] for s in steps),
        size=next((s[2] for s in steps if s[1]), "0*0"),
    )


def sse_error(
    code: str,
    message: str,
    request_id: str = "req-1",
    space: bool = False,
    message_key: str = "message",
) -> SSEEvent:
    """An error event: "event:error\\ndata:{code,message,request_id}\\n\\n".

    `space=True` writes "event: error"; `message_key="msg"` mimics servers that say `msg`.
    """
    data = json.dumps(shapes.error_document(code, message, request_id, message_key=message_key))
    return SSEEvent(data, event="error", event_field="event: " if space else "event:")


# -- replies ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with the class methods, not the constructor."""

    kind: Literal["body", "file", "sse", "endless"]
    status_code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    body: builtins.bytes = field(default=b"", repr=False)
    path: Path | None = None
    # downloads
    cut_after_bytes: int | None = None
    content_length: int | None = None
    chunk_size: int = 65536
    chunk_delay: float = 0.0
    # streams
    events: tuple[str | Mapping[str, Any], ...] = ()
    event_delay: float = 0.0
    cut_after_events: int | None = None
    stall_after_events: int | None = None
    stall: float = 0.0
    line_ending: str = "\n"
    bom: bool = False
    # endless
    repeat: builtins.bytes = field(default=b"", repr=False)
    interval: float = 0.0

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        body = json.dumps(obj, ensure_ascii=False).encode()
        return cls(
            "body",
            status,
            _headers({"Content-Type": "application/json"}, headers),
            delay,
            body=body,
        )

    @classmethod
    def sse(
        cls,
        events: Iterable[str | Mapping[str, Any]],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        event_delay: float = 0.0,
        cut_after_events: int | None = None,
        stall_after_events: int | None = None,
        stall: float = 0.0,
        line_ending: str = "\n",
        bom: bool = False,
    ) -> Reply:
        defaults = {"Content-Type": "text/event-stream;charset=UTF-8", "Cache-Control": "no-cache"}
        return cls(
            "sse",
            status,
            _headers(defaults, headers),
            delay,
            events=tuple(events),
            event_delay=event_delay,
            cut_after_events=cut_after_events,
            stall_after_events=stall_after_events,
            stall=stall,
            line_ending=line_ending,
            bom=bom,
        )

    @classmethod
    def bytes(
        cls,
        data: builtins.bytes,
        content_type: str = "image/png",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        cut_after_bytes: int | None = None,
        content_length: int | None = None,
        chunk_size: int = 65536,
        chunk_delay: float = 0.0,
    ) -> Reply:
        """A raw body. `cut_after_bytes`: announce the full length, close after N bytes."""
        return cls(
            "body",
            status,
            _headers({"Content-Type": content_type}, headers),
            delay,
            body=data,
            cut_after_bytes=cut_after_bytes,
            content_length=content_length,
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
        )

    @classmethod
    def file(
        cls,
        path: str | Path,
        content_type: str | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        cut_after_bytes: int | None = None,
        content_length: int | None = None,
        chunk_size: int = 1 << 20,
        chunk_delay: float = 0.0,
    ) -> Reply:
        """Like `bytes`, streamed from disk in chunks (for big downloads)."""
        path = Path(path)
        kind = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return cls(
            "file",
            status,
            _headers({"Content-Type": kind}, headers),
            delay,
            path=path,
            cut_after_bytes=cut_after_bytes,
            content_length=content_length,
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
        )

    @classmethod
    def endless(
        cls,
        head: builtins.bytes,
        repeat: builtins.bytes,
        content_type: str = "text/event-stream;charset=UTF-8",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        interval: float = 0.0,
    ) -> Reply:
        """`head`, then `repeat` again and again until the client disconnects (chunked),
        waiting `interval` seconds before each repeat (a trickle: SSE keep-alives)."""
        if not repeat:
            raise ValueError("endless() needs bytes to repeat")
        return cls(
            "endless",
            status,
            _headers({"Content-Type": content_type}, headers),
            body=head,
            repeat=repeat,
            interval=interval,
        )

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls("body", status, (("Location", location),))

    @classmethod
    def status(
        cls,
        status: int,
        body: builtins.bytes = b"",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """A bare status, e.g. `Reply.status(429, headers={"Retry-After": "0"})`."""
        defaults = {"Content-Type": "text/plain"} if body else {}
        return cls("body", status, _headers(defaults, headers), delay, body=body)


def _headers(
    defaults: Mapping[str, str], extra: Mapping[str, str] | None
) -> tuple[tuple[str, str], ...]:
    """Defaults overridden case-insensitively by the test's headers."""
    merged = {name.lower(): (name, value) for name, value in defaults.items()}
    for name, value in (extra or {}).items():
        merged[name.lower()] = (name, value)
    return tuple(merged.values())


def _not_found(method: str, path: str) -> Reply:
    message = f"fake API: no reply scripted for {method} {path}"
    return Reply.json({"code": "NotFound", "message": message}, status=404)


# -- the server -------------------------------------------------------------------------------
class _Stopped(Exception):
    """The fake is shutting down: abandon the reply."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a client opening more connections at once (a batch
    # with -j 16) has the rest of its SYNs dropped and resent a second later.
    request_queue_size = 128
    block_on_close = False  # stop() unblocks handler threads (daemons) instead of joining them
    fake: FakeAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (*_DISCONNECTS, _Stopped)) or self.fake.stopping:
            return
        self.fake.errors.append(error if isinstance(error, Exception) else RuntimeError(error))
        traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real servers set it: with Nagle, a reply's body written after its headers
    # waits for the client's delayed ACK (~40 ms on a kept-alive connection), which is the fake's
    # latency, not the client's.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are recorded, not logged."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (*_DISCONNECTS, _Stopped):
            self.close_connection = True

    def _any(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        path, _, query = self.path.partition("?")
        recorded = Recorded(
            method=self.command,
            path=path,
            query=query,
            headers=Headers(self.headers.items()),
            body=body,
            time=time.monotonic(),
            client_port=int(self.client_address[1]),
        )
        reply = fake._record_and_pick(recorded, self.path)
        try:
            self._send(reply, recorded.path)
        except (*_DISCONNECTS, _Stopped):
            self._drop()
        finally:
            fake._done_serving()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _any

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- replying --------------------------------------------------------------------------
    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.fake._stop.wait(seconds):
            raise _Stopped

    def _start(self, reply: Reply, extra: Mapping[str, str]) -> None:
        self.send_response(reply.status_code)
        names = {name.lower() for name, _ in reply.headers}
        for name, value in extra.items():
            if name.lower() not in names:
                self.send_header(name, value)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()

    def _send(self, reply: Reply, path: str) -> None:
        self._wait(reply.delay)
        if reply.kind == "sse":
            self._send_sse(reply)
            return
        if reply.kind == "endless":
            self._send_endless(reply, path)
            return
        size = reply.path.stat().st_size if reply.path is not None else len(reply.body)
        length = reply.content_length if reply.content_length is not None else size
        self._start(reply, {"Content-Length": str(length)})
        if self.command == "HEAD":
            return
        limit = size if reply.cut_after_bytes is None else min(size, reply.cut_after_bytes)
        sent = 0
        for chunk in _chunks(reply, limit):
            if sent and reply.chunk_delay:
                self._wait(reply.chunk_delay)
            self.wfile.write(chunk)
            sent += len(chunk)
            self.server.fake._sent_bytes(path, len(chunk))
        if reply.cut_after_bytes is not None or length != size:
            self._drop()  # the announced length is wrong: the connection cannot be reused

    def _send_sse(self, reply: Reply) -> None:
        self._start(reply, {"Transfer-Encoding": "chunked"})
        if self.command == "HEAD":
            return
        steps: list[tuple[int, int, str]] = []
        for position, item in enumerate(reply.events, start=1):
            if reply.cut_after_events is not None and position > reply.cut_after_events:
                self._drop()
                return
            if reply.stall_after_events is not None and position == reply.stall_after_events + 1:
                self._wait(reply.stall)
            elif position > 1:
                self._wait(reply.event_delay)
            text = _render(item, position, steps, reply.line_ending)
            if position == 1 and reply.bom:
                text = "\ufeff" + text
            self._write_chunk(text.encode())
            self.server.fake._sent_event()
        if reply.cut_after_events is not None:
            self._drop()  # cut after the last event: still no terminating chunk
            return
        if reply.stall_after_events is not None and reply.stall_after_events >= len(reply.events):
            self._wait(reply.stall)
        self.wfile.write(b"0\r\n\r\n")

    def _send_endless(self, reply: Reply, path: str) -> None:
        self._start(reply, {"Transfer-Encoding": "chunked"})
        if self.command == "HEAD":
            return
        self._write_chunk(reply.body)
        stop = self.server.fake._stop
        while not stop.is_set():  # until the client hangs up (BrokenPipe) or the fake stops
            self._wait(reply.interval)
            self._write_chunk(reply.repeat)
            self.server.fake._sent_bytes(path, len(reply.repeat))
        raise _Stopped

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

    def _drop(self) -> None:
        """Close the connection at once, mid-body if need be."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _chunks(reply: Reply, limit: int) -> Iterator[bytes]:
    step = max(1, reply.chunk_size)
    if reply.path is None:
        for start in range(0, limit, step):
            yield reply.body[start : min(limit, start + step)]
        return
    left = limit
    with reply.path.open("rb") as source:
        while left > 0:
            chunk = source.read(min(step, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _render(
    item: str | Mapping[str, Any],
    position: int,
    steps: list[tuple[int, int, str]],
    line_ending: str,
) -> str:
    if isinstance(item, SSEEvent):
        usage = None
        if item.usage_step is not None:
            steps.append(item.usage_step)
            usage = _usage_after(steps)
        return item.render(position, usage, line_ending)
    if isinstance(item, str):
        return item
    return sse_frame(item, event_id=str(position)).render(position, None, line_ending)


class FakeAPI:
    """The loopback fake service. Use as a context manager, or `start()` / `stop()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._scripts: dict[str, list[Reply]] = {}
        self._requests: list[Recorded] = []
        self._serving = 0
        self._max_concurrency = 0
        self._events_sent = 0
        self._bytes_sent: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = False
        self.errors: list[Exception] = []  # unexpected failures inside the fake (bugs)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeAPI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down promptly, even mid-stall: waits are released and connections closed."""
        if self._server is None:
            return
        self.stopping = True
        self._stop.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeAPI is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321" (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting -------------------------------------------------------------------------
    def add(self, path: str, *replies: Reply) -> None:
        """Queue replies for `path`; the last one repeats once the queue is down to it."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        if not replies:
            raise ValueError("add() needs at least one Reply")
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def image_url(self, name: str = "1.png", data: bytes | None = None) -> str:
        """Serve `data` (default: a tiny real PNG) at /img/<name>; return its full URL."""
        kind = mimetypes.guess_type(name)[0] or "image/png"
        self.add(f"/img/{name}", Reply.bytes(png_bytes() if data is None else data, kind))
        return f"{self.url}/img/{name}"

    # -- inspection ------------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        """Every request so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    @property
    def max_concurrency(self) -> int:
        """The most requests ever being served at the same moment."""
        with self._lock:
            return self._max_concurrency

    @property
    def events_sent(self) -> int:
        """SSE events written so far, over all streams."""
        with self._lock:
            return self._events_sent

    def bytes_sent(self, path: str) -> int:
        """Body bytes of non-stream replies written so far for `path`."""
        with self._lock:
            return self._bytes_sent.get(path, 0)

    def wait_for_requests(self, n: int, timeout: float = 5) -> list[Recorded]:
        """Block until `n` requests have arrived; return them. TimeoutError otherwise."""
        self._wait_until(lambda: len(self._requests) >= n, timeout, f"{n} requests")
        return self.requests

    def wait_events_sent(self, n: int, timeout: float = 5) -> None:
        """Block until `n` SSE events have been written (e.g. to interrupt at a known point)."""
        self._wait_until(lambda: self._events_sent >= n, timeout, f"{n} SSE events sent")

    def wait_bytes_sent(self, path: str, n: int, timeout: float = 5) -> None:
        """Block until `n` body bytes have been written for `path`."""
        self._wait_until(
            lambda: self._bytes_sent.get(path, 0) >= n, timeout, f"{n} bytes sent for {path}"
        )

    def wait_idle(self, timeout: float = 5) -> None:
        """Block until no request is being served (every reply finished or abandoned)."""
        self._wait_until(lambda: self._serving == 0, timeout, "all replies to finish")

    def _wait_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(done, timeout):
                seen = [f"{r.method} {r.path}" for r in self._requests]
                raise TimeoutError(
                    f"fake API: waited {timeout}s for {what}; events sent "
                    f"{self._events_sent}, bytes sent {self._bytes_sent}, requests {seen}"
                )

    # -- called by handler threads ---------------------------------------------------------
    def _record_and_pick(self, recorded: Recorded, target: str) -> Reply:
        with self._changed:
            self._requests.append(recorded)
            self._serving += 1
            self._max_concurrency = max(self._max_concurrency, self._serving)
            key = target if target in self._scripts else recorded.path
            queue = self._scripts.get(key)
            if not queue:
                reply = _not_found(recorded.method, recorded.path)
            else:
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
            self._changed.notify_all()
            return reply

    def _done_serving(self) -> None:
        with self._changed:
            self._serving -= 1
            self._changed.notify_all()

    def _sent_event(self) -> None:
        with self._changed:
            self._events_sent += 1
            self._changed.notify_all()

    def _sent_bytes(self, path: str, n: int) -> None:
        with self._changed:
            self._bytes_sent[path] = self._bytes_sent.get(path, 0) + n
            self._changed.notify_all()

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


# -- compressed bodies ------------------------------------------------------------------------
def gzip_bomb(prefix: bytes, size: int, fill: bytes = b"0") -> bytes:
    """A valid gzip body of `prefix` followed by `size` bytes of `fill` (1 byte), in about
    1 KB per MB: one fully flushed deflate block of 1 MiB of `fill`, repeated."""
    if len(fill) != 1:
        raise ValueError("fill must be one byte")
    step = 1 << 20
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(fill * step) + packer.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(size, step)
    tail = packer.compress(fill * rest) + packer.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    block_data = fill * step
    for _ in range(whole):
        crc = zlib.crc32(block_data, crc)
    crc = zlib.crc32(fill * rest, crc)
    trailer = struct.pack("<II", crc, (len(prefix) + size) & 0xFFFFFFFF)
    return head + block * whole + tail[:-8] + trailer


# -- image files ------------------------------------------------------------------------------
def png_bytes(width: int = 4, height: int = 4) -> bytes:
    """A real, decodable 8-bit RGB PNG (a red-to-blue gradient), built with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"".join(
        bytes((255 * x // max(1, width - 1), 64, 255 - 255 * x // max(1, width - 1)))
        for x in range(width)
    )
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def jpeg_bytes(width: int = 4, height: int = 4) -> bytes:
    """SOI, a JFIF APP0, a baseline SOF0 carrying the dimensions, EOI (header-valid only)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_bytes(width: int = 4, height: int = 4) -> bytes:
    """RIFF....WEBPVP8 with a lossy key-frame header carrying the dimensions (header-valid)."""
    frame = b"\x9d\x01\x2a" + struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    vp8 = b"\x50\x02\x00" + frame + b"\x00" * 8  # frame tag: key frame, version 0, shown
    chunk = b"VP8 " + struct.pack("<I", len(vp8)) + vp8
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_bytes(width: int = 4, height: int = 4) -> bytes:
    """A complete 24-bit BMP (BITMAPINFOHEADER, black pixels)."""
    stride = (width * 3 + 3) & ~3
    pixels = stride * height
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, pixels, 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", 14 + len(info) + pixels, 0, 0, 14 + len(info))
    return header + info + bytes(pixels)

"""The mock service over HTTP on 127.0.0.1: the gateway's protocol and DashScope's native one
(streamed and whole answers, async tasks: submit, PENDING → RUNNING → SUCCEEDED, cancel), the
images themselves, and failure scenarios for testing a pipeline's error handling.

Paths (relative to the server's root):
- `POST /v1/images/generations` (gateway) and
  `POST /api/v1/services/aigc/multimodal-generation/generation` (DashScope): the answer, as SSE
  when the request streams (`parameters.stream` or `Accept: text/event-stream`), else JSON;
- `POST /api/v1/services/aigc/image-generation/generation` with `X-DashScope-Async: enable`:
  a task; `GET /api/v1/tasks/{id}`, `POST /api/v1/tasks/{id}/cancel`;
- `GET /mock-images/{name}.png`: an image, drawn on request.
Any non-empty `Authorization: Bearer …` key is accepted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wan_cli.mock import shapes
from wan_cli.mock.answers import BadRequest, Plan, PlannedImage, plan_answer
from wan_cli.mock.picture import draw_png

# Scenario → what it does (shown by `wan mock serve --help` and docs/mock.md).
SCENARIOS: dict[str, str] = {
    "ok": "answers like the service: streamed text, then the images",
    "slow": "the answer starts after 3 s, then a word every 0.2 s (try --timeout 1)",
    "rate-limited": "every other request is 429 Throttling with Retry-After, the retry succeeds",
    "unavailable": "every request is 503 ModelUnavailable",
    "rejected": "every request is 400 DataInspectionFailed (content moderation)",
    "unauthorized": "every request is 401 InvalidApiKey",
    "stream-cut": "the answer breaks off after the first image, before its end",
    "expired-links": "answers normally, but every image URL answers 404",
    "json": "answers with one whole JSON document instead of a stream",
}
GATEWAY_PATH = "/v1/images/generations"
DASHSCOPE_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
ASYNC_PATH = "/api/v1/services/aigc/image-generation/generation"
IMAGES_PATH = "/mock-images/"
# How many polls a task answers PENDING, then RUNNING, before it SUCCEEDS.
TASK_POLLS_PER_STATE = 1
MAX_BODY_BYTES = 64 * 1024 * 1024  # a request with 4 base64 references of 10 MB fits
_TASK_PATH = re.compile(r"^/api/v1/tasks/([A-Za-z0-9-]{1,64})(/cancel)?$")


@dataclass(frozen=True)
class MockSettings:
    scenario: str = "ok"
    word_delay: float = 0.05  # seconds between streamed words; 0 streams them at once
    retry_after: int = 1  # the Retry-After of the rate-limited scenario, in seconds


@dataclass
class _Task:
    plan: Plan
    polls: int = 0
    canceled: bool = False


@dataclass
class _State:
    """What the server remembers between requests (guarded by `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    images: dict[str, PlannedImage] = field(default_factory=dict)
    tasks: dict[str, _Task] = field(default_factory=dict)
    requests: int = 0


class MockServer(ThreadingHTTPServer):
    """`with MockServer(MockSettings()) as server: server.base_url("gateway")`; `serve_forever`
    runs it (in a thread: `start()`)."""

    daemon_threads = True

    def __init__(self, settings: MockSettings, port: int = 0) -> None:
        if settings.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {settings.scenario!r}")
        super().__init__(("127.0.0.1", port), _Handler)
        self.settings = settings
        self.state = _State()
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def base_url(self, provider: str) -> str:
        """The base URL a client of `provider`'s protocol is given."""
        return self.root + ("/api/v1" if provider == "dashscope" else "/v1")

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self.serve_forever, name="wan-mock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()

    def plan(self, body: Mapping[str, Any]) -> Plan:
        plan = plan_answer(body)
        with self.state.lock:
            for image in plan.images:
                self.state.images[image.name] = image
        return plan

    def count_request(self) -> int:
        with self.state.lock:
            self.state.requests += 1
            return self.state.requests


class _Handler(BaseHTTPRequestHandler):
    server: MockServer
    protocol_version = "HTTP/1.0"  # every answer closes its connection: streams end with it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: `wan mock serve` prints its own lines

    # -- routing -------------------------------------------------------------------------------
    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        task = _TASK_PATH.match(path)
        if task and task.group(2):
            self._cancel(task.group(1))
        elif path in (GATEWAY_PATH, DASHSCOPE_PATH, ASYNC_PATH):
            if self._refused():
                return
            try:
                plan = self.server.plan(body)
            except BadRequest as error:
                self._error(400, error.code, error.message)
                return
            if path == ASYNC_PATH or self.headers.get("X-DashScope-Async") == "enable":
                self._submit(plan)
            else:
                self._answer(plan, body)
        else:
            self._error(404, "NotFound", f"no such endpoint: POST {path}")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        task = _TASK_PATH.match(path)
        if path.startswith(IMAGES_PATH):
            self._image(path[len(IMAGES_PATH) :])
        elif task and not task.group(2):
            if self._authorized():
                self._poll(task.group(1))
        else:
            self._error(404, "NotFound", f"no such endpoint: GET {path}")

    # -- requests ------------------------------------------------------------------------------
    def _body(self) -> dict[str, Any] | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._error(413, "BadRequest.TooLarge", "the request body is too large")
            return None
        raw = self.rfile.read(length) if length else b"{}"
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            self._error(400, "InvalidParameter", "the request body is not JSON")
            return None
        if not isinstance(document, dict):
            self._error(400, "InvalidParameter", "the request body is not a JSON object")
            return None
        return document

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            self._error(401, "InvalidApiKey", "No API-key provided.")
            return False
        return True

    def _refused(self) -> bool:
        """Answer the scenario's refusal (True), or let the request through (False)."""
        if not self._authorized():
            return True
        scenario = self.server.settings.scenario
        if scenario == "unauthorized":
            self._error(401, "InvalidApiKey", "Invalid API-key provided.")
        elif scenario == "unavailable":
            self._error(503, "ModelUnavailable", "the model is unavailable (mock scenario)")
        elif scenario == "rejected":
            self._error(
                400,
                "DataInspectionFailed",
                "Input data may contain inappropriate content. (mock scenario)",
            )
        elif scenario == "rate-limited" and self.server.count_request() % 2 == 1:
            retry_after = str(self.server.settings.retry_after)
            self._error(
                429, "Throttling", "Requests rate limit exceeded (mock scenario)", retry_after
            )
        else:
            return False
        return True

    # -- answers -------------------------------------------------------------------------------
    def _answer(self, plan: Plan, body: Mapping[str, Any]) -> None:
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        streamed = bool((parameters or {}).get("stream")) or "text/event-stream" in (
            self.headers.get("Accept") or ""
        )
        if self.server.settings.scenario == "json" or not streamed:
            self._whole(plan)
        else:
            self._stream(plan)

    def _whole(self, plan: Plan) -> None:
        document = shapes.whole_answer(
            [self._url(image) for image in plan.images],
            text="".join(plan.words) or None,
            usage_now=_usage(plan, len(plan.words), len(plan.images)),
            request_id=plan.request_id,
        )
        data = _compact(document).encode("utf-8")
        cut = self.server.settings.scenario == "stream-cut"
        self._start(200, "application/json", length=len(data) * (2 if cut else 1))
        self.wfile.write(data[: len(data) // 2] if cut else data)

    def _stream(self, plan: Plan) -> None:
        settings = self.server.settings
        delay = settings.word_delay
        if settings.scenario == "slow":
            delay = max(delay, 0.2)
            time.sleep(3.0)  # before the headers: a client's read timeout sees nothing at all
        self._start(200, "text/event-stream")
        position = 0
        for count, word in enumerate(plan.words, 1):
            position += 1
            self._event(plan, position, shapes.stream_chunk(word), count, 0)
            if delay:
                time.sleep(delay)
        words = len(plan.words)
        for index, image in enumerate(plan.images, 1):
            last = index == len(plan.images) and settings.scenario != "stream-cut"
            position += 1
            chunk = shapes.stream_chunk(image=self._url(image), finish="stop" if last else "null")
            self._event(plan, position, chunk, words, index)
            if settings.scenario == "stream-cut":
                return  # the connection closes without the answer's end
        if not plan.images:
            self._event(plan, position + 1, shapes.stream_chunk(finish="stop"), words, 0)

    def _event(
        self, plan: Plan, position: int, chunk: dict[str, Any], words: int, images: int
    ) -> None:
        document = shapes.with_usage(chunk, _usage(plan, words, images), plan.request_id)
        frame = shapes.sse_frame(_compact(document), event_id=str(position))
        self.wfile.write(frame.encode("utf-8"))
        self.wfile.flush()

    # -- async tasks ---------------------------------------------------------------------------
    def _submit(self, plan: Plan) -> None:
        task_id = plan.request_id
        with self.server.state.lock:
            self.server.state.tasks[task_id] = _Task(plan)
        self._json(200, shapes.task_document(task_id, "PENDING", request_id=plan.request_id))

    def _poll(self, task_id: str) -> None:
        with self.server.state.lock:
            task = self.server.state.tasks.get(task_id)
            if task is not None and not task.canceled:
                task.polls += 1
        if task is None:
            document = shapes.task_document(task_id, "UNKNOWN", request_id=_new_id())
        elif task.canceled:
            document = shapes.task_document(task_id, "CANCELED", request_id=_new_id())
        elif task.polls <= TASK_POLLS_PER_STATE:
            document = shapes.task_document(task_id, "PENDING", request_id=_new_id())
        elif task.polls <= 2 * TASK_POLLS_PER_STATE:
            document = shapes.task_document(task_id, "RUNNING", request_id=_new_id())
        else:
            plan = task.plan
            document = shapes.task_document(
                task_id,
                "SUCCEEDED",
                request_id=plan.request_id,
                images=[self._url(image) for image in plan.images],
                usage_now=_usage(plan, 0, len(plan.images)),
            )
        self._json(200, document)

    def _cancel(self, task_id: str) -> None:
        if not self._authorized():
            return
        with self.server.state.lock:
            task = self.server.state.tasks.get(task_id)
            pending = task is not None and not task.canceled and task.polls <= TASK_POLLS_PER_STATE
            if pending and task is not None:
                task.canceled = True
        if task is None:
            self._error(404, "InvalidParameter", f"task {task_id} not found")
        elif pending:
            self._json(200, {"request_id": _new_id()})
        else:
            self._error(400, "UnsupportedOperation", "only PENDING tasks can be canceled")

    # -- images --------------------------------------------------------------------------------
    def _image(self, name: str) -> None:
        with self.server.state.lock:
            image = self.server.state.images.get(name)
        if image is None or self.server.settings.scenario == "expired-links":
            body = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>"
            self._start(404, "application/xml", length=len(body))
            self.wfile.write(body)
            return
        data = draw_png(image.width, image.height, image.seed)
        self._start(200, "image/png", length=len(data))
        self.wfile.write(data)

    def _url(self, image: PlannedImage) -> str:
        return f"{self.server.root}{IMAGES_PATH}{image.name}"

    # -- writing -------------------------------------------------------------------------------
    def _start(self, status: int, content_type: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()

    def _json(
        self, status: int, document: Mapping[str, Any], retry_after: str | None = None
    ) -> None:
        data = _compact(document).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, retry_after: str | None = None) -> None:
        self._json(status, shapes.error_document(code, message, _new_id()), retry_after)


def _usage(plan: Plan, words: int, images: int) -> dict[str, Any]:
    return shapes.usage(
        output_tokens=words, image_count=images, size=plan.size if images else "0*0"
    )


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _compact(document: Mapping[str, Any]) -> str:
    """JSON as the service writes it: no spaces."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

"""Pure translation of every answer shape into one ordered stream of typed events.

Nothing here does I/O: SSE messages, decoded JSON and error bodies go in, `Event`s come out,
so every shape is unit-tested on recorded payloads without a network. The client calls:

- `events_from_sse(messages)` on `sse.iter_sse(chunks)` for a `text/event-stream` answer;
- `events_from_json(document, status=...)` for any other 2xx body;
- `error_event(status, body, content_type)` for an HTTP error answer.

Events come in answer order: RequestId (once), TextDelta / ImageRef as content appears, Usage
(whenever it changes), then exactly one of Done, ApiError, StreamCut; or TaskCreated for an
async task. ImageRef.index counts images across the whole answer; a repeated link is emitted once.

Modules: `types` (the events), `stream` (SSE), `document` (whole JSON answers), one per answer
dialect (`dashscope`, `openai`) plus the `content` items they share, `links` (image links in
text, data URIs, base64), `service_errors` (error bodies, redaction), `usage`, and `answer`
(what one answer has emitted so far). Import the public names from here.
"""

from __future__ import annotations

from wan_cli.api.events.document import events_from_json
from wan_cli.api.events.links import looks_like_image_link
from wan_cli.api.events.service_errors import error_event
from wan_cli.api.events.stream import events_from_sse
from wan_cli.api.events.types import (
    ApiError,
    Done,
    Event,
    ImageRef,
    RequestId,
    StreamCut,
    TaskCreated,
    TextDelta,
    Usage,
)
from wan_cli.api.events.usage import usage_from

__all__ = [
    "ApiError",
    "Done",
    "Event",
    "ImageRef",
    "RequestId",
    "StreamCut",
    "TaskCreated",
    "TextDelta",
    "Usage",
    "error_event",
    "events_from_json",
    "events_from_sse",
    "looks_like_image_link",
    "usage_from",
]

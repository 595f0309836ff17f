"""The service's answer shapes and SSE framing, written once.

Both the offline mock (`wan mock serve`, `--provider mock`) and the test suite's fake server
(tests/fakeapi.py) build their answers with these functions, so what the tests play and what
the mock serves are the same shapes (docs: ../shared/reference/wan2.6-image-api.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

ImageStyle = Literal["typed", "bare", "text"]


def sse_frame(
    data: str,
    *,
    event: str | None = "result",
    event_id: str | None = None,
    http_status: int | None = 200,
    event_field: str = "event:",
) -> str:
    """One event as DashScope frames it: `id:`, `event:`, `:HTTP_STATUS/200`, `data:` (no space
    after the colons), then a blank line. Lines end with "\\n"."""
    lines = []
    if event_id is not None:
        lines.append(f"id:{event_id}")
    if event is not None:
        lines.append(f"{event_field}{event}")
    if http_status is not None:
        lines.append(f":HTTP_STATUS/{http_status}")
    lines.append(f"data:{data}")
    return "\n".join(lines) + "\n\n"


def usage(
    *,
    input_tokens: int = 28,
    output_tokens: int = 0,
    image_count: int = 0,
    size: str = "0*0",
) -> dict[str, Any]:
    """A usage object as the service reports it (cumulative over a stream)."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "image_count": image_count,
        "size": size,
    }


def content_items(
    text: str | None = None, image: str | None = None, image_style: ImageStyle = "typed"
) -> list[dict[str, str]]:
    """A message's content: a text item and/or one image item. `image_style`: "typed" →
    {"type":"image","image":url}, "bare" → {"image":url}, "text" → {"type":"image","text":url}
    (the gateway's variant)."""
    content: list[dict[str, str]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    if image is not None:
        if image_style == "typed":
            content.append({"type": "image", "image": image})
        elif image_style == "bare":
            content.append({"image": image})
        else:
            content.append({"type": "image", "text": image})
    return content


def stream_chunk(
    text: str | None = None,
    image: str | None = None,
    *,
    finish: str = "null",
    image_style: ImageStyle = "typed",
) -> dict[str, Any]:
    """The `output` part of one DashScope stream chunk: new text and/or one new image;
    `finish_reason` is the string "null" until the last chunk ("stop")."""
    return {
        "output": {
            "choices": [
                {
                    "message": {
                        "content": content_items(text, image, image_style),
                        "role": "assistant",
                    },
                    "finish_reason": finish,
                }
            ],
            "finished": finish == "stop",
        }
    }


def with_usage(
    payload: Mapping[str, Any], usage_now: Mapping[str, Any], request_id: str
) -> dict[str, Any]:
    """A chunk or answer document with its usage and request id, in the service's key order."""
    return {**payload, "usage": dict(usage_now), "request_id": request_id}


def whole_answer(
    images: Sequence[str],
    *,
    text: str | None = None,
    usage_now: Mapping[str, Any],
    request_id: str,
) -> dict[str, Any]:
    """A non-streamed DashScope answer: one choice per image (as with n > 1), the text (if
    any) in the first."""
    choices = []
    for index, url in enumerate(images or [None]):
        content = content_items(text if index == 0 else None, url)
        choices.append(
            {"finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        )
    return {"output": {"choices": choices, "finished": True}, **_tail(usage_now, request_id)}


def error_document(
    code: str, message: str, request_id: str, *, message_key: str = "message"
) -> dict[str, str]:
    """The service's error body (some servers say `msg`)."""
    return {"code": code, message_key: message, "request_id": request_id}


def error_event(
    code: str,
    message: str,
    request_id: str,
    *,
    message_key: str = "message",
    event_field: str = "event:",
) -> str:
    """A mid-stream error: `event:error` with the error body as data."""
    data = json.dumps(error_document(code, message, request_id, message_key=message_key))
    return sse_frame(data, event="error", http_status=None, event_field=event_field)


def task_document(
    task_id: str,
    status: str,
    *,
    request_id: str,
    images: Sequence[str] = (),
    usage_now: Mapping[str, Any] | None = None,
    code: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """An async task's answer (create or query): its id and state; once SUCCEEDED, the result
    as a whole answer's choices; once FAILED, the service's code and message."""
    output: dict[str, Any] = {"task_id": task_id, "task_status": status}
    if images:
        output["choices"] = [
            {"finish_reason": "stop", "message": {"role": "assistant", "content": [item]}}
            for item in (content_items(image=url)[0] for url in images)
        ]
        output["finished"] = True
    if code is not None:
        output["code"] = code
        output["message"] = message or ""
    document: dict[str, Any] = {"output": output, "request_id": request_id}
    if usage_now is not None:
        document["usage"] = dict(usage_now)
    return document


def _tail(usage_now: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    return {"usage": dict(usage_now), "request_id": request_id}

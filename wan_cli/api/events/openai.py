"""OpenAI and gateway shapes: chat-completions chunks, images `data[]` of `url` / `b64_json`,
and the gateway's `output[]` of messages and image calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wan_cli.api.events.answer import _Answer
from wan_cli.api.events.content import _content_events
from wan_cli.api.events.dashscope import _finish_reason
from wan_cli.api.events.links import _base64_item, _decode_base64, _image_item
from wan_cli.api.events.types import ApiError, Event, ImageRef


def _openai_chunk(choices: list[Any], answer: _Answer) -> tuple[str | None, list[Event]]:
    """Events of an OpenAI chat-completions chunk, and its finish_reason."""
    finish = None
    events: list[Event] = []
    for choice in choices:
        if type(choice) is not dict:
            continue
        delta = choice.get("delta")
        if type(delta) is dict:
            events.extend(_content_events(delta.get("content"), answer, links=False))
        finish = _finish_reason(choice) or finish
    return finish, events


def _openai_image(item: dict[str, Any], answer: _Answer) -> ImageRef | ApiError | None:
    """One entry of OpenAI's `data[]`.

    `revised_prompt` is not the model's text but the service's rewrite of the prompt, so it
    rides on the ImageRef (for provenance) instead of becoming a TextDelta.
    """
    revised = item.get("revised_prompt")
    revised = revised if isinstance(revised, str) and revised else None
    encoded = item.get("b64_json")
    if encoded and isinstance(encoded, str):
        if encoded.startswith("data:"):  # a data: URI where bare base64 belongs
            comma = encoded.find(",")
            payload = _decode_base64(encoded, comma + 1) if comma >= 0 else None
        else:
            payload = _decode_base64(encoded)
        if payload is None:
            return ApiError(
                "UnexpectedAnswer", "an image's base64 data is unreadable", answer.request_id
            )
        return answer.image(None, data=payload, revised_prompt=revised)
    url = item.get("url")
    if url and isinstance(url, str):
        if url.startswith("data:"):
            return _image_item(url, answer)
        return answer.image(url, revised_prompt=revised)
    return None


def _gateway_output(output: list[Any], answer: _Answer) -> Iterator[Event]:
    """The gateway's `output[]`: messages with content items; Responses-API image calls."""
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "image_generation_call":
            result = item.get("result")
            if isinstance(result, str) and result:
                event = _base64_item(result, answer)
                if event is not None:
                    yield event
        elif "content" in item:
            yield from _content_events(item.get("content"), answer, links=True)
        else:  # a bare content item directly in output[]
            yield from _content_events([item], answer, links=True)

"""DashScope's whole answer: `output.choices[]` (a shape OpenAI chat completions share), the
older `output.results[]`, `output.text`. Its stream chunks are read in `stream` (the hot path)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from wan_cli.api.events.answer import _Answer
from wan_cli.api.events.content import _content_events, _image_list
from wan_cli.api.events.links import _base64_item, _image_item, _text_events
from wan_cli.api.events.types import Event


def _dashscope_output(
    output: dict[str, Any], answer: _Answer
) -> Generator[Event, None, str | None]:
    """`output.choices[]` (every choice, in order), older `output.results[]`, `output.text`.

    Returns the finish reason, for the caller's Done.
    """
    finish = None
    choices = output.get("choices")
    if isinstance(choices, list):
        finish = yield from _choices(choices, answer)
    results = output.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, dict):
                url = item.get("url")
                if url:
                    event = _image_item(url, answer)
                else:
                    event = _base64_item(item.get("b64_image"), answer)
                if event is not None:
                    yield event
    text = output.get("text")
    if text and isinstance(text, str):
        yield from _text_events(text, answer)
    return finish


def _choices(choices: list[Any], answer: _Answer) -> Generator[Event, None, str | None]:
    """Every choice's `message.content` (and chat-style `message.images`), in order.

    Returns the last finish_reason that is neither null nor the string "null".
    """
    finish = None
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        reply = choice.get("message")
        if isinstance(reply, dict):
            yield from _content_events(reply.get("content"), answer, links=True)
            yield from _image_list(reply.get("images"), answer)
        finish = _finish_reason(choice) or finish
    return finish


def _finish_reason(choice: dict[str, Any]) -> str | None:
    """A choice's finish_reason, unless it is null or the string "null" (not finished)."""
    reason = choice.get("finish_reason")
    return reason if reason and isinstance(reason, str) and reason != "null" else None

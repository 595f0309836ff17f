"""Content items, the part all dialects share: text and image items -> TextDelta / ImageRef."""

from __future__ import annotations

from collections.abc import Iterator

from wan_cli.api.events.answer import _Answer
from wan_cli.api.events.links import _image_item, _text_events
from wan_cli.api.events.types import Event, TextDelta


def _content_events(content: object, answer: _Answer, *, links: bool) -> Iterator[Event]:
    """Content items -> TextDelta / ImageRef. This is the stream's hot path: no regexes.

    Items are `{"text"}`, `{"image"}`, `{"type": "text"|"output_text", "text"}`,
    `{"type": "image", "image"|"url"|"text": URL}`, `{"type": "image_url", "image_url": ...}`;
    a plain string is text. `links` turns on link extraction from text (whole answers only).
    """
    if type(content) is str:
        if content:
            if links:
                yield from _text_events(content, answer)
            else:
                yield TextDelta(content)
        return
    if type(content) is not list:
        return
    for item in content:
        if type(item) is not dict:
            continue
        kind = item.get("type")
        image = item.get("image")
        if image is not None or kind == "image":
            source = image or item.get("url") or item.get("text")
            if source and isinstance(source, str):
                ref = _image_item(source, answer)
                if ref is not None:
                    yield ref
            continue
        if kind == "image_url":
            yield from _image_list([item], answer)
            continue
        text = item.get("text")
        if text and type(text) is str:
            if links:
                yield from _text_events(text, answer)
            else:
                yield TextDelta(text)


def _image_list(items: object, answer: _Answer) -> Iterator[Event]:
    """`[{"type": "image_url", "image_url": {"url": ...}}]` (chat-completions image output)."""
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        holder = item.get("image_url")
        source = holder.get("url") if isinstance(holder, dict) else holder
        if source and isinstance(source, str):
            ref = _image_item(source, answer)
            if ref is not None:
                yield ref

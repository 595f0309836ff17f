"""What one answer has emitted so far, shared by every translation of it."""

from __future__ import annotations

from typing import Any

from wan_cli.api.events.inline import InlineImage
from wan_cli.api.events.types import ImageRef, RequestId, Usage
from wan_cli.api.events.usage import usage_from


class _Answer:
    """What one answer has emitted so far: image numbering, seen links, request id, usage."""

    __slots__ = ("images", "pending_usage", "request_id", "seen", "texts", "usage")

    def __init__(self) -> None:
        self.images = 0
        self.texts = 0  # text items kept from whole answers (streams do not count)
        self.seen: dict[str, int] = {}  # image link (or data URI) -> index, to dedupe
        self.request_id: str | None = None
        self.usage: object = None  # the raw usage last emitted
        self.pending_usage: dict[str, Any] | None = None  # the newest raw usage of a stream

    def flush_usage(self) -> Usage | None:
        """The stream's newest usage, if it changed since the last one emitted."""
        pending, self.pending_usage = self.pending_usage, None
        if pending is None or pending == self.usage:
            return None
        self.usage = pending
        return usage_from(pending)

    def image(
        self,
        source: str | None,
        data: InlineImage | None = None,
        revised_prompt: str | None = None,
    ) -> ImageRef | None:
        """A new ImageRef for a link (or inline base64), or None if this link was already seen."""
        if source is not None:
            if source in self.seen:
                return None
            self.seen[source] = self.images
        ref = ImageRef(self.images, url=source, data=data, revised_prompt=revised_prompt)
        self.images += 1
        return ref

    def request_id_event(self, document: dict[str, Any]) -> RequestId | None:
        value = document.get("request_id")
        if self.request_id is None and value and isinstance(value, str):
            self.request_id = value
            return RequestId(value)
        return None

    def usage_event(self, document: dict[str, Any]) -> Usage | None:
        raw = document.get("usage")
        if raw and isinstance(raw, dict) and raw != self.usage:
            self.usage = raw
            return usage_from(raw)
        return None

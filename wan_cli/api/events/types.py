"""The events an answer becomes; the package docstring gives their order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wan_cli.api.events.inline import InlineImage


@dataclass(frozen=True)
class TextDelta:
    """A new fragment of the model's text (content is incremental)."""

    text: str


@dataclass(frozen=True)
class ImageRef:
    """One generated image: a link to download, or inline base64 (OpenAI `b64_json`), kept as
    text and decoded when saved."""

    index: int  # 0-based, in the order images appeared in the answer
    url: str | None = None
    data: InlineImage | None = field(default=None, repr=False)
    # OpenAI images answers may say how the service rewrote the prompt for this image.
    revised_prompt: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token and image accounting; cumulative, so the last one wins."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    image_count: int | None = None
    size: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RequestId:
    """The service's request id, emitted once, as soon as it is first seen."""

    request_id: str


@dataclass(frozen=True)
class Done:
    """The answer is complete (last SSE chunk with finish_reason "stop", or a whole JSON body)."""

    finish_reason: str | None = None


@dataclass(frozen=True)
class ApiError:
    """The service reported an error (error event, error JSON, or an HTTP error body)."""

    code: str | None
    message: str | None
    request_id: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class StreamCut:
    """The stream ended (or broke) before its final chunk: an error, never success."""

    reason: str


@dataclass(frozen=True)
class TaskCreated:
    """The answer is an async task, not images (`output.task_id`)."""

    task_id: str
    status: str | None = None


Event = TextDelta | ImageRef | Usage | RequestId | Done | ApiError | StreamCut | TaskCreated

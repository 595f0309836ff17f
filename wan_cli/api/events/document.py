"""A whole JSON answer (any dialect, an async task, an error body) -> events."""

from __future__ import annotations

from collections.abc import Iterator

from wan_cli.api.events.answer import _Answer
from wan_cli.api.events.dashscope import _choices, _dashscope_output
from wan_cli.api.events.openai import _gateway_output, _openai_image
from wan_cli.api.events.service_errors import _error_in, _keys, _text
from wan_cli.api.events.types import ApiError, Done, Event, TaskCreated
from wan_cli.tasks.states import FAILURE_STATES


def events_from_json(document: object, *, status: int = 200) -> Iterator[Event]:
    """Translate any non-streamed answer body (already decoded from JSON) into events.

    Accepted: DashScope (`output.choices[]`, one choice per image when n > 1, read in order),
    the gateway's `output[]` of messages, OpenAI images (`data[]` of `url` / `b64_json`), OpenAI
    chat completions (`choices[].message`), async tasks (`output.task_id`), and error bodies.
    Content is followed by Usage and Done. An async task yields TaskCreated(task_id, status);
    a finished task's images follow it (then Done), a failed one gives ApiError. A body with
    no image, no text and no task is an ApiError("UnexpectedAnswer") naming its top-level keys,
    never a silent success. Image links inside text are extracted; see `links._text_events`.
    """
    yield from _document_events(document, status, _Answer())


def _document_events(
    document: object, status: int, answer: _Answer, *, final: bool = True
) -> Iterator[Event]:
    """The events of one whole body; `final=False` (a piece of a stream) leaves out the ending:
    no Done, and no UnexpectedAnswer for a piece without content."""
    if not isinstance(document, dict):
        kind = type(document).__name__
        yield ApiError(
            "UnexpectedAnswer", f"the answer is a JSON {kind}, not an object", None, status
        )
        return
    error = _error_in(document, status)
    if error is not None:
        yield error
        return
    if found := answer.request_id_event(document):
        yield found
    before = answer.images, answer.texts
    finish: str | None = None
    output = document.get("output")
    if isinstance(output, dict):
        task_id = output.get("task_id")
        task_status = output.get("task_status")
        task_status = task_status if isinstance(task_status, str) else None
        if task_id and isinstance(task_id, str):
            yield TaskCreated(task_id, task_status)
            state = (task_status or "").upper()
            if state in FAILURE_STATES:
                yield ApiError(
                    _text(output.get("code")) or f"Task{state.capitalize()}",
                    _text(output.get("message"))
                    or _text(output.get("msg"))
                    or f"the task ended {state}",
                    answer.request_id,
                    status,
                )
                return
            if state != "SUCCEEDED":
                return  # still pending or running: the caller polls
        finish = yield from _dashscope_output(output, answer)
    elif isinstance(output, list):
        yield from _gateway_output(output, answer)
    data = document.get("data")
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                image = _openai_image(item, answer)
                if isinstance(image, ApiError):
                    yield image
                    return
                if image is not None:
                    yield image
    choices = document.get("choices")
    if output is None and isinstance(choices, list):
        finish = yield from _choices(choices, answer)  # OpenAI chat completion
    if usage := answer.usage_event(document):
        yield usage
    if not final:
        return
    if (answer.images, answer.texts) == before:
        yield ApiError(
            "UnexpectedAnswer",
            f"the answer holds no image and no text ({_keys(document)})",
            answer.request_id,
            status,
        )
        return
    yield Done(finish)

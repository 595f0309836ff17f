"""An SSE answer (`sse.iter_sse` messages) -> events; every chunk of a stream passes here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from wan_cli.api.events.answer import _Answer
from wan_cli.api.events.content import _content_events
from wan_cli.api.events.document import _document_events
from wan_cli.api.events.openai import _openai_chunk
from wan_cli.api.events.service_errors import _error_in, _excerpt, _redact
from wan_cli.api.events.types import ApiError, Done, Event, StreamCut, TextDelta
from wan_cli.api.jsontext import TooDeep, may_be_too_deep
from wan_cli.api.jsontext import loads as loads_bounded
from wan_cli.api.sse import SSEMessage

_JSON_DECODER = json.JSONDecoder()
# Stream data shorter than this cannot nest more than 511 levels, which nothing downstream
# minds (re-encoding breaks near 900): only longer data pays for the nesting check.
_CHECK_NESTING_FROM = 1024
_UNREADABLE = object()  # marks stream data that is not JSON


def events_from_sse(messages: Iterable[SSEMessage]) -> Iterator[Event]:
    """Translate one SSE answer into events; stops after `Done`, `ApiError` or `StreamCut`.

    DashScope chunks (`output.choices[].message.content[]`) carry only new content: each text
    item becomes a TextDelta and each image item an ImageRef. Links inside streamed text are NOT
    extracted: a fragment may end in the middle of a URL, and the stream sends images as image
    items anyway. `usage` is cumulative, so Usage is emitted whenever it changes; RequestId once.
    The chunk whose finish_reason is neither null nor the string "null" is the last: its content
    comes out first, then Done. A stream that ends without one yields StreamCut; so does data that
    is not JSON. `event:error`, or data holding `code` + `message`/`msg` and no `output`, yields
    ApiError. OpenAI chat chunks (`choices[].delta.content`, `[DONE]`) are understood too.
    Messages in a non-streamed shape (gateway `output[]`, OpenAI `data[]`) go through the JSON
    translation; having no finish marker, they end with the stream: Done, or
    ApiError("UnexpectedAnswer") if they held no image and no text.
    """
    answer = _Answer()
    # raw_decode skips json.loads' two whitespace regex matches per chunk (the stream's hottest
    # line); anything it refuses (leading or trailing whitespace, bad JSON) goes to json.loads.
    raw_decode = _JSON_DECODER.raw_decode
    loads = json.loads
    openai_finish: str | None = None  # OpenAI chunks: usage may follow finish_reason
    openai_seen = False
    whole_seen = False  # messages in a non-streamed shape: the stream's end is their end
    for message in messages:
        data = message.data
        if message.event == "error":
            yield from _with_usage([_stream_error(data, answer)], answer)
            return
        if not data:
            continue
        if data == "[DONE]":
            yield Done(openai_finish)
            return
        try:
            if len(data) > _CHECK_NESTING_FROM and may_be_too_deep(data):
                document = loads_bounded(data)
            else:
                document, end = raw_decode(data)
                if end != len(data):
                    raise ValueError("data after the JSON value")
        except TooDeep as too_deep:
            cut = StreamCut(f"unreadable data in the stream: {too_deep}")
            yield from _with_usage([cut], answer)
            return
        except ValueError:
            try:
                document = loads(data)
            except ValueError:
                document = _UNREADABLE
        if document is _UNREADABLE:
            if data.isspace():
                continue
            yield from _with_usage(
                [StreamCut(f"unreadable data in the stream: {_excerpt(data)}")], answer
            )
            return
        if type(document) is not dict:
            yield from _with_usage(
                [StreamCut(f"unreadable data in the stream: {_excerpt(data)}")], answer
            )
            return
        if answer.request_id is None and (found := answer.request_id_event(document)):
            yield found
        output = document.get("output")
        choices = output.get("choices") if type(output) is dict else None
        if type(choices) is list:
            # The hot path (every DashScope chunk): plain loops, no helper generators.
            finish = None
            for choice in choices:
                if type(choice) is not dict:
                    continue
                reply = choice.get("message")
                content = reply.get("content") if type(reply) is dict else None
                if type(content) is list:
                    for item in content:
                        if type(item) is dict and item.get("type") == "text":
                            text = item.get("text")
                            if text and type(text) is str:
                                yield TextDelta(text)
                        else:
                            yield from _with_usage(
                                _content_events([item], answer, links=False), answer
                            )
                elif content:
                    yield from _with_usage(_content_events(content, answer, links=False), answer)
                reason = choice.get("finish_reason")
                if reason and reason != "null" and type(reason) is str:
                    finish = reason
            usage = document.get("usage")
            if usage and type(usage) is dict:
                # Cumulative and in every chunk: kept, and emitted before the next image and at
                # the end, not per text fragment (no one shows it mid-sentence; it is costly).
                answer.pending_usage = usage
            if finish:
                if (latest := answer.flush_usage()) is not None:
                    yield latest
                yield Done(finish)
                return
            continue
        if output is None and type(document.get("choices")) is list:
            openai_seen = True
            finish, events = _openai_chunk(document["choices"], answer)
            yield from events
            openai_finish = finish or openai_finish
            if usage := answer.usage_event(document):
                yield usage
            continue
        if output is None and (error := _error_in(document, None)) is not None:
            yield from _with_usage([error], answer)
            return
        if _is_whole_answer(document, output):
            # A gateway/OpenAI-images body sent as an SSE message: one whole answer, or pieces.
            # It has no finish marker, so keep reading; the end of the stream ends it.
            whole_seen = True
            events = list(_document_events(document, 200, answer, final=False))
            yield from events
            if any(isinstance(event, ApiError) for event in events):
                return
            continue
        # Anything else (heartbeats, unknown metadata) carries nothing we show.
    if openai_seen and openai_finish:
        yield Done(openai_finish)
    elif whole_seen and (answer.images or answer.texts):
        yield Done(None)
    elif whole_seen:
        empty = "the stream's answer holds no image and no text"
        yield ApiError("UnexpectedAnswer", empty, answer.request_id)
    else:
        if (latest := answer.flush_usage()) is not None:
            yield latest
        yield StreamCut("the stream ended before the final chunk")


def _with_usage(events: Iterable[Event], answer: _Answer) -> Iterator[Event]:
    """`events`, each image or error preceded by the stream's newest usage if it changed."""
    for event in events:
        if type(event) is not TextDelta and (latest := answer.flush_usage()) is not None:
            yield latest
        yield event


def _is_whole_answer(document: dict[str, Any], output: object) -> bool:
    """Whether a stream message has a non-streamed shape: gateway `output[]`, OpenAI `data[]`.
    (Async tasks are never streamed.)"""
    return type(output) is list or (output is None and type(document.get("data")) is list)


def _stream_error(data: str, answer: _Answer) -> ApiError:
    """An `event:error` message: JSON with code/message, or plain text."""
    try:
        document = loads_bounded(data) if data else None
    except ValueError:  # TooDeep too: then the message is its excerpt
        document = None
    if isinstance(document, dict):
        error = _error_in(document, None, force=True)
        if error is not None:
            if error.request_id is None and answer.request_id is not None:
                return ApiError(error.code, error.message, answer.request_id, error.status)
            return error
    message = _redact(_excerpt(data, quote=False)) if data.strip() else None
    return ApiError(None, message or "the service reported an error", answer.request_id)

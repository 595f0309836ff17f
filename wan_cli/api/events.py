"""Pure translation of every answer shape into one ordered stream of typed events.

Nothing here does I/O: SSE messages, decoded JSON and error bodies go in, `Event`s come out,
so every shape is unit-tested on recorded payloads without a network. The client calls:

- `events_from_sse(messages)` on `sse.iter_sse(chunks)` for a `text/event-stream` answer;
- `events_from_json(document, status=...)` for any other 2xx body;
- `error_event(status, body, content_type)` for an HTTP error answer.

Events come in answer order: RequestId (once), TextDelta / ImageRef as content appears, Usage
(whenever it changes), then exactly one of Done, ApiError, StreamCut; or TaskCreated for an
async task. ImageRef.index counts images across the whole answer; a repeated link is emitted once.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from wan_cli.api.sse import SSEMessage, iter_sse

if TYPE_CHECKING:
    import re


@dataclass(frozen=True)
class TextDelta:
    """A new fragment of the model's text (content is incremental)."""

    text: str


@dataclass(frozen=True)
class ImageRef:
    """One generated image: a link to download, or inline bytes (OpenAI `b64_json`)."""

    index: int  # 0-based, in the order images appeared in the answer
    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
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


# --------------------------------------------------------------------------------------------
# Shared state of one answer
# --------------------------------------------------------------------------------------------

_JSON_DECODER = json.JSONDecoder()
_UNREADABLE = object()  # marks stream data that is not JSON
_FAILED_TASK_STATES = frozenset({"FAILED", "CANCELED", "UNKNOWN"})
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
# Keys that mark a body as an answer (not an error) whatever else it holds.
_CONTENT_KEYS = ("output", "data", "choices")


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
        self, source: str | None, data: bytes | None = None, revised_prompt: str | None = None
    ) -> ImageRef | None:
        """A new ImageRef for a link (or inline bytes), or None if this link was already seen."""
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


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


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
            document, end = raw_decode(data)
            if end != len(data):
                raise ValueError("data after the JSON value")
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


def _finish_reason(choice: dict[str, Any]) -> str | None:
    """A choice's finish_reason, unless it is null or the string "null" (not finished)."""
    reason = choice.get("finish_reason")
    return reason if reason and isinstance(reason, str) and reason != "null" else None


def _stream_error(data: str, answer: _Answer) -> ApiError:
    """An `event:error` message: JSON with code/message, or plain text."""
    try:
        document = json.loads(data) if data else None
    except ValueError:
        document = None
    if isinstance(document, dict):
        error = _error_in(document, None, force=True)
        if error is not None:
            if error.request_id is None and answer.request_id is not None:
                return ApiError(error.code, error.message, answer.request_id, error.status)
            return error
    message = _redact(_excerpt(data, quote=False)) if data.strip() else None
    return ApiError(None, message or "the service reported an error", answer.request_id)


# --------------------------------------------------------------------------------------------
# Whole JSON documents
# --------------------------------------------------------------------------------------------


def events_from_json(document: object, *, status: int = 200) -> Iterator[Event]:
    """Translate any non-streamed answer body (already decoded from JSON) into events.

    Accepted: DashScope (`output.choices[]`, one choice per image when n > 1, read in order),
    the gateway's `output[]` of messages, OpenAI images (`data[]` of `url` / `b64_json`), OpenAI
    chat completions (`choices[].message`), async tasks (`output.task_id`), and error bodies.
    Content is followed by Usage and Done. An async task yields TaskCreated(task_id, status);
    a finished task's images follow it (then Done), a failed one gives ApiError. A body with
    no image, no text and no task is an ApiError("UnexpectedAnswer") naming its top-level keys,
    never a silent success. Image links inside text are extracted; see `_text_events`.
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
            if state in _FAILED_TASK_STATES:
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
                encoded = item.get("b64_image")
                inline = f"data:image/png;base64,{encoded}" if encoded else None
                event = _image_item(item.get("url") or inline, answer)
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


def _gateway_output(output: list[Any], answer: _Answer) -> Iterator[Event]:
    """The gateway's `output[]`: messages with content items; Responses-API image calls."""
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "image_generation_call":
            result = item.get("result")
            if isinstance(result, str) and result:
                event = _image_item(f"data:image/png;base64,{result}", answer)
                if event is not None:
                    yield event
        elif "content" in item:
            yield from _content_events(item.get("content"), answer, links=True)
        else:  # a bare content item directly in output[]
            yield from _content_events([item], answer, links=True)


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


def _image_item(source: object, answer: _Answer) -> ImageRef | None:
    """An image given as a link or a `data:` URI (decoded to bytes); None if seen or empty."""
    if not source or not isinstance(source, str):
        return None
    if source.startswith("data:"):
        if source in answer.seen:
            return None
        payload = _decode_data_uri(source)
        if payload is None:
            return None
        ref = answer.image(None, data=payload)
        if ref is not None:
            answer.seen[source] = ref.index
        return ref
    return answer.image(source)


def _openai_image(item: dict[str, Any], answer: _Answer) -> ImageRef | ApiError | None:
    """One entry of OpenAI's `data[]`.

    `revised_prompt` is not the model's text but the service's rewrite of the prompt, so it
    rides on the ImageRef (for provenance) instead of becoming a TextDelta.
    """
    revised = item.get("revised_prompt")
    revised = revised if isinstance(revised, str) and revised else None
    encoded = item.get("b64_json")
    if encoded and isinstance(encoded, str):
        payload = _decode_base64(
            encoded.partition(",")[2] if encoded.startswith("data:") else encoded
        )
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


def _decode_data_uri(uri: str) -> bytes | None:
    header, comma, payload = uri.partition(",")
    if not comma or not header.endswith(";base64"):
        return None
    return _decode_base64(payload)


def _decode_base64(text: str) -> bytes | None:
    import base64
    import binascii

    try:
        payload = base64.b64decode(text)
    except (binascii.Error, ValueError):
        return None
    return payload or None


# --------------------------------------------------------------------------------------------
# Links inside text (whole answers only)
# --------------------------------------------------------------------------------------------


@cache
def _link_pattern() -> re.Pattern[str]:
    import re

    # A markdown image `![alt](url "title")` or link `[text](url)`, or a bare http(s) URL.
    # Bare URLs stop at whitespace, quotes, angle brackets and any non-ASCII character (text in
    # Chinese often runs straight on after a link: "…png，然后").
    return re.compile(
        r"(?P<md>(?P<bang>!?)\[[^\]\n]*\]\(\s*<?(?P<mdurl>(?:https?://|data:image/)[^\s<>()]+)>?"
        r"""(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\))"""
        r"|(?P<bare>https?://[^\s<>\"'`\x7f-\U0010ffff]+)"
    )


def looks_like_image_link(url: str) -> bool:
    """Whether a link's path ends in an image extension (query and fragment ignored)."""
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    return path.endswith(_IMAGE_EXTENSIONS)


def _trim_bare_url(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets glued to the end of a URL."""
    while url:
        last = url[-1]
        unbalanced = (last == ")" and url.count("(") < url.count(")")) or (
            last == "]" and url.count("[") < url.count("]")
        )
        if not unbalanced and last not in ".,;:!?*_~'\"":
            break
        url = url[:-1]
    return url


def _text_events(text: str, answer: _Answer) -> Iterator[Event]:
    """A whole text item: image links become ImageRefs and `[image N]` in the text.

    Taken as images: every markdown image `![alt](url)`; a markdown link `[text](url)` or a bare
    http(s) URL whose path ends in an image extension (.png .jpg .jpeg .webp .gif .bmp); and a
    text item that is nothing but one URL (the gateway's "description or image link"). Each is
    replaced by `[image N]` (N = index + 1; a repeated link reuses its number and is not emitted
    twice), so the text still reads in order. Other links stay as they are. If nothing but
    placeholders and whitespace is left, no TextDelta is emitted: the ImageRefs say it all.
    The text comes first, then the images it named, in order.
    """
    if "http" not in text and "data:image/" not in text:
        answer.texts += not text.isspace()
        yield TextDelta(text)
        return
    found: list[ImageRef] = []
    whole = text.strip()

    def take(source: str) -> str | None:
        """The placeholder for an image link (emitting it if new), or None if unreadable."""
        index = answer.seen.get(source)
        if index is None:
            ref = _image_item(source, answer)
            if ref is None:
                return None
            found.append(ref)
            index = ref.index
        return f"[image {index + 1}]"

    def replace(match: re.Match[str]) -> str:
        if match.group("md"):
            url = match.group("mdurl")
            if match.group("bang") or url.startswith("data:") or looks_like_image_link(url):
                return take(url) or match.group(0)
            return match.group(0)
        raw = match.group("bare")
        url = _trim_bare_url(raw)
        if url and (looks_like_image_link(url) or url == whole):
            placeholder = take(url)
            if placeholder is not None:
                return placeholder + raw[len(url) :]
        return raw

    kept = _link_pattern().sub(replace, text)
    if found:
        leftover = kept
        for ref in found:
            leftover = leftover.replace(f"[image {ref.index + 1}]", "")
        if leftover.strip():
            answer.texts += 1
            yield TextDelta(kept)
        yield from found
    elif kept.strip():
        answer.texts += 1
        yield TextDelta(kept)


# --------------------------------------------------------------------------------------------
# Usage and errors
# --------------------------------------------------------------------------------------------


def usage_from(raw: dict[str, Any]) -> Usage:
    """Map a usage object (DashScope, gateway or OpenAI names) to Usage, keeping it as `raw`.

    Called for most stream chunks (output_tokens grows): DashScope's int fields skip `_int`.
    """
    get = raw.get
    prompt = get("input_tokens")
    if type(prompt) is not int:
        prompt = _int(get("prompt_tokens") if prompt is None else prompt)
    completion = get("output_tokens")
    if type(completion) is not int:
        completion = _int(get("completion_tokens") if completion is None else completion)
    total = get("total_tokens")
    if type(total) is not int:
        total = _int(total)
    images = get("image_count")
    if type(images) is not int:
        images = _int(images)
    size = get("size")
    if type(size) is not str or not size:
        width, height = _int(get("width")), _int(get("height"))
        size = f"{width}*{height}" if width and height else None
    return Usage(prompt, completion, total, images, size, raw)


def error_event(status: int, body: bytes, content_type: str | None) -> ApiError:
    """The ApiError for an HTTP error answer, whatever its body.

    JSON `{"code", "message"|"msg", "request_id"}` or OpenAI's `{"error": {...}}`; an SSE body
    whose first data line holds that JSON; an HTML page from a proxy (its title is kept); plain
    text; or nothing at all. The message never repeats an API key the body might echo.
    """
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.strip()
    kind = (content_type or "").lower()
    if not stripped:
        return ApiError(None, f"{_status_line(status)} with an empty body", None, status)
    if "event-stream" in kind or stripped.startswith(("data:", "event:", "id:", ":")):
        for message in iter_sse([body]):
            if message.data:
                stripped = message.data.strip()
                break
    if stripped.startswith(("{", "[")):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
        if isinstance(document, dict):
            error = _error_in(document, status, force=True)
            if error is not None:
                return error
            return ApiError(None, f"{_status_line(status)} ({_keys(document)})", None, status)
    if "html" in kind or stripped.startswith("<"):
        title = _html_title(stripped)
        detail = f": {title}" if title else ""
        return ApiError(
            None,
            f"{_status_line(status)}: an HTML page, not the API's answer{detail}",
            None,
            status,
        )
    return ApiError(
        None, f"{_status_line(status)}: {_excerpt(stripped, quote=False)}", None, status
    )


def _error_in(
    document: dict[str, Any], status: int | None, *, force: bool = False
) -> ApiError | None:
    """The error a JSON body reports, or None if it is an answer.

    An error is OpenAI's `{"error": ...}`, or `code` / `message` / `msg` in a body with no
    answer keys. With an HTTP error status (or `force`), any body is an error.
    """
    request_id = _text(document.get("request_id"))
    failing = force or (status is not None and status >= 400)
    nested = document.get("error")
    if isinstance(nested, dict):
        return ApiError(
            _text(nested.get("code")) or _text(nested.get("type")),
            _redact_or_none(_text(nested.get("message")) or _text(nested.get("msg"))),
            request_id or _text(nested.get("request_id")),
            status,
        )
    has_answer = any(key in document for key in _CONTENT_KEYS)
    if has_answer and not failing:
        return None
    code = _text(document.get("code"))
    message = _text(document.get("message")) or _text(document.get("msg"))
    if isinstance(nested, str) and nested:
        message = message or nested
    if code or message:
        return ApiError(code, _redact_or_none(message), request_id, status)
    if failing and status is not None and status >= 400:
        return ApiError(None, f"{_status_line(status)} ({_keys(document)})", request_id, status)
    return None


def _keys(document: dict[str, Any]) -> str:
    return "JSON keys: " + (", ".join(sorted(map(str, document))) or "none")


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _html_title(page: str) -> str | None:
    import html
    import re

    match = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    if match is None:
        return None
    title = " ".join(html.unescape(match.group(1)).split())
    return _redact(title[:200]) or None


@cache
def _secret_pattern() -> re.Pattern[str]:
    import re

    return re.compile(r"(?i)(bearer\s+|\bsk-)[A-Za-z0-9._\-]{4,}")


def _redact(text: str) -> str:
    """Mask anything shaped like an API key (`sk-…`, `Bearer …`) a service echoed back."""
    if "sk-" not in text and "earer" not in text.lower():
        return text
    return _secret_pattern().sub(lambda match: match.group(1) + "***", text)


def _redact_or_none(text: str | None) -> str | None:
    return _redact(text) if text else None


def _excerpt(text: str, *, quote: bool = True, limit: int = 120) -> str:
    """A short one-line piece of untrusted text, for messages."""
    short = " ".join(text.split())
    if len(short) > limit:
        short = short[: limit - 1] + "…"
    return repr(short) if quote else short


def _text(value: object) -> str | None:
    """A non-empty string field (numbers, as some services send codes, become strings)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None

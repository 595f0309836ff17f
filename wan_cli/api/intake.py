"""Where what the service sends enters `wan`: every answer of the API is read through here.

`client.open_answer` wraps each response in a `ServiceAnswer`, built with the `Redactor` of the
key in use, and nothing else reads an API response. So, in one place:

- every body is decompressed by us (gzip or deflate, the encodings we ask for) a piece at a
  time, and reading stops at a bound on the *decompressed* size: a 1 MB gzip bomb cannot
  become gigabytes in memory;
- every body byte, header value, reason phrase and transport error message has the exact API
  key (and its URL-encoded and JSON-escaped forms) replaced by `***` before anything parses,
  shows or records it, whatever shape the echo takes.

The bounds, and what passing each ends with (docs/troubleshooting.md):

| what | bound | past it |
|---|---|---|
| a whole JSON answer | `ANSWER_LIMIT` | exit 6, `AnswerTooLarge` |
| an HTTP error body | `ERROR_LIMIT` | only its first part is read; the status decides |
| a task's create / query answer | `TASK_LIMIT` | exit 6, `AnswerTooLarge` |
| one SSE event (blank line to blank line) | `EVENT_LIMIT` | exit 6, images so far kept |
| a whole SSE stream | `STREAM_LIMIT` | exit 6, images so far kept |

An event may carry one inline base64 image (a data URI), so its bound is an answer's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from wan_cli.errors import ServiceUnavailable

if TYPE_CHECKING:
    import httpx

MIB = 1 << 20
ANSWER_LIMIT = 32 * MIB  # room for a few inline base64 PNGs (OpenAI-style `b64_json`)
ERROR_LIMIT = 1 * MIB
TASK_LIMIT = 1 * MIB  # a task's answer holds links, never image data
EVENT_LIMIT = 32 * MIB  # one event carries at most one image
STREAM_LIMIT = 256 * MIB  # five inline images and their text, with room to spare
# The encodings we ask for and decode ourselves (so the bound counts decompressed bytes).
ACCEPT_ENCODING = "gzip, deflate"
# Keys shorter than this are not real keys (tests use "k"); masking them would mangle answers.
MIN_REDACTED_KEY = 8
MASK = "***"
_PIECE = 64 * 1024  # decompressed bytes produced per step


def too_large(what: str, limit: int) -> ServiceUnavailable:
    """The error of an answer that passed one of the bounds."""
    return ServiceUnavailable(
        f"the service sent {what} larger than {limit // MIB} MiB: stopped reading it",
        hint="a misbehaving service or proxy; report it with the request id if it persists",
        code="AnswerTooLarge",
    )


# -- redaction ----------------------------------------------------------------------------------


def key_forms(api_key: str) -> tuple[str, ...]:
    """The ways a service may echo the key: as is, URL-encoded (`quote` with and without "/"
    safe, `quote_plus`; upper- or lower-case hex) and JSON-escaped ("\\/"). Longest first; none
    for a key too short to be real."""
    import re
    from urllib.parse import quote, quote_plus

    if len(api_key) < MIN_REDACTED_KEY:
        return ()
    encoded = {quote(api_key, safe=""), quote(api_key), quote_plus(api_key)}
    encoded |= {quote_plus(api_key, safe="/")}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in encoded}
    escaped = {api_key.replace("\\", "\\\\").replace('"', '\\"').replace("/", "\\/")}
    forms = {api_key} | encoded | lower | escaped
    return tuple(sorted(forms, key=lambda form: (-len(form), form)))


class Redactor:
    """Replaces the API key in use, in any of `key_forms`, by `***`: in text, in a whole body,
    and in a stream of chunks (with `held_from`, as `ServiceAnswer.stream` does)."""

    __slots__ = ("_anchor", "_firsts", "_forms", "_keep", "_texts")

    def __init__(self, api_key: str) -> None:
        import re

        self._texts = key_forms(api_key)
        self._forms = tuple(form.encode("utf-8") for form in self._texts)
        self._firsts = tuple({form[:1] for form in self._forms})
        self._keep = max((len(form) for form in self._forms), default=1) - 1
        # The longest run of characters no form changes (unreserved in URLs, plain in JSON):
        # a chunk without it holds no form, so most chunks cost one search, not one per form.
        runs = re.findall(r"[A-Za-z0-9_.~-]+", api_key) if self._forms else []
        self._anchor = max(runs, key=len).encode() if runs else b""

    def text(self, text: str) -> str:
        if self._anchor and self._anchor.decode() not in text:
            return text
        for form in self._texts:
            if form in text:
                text = text.replace(form, MASK)
        return text

    @property
    def active(self) -> bool:
        """Whether there is a key to redact (none for a key too short to be real)."""
        return bool(self._forms)

    def data(self, data: bytes) -> bytes:
        if self._anchor and self._anchor not in data:
            return data
        for form in self._forms:
            if form in data:
                data = data.replace(form, MASK.encode())
        return data

    def held_from(self, data: bytes) -> int:
        """Where the longest tail of `data` that could begin a form starts (len if none): that
        tail waits for the next chunk, so a key split between two chunks is still found. A
        chunk ending in a line break (every SSE event does) holds nothing: no form has one."""
        end = len(data)
        if not self._forms or data.endswith(b"\n"):
            return end
        start = max(0, end - self._keep)
        best = end
        for first in self._firsts:
            at = data.find(first, start, best)
            while at != -1:
                tail = data[at:]
                if any(form.startswith(tail) for form in self._forms):
                    best = at
                    break
                at = data.find(first, at + 1, best)
        return best


# -- the answer -----------------------------------------------------------------------------


class ServiceAnswer:
    """One response of the API as the rest of `wan` sees it: its status, its headers with the
    key redacted, and its body read decompressed, bounded and redacted."""

    def __init__(self, response: httpx.Response, redactor: Redactor) -> None:
        self._response = response
        self._redactor = redactor
        self.status_code = response.status_code
        self.reason = redactor.text(response.reason_phrase)
        headers = response.headers
        self.headers: dict[str, str] = {name: redactor.text(headers[name]) for name in headers}

    @property
    def is_success(self) -> bool:
        return self._response.is_success

    @property
    def is_redirect(self) -> bool:
        return self._response.is_redirect

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def close(self) -> None:
        self._response.close()

    def read(
        self, limit: int = ANSWER_LIMIT, *, what: str = "an answer", cut: bool = False
    ) -> bytes:
        """The whole body, at most `limit` bytes decompressed: past it, `too_large` is raised,
        or with `cut` the first `limit` bytes are returned (an error body's start says enough)."""
        body = bytearray()
        for piece in self._decoded():
            body += piece
            if len(body) > limit:
                if cut:
                    del body[limit:]
                    break
                raise too_large(what, limit)
        return self._redactor.data(bytes(body))

    def stream(self) -> Iterator[bytes]:
        """The body as it arrives, for an SSE answer: each event and the whole stream bounded,
        the key redacted. One loop (it runs for every chunk of a stream)."""
        redactor = self._redactor
        redact, held_from = redactor.data, redactor.held_from
        active = redactor.active
        total = 0
        event = 0  # bytes since the last blank line
        pending = b""
        for piece in self._decoded():
            size = len(piece)
            total += size
            if piece.endswith(b"\n\n"):
                event = 0
            else:
                blank = max(piece.rfind(b"\n\n"), piece.rfind(b"\n\r\n"), piece.rfind(b"\r\r"))
                # A blank line split between two pieces is not seen: the count runs on to the
                # next one, so it is never short.
                event = event + size if blank < 0 else size - blank
            if event > EVENT_LIMIT:
                raise too_large("one stream event", EVENT_LIMIT)
            if total > STREAM_LIMIT:
                raise too_large("a stream", STREAM_LIMIT)
            if not active:
                yield piece
                continue
            data = redact(pending + piece if pending else piece)
            cut = held_from(data)
            pending = data[cut:]
            if cut:
                yield data[:cut] if pending else data
        if pending:
            yield pending

    def _decoded(self) -> Iterator[bytes]:
        encoding = self.headers.get("content-encoding", "").strip().lower()
        raw = self._raw()
        if encoding in ("", "identity"):
            return raw
        if encoding in ("gzip", "x-gzip", "deflate"):
            return _inflated(raw, gzip=encoding != "deflate")
        raise ServiceUnavailable(
            f"the answer is encoded as {encoding!r}, which wan did not ask for",
            hint=f"wan asks for {ACCEPT_ENCODING}; a proxy may be rewriting the answer",
            code="UnexpectedAnswer",
        )

    def _raw(self) -> Iterator[bytes]:
        """The body's bytes as they arrive; a broken connection's message is redacted too."""
        import httpx

        try:
            yield from self._response.iter_raw()
        except httpx.HTTPError as error:
            error.args = (self._redactor.text(str(error)),)
            raise


def _inflated(raw: Iterable[bytes], *, gzip: bool) -> Iterator[bytes]:
    """gzip or deflate decoded a piece at a time: never more than `_PIECE` bytes out of one
    step, however well the input compresses."""
    import zlib

    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    first = True
    try:
        for chunk in raw:
            if first and not gzip and chunk:
                first = False
                if not _zlib_header(chunk):  # raw deflate, as some servers send it
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            data = chunk
            while True:
                piece = inflater.decompress(data, _PIECE)
                if piece:
                    yield piece
                data = inflater.unconsumed_tail
                if not data and len(piece) < _PIECE:
                    break
            if inflater.eof:
                return
        rest = inflater.flush()
    except zlib.error as error:
        raise ServiceUnavailable(
            f"the answer's compressed data is corrupt ({error})", code="UnexpectedAnswer"
        ) from None
    if rest:
        yield rest


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0

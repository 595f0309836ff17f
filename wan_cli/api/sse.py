"""SSE framing: raw response bytes → `SSEMessage`s, the `text/event-stream` layer and no more.

httpx-sse's spec-following decoders do the lines and fields; what a message means is the job of
`events.events_from_sse`. Pure: bytes in, messages out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple


class SSEMessage(NamedTuple):
    """One dispatched SSE message. A NamedTuple (immutable, and cheaper to build than a frozen
    dataclass) because a long stream makes thousands of them."""

    event: str  # "message" when the frame had no `event:` line
    data: str  # the `data:` lines joined by "\\n"
    id: str  # the last `id:` seen (SSE keeps it across messages)


def iter_sse(chunks: Iterable[bytes]) -> Iterator[SSEMessage]:
    """Frame raw response bytes into SSE messages, with httpx-sse's spec-following decoder.

    Chunks may split lines, CRLF pairs and multi-byte UTF-8 characters anywhere. Added to what
    httpx-sse does: a leading BOM is dropped, invalid UTF-8 becomes U+FFFD instead of raising, a
    final message without its closing blank line is still delivered, and messages with neither
    data nor an event name (a frame of only `id:`) are skipped, as the SSE spec says.
    """
    import codecs

    from wan_cli.compat import sse_decoders  # imports httpx: kept out of start-up

    # "utf-8-sig" drops a BOM at the very start, even one split across chunks.
    text_decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    line_decoder, sse_decoder = sse_decoders()
    decode_line = sse_decoder.decode
    for chunk in chunks:
        text = text_decoder.decode(chunk)
        if not text:
            continue
        for line in line_decoder.decode(text):
            sse = decode_line(line)
            if sse is not None and (sse.data or sse.event != "message"):
                yield SSEMessage(sse.event, sse.data, sse.id)
    tail = text_decoder.decode(b"", final=True)
    lines = line_decoder.decode(tail) if tail else []
    # The trailing "" dispatches a message the server did not close with a blank line.
    lines += [*line_decoder.flush(), ""]
    for line in lines:  # as in the loop above, which stays inline: it runs for every line
        sse = decode_line(line)
        if sse is not None and (sse.data or sse.event != "message"):
            yield SSEMessage(sse.event, sse.data, sse.id)

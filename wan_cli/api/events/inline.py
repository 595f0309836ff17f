"""An image that came inside the answer as base64 (`b64_json`, a `data:` URI): kept as the
answer's own text and decoded only when it is saved, slice by slice, so a big image is never
in memory twice (as text and as bytes) and its size is known before anything is decoded."""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re

# Base64 characters decoded at a time (a multiple of 4): 768 KiB of image per slice.
SLICE_CHARS = 1 << 20
_WHITESPACE = " \t\r\n"


class InlineImage:
    """Base64 text, from `start` on (a `data:` URI keeps its header before it)."""

    __slots__ = ("start", "text")

    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.start = start

    @property
    def encoded_length(self) -> int:
        return len(self.text) - self.start

    def decoded_size(self) -> int:
        """The image's size in bytes, from the text's length alone (line breaks skipped;
        exact for well-formed base64): a size cap is checked before any decoding."""
        text, start = self.text, self.start
        count = self.encoded_length - sum(text.count(c, start) for c in _WHITESPACE)
        tail = text[max(start, len(text) - 8) :].rstrip(_WHITESPACE)
        padding = min(2, len(tail) - len(tail.rstrip("=")))
        return max(0, count * 3 // 4 - padding)

    def readable(self) -> bool:
        """Whether this can be an image's base64 (checked when the answer arrives, cheaply: the
        usual unbroken base64 is only measured here, its characters are checked when decoded)."""
        if self.encoded_length <= 0 or not self.text.isascii():
            return False
        if self.encoded_length % 4 == 0:
            return True
        try:  # line breaks, or a wrong length: only decoding tells
            return sum(len(chunk) for chunk in self.chunks()) > 0
        except ValueError:
            return False

    def chunks(self, slice_chars: int = SLICE_CHARS) -> Iterator[bytes]:
        """The decoded image, slice by slice. As lenient as `base64.b64decode`: characters
        outside the alphabet (line breaks) are skipped; raises ValueError (binascii.Error) when
        the padding is wrong or the text is not ASCII."""
        text, end, position = self.text, len(self.text), self.start
        carry = ""
        while position < end:
            piece = text[position : position + slice_chars]
            position += len(piece)
            if carry:
                piece = carry + piece
            cut = len(piece) - len(piece) % 4
            try:  # the usual case: unbroken base64, decoded strictly (and fast)
                decoded = binascii.a2b_base64(piece[:cut], strict_mode=True)
            except binascii.Error:  # line breaks or stray characters: drop them, realign
                piece = _not_base64().sub("", piece)
                cut = len(piece) - len(piece) % 4
                decoded = binascii.a2b_base64(piece[:cut])
            carry = piece[cut:]
            if decoded:
                yield decoded
        if carry:
            yield binascii.a2b_base64(carry)  # a length no padding explains: raises

    def decode(self) -> bytes:
        """The whole image at once (small images; tests)."""
        return b"".join(self.chunks())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InlineImage):
            return NotImplemented
        if self.encoded_length != other.encoded_length:
            return False
        payload = other.text if other.start == 0 else other.text[other.start :]
        return self.text.startswith(payload, self.start)

    def __hash__(self) -> int:
        return hash(self.encoded_length)

    def __repr__(self) -> str:  # never the data itself: it may be hundreds of MB
        return f"InlineImage({self.encoded_length} base64 characters)"


@cache
def _not_base64() -> re.Pattern[str]:
    import re

    return re.compile(r"[^A-Za-z0-9+/=]+")

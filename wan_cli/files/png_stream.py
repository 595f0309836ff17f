"""PNG text chunks written while the image is being saved: an incremental chunk splicer, and the
chunk helpers it shares with `provenance` (which copies a finished file instead).

Pure: no I/O. `PngSplicer` is fed the original bytes in pieces split anywhere and
hands back the bytes to write: the same PNG with one iTXt chunk per entry right after IHDR and
the older text chunks with those keywords left out. Every chunk's CRC is checked as it passes
(incrementally: a big IDAT costs no memory). The entries may come later than the first bytes (a
run's text may still be streaming): until then what follows IHDR is held, up to `hold_limit`.

When it cannot splice (not a PNG, IHDR not first, a bad CRC or chunk header, no IEND, the hold
limit passed, no entries by the end) it gives up: what it held and everything after goes out
exactly as it came, `problem` says why, and the caller falls back to copying the finished file
(`provenance.embed_png_text`, which leaves a malformed PNG untagged). Bytes after IEND pass
through untouched, as `sniff.truncation` tolerates them.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Mapping

from wan_cli.files.sniff import PNG_SIGNATURE

TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
# Text chunks larger than this are passed on without being inspected (constant memory).
MAX_TEXT_CHUNK = 4 * 1024 * 1024
MAX_CHUNK_LENGTH = 2**31 - 1
# What may be held while the entries are not known yet (a 3 MB image fits whole).
HOLD_LIMIT = 16 * 1024 * 1024

# The signature and IHDR (length, type, 13 bytes, CRC): the new chunks go right after.
_IHDR_END = len(PNG_SIGNATURE) + 12 + 13
# A keyword is 1-79 bytes and a NUL: its first 80 bytes tell a text chunk's keyword.
_KEYWORD_ROOM = 80

# Where the parser is in the original stream.
_SIGNATURE, _HEADER, _DATA, _CRC, _AFTER_IEND = range(5)


# -- chunks --------------------------------------------------------------------------------


def chunk(ctype: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(ctype))
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def make_itxt(keyword: str, text: str) -> bytes:
    # iTXt: keyword NUL, compression flag 0, method 0, language tag NUL, translated keyword NUL.
    check_keyword(keyword)
    data = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    return chunk(b"iTXt", data)


def text_chunks(entries: Mapping[str, str]) -> tuple[bytes, frozenset[bytes]]:
    """The iTXt chunks for `entries`, and the keywords whose older text chunks they replace.
    Raises ValueError for a keyword PNG does not allow."""
    new = b"".join(make_itxt(keyword, text) for keyword, text in entries.items())
    return new, frozenset(keyword.encode("latin-1") for keyword in entries)


def check_keyword(keyword: str) -> None:
    """PNG keywords: 1-79 printable Latin-1 characters, no leading, trailing or double spaces."""
    try:
        raw = keyword.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"PNG keyword must be Latin-1: {keyword!r}") from None
    if not 1 <= len(raw) <= 79:
        raise ValueError(f"PNG keyword must be 1-79 characters: {keyword!r}")
    if any(b < 32 or 126 < b < 161 for b in raw):
        raise ValueError(f"PNG keyword has a non-printable character: {keyword!r}")
    if keyword != keyword.strip() or "  " in keyword:
        raise ValueError(f"PNG keyword has leading, trailing or double spaces: {keyword!r}")


def chunk_header(header: bytes) -> tuple[int, bytes]:
    """A chunk's (length, type) from its 8 header bytes; ValueError when they make no sense."""
    length, ctype = struct.unpack(">I4s", header)
    if length > MAX_CHUNK_LENGTH or not ctype.isalpha() or not ctype.isascii():
        raise ValueError("corrupt PNG chunk header")
    return int(length), bytes(ctype)


def text_keyword(data: bytes) -> bytes:
    """A text chunk's keyword, from (at least the first 80 bytes of) its data."""
    return data.split(b"\x00", 1)[0]


# -- the splicer ---------------------------------------------------------------------------


class PngSplicer:
    """Feed it a PNG's bytes (`feed`), the entries when known (`provide`), then `finish`; write
    what each call returns, in order. See the module's docstring."""

    def __init__(
        self, entries: Mapping[str, str] | None = None, *, hold_limit: int = HOLD_LIMIT
    ) -> None:
        self._hold_limit = hold_limit
        self._insert: bytes | None = None  # the new chunks, once the entries are known
        self._replaced: frozenset[bytes] = frozenset()
        # Committed to splicing, from the moment both IHDR and the entries are known (whatever
        # the pieces), and whether the new chunks were handed out yet.
        self._inserted = False
        self._insert_out = False
        self._problem: str | None = None
        # The parser, over the original stream.
        self._fed = 0
        self._step = _SIGNATURE
        self._field = bytearray()  # the signature, a chunk header or a CRC, being collected
        self._want = len(PNG_SIGNATURE)
        self._ctype = b""
        self._start = 0  # where the current chunk starts
        self._left = 0  # its data bytes still to come
        self._crc = 0
        self._keyword: bytearray | None = None  # a text chunk's first bytes (it may be dropped)
        self._ihdr_done = False
        # Original bytes [released, fed) not handed on yet, and the complete text chunks in them.
        self._held: deque[bytes] = deque()
        self._released = 0
        self._texts: deque[tuple[int, int, bytes]] = deque()  # start, end, keyword
        if entries is not None:
            self._learn(entries)

    @property
    def waiting(self) -> bool:
        """It would splice, but the entries are not known yet."""
        return self._insert is None and self._problem is None

    @property
    def whole(self) -> bool:
        """Everything up to IEND came and was well formed."""
        return self._step == _AFTER_IEND

    @property
    def spliced(self) -> bool:
        """After `finish`: what was handed out is the PNG with the entries' chunks."""
        return self._inserted and self._problem is None

    @property
    def problem(self) -> str | None:
        """Why it gave up (then it passes the original bytes through), or None."""
        return self._problem

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next original bytes; returns the bytes to write now (maybe none)."""
        if not data:
            return []
        if self._problem is not None:  # nothing is held any more: pass it through
            self._fed += len(data)
            self._released = self._fed
            return [data]
        self._held.append(data)
        self._parse(data)
        if self.waiting and self._fed - self._released > self._hold_limit:
            self._give_up(f"the PNG text was not known within {self._hold_limit} bytes")
        return self._release()

    def provide(self, entries: Mapping[str, str]) -> list[bytes]:
        """The entries to write; returns the bytes this releases. Only the first call counts."""
        if self.waiting:
            self._learn(entries)
        return self._release()

    def finish(self) -> list[bytes]:
        """The input is over; returns the last bytes to write."""
        if self._step != _AFTER_IEND:
            self._give_up("truncated PNG (no IEND chunk)")
        if self._insert is None:
            self._give_up("the PNG text never came")
        return self._release()

    # -- parsing ---------------------------------------------------------------------------

    def _learn(self, entries: Mapping[str, str]) -> None:
        try:
            self._insert, self._replaced = text_chunks(entries)
        except ValueError as error:
            self._give_up(str(error))
        self._inserted = self._ihdr_done and self._problem is None

    def _give_up(self, why: str) -> None:
        if self._problem is None:
            self._problem = why

    def _parse(self, data: bytes) -> None:
        view = memoryview(data)
        at, end = 0, len(data)
        while at < end and self._problem is None and self._step != _AFTER_IEND:
            if self._step == _DATA:
                part = view[at : at + self._left]
                self._crc = zlib.crc32(part, self._crc)
                if self._keyword is not None and len(self._keyword) < _KEYWORD_ROOM:
                    self._keyword += part[: _KEYWORD_ROOM - len(self._keyword)]
                self._left -= len(part)
                at += len(part)
                if not self._left:
                    self._expect(_CRC, 4)
            else:
                part = view[at : at + self._want - len(self._field)]
                self._field += part
                at += len(part)
                if len(self._field) == self._want:
                    field = bytes(self._field)
                    self._field.clear()
                    self._complete(field, self._fed + at)
        self._fed += end

    def _expect(self, step: int, size: int) -> None:
        self._step, self._want = step, size

    def _complete(self, field: bytes, position: int) -> None:
        """A whole signature, chunk header or CRC ends at `position` of the original."""
        if self._step == _SIGNATURE:
            if field != PNG_SIGNATURE:
                self._give_up("not a PNG file (bad signature)")
                return
            self._expect(_HEADER, 8)
        elif self._step == _HEADER:
            try:
                length, ctype = chunk_header(field)
            except ValueError as error:
                self._give_up(str(error))
                return
            first = position == len(PNG_SIGNATURE) + 8
            if first and (ctype != b"IHDR" or length != 13):
                self._give_up("not a PNG file (IHDR is not the first chunk)")
                return
            self._ctype, self._start, self._left = ctype, position - 8, length
            self._crc = zlib.crc32(ctype)
            small_text = ctype in TEXT_CHUNKS and length <= MAX_TEXT_CHUNK
            self._keyword = bytearray() if small_text else None
            if length:
                self._expect(_DATA, 0)
            else:
                self._expect(_CRC, 4)
        else:
            if struct.unpack(">I", field)[0] != self._crc:
                self._give_up(f"bad CRC in PNG {self._ctype.decode()} chunk")
                return
            if self._keyword is not None:
                self._texts.append((self._start, position, text_keyword(bytes(self._keyword))))
                self._keyword = None
            if position == _IHDR_END:
                self._ihdr_done = True
                self._inserted = self._insert is not None
            if self._ctype == b"IEND":
                self._expect(_AFTER_IEND, 0)
            else:
                self._expect(_HEADER, 8)

    # -- output ----------------------------------------------------------------------------

    def _limit(self) -> int:
        """How far the original may be handed on now."""
        if self._problem is not None:
            return self._fed
        if not self._inserted:  # the signature and IHDR are the same either way
            return min(self._fed, _IHDR_END)
        if self._step == _HEADER:  # which chunk comes is not known yet
            return self._fed - len(self._field)
        if self._keyword is not None:  # a text chunk, dropped or kept once it is whole
            return self._start
        return self._fed

    def _release(self) -> list[bytes]:
        out: list[bytes] = []
        if self._inserted and not self._insert_out and self._insert is not None:
            out += self._take(_IHDR_END)
            out.append(self._insert)
            self._insert_out = True
        limit = self._limit()
        while self._texts and self._texts[0][0] < limit:  # complete text chunks end before it
            start, end, keyword = self._texts.popleft()
            if self._inserted and keyword in self._replaced:
                out += self._take(start)
                self._take(end)  # left out: the new chunk replaces it
        out += self._take(limit)
        return out

    def _take(self, end: int) -> list[bytes]:
        """Remove the held bytes up to `end` of the original and return them."""
        out: list[bytes] = []
        while self._released < end:
            piece = self._held[0]
            room = end - self._released
            if len(piece) <= room:
                out.append(self._held.popleft())
                self._released += len(piece)
            else:
                out.append(piece[:room])
                self._held[0] = piece[room:]
                self._released = end
        return out

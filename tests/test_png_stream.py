"""The PNG text splicer on plain bytes: fed in pieces of any size, with the text known early, late
or never; what it gives up on passes through byte for byte. The oracle is the copy that
`provenance.embed_png_text` makes of the same file."""

from __future__ import annotations

import os
import random
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.fakeapi import jpeg_bytes, png_bytes
from wan_cli.files.png_stream import MAX_TEXT_CHUNK, PngSplicer, chunk, text_chunks
from wan_cli.files.provenance import embed_png_text, read_png_text

ENTRIES = {"wan": '{"prompt": "一只猫"}', "Software": "wan test", "Description": "a cat"}
IHDR_END = 33


def png_with(*middle: bytes, idat: bytes | None = None) -> bytes:
    """A well-formed PNG: signature, IHDR, `middle` chunks, one IDAT, IEND."""
    base = png_bytes(8, 8)
    body = chunk(b"IDAT", idat) if idat is not None else base[IHDR_END:-12]
    return base[:IHDR_END] + b"".join(middle) + body + base[-12:]


def copied(tmp_path: Path, data: bytes, entries: Mapping[str, str] = ENTRIES) -> bytes:
    """What today's copy makes of `data`."""
    path = tmp_path / f"oracle-{os.urandom(4).hex()}.png"
    path.write_bytes(data)
    embed_png_text(path, entries)
    return path.read_bytes()


def splice(
    data: bytes,
    piece: int | list[int],
    *,
    entries: Mapping[str, str] | None = ENTRIES,
    after: int | None = 0,
    hold_limit: int | None = None,
) -> tuple[bytes, PngSplicer]:
    """Feed `data` in pieces (a size, or a list of sizes used in turn) and give the entries once
    `after` bytes were fed (None: never; `len(data)` or more: at the end, as the download does:
    only for a whole PNG); returns everything handed out, joined."""
    splicer = PngSplicer() if hold_limit is None else PngSplicer(hold_limit=hold_limit)
    sizes = piece if isinstance(piece, list) else [piece]
    out: list[bytes] = []
    fed, turn = 0, 0

    def maybe_provide() -> None:
        if entries is not None and after is not None and after <= fed < len(data):
            out.extend(splicer.provide(entries))

    maybe_provide()
    while fed < len(data):
        size = sizes[turn % len(sizes)]
        turn += 1
        out.extend(splicer.feed(data[fed : fed + size]))
        fed = min(len(data), fed + size)
        maybe_provide()
    if entries is not None and after is not None and splicer.waiting and splicer.whole:
        out.extend(splicer.provide(entries))
    out.extend(splicer.finish())
    return b"".join(out), splicer


PIECES = [1, 2, 3, 7, 8, 9, 12, 13, 33, 34, 64, 1000, 1 << 20]


@pytest.mark.parametrize("piece", PIECES)
def test_text_known_at_the_start_any_piece_size(tmp_path: Path, piece: int) -> None:
    data = png_with(idat=os.urandom(5000))
    out, splicer = splice(data, piece)
    assert out == copied(tmp_path, data)
    assert out == data[:IHDR_END] + text_chunks(ENTRIES)[0] + data[IHDR_END:]
    assert splicer.spliced and splicer.problem is None


@pytest.mark.parametrize("piece", [1, 5, 64, 1 << 20])
@pytest.mark.parametrize("after", [1, 8, 20, 33, 34, 41, 100, 4000, "end"])
def test_text_known_after_some_bytes(tmp_path: Path, piece: int, after: int | str) -> None:
    data = png_with(idat=os.urandom(5000))
    out, splicer = splice(data, piece, after=len(data) if after == "end" else int(after))
    assert out == copied(tmp_path, data)
    assert splicer.spliced


def test_random_splits(tmp_path: Path) -> None:
    texts = chunk(b"tEXt", b"wan\x00old") + chunk(b"tEXt", b"Comment\x00kept")
    data = png_with(texts, idat=os.urandom(20_000))
    expected = copied(tmp_path, data)
    rng = random.Random(7)
    for _ in range(200):
        sizes = [rng.randint(1, 3000) for _ in range(20)]
        out, _ = splice(data, sizes, after=rng.randint(0, len(data)))
        assert out == expected


def test_nothing_after_ihdr_leaves_until_the_text_is_known() -> None:
    data = png_with(idat=os.urandom(5000))
    splicer = PngSplicer()
    assert b"".join(splicer.feed(data[:-100])) == data[:IHDR_END]  # held, not lost
    assert splicer.waiting
    released = b"".join(splicer.provide(ENTRIES))
    assert released == text_chunks(ENTRIES)[0] + data[IHDR_END:-100]
    assert b"".join(splicer.feed(data[-100:]) + splicer.finish()) == data[-100:]


def test_a_big_idat_streams_through_once_the_text_is_known() -> None:
    # Constant memory: each piece of the IDAT comes out as it goes in.
    payload = os.urandom(3 * 1024 * 1024)
    data = png_with(idat=payload)
    splicer = PngSplicer(ENTRIES)
    first = b"".join(splicer.feed(data[:100]))
    assert first == data[:IHDR_END] + text_chunks(ENTRIES)[0] + data[IHDR_END:100]
    for at in range(100, len(data) - 12, 65536):
        piece = data[at : min(at + 65536, len(data) - 12)]
        assert splicer.feed(piece) == [piece]  # the same object: not even copied
    assert b"".join(splicer.feed(data[-12:]) + splicer.finish()) == data[-12:]
    assert splicer.spliced


def test_text_chunks_with_the_same_keywords_are_dropped_others_kept(tmp_path: Path) -> None:
    before = (
        chunk(b"tEXt", b"wan\x00old metadata")
        + chunk(b"tEXt", b"Comment\x00kept")
        + chunk(b"zTXt", b"Description\x00\x00" + zlib.compress(b"old description"))
    )
    data = png_with(before, idat=os.urandom(3000))
    iend = len(data) - 12
    data = data[:iend] + chunk(b"iTXt", b"Software\x00\x00\x00\x00\x00old") + data[iend:]
    expected = copied(tmp_path, data)
    for after in (0, 50, len(data)):
        for piece in (1, 4, 100, 1 << 20):
            out, splicer = splice(data, piece, after=after)
            assert out == expected and splicer.spliced
    saved = tmp_path / "saved.png"
    saved.write_bytes(expected)
    assert read_png_text(saved) == {**ENTRIES, "Comment": "kept"}


def test_a_text_chunk_too_big_to_inspect_is_kept(tmp_path: Path) -> None:
    huge = chunk(b"tEXt", b"wan\x00" + b"x" * MAX_TEXT_CHUNK)
    data = png_with(huge)
    out, splicer = splice(data, 65536)
    assert out == copied(tmp_path, data)
    assert huge in out and splicer.spliced


@pytest.mark.parametrize("after", [0, 40, "end"])
def test_bytes_after_iend_pass_through(tmp_path: Path, after: int | str) -> None:
    data = png_with()
    trailer = b"\x00" * 100 + b"appended by some tool"
    at = len(data) + len(trailer) if after == "end" else int(after)
    for piece in (1, 7, 1 << 20):
        out, splicer = splice(data + trailer, piece, after=at)
        assert out == copied(tmp_path, data) + trailer
        assert splicer.spliced and splicer.whole


# -- giving up: the original bytes, exactly ------------------------------------------------


def bad_crc(data: bytes, at: int) -> bytes:
    broken = bytearray(data)
    broken[at] ^= 0xFF
    return bytes(broken)


GIVE_UPS = {
    "bad signature": (b"\x89PNX\r\n\x1a\n" + png_bytes()[8:], "signature"),
    "a jpeg": (jpeg_bytes(), "signature"),
    "ihdr not first": (png_bytes()[:8] + chunk(b"tEXt", b"a\x00b") + png_bytes()[8:], "IHDR"),
    "short ihdr": (png_bytes()[:8] + chunk(b"IHDR", b"\x00" * 12) + png_bytes()[33:], "IHDR"),
    "bad crc in ihdr": (bad_crc(png_bytes(), 20), "CRC in PNG IHDR"),
    "bad crc in idat": (bad_crc(png_with(idat=os.urandom(5000)), 2000), "CRC in PNG IDAT"),
    "bad crc in text": (bad_crc(png_with(chunk(b"tEXt", b"wan\x00x")), 48), "CRC in PNG tEXt"),
    "nonsense header": (png_bytes()[:33] + b"\xff\xff\xff\xff\x00\x01\x02\x03", "header"),
    "no iend": (png_bytes()[:-12], "IEND"),
    "empty": (b"", "IEND"),
}


@pytest.mark.parametrize("piece", [1, 3, 8, 64, 1 << 20])
@pytest.mark.parametrize("case", list(GIVE_UPS))
def test_a_malformed_png_passes_through_unchanged(piece: int, case: str) -> None:
    data, why = GIVE_UPS[case]
    out, splicer = splice(data, piece, after=len(data))  # the text came at the end
    assert out == data
    assert not splicer.spliced and splicer.problem is not None and why in splicer.problem


def test_a_corrupt_chunk_found_after_the_text_was_written() -> None:
    # Too late to undo: the chunks stay after IHDR, the rest goes out as it came (the file is
    # still saved; the copy at the end refuses it like any malformed PNG).
    data = bad_crc(png_with(chunk(b"tEXt", b"Comment\x00kept"), idat=os.urandom(5000)), 2000)
    for piece in (1, 64, 1 << 20):
        out, splicer = splice(data, piece)
        assert out == data[:IHDR_END] + text_chunks(ENTRIES)[0] + data[IHDR_END:]
        assert not splicer.spliced and "CRC in PNG IDAT" in (splicer.problem or "")


def test_passing_the_hold_limit_gives_up_and_loses_nothing() -> None:
    data = png_with(chunk(b"tEXt", b"wan\x00old"), idat=os.urandom(50_000))
    splicer = PngSplicer(hold_limit=10_000)
    out: list[bytes] = []
    for at in range(0, 9000, 1000):
        out += splicer.feed(data[at : at + 1000])
    assert b"".join(out) == data[:IHDR_END] and splicer.waiting
    out += splicer.feed(data[9000:12_000])  # 11,967 held: over the limit
    assert b"".join(out) == data[:12_000] and not splicer.waiting
    assert "not known within 10000 bytes" in (splicer.problem or "")
    out += splicer.provide(ENTRIES)  # too late: ignored
    out += splicer.feed(data[12_000:])
    out += splicer.finish()
    assert b"".join(out) == data and not splicer.spliced


@pytest.mark.parametrize("piece", [1, 100, 1 << 20])
def test_no_text_by_the_end_gives_the_original(piece: int) -> None:
    data = png_with(chunk(b"tEXt", b"wan\x00old"))
    out, splicer = splice(data, piece, entries=None)
    assert out == data
    assert splicer.problem == "the PNG text never came" and splicer.whole


def test_a_keyword_png_cannot_hold_gives_up() -> None:
    data = png_with()
    out, splicer = splice(data, 10, entries={"two  spaces": "x"})
    assert out == data and "keyword" in (splicer.problem or "")


def test_empty_pieces_change_nothing() -> None:
    splicer = PngSplicer(ENTRIES)
    assert splicer.feed(b"") == []
    data = png_with()
    out = splicer.feed(data[:10]) + splicer.feed(b"") + splicer.feed(data[10:]) + splicer.finish()
    assert b"".join(out) == data[:IHDR_END] + text_chunks(ENTRIES)[0] + data[IHDR_END:]


def test_the_chunks_written_are_what_provenance_writes() -> None:
    new, replaced = text_chunks({"wan": "{}", "Comment": "ü"})
    itxt = b"wan\x00\x00\x00\x00\x00{}"
    assert new.startswith(struct.pack(">I", len(itxt)) + b"iTXt" + itxt)
    assert replaced == {b"wan", b"Comment"}

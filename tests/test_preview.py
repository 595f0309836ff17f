"""Terminal previews: exact escape bytes per protocol (golden files), scaling, detection, and
the rules for when anything is drawn at all (a real pty, NO_COLOR, no Pillow, broken images)."""

from __future__ import annotations

import base64
import fcntl
import io
import os
import random
import re
import struct
import sys
import termios
import tty
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wan_cli.errors import UsageError
from wan_cli.ui.output import Output
from wan_cli.ui.pixels import (
    COMPRESS_ABOVE,
    SIXEL_PALETTE,
    Pixels,
    encode_blocks,
    encode_iterm2,
    encode_kitty,
    encode_png,
    encode_sixel,
    xterm256,
)
from wan_cli.ui.preview import (
    NO_PROTOCOL_HINT,
    PILLOW_HINT,
    PROTOCOLS,
    Geometry,
    check_protocol,
    detect_protocol,
    fit,
    pixel_box,
    render_preview,
    show_previews,
    terminal_geometry,
    usable_protocol,
)

DATA = Path(__file__).parent / "data" / "preview"
TINY = DATA / "tiny-4x2.png"
# The test image: red green blue white / black yellow cyan magenta.
TINY_PIXELS = Pixels(
    4,
    2,
    bytes(
        [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
        + [0, 0, 0, 255, 255, 0, 0, 255, 255, 255, 0, 255]
    ),
)
GEOMETRY = Geometry(cols=80, rows=24, cell_width=10, cell_height=20)
TRUECOLOR = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}


def golden(protocol: str) -> bytes:
    return (DATA / f"tiny-4x2.{protocol}").read_bytes()


# -- golden bytes --------------------------------------------------------------------------


def test_the_test_image_is_what_the_goldens_claim() -> None:
    assert encode_png(TINY_PIXELS) == TINY.read_bytes()
    image = pytest.importorskip("PIL.Image")
    with image.open(TINY) as decoded:
        assert decoded.size == (4, 2)
        assert decoded.convert("RGB").tobytes() == TINY_PIXELS.data


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_draws_the_known_image_exactly(protocol: str) -> None:
    pytest.importorskip("PIL")
    assert render_preview(TINY, protocol, GEOMETRY).encode() == golden(protocol)


def test_pure_encoders_match_the_goldens_without_pillow() -> None:
    assert encode_kitty(TINY_PIXELS).encode() == golden("kitty")
    assert encode_iterm2(TINY_PIXELS, cols=1).encode() == golden("iterm2")
    assert encode_blocks(TINY_PIXELS).encode() == golden("blocks")
    cube = {colour: index for index, colour in enumerate(SIXEL_PALETTE)}
    indices = bytes(cube[TINY_PIXELS.at(x, y)] for y in range(2) for x in range(4))
    assert encode_sixel(4, 2, indices, SIXEL_PALETTE).encode() == golden("sixel")


def test_golden_sequences_read_as_their_protocols_specify() -> None:
    kitty = golden("kitty").decode()
    assert kitty.startswith("\x1b_Ga=T,f=24,s=4,v=2,q=2;") and kitty.endswith("\x1b\\\n")
    payload = kitty.split(";", 1)[1].removesuffix("\x1b\\\n")
    assert base64.b64decode(payload) == TINY_PIXELS.data

    iterm = golden("iterm2").decode()
    match = re.fullmatch(r"\x1b\]1337;File=([^:]*):([A-Za-z0-9+/=]+)\x07\n", iterm)
    assert match is not None
    args = dict(item.split("=", 1) for item in match.group(1).split(";"))
    png = base64.b64decode(match.group(2))
    assert args["inline"] == "1" and args["size"] == str(len(png)) and png == TINY.read_bytes()

    percent = [round(c * 100 / 255) for c in TINY_PIXELS.data]
    assert decode_sixel(golden("sixel").decode()) == (4, 2, percent)


def test_half_blocks_odd_height_leaves_the_last_background_alone() -> None:
    column = Pixels(1, 3, bytes([1, 2, 3, 4, 5, 6, 7, 8, 9]))
    assert encode_blocks(column) == (
        "\x1b[38;2;1;2;3m\x1b[48;2;4;5;6m▀\x1b[0m\n\x1b[38;2;7;8;9m▀\x1b[0m\n"
    )


def test_half_blocks_send_a_colour_only_when_it_changes() -> None:
    flat = Pixels(5, 2, bytes([9, 9, 9]) * 10)
    assert encode_blocks(flat) == "\x1b[38;2;9;9;9m\x1b[48;2;9;9;9m▀▀▀▀▀\x1b[0m\n"


# -- large payloads: compressed, chunked, and still exact ----------------------------------


def _noise(width: int, height: int, seed: int = 7) -> Pixels:
    rng = random.Random(seed)
    return Pixels(width, height, bytes(rng.randrange(256) for _ in range(width * height * 3)))


def test_kitty_large_payload_is_deflated_and_chunked() -> None:
    pixels = _noise(160, 150)
    assert len(pixels.data) > COMPRESS_ABOVE
    text = encode_kitty(pixels)
    frames = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", text)
    assert frames[0][0] == "a=T,f=24,s=160,v=150,q=2,o=z,m=1"
    assert [keys for keys, _ in frames[1:]] == ["m=1"] * (len(frames) - 2) + ["m=0"]
    assert all(len(chunk) <= 4096 and len(chunk) % 4 == 0 for _, chunk in frames)
    payload = base64.b64decode("".join(chunk for _, chunk in frames))
    assert zlib.decompress(payload) == pixels.data
    assert text.endswith("\x1b\\\n")


def test_iterm2_large_image_is_a_valid_png_of_the_pixels() -> None:
    image = pytest.importorskip("PIL.Image")
    pixels = _noise(160, 150)
    text = encode_iterm2(pixels, cols=16)
    png = base64.b64decode(text.split(":", 1)[1].removesuffix("\x07\n"))
    assert f"size={len(png)};width=16;" in text
    with image.open(io.BytesIO(png)) as decoded:
        assert decoded.convert("RGB").tobytes() == pixels.data


def test_sixel_round_trips_several_bands_and_many_colours() -> None:
    rng = random.Random(3)
    width, height = 13, 17  # three bands, the last one five rows high
    indices = bytes(rng.randrange(len(SIXEL_PALETTE)) for _ in range(width * height))
    text = encode_sixel(width, height, indices, SIXEL_PALETTE)
    expected = [c for i in indices for c in _percent(SIXEL_PALETTE[i])]
    assert decode_sixel(text) == (width, height, expected)


def test_sixel_runs_are_length_encoded() -> None:
    text = encode_sixel(10, 1, bytes(10), SIXEL_PALETTE)
    assert text == '\x1bP0;1;0q"1;1;10;1#0;2;0;0;0#0!10@\x1b\\\n'


# -- scaling -------------------------------------------------------------------------------


def test_fit_keeps_the_aspect_and_never_enlarges() -> None:
    assert fit(1024, 512, 80, 1000) == (80, 40)
    assert fit(512, 1024, 800, 100) == (50, 100)
    assert fit(4, 2, 800, 600) == (4, 2)
    assert fit(5000, 1, 10, 10) == (10, 1)


@pytest.mark.regression("a preview filled the whole pane, pushing the path and summary off")
def test_pixel_box_leaves_a_spare_column_and_half_the_rows() -> None:
    assert pixel_box("blocks", GEOMETRY) == (79, 24)  # 12 rows of two pixels: half of 24
    assert pixel_box("kitty", GEOMETRY) == (790, 240)


@pytest.mark.parametrize(
    ("protocol", "expect"),
    [
        ("blocks", (40, 20)),  # 41 columns → 40 pixels wide, aspect 2:1
        ("kitty", (400, 200)),  # 41 columns of 10 px less one → 400 px
    ],
)
def test_render_scales_to_the_terminal_width(
    tmp_path: Path, protocol: str, expect: tuple[int, int]
) -> None:
    image = pytest.importorskip("PIL.Image")
    path = tmp_path / "wide.png"
    image.new("RGB", (1000, 500), (200, 100, 50)).save(path)
    text = render_preview(path, protocol, Geometry(cols=41, rows=100))
    if protocol == "blocks":
        lines = text.splitlines()
        assert len(lines) == expect[1] // 2
        assert all(line.count("▀") == expect[0] for line in lines)
    else:
        assert f"s={expect[0]},v={expect[1]}," in text


def test_render_fits_a_tall_image_to_the_screen_height(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    path = tmp_path / "tall.jpg"
    image.new("RGB", (300, 1200), (0, 90, 200)).save(path)
    text = render_preview(path, "sixel", Geometry(cols=200, rows=12, cell_width=8, cell_height=16))
    width, height, _ = decode_sixel(text)
    assert (width, height) == (24, 96)  # half the 12 rows × 16 px high, a quarter that wide


# -- choosing a protocol -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expect"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, "kitty"),
        ({"TERM": "xterm-ghostty"}, "kitty"),
        ({"TERM_PROGRAM": "iTerm.app", "TERM": "xterm-256color"}, "iterm2"),
        ({"TERM_PROGRAM": "WezTerm", "COLORTERM": "truecolor"}, "iterm2"),
        ({"LC_TERMINAL": "iTerm2"}, "iterm2"),
        ({"TERM": "mlterm"}, "sixel"),
        ({"TERM": "foot"}, "sixel"),
        ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, "blocks"),
        ({"TERM": "xterm-256color", "COLORTERM": "24bit"}, "blocks"),
        ({"TERM": "xterm-direct"}, "blocks"),
        ({"TERM": "xterm-256color"}, "blocks"),  # in 256 colours
        ({"TERM": "xterm"}, None),
        ({}, None),
        # tmux hides the outer terminal: its KITTY_WINDOW_ID is stale and passthrough is off.
        ({"TMUX": "/tmp/t,1,0", "KITTY_WINDOW_ID": "1", "COLORTERM": "truecolor"}, "blocks"),
        ({"TMUX": "/tmp/t,1,0", "TERM": "tmux-256color", "TERM_PROGRAM": "tmux"}, "blocks"),
        ({"TMUX": "/tmp/t,1,0", "TERM": "screen-256color"}, "blocks"),
        ({"TMUX": "/tmp/t,1,0", "TERM": "screen"}, None),
    ],
)
def test_detect_protocol(env: dict[str, str], expect: str | None) -> None:
    assert detect_protocol(env) == expect


@pytest.mark.regression("in tmux with 256 colours (no COLORTERM) nothing was drawn")
def test_half_blocks_in_256_colours_when_the_terminal_has_no_more() -> None:
    assert xterm256((255, 0, 0)) == 196 and xterm256((0, 0, 0)) == 16
    assert xterm256((255, 255, 255)) == 231 and xterm256((95, 135, 175)) == 67
    assert xterm256((128, 128, 128)) == 244 and xterm256((250, 250, 250)) == 231
    flat = Pixels(2, 2, bytes([255, 0, 0] * 2 + [128, 128, 128] * 2))
    assert encode_blocks(flat, truecolor=False) == "\x1b[38;5;196m\x1b[48;5;244m▀▀\x1b[0m\n"


@pytest.mark.parametrize(
    ("env", "truecolor"),
    [(TRUECOLOR, True), ({"TERM": "tmux-256color", "TMUX": "/tmp/t,1,0"}, False)],
)
def test_blocks_are_drawn_in_the_colours_the_terminal_says(
    pty_stderr: Pty, env: dict[str, str], truecolor: bool
) -> None:
    pytest.importorskip("PIL")
    out, _ = _out(pty_stderr.stderr)
    show_previews([TINY], out, "auto", env=env)
    shown = pty_stderr.read()
    assert (b"\x1b[38;2;255;0;0m" in shown) is truecolor
    assert (b"\x1b[38;5;196m" in shown) is not truecolor


def test_usable_protocol_says_why_not_once(pty_stderr: Pty) -> None:
    pytest.importorskip("PIL")
    out, _ = _out(pty_stderr.stderr)
    assert usable_protocol("auto", out, {"TERM": "xterm"}) is None
    assert NO_PROTOCOL_HINT.encode() in pty_stderr.read()
    assert usable_protocol(None, out, {"TERM": "xterm-kitty"}) == "kitty"
    assert usable_protocol("sixel", out, {"TERM": "xterm"}) == "sixel"  # asked for: trusted
    assert pty_stderr.read() == b""


def test_check_protocol() -> None:
    assert check_protocol(None) is None
    assert check_protocol("auto") is None
    assert check_protocol("Kitty") == "kitty"
    assert check_protocol("iterm") == "iterm2"
    with pytest.raises(UsageError) as caught:
        check_protocol("braille")
    assert "kitty, iterm2, sixel, blocks" in (caught.value.hint or "")


# -- when anything is drawn ----------------------------------------------------------------


@dataclass
class Pty:
    master: int
    stderr: io.TextIOWrapper

    def read(self) -> bytes:
        self.stderr.flush()
        os.set_blocking(self.master, False)
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def pty_stderr() -> Iterator[Pty]:
    """A real terminal for stderr: 41×30 cells of 8×16 pixels, raw (no newline translation)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 41, 41 * 8, 30 * 16))
    stream = io.TextIOWrapper(os.fdopen(slave, "wb"), encoding="utf-8")
    yield Pty(master, stream)
    stream.close()
    os.close(master)


def _out(stderr: io.TextIOBase | io.TextIOWrapper, **kw: bool) -> tuple[Output, io.StringIO]:
    stdout = io.StringIO()
    return Output(stdout=stdout, stderr=stderr, fancy=False, **kw), stdout  # type: ignore[arg-type]


def test_terminal_geometry_reads_the_tty(pty_stderr: Pty) -> None:
    assert terminal_geometry(pty_stderr.stderr, {}) == Geometry(41, 30, 8, 16)


def test_terminal_geometry_without_a_tty_uses_columns_and_lines() -> None:
    geometry = terminal_geometry(io.StringIO(), {"COLUMNS": "100", "LINES": "40"})
    assert geometry == Geometry(100, 40, 10, 20)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_previews_are_drawn_on_a_terminal(pty_stderr: Pty, protocol: str) -> None:
    pytest.importorskip("PIL")
    out, stdout = _out(pty_stderr.stderr)
    show_previews([TINY], out, protocol, env=TRUECOLOR)
    assert pty_stderr.read() == b"tiny-4x2.png\n" + golden(protocol)
    assert stdout.getvalue() == ""


def test_auto_detects_from_the_environment(pty_stderr: Pty) -> None:
    pytest.importorskip("PIL")
    out, _ = _out(pty_stderr.stderr)
    show_previews([TINY, TINY], out, "auto", env={"TERM": "xterm-kitty"})
    assert pty_stderr.read() == (b"tiny-4x2.png\n" + golden("kitty")) * 2


@pytest.mark.parametrize(
    "env", [{**TRUECOLOR, "NO_COLOR": "1"}, {"TERM": "dumb", "COLORTERM": "truecolor"}]
)
def test_nothing_when_colour_is_refused(pty_stderr: Pty, env: dict[str, str]) -> None:
    out, stdout = _out(pty_stderr.stderr)
    show_previews([TINY], out, "kitty", env=env)
    assert pty_stderr.read() == b"" and stdout.getvalue() == ""


def test_nothing_when_stderr_is_not_a_terminal() -> None:
    stderr = io.StringIO()
    out, stdout = _out(stderr)
    show_previews([TINY], out, "blocks", env=TRUECOLOR)
    assert stderr.getvalue() == "" and stdout.getvalue() == ""


def test_nothing_when_quiet(pty_stderr: Pty) -> None:
    out, _ = _out(pty_stderr.stderr, quiet=True)
    show_previews([TINY], out, "blocks", env=TRUECOLOR)
    assert pty_stderr.read() == b""


def test_one_hint_when_no_protocol_is_usable(pty_stderr: Pty) -> None:
    out, _ = _out(pty_stderr.stderr)
    show_previews([TINY, TINY], out, None, env={"TERM": "xterm"})
    shown = pty_stderr.read().decode()
    assert shown.count("\n") == 1 and "--preview-protocol" in shown
    assert "\x1b" not in shown


def test_one_hint_without_pillow(pty_stderr: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    # An import of a module set to None in sys.modules raises ImportError: Pillow is absent.
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)
    out, stdout = _out(pty_stderr.stderr)
    show_previews([TINY, TINY], out, "kitty", env=TRUECOLOR)
    shown = pty_stderr.read().decode()
    assert shown.count("\n") == 1 and PILLOW_HINT in shown
    assert "\x1b" not in shown and stdout.getvalue() == ""


def test_a_broken_image_is_a_warning_and_the_rest_are_drawn(
    pty_stderr: Pty, tmp_path: Path
) -> None:
    pytest.importorskip("PIL")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out, _ = _out(pty_stderr.stderr)
    show_previews([broken, tmp_path / "missing.png", TINY], out, "blocks", env=TRUECOLOR)
    shown = pty_stderr.read()
    assert b"warning: cannot preview broken.png" in shown
    assert b"warning: cannot preview missing.png" in shown
    assert shown.endswith(b"tiny-4x2.png\n" + golden("blocks"))


def test_file_names_cannot_drive_the_terminal(pty_stderr: Pty, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    sneaky = tmp_path / "a\x1b]0;pwned\x07.png"
    image.new("RGB", (2, 2)).save(sneaky, format="PNG")
    out, _ = _out(pty_stderr.stderr)
    show_previews([sneaky], out, "blocks", env=TRUECOLOR)
    assert pty_stderr.read().startswith(b"a]0;pwned.png\n\x1b[38;2;0;0;0m")


# -- a sixel reader, to check what the encoder wrote ---------------------------------------

_SIXEL_TOKEN = re.compile(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?|!(\d+)([?-~])|([?-~])|(\$)|(-)")


def _percent(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = (round(c * 100 / 255) for c in colour)
    return r, g, b


def decode_sixel(text: str) -> tuple[int, int, list[int]]:
    """(width, height, flat RGB values in percent) of a sixel image as `encode_sixel` writes."""
    head = re.match(r'\x1bP0;1;0q"1;1;(\d+);(\d+)', text)
    assert head is not None and text.endswith("\x1b\\\n")
    width, height = int(head.group(1)), int(head.group(2))
    body = text[head.end() : -3]
    registers: dict[int, tuple[int, int, int]] = {}
    grid: list[list[tuple[int, int, int] | None]] = [[None] * width for _ in range(height)]
    colour, x, top, at = 0, 0, 0, 0
    for match in _SIXEL_TOKEN.finditer(body):
        assert match.start() == at, f"unexpected sixel text at {at}: {body[at : at + 10]!r}"
        at = match.end()
        number, r, g, b, count, repeated, single, cr, nl = match.groups()
        if number is not None:
            colour = int(number)
            if r is not None:
                registers[colour] = (int(r), int(g), int(b))
        elif cr:
            x = 0
        elif nl:
            x, top = 0, top + 6
        else:
            char, times = (repeated, int(count)) if repeated else (single, 1)
            bits = ord(char) - 63
            for column in range(x, x + times):
                for dy in range(6):
                    if bits & (1 << dy):
                        assert grid[top + dy][column] is None, "a pixel painted twice"
                        grid[top + dy][column] = registers[colour]
            x += times
    assert at == len(body)
    flat: list[int] = []
    for row in grid:
        for cell in row:
            assert cell is not None, "a pixel never painted"
            flat.extend(cell)
    return width, height, flat

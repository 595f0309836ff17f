"""The escape sequences that draw pixels in a terminal: kitty graphics, iTerm2 inline images,
DEC sixel, and half-blocks (24-bit or 256 colours). Pure functions of the pixels, so the exact
bytes are pinned by tests (tests/data/preview): payloads of at most `COMPRESS_ABOVE` bytes are
sent uncompressed (byte-for-byte reproducible everywhere); larger ones are deflated with zlib,
whose output may vary between zlib builds. Choosing and drawing: `ui.preview`."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from wan_cli.files.png_stream import chunk
from wan_cli.files.sniff import PNG_SIGNATURE

# Raw payloads up to this size are sent uncompressed (see the module docstring).
COMPRESS_ABOVE = 64 * 1024
# Kitty wants base64 payloads in chunks of at most 4096 bytes.
_KITTY_CHUNK = 4096
_ESC = "\x1b"
_ST = "\x1b\\"

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Pixels:
    """An 8-bit RGB image, rows top to bottom, three bytes per pixel."""

    width: int
    height: int
    data: bytes

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or len(self.data) != self.width * self.height * 3:
            raise ValueError("pixel data does not match the image size")

    def at(self, x: int, y: int) -> RGB:
        i = (y * self.width + x) * 3
        return self.data[i], self.data[i + 1], self.data[i + 2]


def encode_kitty(pixels: Pixels) -> str:
    """Kitty graphics protocol: transmit and display raw RGB, quietly (q=2: no replies)."""
    payload = pixels.data
    keys = f"a=T,f=24,s={pixels.width},v={pixels.height},q=2"
    if len(payload) > COMPRESS_ABOVE:
        payload = zlib.compress(payload, 6)
        keys += ",o=z"
    encoded = base64.standard_b64encode(payload).decode("ascii")
    chunks = [encoded[i : i + _KITTY_CHUNK] for i in range(0, len(encoded), _KITTY_CHUNK)]
    if len(chunks) == 1:
        return f"{_ESC}_G{keys};{chunks[0]}{_ST}\n"
    parts = [f"{_ESC}_G{keys},m=1;{chunks[0]}{_ST}"]
    parts += [f"{_ESC}_Gm=1;{chunk}{_ST}" for chunk in chunks[1:-1]]
    parts.append(f"{_ESC}_Gm=0;{chunks[-1]}{_ST}")
    return "".join(parts) + "\n"


def encode_iterm2(pixels: Pixels, cols: int) -> str:
    """iTerm2 inline image (OSC 1337): a PNG shown `cols` cells wide, aspect preserved."""
    png = encode_png(pixels)
    data = base64.standard_b64encode(png).decode("ascii")
    args = f"inline=1;size={len(png)};width={max(1, cols)};height=auto;preserveAspectRatio=1"
    return f"{_ESC}]1337;File={args}:{data}\a\n"


def encode_png(pixels: Pixels) -> bytes:
    """A truecolour PNG of the pixels (filter 0; stored deflate blocks up to COMPRESS_ABOVE)."""
    stride = pixels.width * 3
    raw = b"".join(
        b"\x00" + pixels.data[y * stride : (y + 1) * stride] for y in range(pixels.height)
    )
    idat = zlib.compress(raw, 6) if len(raw) > COMPRESS_ABOVE else _stored_zlib(raw)
    header = struct.pack(">IIBBBBB", pixels.width, pixels.height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _stored_zlib(data: bytes) -> bytes:
    """A zlib stream of uncompressed ("stored") deflate blocks: the same bytes on every zlib."""
    blocks = []
    for start in range(0, max(len(data), 1), 65535):
        block = data[start : start + 65535]
        final = 1 if start + 65535 >= len(data) else 0
        blocks.append(struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block)
    return b"\x78\x01" + b"".join(blocks) + struct.pack(">I", zlib.adler32(data))


def _sixel_palette() -> tuple[RGB, ...]:
    # A fixed palette keeps the output deterministic: the 6×6×6 colour cube and 40 greys
    # between its levels (none equal to a cube grey), Floyd–Steinberg dithered onto it.
    levels = (0, 51, 102, 153, 204, 255)
    cube = tuple((r, g, b) for r in levels for g in levels for b in levels)
    greys = tuple((v, v, v) for v in (round(255 * (i + 1) / 41) for i in range(40)))
    return cube + greys


SIXEL_PALETTE = _sixel_palette()
_SIXEL_CHARS = bytes(range(63, 127)) + bytes(192)  # mask 0..63 → '?'..'~'
_SIXEL_RUN = re.compile(rb"(.)\1{3,}")


def encode_sixel(width: int, height: int, indices: bytes, palette: Sequence[RGB]) -> str:
    """DEC sixel: colour registers for the palette entries used, then bands six pixels high."""
    if len(indices) != width * height:
        raise ValueError("index data does not match the image size")
    parts = [f'{_ESC}P0;1;0q"1;1;{width};{height}']
    for index in sorted(set(indices)):
        r, g, b = (round(channel * 100 / 255) for channel in palette[index])
        parts.append(f"#{index};2;{r};{g};{b}")
    bands = []
    for top in range(0, height, 6):
        masks: dict[int, bytearray] = {}
        for dy in range(min(6, height - top)):
            bit = 1 << dy
            row = indices[(top + dy) * width : (top + dy + 1) * width]
            for x, colour in enumerate(row):
                mask = masks.get(colour)
                if mask is None:
                    mask = masks[colour] = bytearray(width)
                mask[x] |= bit
        lines = []
        for colour in sorted(masks):
            line = bytes(masks[colour]).translate(_SIXEL_CHARS).rstrip(b"?")
            line = _SIXEL_RUN.sub(lambda m: b"!%d%s" % (len(m.group(0)), m.group(1)), line)
            lines.append(f"#{colour}" + line.decode("ascii"))
        bands.append("$".join(lines))
    return "".join(parts) + "-".join(bands) + _ST + "\n"


def encode_blocks(pixels: Pixels, *, truecolor: bool = True) -> str:
    """Half-blocks: each `▀` shows two pixels, the upper as foreground, the lower as background;
    a colour is sent only when it changes, and each line ends with a reset. `truecolor`: 24-bit
    colours; else the nearest of the 256 xterm colours (tmux and many terminals have no more)."""
    lines = []
    for y in range(0, pixels.height, 2):
        parts: list[str] = []
        fg: str | None = None
        bg: str | None = None
        for x in range(pixels.width):
            top = _sgr_colour(pixels.at(x, y), truecolor)
            if top != fg:
                parts.append(f"\x1b[38;{top}m")
                fg = top
            if y + 1 < pixels.height:
                bottom = _sgr_colour(pixels.at(x, y + 1), truecolor)
                if bottom != bg:
                    parts.append(f"\x1b[48;{bottom}m")
                    bg = bottom
            parts.append("▀")
        parts.append("\x1b[0m\n")
        lines.append("".join(parts))
    return "".join(lines)


def _sgr_colour(rgb: RGB, truecolor: bool) -> str:
    """The colour part of an SGR sequence: `2;r;g;b`, or `5;n` for an xterm colour."""
    if truecolor:
        return f"2;{rgb[0]};{rgb[1]};{rgb[2]}"
    return f"5;{xterm256(rgb)}"


# The levels of xterm's 6×6×6 colour cube (colours 16–231); 232–255 are greys 8, 18, … 238.
_CUBE = (0, 95, 135, 175, 215, 255)


def _nearest_level(channel: int) -> int:
    return min(range(6), key=lambda i: abs(_CUBE[i] - channel))


def xterm256(rgb: RGB) -> int:
    """The nearest of xterm's 256 colours (from the cube or the grey ramp; never 0–15, which
    each terminal sets its own way)."""
    steps = [_nearest_level(channel) for channel in rgb]
    cube = tuple(_CUBE[i] for i in steps)
    grey_step = min(23, max(0, round((sum(rgb) / 3 - 8) / 10)))
    grey = 8 + 10 * grey_step

    def distance(colour: Sequence[int]) -> int:
        return sum((a - b) ** 2 for a, b in zip(colour, rgb, strict=True))

    if distance((grey, grey, grey)) < distance(cube):
        return 232 + grey_step
    return 16 + 36 * steps[0] + 6 * steps[1] + steps[2]

"""Draw saved images in the terminal: kitty graphics, iTerm2 inline images, sixel, or half-blocks.

For a person only: previews go to stderr, and only when stderr is a terminal that allows colour
(never `NO_COLOR`, `TERM=dumb`, a pipe or a file), so stdout stays results-only. Decoding and
scaling need Pillow (the optional `preview` extra, imported lazily); without it, or without a
usable protocol, one hint line is printed instead and nothing else changes. A preview never
raises: an unreadable image gets a warning and the others are still drawn.

Protocol detection reads only the environment (querying the terminal would mean reading its
replies from stdin, which may be a pipe):
- kitty: `KITTY_WINDOW_ID`, `TERM=xterm-kitty`, or Ghostty (which speaks kitty's protocol);
- iTerm2: `TERM_PROGRAM=iTerm.app` or `LC_TERMINAL=iTerm2`; WezTerm (`TERM_PROGRAM=WezTerm`) too;
- sixel: cannot be detected reliably, so only for terminals known to have it (`TERM` mlterm,
  foot, yaft) or with `--preview-protocol sixel`;
- otherwise half-blocks (`▀` with 24-bit colours) when `COLORTERM` is truecolor/24bit.
Inside tmux or screen the pixel protocols need passthrough that tmux disables by default, so only
half-blocks are chosen there unless overridden.

Every encoder below is a pure function of the pixels, so the exact bytes are pinned by tests.
Payloads of at most `COMPRESS_ABOVE` bytes are sent uncompressed (byte-for-byte reproducible
everywhere); larger ones are deflated with zlib, whose output may vary between zlib builds.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from wan_cli.ui.output import Output, color_allowed, sanitize

if TYPE_CHECKING:
    from PIL import Image

# Values of --preview-protocol; "auto" detects from the environment.
PROTOCOLS = ("kitty", "iterm2", "sixel", "blocks")
PROTOCOL_CHOICES = ("auto", *PROTOCOLS)
PILLOW_HINT = "preview needs Pillow: pip install 'wan-cli[preview]'"
NO_PROTOCOL_HINT = (
    "preview: no image protocol or true colour detected; try --preview-protocol blocks"
)
# Raw payloads up to this size are sent uncompressed (see the module docstring).
COMPRESS_ABOVE = 64 * 1024
# Cell size assumed when the terminal does not report its pixel size.
DEFAULT_CELL = (10, 20)
# Kitty wants base64 payloads in chunks of at most 4096 bytes.
_KITTY_CHUNK = 4096
_ESC = "\x1b"
_ST = "\x1b\\"

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Geometry:
    """The terminal's size in cells, and one cell's size in pixels."""

    cols: int
    rows: int
    cell_width: int = DEFAULT_CELL[0]
    cell_height: int = DEFAULT_CELL[1]


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


# -- choosing ------------------------------------------------------------------------------


def check_protocol(value: str | None) -> str | None:
    """The protocol named by --preview-protocol (None for auto); UsageError if unknown."""
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    name = value.strip().lower()
    if name == "iterm":
        name = "iterm2"
    if name not in PROTOCOLS:
        from wan_cli.errors import UsageError

        raise UsageError(
            f"unknown preview protocol {value!r}",
            hint="use one of: " + ", ".join(PROTOCOL_CHOICES),
        )
    return name


def detect_protocol(env: Mapping[str, str]) -> str | None:
    """The best protocol the environment says the terminal supports; None if none is safe."""
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    truecolor = env.get("COLORTERM", "").lower() in ("truecolor", "24bit")
    if env.get("TMUX") or term.startswith(("screen", "tmux")) or program == "tmux":
        return "blocks" if truecolor or "direct" in term else None
    if env.get("KITTY_WINDOW_ID") or term in ("xterm-kitty", "xterm-ghostty"):
        return "kitty"
    if program == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm2"
    if term.startswith(("mlterm", "foot", "yaft")):
        return "sixel"
    if truecolor or term.endswith("-direct"):
        return "blocks"
    return None


def preview_stream(out: Output, env: Mapping[str, str]) -> TextIO | None:
    """Where previews may be drawn: stderr if it is a colour terminal, else nowhere."""
    if out.quiet or not color_allowed(out.stderr, dict(env)):
        return None
    return out.stderr


def terminal_geometry(stream: TextIO, env: Mapping[str, str]) -> Geometry:
    """The terminal's size from the stream's tty (pixels too, where the terminal reports them)."""
    cols = rows = xpixel = ypixel = 0
    try:
        import fcntl
        import termios

        packed = fcntl.ioctl(stream.fileno(), termios.TIOCGWINSZ, b"\x00" * 8)
        rows, cols, xpixel, ypixel = struct.unpack("HHHH", packed)
    except (ImportError, OSError, ValueError, AttributeError):
        pass
    if not cols or not rows:
        cols = _positive(env.get("COLUMNS"), 80)
        rows = _positive(env.get("LINES"), 24)
    cell_w, cell_h = DEFAULT_CELL
    if xpixel and ypixel:
        cell_w, cell_h = max(1, xpixel // cols), max(1, ypixel // rows)
    return Geometry(cols=cols, rows=rows, cell_width=cell_w, cell_height=cell_h)


def _positive(value: str | None, default: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        return default
    return number if number > 0 else default


def fit(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The largest size within the box with the image's aspect ratio; never larger than it is."""
    scale = min(1.0, box_width / width, box_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def pixel_box(protocol: str, geometry: Geometry) -> tuple[int, int]:
    """How many pixels a preview may take: the terminal's width (one column spare, so no
    terminal wraps) and its height less two rows, so the whole image is on screen at once."""
    cols = max(1, geometry.cols - 1)
    rows = max(2, geometry.rows - 2)
    if protocol == "blocks":  # one column per pixel, two pixels per row
        return cols, rows * 2
    return cols * geometry.cell_width, rows * geometry.cell_height


# -- showing -------------------------------------------------------------------------------


def show_previews(
    paths: Sequence[Path],
    out: Output,
    protocol: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> None:
    """Draw each image on stderr, if stderr is a colour terminal; never raises for an image.

    `protocol` is a value of --preview-protocol (None or "auto": detect). At most one hint line
    is printed when previews cannot be drawn (no Pillow, no usable protocol).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if not paths:
        return
    stream = preview_stream(out, environ)
    if stream is None:
        out.detail("preview skipped: stderr is not a colour terminal")
        return
    chosen = check_protocol(protocol) or detect_protocol(environ)
    if chosen is None:
        out.info(NO_PROTOCOL_HINT)
        return
    try:
        import PIL  # noqa: F401
    except ImportError:
        out.info(PILLOW_HINT)
        return
    geometry = terminal_geometry(stream, environ)
    for path in paths:
        try:
            drawing = render_preview(path, chosen, geometry)
        except Exception as error:  # a broken image must not fail a finished run
            out.warn(f"cannot preview {path.name}: {error}")
            continue
        stream.write(f"{sanitize(path.name)}\n{drawing}")
        stream.flush()


def render_preview(path: Path, protocol: str, geometry: Geometry) -> str:
    """The escape sequences that draw the image at `path`, scaled to fit, ending in a newline."""
    from PIL import Image

    box = pixel_box(protocol, geometry)
    with Image.open(path) as image:
        rgb = _scaled_rgb(image, box)
    pixels = Pixels(rgb.width, rgb.height, rgb.tobytes())
    if protocol == "kitty":
        return encode_kitty(pixels)
    if protocol == "iterm2":
        return encode_iterm2(pixels, cols=-(-pixels.width // geometry.cell_width))
    if protocol == "sixel":
        indices = rgb.quantize(palette=_palette_image(), dither=Image.Dither.FLOYDSTEINBERG)
        return encode_sixel(pixels.width, pixels.height, indices.tobytes(), SIXEL_PALETTE)
    if protocol == "blocks":
        return encode_blocks(pixels)
    raise ValueError(f"unknown preview protocol {protocol!r}")


def _scaled_rgb(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    from PIL import Image

    size = fit(image.width, image.height, *box)
    image.draft("RGB", size)  # JPEG: decode at a reduced scale, much faster for big photos
    rgb = image.convert("RGB")
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    return rgb


# -- encoders (pure) -----------------------------------------------------------------------


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
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


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


def _palette_image() -> Image.Image:
    from PIL import Image

    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for colour in SIXEL_PALETTE for channel in colour])
    return palette


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


def encode_blocks(pixels: Pixels) -> str:
    """Half-blocks: each `▀` shows two pixels, the upper as foreground, the lower as background;
    a colour is sent only when it changes, and each line ends with a reset."""
    lines = []
    for y in range(0, pixels.height, 2):
        parts: list[str] = []
        fg: RGB | None = None
        bg: RGB | None = None
        for x in range(pixels.width):
            top = pixels.at(x, y)
            if top != fg:
                parts.append(f"\x1b[38;2;{top[0]};{top[1]};{top[2]}m")
                fg = top
            if y + 1 < pixels.height:
                bottom = pixels.at(x, y + 1)
                if bottom != bg:
                    parts.append(f"\x1b[48;2;{bottom[0]};{bottom[1]};{bottom[2]}m")
                    bg = bottom
            parts.append("▀")
        parts.append("\x1b[0m\n")
        lines.append("".join(parts))
    return "".join(lines)

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
- otherwise half-blocks (`▀`): with 24-bit colours when `COLORTERM` is truecolor/24bit (or
  `TERM` ends in -direct), with the 256 xterm colours when `TERM` says 256color.
Inside tmux or screen the pixel protocols need passthrough that tmux disables by default, so only
half-blocks are chosen there unless overridden (in the colours tmux's own TERM/COLORTERM give).
Whether anything can be drawn is decided before a run sends its request (`usable_protocol`), so
a note that nothing will be is the first thing shown, not the last.

A preview takes at most half the terminal's rows (and its width less a column) and is drawn
before the run's summary and saved paths, which stay on screen below it.

The escape sequences themselves are written by `ui.pixels` (pure, pinned by tests).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from wan_cli.ui.output import Output, color_allowed, sanitize
from wan_cli.ui.pixels import (
    SIXEL_PALETTE,
    Pixels,
    encode_blocks,
    encode_iterm2,
    encode_kitty,
    encode_sixel,
)
from wan_cli.ui.pixels import encode_png as encode_png  # where it was before ui.pixels

if TYPE_CHECKING:
    from PIL import Image

# Values of --preview-protocol; "auto" detects from the environment.
PROTOCOLS = ("kitty", "iterm2", "sixel", "blocks")
PROTOCOL_CHOICES = ("auto", *PROTOCOLS)
PILLOW_HINT = "preview needs Pillow: pip install 'wan-cli[preview]'"
NO_PROTOCOL_HINT = (
    "preview: this terminal reports no image protocol and fewer than 256 colours, so no "
    "preview will be drawn (try --preview-protocol blocks)"
)
# Cell size assumed when the terminal does not report its pixel size.
DEFAULT_CELL = (10, 20)


@dataclass(frozen=True)
class Geometry:
    """The terminal's size in cells, and one cell's size in pixels."""

    cols: int
    rows: int
    cell_width: int = DEFAULT_CELL[0]
    cell_height: int = DEFAULT_CELL[1]


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


def truecolor(env: Mapping[str, str]) -> bool:
    """Whether the terminal says it shows 24-bit colour (else half-blocks use 256 colours)."""
    term = env.get("TERM", "")
    return env.get("COLORTERM", "").lower() in ("truecolor", "24bit") or "direct" in term


def _colour_blocks(env: Mapping[str, str]) -> str | None:
    """Half-blocks if the terminal says it has the colours for them (24-bit or 256)."""
    return "blocks" if truecolor(env) or "256color" in env.get("TERM", "") else None


def detect_protocol(env: Mapping[str, str]) -> str | None:
    """The best protocol the environment says the terminal supports; None if none is safe."""
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if env.get("TMUX") or term.startswith(("screen", "tmux")) or program == "tmux":
        return _colour_blocks(env)
    if env.get("KITTY_WINDOW_ID") or term in ("xterm-kitty", "xterm-ghostty"):
        return "kitty"
    if program == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm2"
    if term.startswith(("mlterm", "foot", "yaft")):
        return "sixel"
    return _colour_blocks(env)


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
    terminal wraps) and half its rows, so the run's summary and paths stay on screen below."""
    cols = max(1, geometry.cols - 1)
    rows = max(2, geometry.rows // 2)
    if protocol == "blocks":  # one column per pixel, two pixels per row
        return cols, rows * 2
    return cols * geometry.cell_width, rows * geometry.cell_height


# -- showing -------------------------------------------------------------------------------


def usable_protocol(
    requested: str | None, out: Output, env: Mapping[str, str] | None = None
) -> str | None:
    """The protocol previews will be drawn with (`requested`: a --preview-protocol value, None
    or "auto" to detect), or None when none will be drawn. Where the person would expect a
    picture (stderr a colour terminal) one line says why not: call it before a run sends
    anything, so that line comes first."""
    environ: Mapping[str, str] = os.environ if env is None else env
    if preview_stream(out, environ) is None:
        out.detail("preview skipped: stderr is not a colour terminal")
        return None
    chosen = check_protocol(requested) or detect_protocol(environ)
    if chosen is None:
        out.info(NO_PROTOCOL_HINT)
        return None
    try:
        import PIL  # noqa: F401
    except ImportError:
        out.info(PILLOW_HINT)
        return None
    return chosen


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
    chosen = usable_protocol(protocol, out, environ)
    stream = preview_stream(out, environ)
    if chosen is None or stream is None:
        return
    geometry = terminal_geometry(stream, environ)
    for path in paths:
        try:
            drawing = render_preview(path, chosen, geometry, truecolor=truecolor(environ))
        except Exception as error:  # a broken image must not fail a finished run
            out.warn(f"cannot preview {path.name}: {error}")
            continue
        stream.write(f"{sanitize(path.name)}\n{drawing}")
        stream.flush()


def render_preview(path: Path, protocol: str, geometry: Geometry, *, truecolor: bool = True) -> str:
    """The escape sequences that draw the image at `path`, scaled to fit, ending in a newline
    (`truecolor`: half-blocks in 24-bit colour, else in the 256 xterm colours)."""
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
        return encode_blocks(pixels, truecolor=truecolor)
    raise ValueError(f"unknown preview protocol {protocol!r}")


def _scaled_rgb(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    from PIL import Image

    size = fit(image.width, image.height, *box)
    image.draft("RGB", size)  # JPEG: decode at a reduced scale, much faster for big photos
    rgb = image.convert("RGB")
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    return rgb


def _palette_image() -> Image.Image:
    from PIL import Image

    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for colour in SIXEL_PALETTE for channel in colour])
    return palette

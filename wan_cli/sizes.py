"""Image sizes: one grammar for `--size`, the config's `size` and batch lines; each mode's limits.

A size is written `W*H`, `WxH`, `W x H` or `W×H` (spaces allowed around the parts), or `1K`/`2K`
where the mode has them (edit only); it is normalised to `W*H`, `1K` or `2K`. The pixel and
aspect limits are the service's, per mode. `api.request` checks a run's size for its mode;
`settings` accepts a configured size that some mode accepts (the setting serves both).
"""

from __future__ import annotations

import re

from wan_cli.errors import UsageError

# Total pixels (min side², max side²) per mode.
PIXEL_RANGE: dict[str, tuple[int, int]] = {"generate": (768, 1280), "edit": (768, 2048)}
MAX_ASPECT = 4  # between 1:4 and 4:1
PRESETS: tuple[str, ...] = ("1K", "2K")
PRESET_MODES: tuple[str, ...] = ("edit",)  # the modes that have 1K/2K

_WH_SIZES = (
    "1280*1280",
    "800*1200",
    "1200*800",
    "960*1280",
    "1280*960",
    "720*1280",
    "1280*720",
    "1344*576",
)
RECOMMENDED_SIZES: dict[str, tuple[str, ...]] = {
    "generate": _WH_SIZES,
    "edit": (*_WH_SIZES, *PRESETS),
}

_SIZE = re.compile(r"\s*(\d{1,6})\s*[*xX×]\s*(\d{1,6})\s*")
_PRESET = re.compile(r"\s*([12])[kK]\s*")


def parse_size(text: str, mode: str) -> str:
    """Normalise a size (`W*H`, `WxH`, `W×H`, spaces allowed; edit also `1K`/`2K`) and check it
    against the mode's pixel and aspect limits. Returns `W*H`, `1K` or `2K`; UsageError if bad."""
    preset = _PRESET.fullmatch(text)
    if preset and mode in PRESET_MODES:
        return f"{preset.group(1)}K"
    match = _SIZE.fullmatch(text)
    suggestions = ", ".join(RECOMMENDED_SIZES.get(mode, _WH_SIZES))
    if match is None:
        forms = "1K, 2K or W*H" if mode in PRESET_MODES else "W*H"
        raise UsageError(f"invalid size '{text}': use {forms}", hint=f"e.g. {suggestions}")
    width, height = int(match.group(1)), int(match.group(2))
    size = f"{width}*{height}"
    low, high = PIXEL_RANGE.get(mode, PIXEL_RANGE["generate"])
    if not low * low <= width * height <= high * high:
        raise UsageError(
            f"size {size} is out of range for {mode}: total pixels must be"
            f" {low}*{low}..{high}*{high} ({low * low:,}..{high * high:,}), got {width * height:,}",
            hint=f"recommended sizes: {suggestions}",
        )
    if width > MAX_ASPECT * height or height > MAX_ASPECT * width:
        raise UsageError(
            f"size {size} has an extreme aspect ratio: it must be between 1:4 and 4:1",
            hint=f"recommended sizes: {suggestions}",
        )
    return size


def parse_any_mode_size(text: str) -> str:
    """A size some mode accepts, normalised (the config's `size` serves generate and edit);
    ValueError, worded to follow the setting's name, if no mode accepts it."""
    for mode in PIXEL_RANGE:
        try:
            return parse_size(text, mode)
        except UsageError:
            continue
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError("must be W*H (also WxH, W x H, W×H), or 1K/2K for edit (e.g. 1280*720)")
    width, height = int(match.group(1)), int(match.group(2))
    ranges = ", ".join(
        f"{low}*{low}..{high}*{high} for {mode}" for mode, (low, high) in PIXEL_RANGE.items()
    )
    raise ValueError(
        f"{width}*{height} fits no mode: total pixels must be {ranges},"
        f" with an aspect ratio between 1:{MAX_ASPECT} and {MAX_ASPECT}:1"
    )

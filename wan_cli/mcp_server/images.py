"""Images for the agent to look at: a JPEG thumbnail when Pillow is installed, else the file
itself when it is small, else nothing but a note (the path is always in the result)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from wan_cli.units import human_bytes

# Long side of the thumbnail an agent is shown: enough to judge the picture, a few tens of KB.
THUMBNAIL_SIDE = 512
# Without Pillow, a file up to this size is sent as it is.
MAX_RAW_BYTES = 512 * 1024
PREVIEW_INSTALL = "pip install 'wan-cli[preview]'"


@dataclass(frozen=True)
class InlineImage:
    data: str  # base64
    mime: str


def inline_image(path: Path) -> InlineImage | str:
    """The image (or its thumbnail) to send, or a note saying why it is not sent."""
    try:
        return _thumbnail(path)
    except ImportError:
        pass  # no Pillow: the file itself, if small enough
    except Exception as error:  # Pillow cannot read it: the agent still gets the path
        return f"no preview of {path.name}: {error}"
    from wan_cli.files.sniff import sniff_image

    try:
        size = path.stat().st_size
        if size > MAX_RAW_BYTES:
            return (
                f"no preview of {path.name}: {human_bytes(size)} is too large to send as it is"
                f" (install Pillow for thumbnails: {PREVIEW_INSTALL})"
            )
        data = path.read_bytes()
    except OSError as error:
        return f"no preview of {path.name}: {error.strerror or error}"
    kind = sniff_image(data[:4096])
    if kind is None:
        return f"no preview of {path.name}: not an image format the client can show"
    return InlineImage(base64.b64encode(data).decode("ascii"), kind[0])


def _thumbnail(path: Path) -> InlineImage:
    from wan_cli.ui.gallery import thumbnail_data_uri

    uri = thumbnail_data_uri(path, THUMBNAIL_SIDE)
    head, _, data = uri.partition(",")
    return InlineImage(data, head.removeprefix("data:").removesuffix(";base64"))

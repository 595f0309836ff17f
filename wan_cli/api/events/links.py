"""Images named by links: `data:` URIs and base64, and links inside a whole answer's text."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from wan_cli.api.events.answer import _Answer
from wan_cli.api.events.inline import InlineImage
from wan_cli.api.events.types import Event, ImageRef, TextDelta

if TYPE_CHECKING:
    import re

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def _image_item(source: object, answer: _Answer) -> ImageRef | None:
    """An image given as a link or a `data:` URI (its base64 kept); None if seen or empty."""
    if not source or not isinstance(source, str):
        return None
    if source.startswith("data:"):
        return _inline_item(source, answer, data_uri=True)
    return answer.image(source)


def _base64_item(encoded: object, answer: _Answer) -> ImageRef | None:
    """An image given as bare base64 (DashScope's `b64_image`, an image call's `result`)."""
    if not encoded or not isinstance(encoded, str):
        return None
    return _inline_item(encoded, answer, data_uri=False)


def _inline_item(text: str, answer: _Answer, *, data_uri: bool) -> ImageRef | None:
    """A new ImageRef for inline base64; None when this text was seen or is unreadable."""
    if text in answer.seen:
        return None
    payload = _decode_data_uri(text) if data_uri else _decode_base64(text)
    if payload is None:
        return None
    ref = answer.image(None, data=payload)
    if ref is not None:
        answer.seen[text] = ref.index
    return ref


def _decode_data_uri(uri: str) -> InlineImage | None:
    comma = uri.find(",")
    if comma < 0 or not uri[:comma].endswith(";base64"):
        return None
    return _decode_base64(uri, comma + 1)


def _decode_base64(text: str, start: int = 0) -> InlineImage | None:
    """Base64 from `start` on, kept as the answer's text: decoded when the image is saved, in
    slices (a big image is never held as text and bytes at once); None when unreadable."""
    data = InlineImage(text, start)
    return data if data.readable() else None


@cache
def _link_pattern() -> re.Pattern[str]:
    import re

    # A markdown image `![alt](url "title")` or link `[text](url)`, or a bare http(s) URL.
    # Bare URLs stop at whitespace, quotes, angle brackets and any non-ASCII character (text in
    # Chinese often runs straight on after a link: "…png，然后").
    return re.compile(
        r"(?P<md>(?P<bang>!?)\[[^\]\n]*\]\(\s*<?(?P<mdurl>(?:https?://|data:image/)[^\s<>()]+)>?"
        r"""(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\))"""
        r"|(?P<bare>https?://[^\s<>\"'`\x7f-\U0010ffff]+)"
    )


def looks_like_image_link(url: str) -> bool:
    """Whether a link's path ends in an image extension (query and fragment ignored)."""
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    return path.endswith(_IMAGE_EXTENSIONS)


def _trim_bare_url(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets glued to the end of a URL."""
    while url:
        last = url[-1]
        unbalanced = (last == ")" and url.count("(") < url.count(")")) or (
            last == "]" and url.count("[") < url.count("]")
        )
        if not unbalanced and last not in ".,;:!?*_~'\"":
            break
        url = url[:-1]
    return url


def _text_events(text: str, answer: _Answer) -> Iterator[Event]:
    """A whole text item: image links become ImageRefs and `[image N]` in the text.

    Taken as images: every markdown image `![alt](url)`; a markdown link `[text](url)` or a bare
    http(s) URL whose path ends in an image extension (.png .jpg .jpeg .webp .gif .bmp); and a
    text item that is nothing but one URL (the gateway's "description or image link"). Each is
    replaced by `[image N]` (N = index + 1; a repeated link reuses its number and is not emitted
    twice), so the text still reads in order. Other links stay as they are. If nothing but
    placeholders and whitespace is left, no TextDelta is emitted: the ImageRefs say it all.
    The text comes first, then the images it named, in order.
    """
    if "http" not in text and "data:image/" not in text:
        answer.texts += not text.isspace()
        yield TextDelta(text)
        return
    found: list[ImageRef] = []
    whole = text.strip()

    def take(source: str) -> str | None:
        """The placeholder for an image link (emitting it if new), or None if unreadable."""
        index = answer.seen.get(source)
        if index is None:
            ref = _image_item(source, answer)
            if ref is None:
                return None
            found.append(ref)
            index = ref.index
        return f"[image {index + 1}]"

    def replace(match: re.Match[str]) -> str:
        if match.group("md"):
            url = match.group("mdurl")
            if match.group("bang") or url.startswith("data:") or looks_like_image_link(url):
                return take(url) or match.group(0)
            return match.group(0)
        raw = match.group("bare")
        url = _trim_bare_url(raw)
        if url and (looks_like_image_link(url) or url == whole):
            placeholder = take(url)
            if placeholder is not None:
                return placeholder + raw[len(url) :]
        return raw

    kept = _link_pattern().sub(replace, text)
    if found:
        leftover = kept
        for ref in found:
            leftover = leftover.replace(f"[image {ref.index + 1}]", "")
        if leftover.strip():
            answer.texts += 1
            yield TextDelta(kept)
        yield from found
    elif kept.strip():
        answer.texts += 1
        yield TextDelta(kept)

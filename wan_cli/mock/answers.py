"""What the mock answers to one request, decided from the request body alone (pure).

generate (`enable_interleave: true`): a short description of the prompt, word by word, then
`max_images` images (service default 5). edit: exactly `n` images (service default 4), derived
from the references. Every image is a real PNG of the requested size whose colours come from the
prompt (and, for an edit, the references), so different prompts give different pictures.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wan_cli.mock.picture import palette

GENERATE_DEFAULT_SIZE = (1280, 1280)
PRESETS = {"1K": (1024, 1024), "2K": (2048, 2048)}
# The most pixels the mock draws (2048²): a bound on memory, whatever the request says.
MAX_PIXELS = 2048 * 2048
_COLOUR_NAMES = (
    ((200, 40, 40), "crimson"),
    ((230, 120, 30), "amber"),
    ((230, 200, 60), "gold"),
    ((60, 160, 70), "green"),
    ((40, 150, 160), "teal"),
    ((50, 90, 200), "blue"),
    ((120, 60, 180), "violet"),
    ((210, 80, 160), "rose"),
    ((120, 90, 60), "umber"),
    ((30, 30, 40), "charcoal"),
    ((220, 220, 220), "silver"),
)


@dataclass(frozen=True)
class PlannedImage:
    """One image of the answer: drawn when its URL is fetched."""

    name: str  # the file name in its URL
    width: int
    height: int
    seed: str


@dataclass(frozen=True)
class Plan:
    """The whole answer to one request."""

    request_id: str
    mode: str  # "generate" or "edit"
    words: tuple[str, ...]  # the streamed text, word by word (with their spaces)
    images: tuple[PlannedImage, ...]

    @property
    def size(self) -> str:
        return f"{self.images[0].width}*{self.images[0].height}" if self.images else "0*0"


class BadRequest(ValueError):
    """The request is one the service would refuse: (code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def plan_answer(body: Mapping[str, Any]) -> Plan:
    """The answer to a request body in DashScope's shape (which the gateway passes through)."""
    prompt, refs = _prompt_and_refs(body)
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    interleave = bool(parameters.get("enable_interleave", False))
    mode = "generate" if interleave else "edit"
    if mode == "edit" and not refs:
        raise BadRequest("InvalidParameter", "edit mode needs 1 to 4 input images")
    count = _count(parameters, "max_images" if interleave else "n", 5 if interleave else 4)
    width, height = _size(parameters.get("size"), mode)
    request_id = str(uuid.uuid4())
    seed_base = prompt + "".join(_digest(ref) for ref in refs)
    images = tuple(
        PlannedImage(f"{request_id}-{index + 1}.png", width, height, f"{seed_base}#{index}")
        for index in range(count)
    )
    words = describe(prompt, seed_base) if interleave else ()
    return Plan(request_id=request_id, mode=mode, words=words, images=images)


def describe(prompt: str, seed: str) -> tuple[str, ...]:
    """A short deterministic description of the prompt, as words with their trailing spaces."""
    subject = " ".join(prompt.split()[:12]) or "an empty prompt"
    first, second, _ = (colour_name(colour) for colour in palette(seed))
    text = (
        f"Here is {subject}, imagined offline by wan's mock in {first} and {second} tones. "
        "No model was called and nothing was billed."
    )
    words = text.split(" ")
    return tuple(word + " " for word in words[:-1]) + (words[-1],)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The nearest of a few named colours."""
    return min(
        _COLOUR_NAMES, key=lambda item: sum((a - b) ** 2 for a, b in zip(item[0], rgb, strict=True))
    )[1]


def _prompt_and_refs(body: Mapping[str, Any]) -> tuple[str, list[str]]:
    messages = (body.get("input") or {}).get("messages") if isinstance(body, Mapping) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], Mapping):
        raise BadRequest("InvalidParameter", "input.messages must hold one user message")
    content = messages[0].get("content")
    if not isinstance(content, list):
        raise BadRequest("InvalidParameter", "the message content must be a list")
    texts = [item["text"] for item in content if isinstance(item, Mapping) and "text" in item]
    refs = [item["image"] for item in content if isinstance(item, Mapping) and "image" in item]
    if len(texts) != 1 or not isinstance(texts[0], str) or not texts[0].strip():
        raise BadRequest("BadRequest.EmptyInput", "the message needs exactly one text item")
    return texts[0], [str(ref) for ref in refs]


def _count(parameters: Mapping[str, Any], key: str, default: int) -> int:
    value = parameters.get(key, default)
    limit = 5 if key == "max_images" else 4
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise BadRequest("InvalidParameter", f"{key} must be 1..{limit}")
    return value


def _size(raw: object, mode: str) -> tuple[int, int]:
    if raw is None:
        return GENERATE_DEFAULT_SIZE if mode == "generate" else PRESETS["1K"]
    text = str(raw).strip().upper()
    if text in PRESETS:
        return PRESETS[text]
    try:
        width, height = (int(part) for part in text.replace("X", "*").split("*"))
    except ValueError:
        raise BadRequest("InvalidParameter", f"size must be W*H, got {raw!r}") from None
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise BadRequest("InvalidParameter", f"size {raw!r} is out of range")
    return width, height


def _digest(ref: str) -> str:
    return hashlib.sha256(ref.encode("utf-8")).hexdigest()[:12]

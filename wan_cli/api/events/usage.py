"""A usage object under any service's names (DashScope, gateway, OpenAI) -> `Usage`."""

from __future__ import annotations

from typing import Any

from wan_cli.api.events.types import Usage


def usage_from(raw: dict[str, Any]) -> Usage:
    """Map a usage object (DashScope, gateway or OpenAI names) to Usage, keeping it as `raw`.

    Called for most stream chunks (output_tokens grows): DashScope's int fields skip `_int`.
    """
    get = raw.get
    prompt = get("input_tokens")
    if type(prompt) is not int:
        prompt = _int(get("prompt_tokens") if prompt is None else prompt)
    completion = get("output_tokens")
    if type(completion) is not int:
        completion = _int(get("completion_tokens") if completion is None else completion)
    total = get("total_tokens")
    if type(total) is not int:
        total = _int(total)
    images = get("image_count")
    if type(images) is not int:
        images = _int(images)
    size = get("size")
    if type(size) is not str or not size:
        width, height = _int(get("width")), _int(get("height"))
        size = f"{width}*{height}" if width and height else None
    return Usage(prompt, completion, total, images, size, raw)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None

"""JSON from the service, decoded with a bound on nesting.

Real answers nest about seven deep. JSON nested 100,000 deep makes `json.loads` raise
RecursionError, and a document several hundred deep decodes but breaks whatever later walks or
re-encodes it (history, `--json`). So every whole service document is decoded here: more than
`MAX_DEPTH` levels is `TooDeep`, a `ValueError` like any unreadable JSON. The stream's hot path
(`events.stream`) checks its longer data with `may_be_too_deep` first and decodes it here. Pure.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100


class TooDeep(ValueError):
    """The JSON nests deeper than `MAX_DEPTH` levels."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested more than {MAX_DEPTH} levels deep")


def may_be_too_deep(text: str | bytes) -> bool:
    """False when `text` cannot nest past `MAX_DEPTH` (it has fewer brackets than that): two
    fast scans, so the usual small document skips the exact check."""
    if isinstance(text, str):
        return text.count("{") + text.count("[") > MAX_DEPTH
    return text.count(b"{") + text.count(b"[") > MAX_DEPTH


def loads(text: str | bytes) -> Any:
    """`json.loads`, raising `TooDeep` for a document nested past `MAX_DEPTH` (ValueError for
    anything else it cannot read)."""
    if not may_be_too_deep(text):
        return json.loads(text)
    try:
        document = json.loads(text)
    except RecursionError:
        raise TooDeep from None
    if nesting(document) > MAX_DEPTH:
        raise TooDeep
    return document


def nesting(document: object) -> int:
    """How many levels of objects and arrays `document` has (0 for a plain value); iterative,
    so any depth is measured without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest

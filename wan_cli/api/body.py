"""The JSON body as it is sent: compact UTF-8 JSON, streamed around its big data URIs.

A request with four 10 MB reference images has a ~56 MB body. It is never built whole: the JSON
is written around placeholders, and each data URI is streamed into its place as the body is
sent (a local file's base64 made from the file slice by slice: `RefImage.chunks`). Data URIs
are ASCII that JSON leaves as it is (base64 has no quote, backslash or control character), so
the result is byte for byte `json.dumps(body, ensure_ascii=False, separators=(",", ":"))` of
the body with its data URIs written out (tests/test_request.py pins it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wan_cli.files.refs import RefImage

# Data URIs given whole longer than this are streamed in too, not escaped into the JSON text.
_INLINE_OVER = 4096


def layout(body: Mapping[str, Any], refs: tuple[RefImage, ...]) -> list[bytes | RefImage]:
    """The body as JSON bytes, then a `RefImage` whose URI goes there, then bytes, and so on.

    A `RefImage` in `body` (a file read as it is sent) is always a place of its own; a data URI
    string given whole (or read whole from a pipe) is one when it is long."""
    if not body:
        return []
    inline = {
        ref.value: ref
        for ref in refs
        if ref.kind != "url" and not ref.from_path and len(ref.value) > _INLINE_OVER
    }
    if not inline and not any(ref.from_path for ref in refs):
        return [json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")]
    import secrets

    marker = f"wan-inline-{secrets.token_hex(16)}"
    places: list[RefImage] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        ref = inline.get(node) if isinstance(node, str) else node
        if not isinstance(ref, RefImage):
            return node
        places.append(ref)
        return f"{marker}{len(places) - 1}{marker}"

    skeleton = json.dumps(swap(body), ensure_ascii=False, separators=(",", ":"))
    # The pieces alternate: JSON text, a place's number, JSON text, …
    return [
        places[int(piece)] if number % 2 else piece.encode("utf-8")
        for number, piece in enumerate(skeleton.split(marker))
    ]


def written_out(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The body as plain JSON values: each `RefImage` replaced by its whole data URI (read
    and encoded now: `--dry-run` without abbreviation, a batch line's identity)."""

    def write(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {key: write(value) for key, value in node.items()}
        if isinstance(node, list):
            return [write(value) for value in node]
        if isinstance(node, RefImage):
            return node.data_uri()
        return node

    written: Mapping[str, Any] = write(body)
    return written

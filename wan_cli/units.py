"""One way to write a byte count for people: 1024-based, as the service's limits are stated
("10 MB" for a reference image is 10 × 1024 × 1024 bytes)."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """`512 B`, `1.5 KB`, `200.0 MB`, `1.2 GB`."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 image`, `2 images`, `0 images`; `many` for words not made plural with an s
    (`plural(n, "entry", "entries")`)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"

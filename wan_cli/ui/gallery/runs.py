"""The runs a gallery shows: read from provenance (sidecar or PNG text chunk) and grouped by
request id, or read from history."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wan_cli.history import RunRow


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})


_PARAMETERS_SHOWN_ELSEWHERE = frozenset({"prompt", "negative_prompt"})


@dataclass(frozen=True)
class Picture:
    """One image of a run: where it is, and why it cannot be shown if it cannot."""

    path: Path
    index: int | None = None
    missing: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Run:
    """What one request produced, as the gallery shows it."""

    pictures: tuple[Picture, ...]
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    provider: str | None = None
    created: str | None = None  # ISO-8601, UTC
    request_id: str | None = None
    parameters: Mapping[str, Any] | None = None
    usage: Mapping[str, Any] | None = None
    text: str = ""
    references: Sequence[Mapping[str, Any]] = ()
    status: str | None = None  # history only: "ok", "failed", …
    error: str | None = None
    label: str | None = None  # history only: "run 12"


def read_provenance(image: Path) -> dict[str, Any] | None:
    """The image's provenance record: its sidecar JSON, else its PNG "wan" chunk, else None.

    A damaged sidecar or PNG chunk counts as absent: a gallery shows what it can."""
    from wan_cli.files.provenance import METADATA_KEYWORD, read_png_text, sidecar_path

    try:
        record = json.loads(sidecar_path(image).read_text(encoding="utf-8"))
        if isinstance(record, dict):
            return record
    except (OSError, ValueError):
        pass
    if image.suffix.lower() != ".png":
        return None
    try:
        record = json.loads(read_png_text(image).get(METADATA_KEYWORD, ""))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def png_size(image: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's header (no decoding); None for anything else."""
    try:
        with open(image, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def find_images(directory: Path) -> list[Path]:
    """The images directly in `directory` (not hidden: temp files start with a dot), by name."""
    return sorted(
        entry
        for entry in directory.iterdir()
        if entry.suffix.lower() in IMAGE_SUFFIXES
        and not entry.name.startswith(".")
        and entry.is_file()
    )


def runs_from_directory(directory: Path) -> list[Run]:
    """The directory's images grouped into runs by request id, newest run first."""
    found = [(image, read_provenance(image)) for image in find_images(directory)]
    return group_runs(found)


def group_runs(found: Iterable[tuple[Path, Mapping[str, Any] | None]]) -> list[Run]:
    """Group (image, provenance) pairs: same request id → one run; no metadata → alone."""
    groups: dict[str, list[tuple[Path, Mapping[str, Any] | None]]] = {}
    for image, meta in found:
        groups.setdefault(_run_key(image, meta), []).append((image, meta))
    runs = [_run_of(members) for members in groups.values()]
    runs.sort(key=lambda run: run.pictures[0].path.name)
    # Newest first; a stable sort keeps runs of the same second in name order.
    dated = sorted(
        (run for run in runs if run.created), key=lambda r: r.created or "", reverse=True
    )
    return [*dated, *(run for run in runs if not run.created)]


def _run_key(image: Path, meta: Mapping[str, Any] | None) -> str:
    if meta is None:
        return f"file:{image}"
    request_id = meta.get("request_id")
    if isinstance(request_id, str) and request_id:
        return f"request:{request_id}"
    # No request id (some gateways send none): images of one run share their time and prompt.
    return "run:" + json.dumps([meta.get("created"), meta.get("prompt")], default=str)


def _run_of(members: list[tuple[Path, Mapping[str, Any] | None]]) -> Run:
    members.sort(key=lambda m: (_int(m[1].get("index")) if m[1] else None) or 0)
    pictures = tuple(
        Picture(image, _int(meta.get("index")) if meta else None, None, *(png_size(image) or ()))
        for image, meta in members
    )
    meta = next((m for _, m in members if m), None)
    if meta is None:
        return Run(pictures=pictures)
    text = next((m.get("text") for _, m in members if m and m.get("text")), "")
    references = meta.get("references")  # a foreign or damaged sidecar may hold anything
    references = references if isinstance(references, list) else []
    return Run(
        pictures=pictures,
        prompt=_str(meta.get("prompt")),
        negative_prompt=_str(meta.get("negative_prompt")),
        model=_str(meta.get("model")),
        provider=_str(meta.get("provider")),
        created=_str(meta.get("created")),
        request_id=_str(meta.get("request_id")),
        parameters=_dict(meta.get("parameters")),
        usage=_dict(meta.get("usage")),
        text=text if isinstance(text, str) else "",
        references=[r for r in references if isinstance(r, dict)],
    )


def runs_from_history(rows: Sequence[RunRow]) -> list[Run]:
    """Recorded runs (newest first, as given), each with the images it saved."""
    from wan_cli.history import resolve_image_path

    runs = []
    for row in rows:
        pictures = []
        for image in row.images:
            if image.path is None:
                where = Path(f"image-{image.index + 1}")
                pictures.append(Picture(where, image.index, image.error or "not saved"))
                continue
            path = resolve_image_path(image.path, row.output_dir)
            missing = None if path.is_file() else "the file is no longer there"
            size = png_size(path) or ()
            pictures.append(Picture(path, image.index, missing, *size))
        runs.append(
            Run(
                pictures=tuple(pictures),
                prompt=row.prompt,
                negative_prompt=_str(row.parameters.get("negative_prompt")),
                model=row.model,
                provider=row.provider,
                created=row.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                request_id=row.request_id,
                parameters=row.parameters,
                usage=row.usage,
                text=row.text,
                references=row.references,
                status=row.status,
                error=row.error,
                label=f"run {row.id}",
            )
        )
    return runs


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None

"""The runs a gallery shows: read from provenance (sidecar or PNG text chunk) and grouped by
request id, or read from history."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wan_cli.history import RunRow


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})


MODES = ("generate", "edit")


@dataclass(frozen=True)
class Picture:
    """One image of a run: where it is, and why it cannot be shown if it cannot."""

    path: Path
    index: int | None = None
    missing: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Reference:
    """A reference image of a run, as the page can show it.

    `kind` is "file" (`path` set when the file is there now), "url" (`url`: an http(s) link
    without credentials or query) or "data" (inline bytes, never stored: `label` says what
    they were)."""

    kind: str
    label: str
    path: Path | None = None
    url: str | None = None


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
    references: Sequence[Reference] = ()
    mode: str | None = None  # "generate" or "edit" when known
    status: str | None = None  # history only: "ok", "failed", …
    error: str | None = None
    history_id: int | None = None  # history only: `wan history show N`
    unsaved: int = 0  # history only: images whose links `wan history download N` can still try


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
    from wan_cli.files.sniff import sniff_image

    try:
        with open(image, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    found = sniff_image(head)
    if found is None or found[0] != "image/png" or found[1] is None or found[2] is None:
        return None
    return found[1], found[2]


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
    parameters = _dict(meta.get("parameters"))
    folder = members[0][0].parent
    return Run(
        pictures=pictures,
        prompt=_str(meta.get("prompt")),
        negative_prompt=_str(meta.get("negative_prompt")),
        model=_str(meta.get("model")),
        provider=_str(meta.get("provider")),
        created=_str(meta.get("created")),
        request_id=_str(meta.get("request_id")),
        parameters=parameters,
        usage=_dict(meta.get("usage")),
        text=text if isinstance(text, str) else "",
        references=tuple(
            resolve_reference(r, beside=folder) for r in references if isinstance(r, dict)
        ),
        mode=mode_of(None, parameters),
    )


def runs_from_history(rows: Sequence[RunRow]) -> list[Run]:
    """Recorded runs (newest first, as given), each with the images it saved."""
    from wan_cli.history import RUNNING, resolve_image_path

    runs = []
    for row in rows:
        pictures = []
        # Images `wan history download N` can still fetch (inline ones were never linked).
        rescuable = sum(1 for i in row.images if not i.is_saved and i.url is not None)
        finished = row.status != RUNNING and not row.awaiting_task
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
                references=tuple(
                    resolve_reference(r) for r in row.references if isinstance(r, dict)
                ),
                mode=mode_of(row.command, row.parameters),
                status=row.status,
                error=row.error,
                history_id=row.id,
                unsaved=rescuable if finished else 0,
            )
        )
    return runs


def mode_of(command: str | None, parameters: Mapping[str, Any] | None) -> str | None:
    """ "generate" or "edit": history's command, else the request's `enable_interleave` (the
    one parameter that tells them apart: generate is the interleaved text-and-image mode)."""
    if command in MODES:
        return command
    interleave = (parameters or {}).get("enable_interleave")
    if isinstance(interleave, bool):
        return "generate" if interleave else "edit"
    return None


def resolve_reference(ref: Mapping[str, Any], beside: Path | None = None) -> Reference:
    """A reference descriptor (history's or provenance's) as the page shows it.

    History records a local file's absolute path; provenance keeps only its name, looked for
    `beside` the images. Only a name is taken from provenance: a foreign sidecar must not make
    the page show (or `--embed` copy) some other file of the reader's."""
    from wan_cli.files.provenance import redact_url

    kind = _str(ref.get("kind")) or ""
    url = _str(ref.get("url")) or (_str(ref.get("source")) if kind == "url" else None)
    if url is not None and not url.startswith("data:"):
        if url.lower().startswith(("http://", "https://")):
            shown = redact_url(url)  # pages travel: no signed query, no password
            return Reference("url", shown, url=None if shown.startswith("<") else shown)
        return Reference("url", url)  # not a link anyone should follow from here
    if kind in ("data", "inline") or url is not None:
        what = (_str(ref.get("mime")), _bytes(ref.get("bytes")), _dimensions(ref))
        shown = ", ".join(part for part in what if part)
        return Reference("data", f"inline image ({shown})" if shown else "inline image")
    recorded = next((v for v in (_str(ref.get(k)) for k in ("path", "name", "source")) if v), None)
    if recorded is None:
        return Reference("file", "image")
    if recorded.startswith("data:"):
        return Reference("data", "inline image")
    where = Path(recorded)
    if beside is not None:
        where = beside / where.name
    elif not where.is_absolute():
        return Reference("file", where.name)
    return Reference("file", where.name, where if _is_file(where) else None)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name too long for this file system
        return False


def _bytes(value: Any) -> str | None:
    from wan_cli.units import human_bytes

    number = _int(value)
    return human_bytes(number) if number is not None and number >= 0 else None


def _dimensions(ref: Mapping[str, Any]) -> str | None:
    width, height = _int(ref.get("width")), _int(ref.get("height"))
    return f"{width}×{height}" if width and height else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None

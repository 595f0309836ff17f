"""The gallery page: thumbnails, the HTML of each run, and writing the page (never over a file
that is not ours)."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wan_cli.providers import MOCK
from wan_cli.ui.gallery.runs import Picture, Reference, Run
from wan_cli.ui.gallery.template import PAGE, STYLE
from wan_cli.ui.output import sanitize

# Written into every page; an existing file without it is not ours to overwrite.
GENERATOR_MARK = '<meta name="generator" content="wan gallery">'


THUMBNAIL_SIDE = 640


def thumbnail_data_uri(image: Path, side: int = THUMBNAIL_SIDE) -> str:
    """A JPEG thumbnail (at most `side` px on its longer side) as a data URI. Needs Pillow."""
    import base64
    import io

    from PIL import Image

    with Image.open(image) as opened:
        opened.draft("RGB", (side, side))
        thumb = opened.convert("RGB")
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=82, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def link_to(image: Path, page_dir: Path) -> str:
    """A URL for `image` from a page in `page_dir`: relative where possible, percent-encoded."""
    try:
        relative = os.path.relpath(image.absolute(), page_dir.absolute())
    except ValueError:  # another drive (Windows): only an absolute URL reaches it
        return image.absolute().as_uri()
    return quote(Path(relative).as_posix())


def render_html(
    runs: Sequence[Run],
    *,
    page_dir: Path,
    title: str,
    thumbnail: Callable[[Path], str] | None = None,
) -> str:
    """The whole page about `title` (what it shows: a folder's name, "recent runs").

    `thumbnail(path)` gives an `<img src>` to inline (else a relative link). Every image is
    loaded eagerly: a headless browser's screenshot or PDF shows them all."""
    shown = sum(1 for run in runs for p in run.pictures if p.missing is None)
    missing = sum(1 for run in runs for p in run.pictures if p.missing is not None)
    summary = f"{_count(len(runs), 'run')}, {_count(shown, 'image')}"
    if missing:
        summary += f", {missing} missing"
    body = "\n".join(_run_html(run, number, page_dir, thumbnail) for number, run in enumerate(runs))
    return PAGE.format(
        title=_esc(f"wan gallery — {title} — {summary}"),
        heading=_esc(title),
        generator=GENERATOR_MARK,
        style=STYLE,
        summary=_esc(f"wan gallery · {summary}"),
        runs=body or '<p class="empty">No images.</p>',
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _run_html(
    run: Run, number: int, page_dir: Path, thumbnail: Callable[[Path], str] | None
) -> str:
    figures = "\n".join(_figure(p, run, page_dir, thumbnail) for p in run.pictures)
    heading = run.prompt or (run.pictures[0].path.name if run.pictures else "")
    head = f'{_meta(run)}<h2 class="prompt">{_esc(heading)}</h2>'
    about: list[str] = []
    if run.prompt is None:
        about.append('<p class="note">No provenance metadata for this image.</p>')
    if run.status and run.status != "ok":
        why = f": {run.error}" if run.error else ""
        about.append(f'<p class="status">{_esc(run.status + why)}</p>')
    if run.unsaved and run.history_id is not None:
        about.append(_rescue(run.unsaved, run.history_id))
    if run.text.strip():
        about.append(f'<div class="text">{_esc(run.text.strip())}</div>')
    facts = _facts(run, page_dir, thumbnail)
    if facts:
        rows = "".join(f"<dt>{_esc(name)}</dt><dd>{value}</dd>" for name, value in facts)
        about.append(f"<dl>{rows}</dl>")
    return (
        f'<article class="run" id="run-{number + 1}">\n'
        f'<header class="head">{head}</header>\n'
        f'<div class="images">\n{figures}\n</div>\n'
        f'<div class="about">{"".join(about)}</div>\n'
        "</article>"
    )


def _meta(run: Run) -> str:
    """The line above the prompt: mode and outcome in words, when, which history run."""
    parts: list[str] = []
    if run.mode:
        parts.append(f'<span class="badge mode">{_esc(run.mode)}</span>')
    if run.status and run.status != "ok":
        parts.append(f'<span class="badge bad">{_esc(run.status)}</span>')
    if run.provider == MOCK:  # never to be taken for a paid result
        parts.append('<span class="badge mock" title="made offline: not billed">mock</span>')
    if run.created:
        when = run.created.replace("T", " ").removesuffix("Z")
        when = when[:16] if len(when) >= 19 and when[16] == ":" else when  # no seconds
        when = when + " UTC" if run.created.endswith("Z") else when
        parts.append(f'<time datetime="{_esc(run.created)}">{_esc(when)}</time>')
    if run.history_id is not None:
        parts.append(f"<span>run {run.history_id}</span>")
    return f'<p class="meta">{" ".join(parts)}</p>' if parts else ""


def _rescue(unsaved: int, history_id: int) -> str:
    it = "it" if unsaved == 1 else "them"
    was = "was" if unsaved == 1 else "were"
    return (
        f'<p class="rescue">{_count(unsaved, "image")} {was} not saved. Links last about '
        f"24 hours after the run; to save {it}: "
        f"<code>wan history download {history_id}</code></p>"
    )


def _figure(
    picture: Picture, run: Run, page_dir: Path, thumbnail: Callable[[Path], str] | None
) -> str:
    name = _esc(picture.path.name)
    if picture.missing is not None:
        return (
            f'<figure class="missing"><div class="placeholder">{_esc(picture.missing)}</div>'
            f'<figcaption title="{name}">{name}</figcaption></figure>'
        )
    href = link_to(picture.path, page_dir)
    src = thumbnail(picture.path) if thumbnail is not None else href
    size = ""
    caption = name
    if picture.width and picture.height:
        size = f' width="{picture.width}" height="{picture.height}"'
        caption += f" · {picture.width}×{picture.height}"
    alt = _esc(run.prompt or picture.path.name)
    # Eager, synchronous decoding (the default): lazy images stay grey boxes in a screenshot.
    return (
        f'<figure><a class="thumb" href="{_esc(href)}"><img src="{_esc(src)}" alt="{alt}"'
        f'{size}></a><figcaption title="{caption}">{caption}</figcaption></figure>'
    )


def _facts(
    run: Run, page_dir: Path, thumbnail: Callable[[Path], str] | None
) -> list[tuple[str, str]]:
    """(label, escaped HTML) rows of the run's metadata, in reading order."""
    facts = [(name, _esc(value)) for name, value in readable_parameters(run)]
    if run.references:
        shown = " ".join(_reference(r, page_dir, thumbnail) for r in run.references)
        facts.append(("references", f'<span class="refs">{shown}</span>'))
    model = " · ".join(v for v in (run.model, run.provider) if v)
    if model:
        facts.append(("model", _esc(model)))
    if run.usage:
        facts.append(("usage", _esc(_pairs(run.usage))))
    if run.request_id:
        facts.append(("request id", f"<code>{_esc(run.request_id)}</code>"))
    return facts


# Request parameters a reader has no use for: how the answer travelled, and the mode's switch
# (the mode is shown in words); the prompt is the heading.
_UNSHOWN = frozenset({"enable_interleave", "stream", "prompt", "negative_prompt"})
_ON_OFF = {True: "on", False: "off"}


def readable_parameters(run: Run) -> list[tuple[str, str]]:
    """The run's parameters as a person reads them: size, count, seed, negative prompt,
    watermark, prompt extend, then anything else (a newer or foreign parameter) as it is."""
    params = dict(run.parameters or {})
    rows: list[tuple[str, str]] = []
    size = params.pop("size", None)
    if size is not None:
        rows.append(("size", _value(size).replace("*", "×")))
    max_images, n = params.pop("max_images", None), params.pop("n", None)
    if max_images is not None:  # generate: the answer has at most this many
        rows.append(("images", f"up to {_value(max_images)}"))
    if n is not None:
        rows.append(("images", _value(n)))
    if "seed" in params:
        rows.append(("seed", _value(params.pop("seed"))))
    if run.negative_prompt:
        rows.append(("negative prompt", run.negative_prompt))
    for key in ("watermark", "prompt_extend"):
        if key in params:
            value = params.pop(key)
            shown = _ON_OFF[value] if isinstance(value, bool) else _value(value)
            rows.append((key.replace("_", " "), shown))
    rows.extend(
        (str(key).replace("_", " "), _value(value))
        for key, value in params.items()
        if key not in _UNSHOWN
    )
    return rows


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _pairs(values: Mapping[str, Any]) -> str:
    return " · ".join(f"{str(key).replace('_', ' ')} {_value(v)}" for key, v in values.items())


def _reference(ref: Reference, page_dir: Path, thumbnail: Callable[[Path], str] | None) -> str:
    label = _esc(ref.label)
    if ref.path is not None:
        href = link_to(ref.path, page_dir)
        src = thumbnail(ref.path) if thumbnail is not None else href
        return (
            f'<a class="ref" href="{_esc(href)}" title="{label}">'
            f'<img src="{_esc(src)}" alt="reference image {label}"></a>'
        )
    if ref.url is not None:
        return f'<a class="ref-url" href="{_esc(ref.url)}" rel="noreferrer">{label}</a>'
    if ref.kind == "file":
        return f'<span class="ref-note">{label} (file not found)</span>'
    return f'<span class="ref-note">{label}</span>'


def _esc(text: str) -> str:
    return html.escape(sanitize(text), quote=True)


def is_our_page(path: Path) -> bool:
    """Whether the file at `path` is a gallery page written by `wan` (safe to overwrite)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return GENERATOR_MARK.encode() in head


def write_page(path: Path, page: str) -> None:
    """Write the page atomically: a reader sees the old page or the new one, never half."""
    from wan_cli.files.naming import create_temp

    fd, tmp = create_temp(path.parent, f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(page.encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

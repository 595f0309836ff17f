"""The gallery page: thumbnails, the HTML of each run, and writing the page (never over a file
that is not ours)."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wan_cli.ui.output import sanitize

if TYPE_CHECKING:
    pass

from wan_cli.ui.gallery.runs import _PARAMETERS_SHOWN_ELSEWHERE, Picture, Run

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
    """The whole page. `thumbnail(path)` gives an `<img src>` to inline (else a relative link)."""
    count = sum(1 for run in runs for p in run.pictures if p.missing is None)
    summary = f"{count} image{'s' if count != 1 else ''} from {len(runs)} run"
    summary += "s" if len(runs) != 1 else ""
    body = "\n".join(_run_html(run, number, page_dir, thumbnail) for number, run in enumerate(runs))
    return _PAGE.format(
        title=_esc(title),
        generator=GENERATOR_MARK,
        style=_STYLE,
        summary=_esc(summary),
        runs=body or '<p class="empty">No images.</p>',
    )


def _run_html(
    run: Run, number: int, page_dir: Path, thumbnail: Callable[[Path], str] | None
) -> str:
    figures = "\n".join(_figure(p, run, page_dir, thumbnail) for p in run.pictures)
    about: list[str] = []
    heading = run.prompt or (run.pictures[0].path.name if run.pictures else "")
    about.append(f'<h2 class="prompt">{_esc(heading)}</h2>')
    if run.prompt is None:
        about.append('<p class="note">No provenance metadata for this image.</p>')
    if run.status and run.status != "ok":
        why = f": {run.error}" if run.error else ""
        about.append(f'<p class="status">{_esc(run.status + why)}</p>')
    if run.text.strip():
        about.append(f'<div class="text">{_esc(run.text.strip())}</div>')
    facts = _facts(run)
    if facts:
        rows = "".join(f"<dt>{_esc(name)}</dt><dd>{value}</dd>" for name, value in facts)
        about.append(f"<dl>{rows}</dl>")
    return (
        f'<article class="run" id="run-{number + 1}">\n'
        f'<div class="images">\n{figures}\n</div>\n'
        f'<div class="about">\n{"".join(about)}\n</div>\n'
        "</article>"
    )


def _figure(
    picture: Picture, run: Run, page_dir: Path, thumbnail: Callable[[Path], str] | None
) -> str:
    name = _esc(picture.path.name)
    if picture.missing is not None:
        return (
            f'<figure class="missing"><div class="placeholder">{_esc(picture.missing)}</div>'
            f"<figcaption>{name}</figcaption></figure>"
        )
    href = link_to(picture.path, page_dir)
    src = thumbnail(picture.path) if thumbnail is not None else href
    size = ""
    caption = name
    if picture.width and picture.height:
        size = f' width="{picture.width}" height="{picture.height}"'
        caption += f" · {picture.width}×{picture.height}"
    alt = _esc(run.prompt or picture.path.name)
    return (
        f'<figure><a href="{_esc(href)}"><img src="{_esc(src)}" alt="{alt}"{size} '
        f'loading="lazy" decoding="async"></a><figcaption>{caption}</figcaption></figure>'
    )


def _facts(run: Run) -> list[tuple[str, str]]:
    """(label, escaped HTML) rows of the run's metadata, in reading order."""
    facts: list[tuple[str, str]] = []
    if run.label:
        facts.append(("history", _esc(run.label)))
    if run.negative_prompt:
        facts.append(("negative prompt", _esc(run.negative_prompt)))
    model = " · ".join(v for v in (run.model, run.provider) if v)
    if model:
        facts.append(("model", _esc(model)))
    if run.created:
        when = run.created.replace("T", " ").removesuffix("Z")
        when = when + " UTC" if run.created.endswith("Z") else when
        facts.append(("time", f'<time datetime="{_esc(run.created)}">{_esc(when)}</time>'))
    shown = {
        k: v for k, v in (run.parameters or {}).items() if k not in _PARAMETERS_SHOWN_ELSEWHERE
    }
    if shown:
        facts.append(("parameters", _pairs(shown)))
    if run.usage:
        facts.append(("usage", _pairs(run.usage)))
    if run.references:
        facts.append(("references", _esc(", ".join(_reference(r) for r in run.references))))
    if run.request_id:
        facts.append(("request id", f"<code>{_esc(run.request_id)}</code>"))
    return facts


def _pairs(values: Mapping[str, Any]) -> str:
    items = []
    for key, value in values.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        items.append(f"<span>{_esc(str(key))}&nbsp;<b>{_esc(shown)}</b></span>")
    return " ".join(items)


def _reference(ref: Mapping[str, Any]) -> str:
    for key in ("name", "url", "source", "path", "mime"):
        value = ref.get(key)
        if isinstance(value, str) and value:
            return value
    return str(ref.get("kind") or "image")


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


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
{generator}
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
img-src 'self' file: data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header><h1>{title}</h1><p>{summary}</p></header>
<main>
{runs}
</main>
</body>
</html>
"""


_STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #fafafa; --card: #fff; --muted: #666;
  --line: #e2e2e2; --accent: #8a4baf; }
@media (prefers-color-scheme: dark) { :root { --fg: #eee; --bg: #141414; --card: #1f1f1f;
  --muted: #a0a0a0; --line: #333; --accent: #c79bea; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 16px; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header h1 { font-size: 1.4rem; margin: 0; overflow-wrap: anywhere; }
header p { margin: 4px 0 16px; color: var(--muted); }
.run { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px;
  background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px;
  margin: 0 0 18px; }
.images { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr));
  gap: 10px; align-content: start; }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; border-radius: 6px;
  background: var(--line); }
figcaption { font-size: 0.8rem; color: var(--muted); overflow-wrap: anywhere; }
.placeholder { display: flex; align-items: center; justify-content: center; min-height: 120px;
  padding: 8px; border: 1px dashed var(--muted); border-radius: 6px; color: var(--muted);
  text-align: center; font-size: 0.9rem; }
.about { min-width: 0; }
.prompt { font-size: 1.05rem; font-weight: 600; margin: 0 0 8px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; border-left: 3px solid var(--accent);
  padding: 2px 0 2px 10px; margin: 0 0 10px; }
.note, .status { color: var(--muted); font-style: italic; margin: 0 0 8px; }
.status { color: #c0392b; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 10px;
  margin: 0; font-size: 0.85rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
dd span { display: inline-block; margin-right: 8px; }
code { font-size: 0.8rem; }
@media (max-width: 700px) {
  body { padding: 10px; }
  .run { grid-template-columns: minmax(0, 1fr); padding: 10px; }
  .images { grid-template-columns: minmax(0, 1fr); }
  dl { grid-template-columns: minmax(0, 1fr); }
  dt { margin-top: 4px; }
}
"""

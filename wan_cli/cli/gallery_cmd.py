"""`wan gallery`: write an HTML page of generated images (a folder's, or recent runs').

Prints the page's path on stdout; messages go to stderr. Nothing is written when there is
nothing to show or when the target is a file `wan` did not write (unless --force).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from wan_cli.ui.gallery import Run
    from wan_cli.ui.output import Output

DEFAULT_HISTORY_PAGE = "wan-history.html"


def gallery(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="Folder of generated images (default: the current one); the page is written "
            "there as index.html.",
            show_default=False,
        ),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Show recent runs from history instead of a folder.")
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", metavar="N", help="With --history: the N most recent runs (0: all)."
        ),
    ] = 50,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help=f"Where to write the page (default: DIR/index.html; with --history "
            f"./{DEFAULT_HISTORY_PAGE}). Image links are relative to it.",
            show_default=False,
        ),
    ] = None,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed",
            help="Inline JPEG thumbnails so the page works on its own (needs Pillow: "
            "pip install 'wan-cli[preview]').",
        ),
    ] = False,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the target even if wan did not write it.")
    ] = False,
) -> None:
    """Write one HTML page of images with their prompts, parameters and text (no network).

    Examples:

    \b
      wan gallery out/
      wan gallery --history -n 20 -o runs.html
    """
    from wan_cli.errors import UsageError
    from wan_cli.ui import gallery as pages
    from wan_cli.ui.output import get_output

    out = get_output()
    if history and directory is not None:
        raise UsageError("give either DIR or --history, not both")
    if limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    if embed:
        _require_pillow()
    if history:
        runs = _history_runs(out, limit)
        target = output or Path(DEFAULT_HISTORY_PAGE)
        title = "recent runs"
    else:
        folder = directory or Path(".")
        if not folder.is_dir():
            raise UsageError(f"not a folder: {folder}")
        runs = pages.runs_from_directory(folder)
        if not runs:
            raise UsageError(f"no images in {folder}")
        target = output or folder / "index.html"
        title = folder.absolute().name or str(folder.absolute())
    if target.is_dir():
        target = target / "index.html"
    if target.exists() and not force and not pages.is_our_page(target):
        raise UsageError(
            f"{target} exists and was not written by wan gallery",
            hint="choose another file with -o, or replace it with --force",
        )
    if not target.parent.is_dir():
        raise UsageError(f"no such folder: {target.parent}")

    thumbnail = _thumbnailer(out, target.parent) if embed else None
    page = pages.render_html(runs, page_dir=target.parent, title=title, thumbnail=thumbnail)
    try:
        pages.write_page(target, page)
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    shown = sum(1 for run in runs for picture in run.pictures if picture.missing is None)
    out.info(f"gallery of {shown} image(s) from {len(runs)} run(s)")
    out.result(str(target))
    if open_page:
        _open(target, out)


def _require_pillow() -> None:
    from wan_cli.errors import UsageError

    try:
        import PIL  # noqa: F401
    except ImportError:
        raise UsageError(
            "--embed needs Pillow", hint="pip install 'wan-cli[preview]', or leave out --embed"
        ) from None


def _thumbnailer(out: Output, page_dir: Path) -> Callable[[Path], str]:
    from wan_cli.ui.gallery import link_to, thumbnail_data_uri

    def thumbnail(path: Path) -> str:
        try:
            return thumbnail_data_uri(path)
        except Exception as error:  # an unreadable image keeps its plain link
            out.warn(f"no thumbnail for {path.name}: {error}")
            return link_to(path, page_dir)

    return thumbnail


def _history_runs(out: Output, limit: int) -> list[Run]:
    import sqlite3

    from wan_cli.errors import UsageError
    from wan_cli.history import history_path, open_existing
    from wan_cli.ui.gallery import runs_from_history

    store = open_existing(history_path(), warn=out.warn)
    if store is None:
        raise UsageError(f"no history yet ({history_path()} does not exist)")
    try:
        rows = store.list_runs(limit=limit or None)
    except sqlite3.Error as error:
        raise UsageError(f"cannot use history {store.path}: {error}") from None
    finally:
        store.close()
    if not rows:
        raise UsageError("no runs in history yet")
    return runs_from_history(rows)


def _open(target: Path, out: Output) -> None:
    import webbrowser

    try:
        opened = webbrowser.open(target.absolute().as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        out.warn(f"could not open a browser: open {target} yourself")

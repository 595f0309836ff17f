"""`wan history …`: list, show, download, rerun and clear recorded runs.

Results (tables, details, JSON, saved paths) go to stdout; messages to stderr. The database is
opened by `history.open_existing`; nothing is created by merely looking. How runs are shown is
`ui.history_view`; `rerun` is `cli.history_rerun`; what the commands share, `cli.history_common`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from wan_cli.cli.completion_values import complete_preview_protocol
from wan_cli.cli.history_common import (
    JsonOption,
    OutputDir,
    RunId,
    existing_store,
    found,
    get_run,
    output,
    require_store,
)
from wan_cli.cli.history_rerun import rerun

history_app = typer.Typer(
    help="Every request sent, newest first: find, show, download, rerun or clear past runs."
    "\n\nExamples:\n\n\b\n  wan history --failed\n  wan history show 12",
    invoke_without_command=True,
)


@history_app.callback(invoke_without_command=True)
def history(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="Show at most N runs (0: all).")
    ] = 20,
    json_output: JsonOption = False,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-s",
            metavar="TEXT",
            help="Only runs whose prompt or text contains TEXT, or whose request id is TEXT.",
            show_default=False,
        ),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only runs that did not succeed (or never finished).")
    ] = False,
) -> None:
    """List recorded runs, newest first (a table on a terminal, plain columns otherwise).

    Examples:

    \b
      wan history --search lighthouse
      wan history --failed --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from wan_cli.errors import UsageError

    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    out = output()
    store = existing_store(out)
    runs = []
    if store is not None:
        with store.reading():
            runs = store.list_runs(limit=limit or None, search=search, failed=failed)
    if json_output:
        out.result_json([run.to_json() for run in runs])
        return
    if not runs:
        out.info("no runs recorded yet" if store is None else "no matching runs")
        return
    from wan_cli.ui.history_view import print_runs

    print_runs(out, runs)


# -- show -----------------------------------------------------------------------------------


@history_app.command("show")
def show(
    run_id: RunId,
    json_output: JsonOption = False,
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Also draw the run's saved images (on a terminal)."),
    ] = False,
    preview_protocol: Annotated[
        str | None,
        typer.Option(
            "--preview-protocol",
            metavar="auto|kitty|iterm2|sixel|blocks",
            help="How to draw previews (default: detected from the terminal).",
            show_default=False,
            autocompletion=complete_preview_protocol,
        ),
    ] = None,
) -> None:
    """Everything recorded about one run: request, answer text, images, usage, error.

    Examples:

    \b
      wan history show 12
      wan history show 12 --json | jq .images
    """
    out = output()
    protocol = None
    if preview:
        from wan_cli.ui.preview import check_protocol

        protocol = check_protocol(preview_protocol) or "auto"
    run = get_run(out, run_id)
    if json_output:
        out.result_json(run.to_json())
    else:
        from wan_cli.ui.history_view import describe_run

        for line in describe_run(run):
            out.result(line)
    if protocol is not None:
        from wan_cli.ui.preview import show_previews

        show_previews(run.saved_paths(), out, protocol)


# -- download -------------------------------------------------------------------------------


@history_app.command("download")
def download(
    run_id: RunId,
    output_dir: OutputDir = None,
    no_metadata: Annotated[
        bool, typer.Option("--no-metadata", help="Do not write provenance (sidecar, PNG text).")
    ] = False,
) -> None:
    """Save a run's images that were not saved yet (their links live about 24 hours).

    Saved exactly like a normal run (same names, checks and provenance), by default into the
    run's own output directory.

    Example:

      wan history download 42 -o rescued/

    Examples:

    \b
      wan history download 12 -o out/
    """
    from wan_cli.errors import ExitCode, Interrupted
    from wan_cli.history.recover import save_recorded_images

    out = output()
    store = require_store(out)
    try:
        with store.reading():
            run = found(store.get_run(run_id), run_id)
            code = save_recorded_images(out, store, run, output_dir, no_metadata=no_metadata)
    except KeyboardInterrupt:
        raise Interrupted("interrupted", hint="partial files were removed") from None
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


# -- rerun (its own module) -----------------------------------------------------------------

history_app.command("rerun")(rerun)


# -- clear ----------------------------------------------------------------------------------


@history_app.command("clear")
def clear(
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="DATE",
            help="Only runs created before DATE (2025-01-31, 2025-01-31T12:00, or an age: 30d).",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete recorded runs (all, or older ones). Saved image files are never touched.

    Without a terminal, --yes is required.

    Examples:

    \b
      wan history clear --before 30d --yes
    """
    from wan_cli.errors import UsageError
    from wan_cli.history import parse_before
    from wan_cli.ui.history_view import local_time
    from wan_cli.units import plural

    out = output()
    cutoff = parse_before(before) if before is not None else None
    store = existing_store(out)
    if store is None:
        out.info("history is empty")
        return
    with store.reading():
        count = store.count_runs(before=cutoff)
        what = plural(count, "run") + (f" created before {local_time(cutoff)}" if cutoff else "")
        if count == 0:
            out.info("nothing to clear")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"refusing to delete {what} without confirmation",
                    hint="pass --yes to clear history from a script",
                )
            from wan_cli.ui.output import ask_yes_no

            question = f"Delete {what} from history?"
            if not ask_yes_no(
                question, sys.stdin, out.stderr, if_interrupted="interrupted: nothing deleted"
            ):
                out.info("nothing deleted")
                return
        deleted = store.delete_runs(before=cutoff)
    out.info(f"deleted {plural(deleted, 'run')} from history")

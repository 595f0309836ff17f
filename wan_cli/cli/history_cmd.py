"""`wan history …`: list, show, download, rerun and clear recorded runs.

Results (tables, details, JSON, saved paths) go to stdout; messages to stderr. The database is
opened by `history.open_existing`; nothing is created by merely looking.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wan_cli.cli.options import (
    BaseUrl,
    Curl,
    DryRun,
    NoHistory,
    NoMetadata,
    Profile,
    Provider,
    Quiet,
    Retries,
    Timeout,
    Verbose,
)

if TYPE_CHECKING:
    from wan_cli.history import ImageRow, RunRow, Store
    from wan_cli.ui.output import Output

history_app = typer.Typer(
    help="Every request sent, newest first: find, show, download, rerun or clear past runs."
    "\n\nExamples:\n\n\b\n  wan history --failed\n  wan history show 12",
    invoke_without_command=True,
)

RunId = Annotated[int, typer.Argument(metavar="ID", help="The run's id (see `wan history`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        "-o",
        metavar="DIR",
        help="Where to save images.",
        show_default=False,
    ),
]
PROMPT_WIDTH = 60


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
    out = _output()
    store = _existing(out)
    runs = []
    if store is not None:
        with _reading(store):
            runs = store.list_runs(limit=limit or None, search=search, failed=failed)
    if json_output:
        out.result_json([run.to_json() for run in runs])
        return
    if not runs:
        out.info("no runs recorded yet" if store is None else "no matching runs")
        return
    rows = [_columns(run) for run in runs]
    if _stdout_is_terminal(out):
        _print_table(out, rows)
    else:
        _print_plain(out, rows)


_HEADERS = ("ID", "CREATED", "COMMAND", "STATUS", "IMAGES", "PROMPT")


def _columns(run: RunRow) -> tuple[str, ...]:
    from wan_cli.ui.output import sanitize

    prompt = " ".join(sanitize(run.prompt).split())
    if len(prompt) > PROMPT_WIDTH:
        prompt = prompt[: PROMPT_WIDTH - 1] + "…"
    images = f"{run.saved_count}/{len(run.images)}"
    status = sanitize(run.status)  # a task's state is the service's word
    return (str(run.id), _local(run.created), run.command, status, images, prompt)


def _print_plain(out: Output, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [_HEADERS, *rows]) for i in range(len(_HEADERS) - 1)]
    for row in [_HEADERS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.result("  ".join([*cells, row[-1]]).rstrip())


def _print_table(out: Output, rows: list[tuple[str, ...]]) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    from wan_cli.ui.output import color_allowed

    colour = color_allowed(out.stdout, os.environ)
    table = Table(box=None, header_style="bold" if colour else "", pad_edge=False)
    for header in _HEADERS:
        table.add_column(header, no_wrap=header != "PROMPT", overflow="ellipsis")
    styles = {"ok": "green", "running": "cyan"}
    for row in rows:
        status = row[3]
        waiting = status.startswith("task") and not status.endswith(
            ("FAILED", "CANCELED", "UNKNOWN")
        )
        style = ("cyan" if waiting else styles.get(status, "red")) if colour else ""
        # Cells are plain text: rich must not read `[...]` in a prompt as markup.
        from rich.text import Text

        table.add_row(*(Text(cell, style=style if i == 3 else "") for i, cell in enumerate(row)))
    Console(file=out.stdout, no_color=not colour, highlight=False).print(table)


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
        ),
    ] = None,
) -> None:
    """Everything recorded about one run: request, answer text, images, usage, error.

    Examples:

    \b
      wan history show 12
      wan history show 12 --json | jq .images
    """
    out = _output()
    protocol = None
    if preview:
        from wan_cli.ui.preview import check_protocol

        protocol = check_protocol(preview_protocol) or "auto"
    run = _get_run(out, run_id)
    if json_output:
        out.result_json(run.to_json())
    else:
        for line in describe_run(run):
            out.result(line)
    if protocol is not None:
        from wan_cli.ui.preview import show_previews

        show_previews(run.saved_paths(), out, protocol)


def describe_run(run: RunRow) -> list[str]:
    """The human-readable account of a run (service text sanitized: it reaches a terminal)."""
    import json

    from wan_cli.ui.output import sanitize

    def field(label: str, value: object) -> str:
        return f"{label:<11}{sanitize(str(value))}"

    code = f" (exit {run.exit_code})" if run.exit_code is not None else ""
    lines = [f"run {run.id} · {run.command} · {sanitize(run.status)}{code}"]
    if run.rerun_of is not None:
        lines.append(field("rerun of", run.rerun_of))
    lines.append(field("created", _local(run.created, seconds=True)))
    if run.finished is not None:
        seconds = (run.finished - run.created).total_seconds()
        lines.append(field("finished", f"{_local(run.finished, seconds=True)} ({seconds:.1f} s)"))
    lines.append(field("model", f"{run.model} via {run.provider} ({run.host})"))
    if run.request_id:
        lines.append(field("request id", run.request_id))
    if run.task_id:
        lines.append(field("task", f"{run.task_id} ({run.task_status or 'unknown'})"))
    lines.append(field("prompt", run.prompt))
    params = {k: v for k, v in run.parameters.items() if k != "negative_prompt"}
    if "negative_prompt" in run.parameters:
        lines.append(field("negative", run.parameters["negative_prompt"]))
    lines.append(field("parameters", json.dumps(params, ensure_ascii=False)))
    for number, ref in enumerate(run.references, 1):
        lines.append(field(f"ref {number}", _describe_ref(ref)))
    if run.output_dir:
        lines.append(field("output dir", run.output_dir))
    if run.usage:
        lines.append(field("usage", json.dumps(run.usage, ensure_ascii=False)))
    if run.error:
        lines.append(field("error", run.error))
    if run.images:
        lines.append("images")
        for image in run.images:
            lines.extend(_describe_image(image))
    if run.text:
        lines.append("text")
        lines.extend(f"  {line}" for line in sanitize(run.text).splitlines())
    return lines


def _describe_ref(ref: dict[str, Any]) -> str:
    where = ref.get("path") or ref.get("url") or ref.get("source") or "?"
    facts = [str(ref.get("kind", "?")), str(where)]
    if ref.get("bytes") is not None:
        facts.append(f"{ref['bytes']} bytes")
    if ref.get("sha256"):
        facts.append(f"sha256 {ref['sha256']}")
    return " · ".join(facts)


def _describe_image(image: ImageRow) -> list[str]:
    from wan_cli.ui.output import sanitize

    number = f"  {image.index + 1}. "
    if image.is_saved:
        head = f"saved {image.path} ({image.bytes} bytes, sha256 {image.sha256})"
    elif image.error:
        head = f"not saved: {image.error}"
    elif image.saved is None:
        head = "not saved yet"
    else:
        head = "not saved"
    lines = [number + sanitize(head)]
    pad = " " * len(number)
    if image.url:
        lines.append(pad + "url " + sanitize(image.url))
    elif image.inline:
        lines.append(pad + "(sent inline, no URL)")
    return lines


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
    from wan_cli.recover import save_recorded_images

    out = _output()
    store = _require_store(out)
    try:
        with _reading(store):
            run = _found(store.get_run(run_id), run_id)
            code = save_recorded_images(out, store, run, output_dir, no_metadata=no_metadata)
    except KeyboardInterrupt:
        raise Interrupted("interrupted", hint="partial files were removed") from None
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


# -- rerun ----------------------------------------------------------------------------------


@history_app.command("rerun")
def rerun(
    run_id: RunId,
    seed: Annotated[
        int | None,
        typer.Option("--seed", metavar="N", help="A different seed.", show_default=False),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option("--size", "-s", metavar="SIZE", help="A different size.", show_default=False),
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            "-r",
            metavar="PATH|URL",
            help="Replace the reference images (repeat for several).",
            show_default=False,
        ),
    ] = None,
    negative_prompt: Annotated[
        str | None,
        typer.Option(
            "--negative-prompt",
            metavar="TEXT",
            help="A different negative prompt.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="NAME", help="A different model.", show_default=False),
    ] = None,
    output_dir: OutputDir = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document with every result.")
    ] = False,
    dry_run: DryRun = False,
    curl: Curl = False,
    profile: Profile = None,
    provider: Provider = None,
    base_url: BaseUrl = None,
    timeout: Timeout = None,
    retries: Retries = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    no_metadata: NoMetadata = False,
    no_history: NoHistory = False,
) -> None:
    """Send a recorded request again (billed again), optionally changed by the options.

    The API key, base URL and provider come from your current settings, as for `wan generate`.

    Examples:

    \b
      wan history rerun 42 --seed 7
      wan history rerun 42 --size 1280*720 --dry-run
    """
    from dataclasses import replace

    from wan_cli.history import changed_file_refs, recorded_request
    from wan_cli.run.assemble import execute
    from wan_cli.run.options import GenerateOptions, OutputFlags, SettingFlags

    out = _output()
    run = _get_run(out, run_id)
    request = recorded_request(run, with_refs=ref is None)
    if ref is not None:
        request = replace(request, refs=tuple(ref))
    else:
        for problem in changed_file_refs(run.references):
            out.warn(f"reference {problem}: sending it as it is now")
    request = replace(
        request,
        seed=request.seed if seed is None else seed,
        size=size or request.size,
        negative_prompt=request.negative_prompt if negative_prompt is None else negative_prompt,
    )
    options = GenerateOptions(
        request=request,
        settings=SettingFlags(
            profile=profile,
            provider=provider,
            base_url=base_url,
            model=model or run.model,
            timeout=timeout,
            retries=retries,
            output_dir=output_dir,
        ),
        output=OutputFlags(
            json_output=json_output,
            quiet=quiet,
            verbose=verbose,
            no_metadata=no_metadata,
            no_history=no_history,
        ),
        dry_run=dry_run,
        curl=curl,
        rerun_of=run.id,
    )
    code = execute(options, stdin=sys.stdin)
    if code:
        raise typer.Exit(int(code))


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

    out = _output()
    cutoff = parse_before(before) if before is not None else None
    store = _existing(out)
    if store is None:
        out.info("history is empty")
        return
    with _reading(store):
        count = store.count_runs(before=cutoff)
        what = f"{count} run(s)" + (f" created before {_local(cutoff)}" if cutoff else "")
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
    out.info(f"deleted {deleted} run(s) from history")


# -- helpers --------------------------------------------------------------------------------


def _output() -> Output:
    from wan_cli.ui.output import get_output

    return get_output()


def _stdout_is_terminal(out: Output) -> bool:
    from wan_cli.ui.output import is_terminal

    return is_terminal(out.stdout)


def _local(when: Any, *, seconds: bool = False) -> str:
    return str(when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"))


def _existing(out: Output) -> Store | None:
    from wan_cli.history import history_path, open_existing

    return open_existing(history_path(), warn=out.warn)


def _require_store(out: Output) -> Store:
    from wan_cli.errors import UsageError
    from wan_cli.history import history_path

    store = _existing(out)
    if store is None:
        raise UsageError(f"no history yet ({history_path()} does not exist)")
    return store


def _get_run(out: Output, run_id: int) -> RunRow:
    store = _require_store(out)
    with _reading(store):
        return _found(store.get_run(run_id), run_id)


@contextmanager
def _reading(store: Store) -> Iterator[None]:
    """Use the store, then close it; a database error becomes one line (exit 2)."""
    import sqlite3

    from wan_cli.errors import UsageError

    try:
        yield
    except sqlite3.Error as error:
        raise UsageError(f"cannot use history {store.path}: {error}") from None
    finally:
        store.close()


def _found(run: RunRow | None, run_id: int) -> RunRow:
    from wan_cli.errors import UsageError

    if run is None:
        raise UsageError(f"no run {run_id} in history", hint="`wan history` lists the runs")
    return run

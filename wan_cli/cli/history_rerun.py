"""`wan history rerun ID`: send a recorded request again, optionally changed by the options.

Registered by `cli.history_cmd` (between `download` and `clear`, the order of `--help`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wan_cli.cli.history_common import OutputDir, RunId, get_run, output
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
    from wan_cli.history import RunRow


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
    from wan_cli.history import changed_file_refs, request_args
    from wan_cli.run.assemble import execute

    out = output()
    run = get_run(out, run_id)
    args: dict[str, Any] = request_args(run) if ref is None else _without_refs(run)
    overrides = {
        "seed": seed,
        "size": size,
        "negative_prompt": negative_prompt,
        "model": model,
    }
    args.update({name: value for name, value in overrides.items() if value is not None})
    if ref is not None:
        args["ref"] = list(ref)
    else:
        for problem in changed_file_refs(run.references):
            out.warn(f"reference {problem}: sending it as it is now")
    args.update(
        prompt_file=None,
        output_dir=output_dir,
        json_output=json_output,
        dry_run=dry_run,
        curl=curl,
        profile=profile,
        provider=provider,
        base_url=base_url,
        api_key=None,
        timeout=timeout,
        retries=retries,
        quiet=quiet,
        verbose=verbose,
        no_metadata=no_metadata,
        no_history=no_history,
        rerun_of=run.id,
    )
    code = execute(args, mode=run.command, stdin=sys.stdin)
    if code:
        raise typer.Exit(int(code))


def _without_refs(run: RunRow) -> dict[str, Any]:
    """`request_args` for a run whose references the user replaces (they may be unreplayable)."""
    from dataclasses import replace

    from wan_cli.history import request_args

    return request_args(replace(run, references=[]))

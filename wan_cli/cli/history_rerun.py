"""`wan history rerun ID`: send a recorded request again, optionally changed by the options.

Registered by `cli.history_cmd` (between `download` and `clear`, the order of `--help`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from wan_cli.cli.completion_values import complete_image_path
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
    pass


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
            autocompletion=complete_image_path,
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
      wan history rerun 42 --size '1280*720' --dry-run
    """
    from dataclasses import replace

    from wan_cli.history.replay import changed_file_refs, recorded_request
    from wan_cli.run.assemble import execute
    from wan_cli.run.options import GenerateOptions, OutputFlags, SettingFlags

    out = output()
    run = get_run(out, run_id)
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

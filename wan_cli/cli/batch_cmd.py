"""`wan batch FILE`: many prompts, in parallel, resumable and shardable. Flags only; the work is
`wan_cli.batch.command.execute_batch`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from wan_cli.cli.completion_values import complete_image_path
from wan_cli.cli.options import (
    ApiKey,
    BaseUrl,
    LineDeadline,
    Model,
    NegativePrompt,
    NoHistory,
    NoMetadata,
    OutputDir,
    Profile,
    Provider,
    Quiet,
    Retries,
    Seed,
    Timeout,
    Verbose,
    Watermark,
)


def batch(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="JSONL (one object per line) or plain text (one prompt per line); '-' is stdin.",
            show_default=False,
        ),
    ],
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-j", metavar="N", help="Requests in flight at once (1-32)."),
    ] = 2,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="i/n",
            help="Take only lines whose position % n == i-1 (blank lines not counted): "
            "a CI matrix of n jobs splits one file.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Send every line again, even those the manifest says are done."
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Send only lines that failed or were interrupted before; skip lines never sent.",
        ),
    ] = False,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            metavar="FILE",
            help="Where outcomes are recorded (default: OUTPUT_DIR/wan-batch-manifest.jsonl).",
            show_default=False,
        ),
    ] = None,
    max_total_images: Annotated[
        int | None,
        typer.Option(
            "--max-total-images",
            metavar="N",
            help="Refuse (exit 2, nothing sent) a batch that could produce more than N images. "
            "A cap also lets a batch of more than 20 images run without a terminal.",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Send a batch of more than 20 images without asking. Without a terminal to "
            "ask, such a batch is refused unless --yes or --max-total-images is given.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check every line and print the requests (one JSON per line); send nothing.",
        ),
    ] = False,
    input_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="auto|jsonl|text",
            help="How to read FILE (auto: JSONL when the first line starts with '{').",
        ),
    ] = "auto",
    mode: Annotated[
        str,
        typer.Option("--mode", metavar="generate|edit", help="Default mode of every line."),
    ] = "generate",
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            "-r",
            metavar="PATH|URL",
            help='Default reference image(s) for lines without "refs".',
            show_default=False,
            autocompletion=complete_image_path,
        ),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            "-s",
            metavar="SIZE",
            help="Default size (W*H; edit also 1K/2K).",
            show_default=False,
        ),
    ] = None,
    max_images: Annotated[
        int | None,
        typer.Option(
            "--max-images",
            "-m",
            metavar="1-5",
            help="Default max_images of generate lines (default 1).",
            show_default=False,
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "-n",
            "--n",
            metavar="1-4",
            help="Default n of edit lines (default 1).",
            show_default=False,
        ),
    ] = None,
    prompt_extend: Annotated[
        bool | None,
        typer.Option(
            "--prompt-extend/--no-prompt-extend",
            help="Default prompt_extend of edit lines.",
            show_default=False,
        ),
    ] = None,
    negative_prompt: NegativePrompt = None,
    seed: Seed = None,
    watermark: Watermark = None,
    output_dir: OutputDir = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON document with every line's outcome."),
    ] = False,
    timeout: Timeout = None,
    deadline: LineDeadline = None,
    retries: Retries = None,
    profile: Profile = None,
    model: Model = None,
    provider: Provider = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    no_metadata: NoMetadata = False,
    no_history: NoHistory = False,
) -> None:
    """Run many prompts at once, resumably.

    Each line of FILE is one request: a prompt, or a JSON object with "prompt" and any of
    "mode", "refs", "size", "n", "max_images", "negative_prompt", "seed", "watermark",
    "prompt_extend", "name" (file-name stem: NAME-1.png …), "output_dir" (a folder inside -o:
    relative, no ".."). Options give the defaults for every line; relative "refs" are relative
    to FILE.

    Every line is checked before anything is sent: bad lines are listed with their numbers
    (exit 2). A manifest in the output directory records each line's outcome. Re-running the
    same command skips the lines done and sends the rest (failed, interrupted, new), except
    lines whose images were paid for but not saved (exit 7: `wan history download` saves them);
    --retry-failed sends only the failed/interrupted ones; --force sends all. A line is known
    by a hash of its request, so an edited line is sent again. After a crash or `kill -9`,
    lines whose images had arrived are saved from the links in history, not sent again. When
    any request is rate limited (429, Retry-After) or retried, every worker waits before its
    next send.

    A batch that could produce more than 20 images asks first on a terminal; without one (CI,
    cron, a pipe) it is refused, exit 2 and nothing sent, unless --yes or --max-total-images N
    says it may be sent.

    Exit code: 0 if every line succeeded, else the most severe that occurred, in this order:
    130, 3 (auth), 7 (not saved), 5 (rate limited), 6 (unavailable), 1, 4 (rejected), 2.
    An auth, quota or billing failure stops further lines from being sent.

    Examples:

    \b
      wan batch prompts.txt -o out/ -j 4
      wan batch products.jsonl --shard 2/3 --max-total-images 100 --yes
    """
    from wan_cli.batch.command import BatchOptions, execute_batch
    from wan_cli.run.options import OutputFlags, RequestOptions, SettingFlags, check_mode

    options = BatchOptions(
        file=file,
        request=RequestOptions(
            mode=check_mode(mode),
            refs=tuple(ref or ()),
            size=size,
            max_images=max_images,
            n=n,
            negative_prompt=negative_prompt,
            seed=seed,
            watermark=watermark,
            prompt_extend=prompt_extend,
        ),
        settings=SettingFlags(
            profile=profile,
            provider=provider,
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            deadline=deadline,
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
        concurrency=concurrency,
        shard=shard,
        force=force,
        retry_failed=retry_failed,
        manifest=manifest,
        max_total_images=max_total_images,
        yes=yes,
        dry_run=dry_run,
        input_format=input_format,
    )
    code = execute_batch(options, stdin=sys.stdin)
    if code:
        raise typer.Exit(int(code))

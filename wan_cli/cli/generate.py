"""`wan generate` and `wan edit`: flags → inputs → request → run. No logic beyond wiring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wan_cli.cli.completion_values import complete_image_path
from wan_cli.cli.options import (
    ApiKey,
    AsyncTask,
    BaseUrl,
    Curl,
    Deadline,
    DryRun,
    EditSize,
    JsonOut,
    Model,
    NegativePrompt,
    NoHistory,
    NoMetadata,
    OutputDir,
    Preview,
    PreviewProtocol,
    Profile,
    PromptArg,
    PromptFile,
    Provider,
    Quiet,
    Retries,
    Seed,
    Size,
    Timeout,
    Verbose,
    Watermark,
)

if TYPE_CHECKING:
    from wan_cli.run.options import OutputFlags, RequestOptions, SettingFlags


def generate(
    prompt: PromptArg = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            "-r",
            metavar="PATH|URL",
            help="A reference image: local path or http(s) URL (at most 1).",
            show_default=False,
            autocompletion=complete_image_path,
        ),
    ] = None,
    size: Size = None,
    max_images: Annotated[
        int | None,
        typer.Option(
            "--max-images",
            "-m",
            metavar="1-5",
            help="Upper bound on images, 1-5 (default 1: each is billed).",
            show_default=False,
        ),
    ] = None,
    negative_prompt: NegativePrompt = None,
    seed: Seed = None,
    watermark: Watermark = None,
    output_dir: OutputDir = None,
    json_output: JsonOut = False,
    dry_run: DryRun = False,
    curl: Curl = False,
    async_task: AsyncTask = False,
    prompt_file: PromptFile = None,
    timeout: Timeout = None,
    deadline: Deadline = None,
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
    preview: Preview = None,
    preview_protocol: PreviewProtocol = None,
) -> None:
    """Create images with interleaved text from a prompt (and optionally one reference image).

    Examples:

    \b
      wan generate "an autumn painting of a lighthouse" --size 1280x720
      wan generate "in this style, a winter scene" --ref style.png -o out/ --json
    """
    from wan_cli.run.options import OutputFlags, RequestOptions, SettingFlags

    request = RequestOptions(
        mode="generate",
        prompt=prompt,
        refs=tuple(ref or ()),
        size=size,
        max_images=max_images,
        negative_prompt=negative_prompt,
        seed=seed,
        watermark=watermark,
    )
    _run(
        request,
        SettingFlags(
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
        OutputFlags(
            json_output=json_output,
            quiet=quiet,
            verbose=verbose,
            no_metadata=no_metadata,
            no_history=no_history,
            preview=preview,
            preview_protocol=preview_protocol,
        ),
        prompt_file=prompt_file,
        dry_run=dry_run,
        curl=curl,
        async_task=async_task,
    )


def edit(
    prompt: PromptArg = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            "-r",
            metavar="PATH|URL",
            help="Image to edit: local path or http(s) URL (1-4, in order).",
            show_default=False,
            autocompletion=complete_image_path,
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "-n",
            "--n",
            metavar="1-4",
            help="Number of images, 1-4 (default 1: each is billed).",
            show_default=False,
        ),
    ] = None,
    size: EditSize = None,
    prompt_extend: Annotated[
        bool | None,
        typer.Option(
            "--prompt-extend/--no-prompt-extend",
            help="Let the service rewrite the prompt.",
            show_default=False,
        ),
    ] = None,
    negative_prompt: NegativePrompt = None,
    seed: Seed = None,
    watermark: Watermark = None,
    output_dir: OutputDir = None,
    json_output: JsonOut = False,
    dry_run: DryRun = False,
    curl: Curl = False,
    async_task: AsyncTask = False,
    prompt_file: PromptFile = None,
    timeout: Timeout = None,
    deadline: Deadline = None,
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
    preview: Preview = None,
    preview_protocol: PreviewProtocol = None,
) -> None:
    """Edit one to four images following a prompt.

    Examples:

    \b
      wan edit "make it snow" --ref photo.jpg
      wan edit "put the cat from image 2 on the sofa in image 1" -r room.png -r cat.jpg -n 2
    """
    from wan_cli.run.options import OutputFlags, RequestOptions, SettingFlags

    request = RequestOptions(
        mode="edit",
        prompt=prompt,
        refs=tuple(ref or ()),
        size=size,
        n=n,
        negative_prompt=negative_prompt,
        seed=seed,
        watermark=watermark,
        prompt_extend=prompt_extend,
    )
    _run(
        request,
        SettingFlags(
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
        OutputFlags(
            json_output=json_output,
            quiet=quiet,
            verbose=verbose,
            no_metadata=no_metadata,
            no_history=no_history,
            preview=preview,
            preview_protocol=preview_protocol,
        ),
        prompt_file=prompt_file,
        dry_run=dry_run,
        curl=curl,
        async_task=async_task,
    )


def _run(
    request: RequestOptions,
    settings: SettingFlags,
    output: OutputFlags,
    *,
    prompt_file: Path | None,
    dry_run: bool,
    curl: bool,
    async_task: bool,
) -> None:
    from wan_cli.run.assemble import execute
    from wan_cli.run.options import GenerateOptions

    options = GenerateOptions(
        request=request,
        settings=settings,
        output=output,
        prompt_file=prompt_file,
        dry_run=dry_run,
        curl=curl,
        async_task=async_task,
    )
    code = execute(options, stdin=sys.stdin)
    if code:
        raise typer.Exit(int(code))

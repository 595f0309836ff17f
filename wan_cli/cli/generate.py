"""`wan generate` and `wan edit`: flags → inputs → request → run. No logic beyond wiring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wan_cli.completion_values import (
    complete_edit_size,
    complete_generate_size,
    complete_profile,
    complete_provider,
)

# Options shared by both commands, declared once.
PromptArg = Annotated[
    str | None,
    typer.Argument(
        metavar="PROMPT",
        help="The prompt. '-' reads it from stdin; omitted, it is read from piped stdin.",
        show_default=False,
    ),
]
PromptFile = Annotated[
    Path | None,
    typer.Option(
        "--prompt-file", metavar="FILE", help="Read the prompt from a file.", show_default=False
    ),
]
Size = Annotated[
    str | None,
    typer.Option(
        "--size",
        "-s",
        metavar="W*H",
        help="Output size W*H (also WxH).",
        show_default=False,
        autocompletion=complete_generate_size,
    ),
]
NegativePrompt = Annotated[
    str | None,
    typer.Option(
        "--negative-prompt",
        metavar="TEXT",
        help="What to avoid (≤ 500 characters).",
        show_default=False,
    ),
]
Seed = Annotated[
    int | None,
    typer.Option(
        "--seed",
        metavar="N",
        help="Random seed 0..2147483647, for repeatable results.",
        show_default=False,
    ),
]
Watermark = Annotated[
    bool | None,
    typer.Option(
        "--watermark/--no-watermark", help="Ask for the service's watermark.", show_default=False
    ),
]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        "-o",
        metavar="DIR",
        help="Where to save images (default: config output-dir, else .).",
        show_default=False,
    ),
]
JsonOut = Annotated[
    bool, typer.Option("--json", help="Print one JSON document with every result on stdout.")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the request that would be sent; send nothing.")
]
Curl = Annotated[
    bool, typer.Option("--curl", help="Print an equivalent curl command (key from $WAN_API_KEY).")
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds to wait for each read before giving up.",
        show_default=False,
    ),
]
Retries = Annotated[
    int | None,
    typer.Option(
        "--retries",
        metavar="N",
        help="Retries on 429/5xx/network errors (default 2).",
        show_default=False,
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Settings profile to use (or WAN_PROFILE).",
        show_default=False,
        autocompletion=complete_profile,
    ),
]
Model = Annotated[
    str | None, typer.Option("--model", metavar="NAME", help="Model name.", show_default=False)
]
Provider = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="gateway|dashscope",
        help="gateway (default) or dashscope.",
        show_default=False,
        autocompletion=complete_provider,
    ),
]
BaseUrl = Annotated[
    str | None, typer.Option("--base-url", metavar="URL", help="API base URL.", show_default=False)
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        metavar="KEY",
        help="API key (prefer `wan config set api-key`: flags land in shell history).",
        show_default=False,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Show errors only.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show request/response details.")]
NoMetadata = Annotated[
    bool,
    typer.Option("--no-metadata", help="Do not write provenance (sidecar JSON, PNG text chunks)."),
]
AsyncTask = Annotated[
    bool,
    typer.Option(
        "--async",
        help="DashScope only: submit an async task, print its id and return at once "
        "(collect the images with `wan task wait ID`).",
    ),
]
NoHistory = Annotated[
    bool,
    typer.Option("--no-history", help="Do not record this run in history (`wan history`)."),
]
Preview = Annotated[
    bool | None,
    typer.Option(
        "--preview/--no-preview",
        help="Draw the saved images in the terminal (TTY only; needs wan-cli[preview]). "
        "Default: config preview.",
        show_default=False,
    ),
]
PreviewProtocol = Annotated[
    str | None,
    typer.Option(
        "--preview-protocol",
        metavar="auto|kitty|iterm2|sixel|blocks",
        help="How to draw previews (default: detected from the terminal).",
        show_default=False,
    ),
]


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

      wan generate "an autumn painting of a lighthouse" --size 1280*720

      wan generate "in this style, a winter scene" --ref style.png -o out/ --json
    """
    _run(locals(), mode="generate")


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
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            "-s",
            metavar="1K|2K|W*H",
            help="Output size: 1K, 2K or W*H.",
            show_default=False,
            autocompletion=complete_edit_size,
        ),
    ] = None,
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

      wan edit "make it snow" --ref photo.jpg

      wan edit "put the cat from image 2 on the sofa in image 1" -r room.png -r cat.jpg -n 2
    """
    _run(locals(), mode="edit")


def _run(args: dict[str, Any], mode: str) -> None:
    from wan_cli.generation import execute

    code = execute(args, mode=mode, stdin=sys.stdin)
    if code:
        raise typer.Exit(int(code))

"""Options shared by the commands, declared once: the same flag means the same thing in
`generate`, `edit`, `batch`, `history`, `task`…; commands with a different meaning for a flag
declare their own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wan_cli.cli.completion_values import (
    complete_edit_size,
    complete_generate_size,
    complete_preview_protocol,
    complete_profile,
    complete_provider,
)

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
EditSize = Annotated[
    str | None,
    typer.Option(
        "--size",
        "-s",
        metavar="1K|2K|W*H",
        help="Output size: 1K, 2K or W*H.",
        show_default=False,
        autocompletion=complete_edit_size,
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
    bool, typer.Option("--curl", help="Print an equivalent curl command (the key left out).")
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
Deadline = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        metavar="SECONDS",
        help="Seconds the whole run may take, downloads included, before it ends with exit 6 "
        "(default 1800; 0: none).",
        show_default=False,
    ),
]
LineDeadline = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        metavar="SECONDS",
        help="Seconds each line may take, downloads included, before it ends with exit 6 "
        "(default 1800; 0: none).",
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
        autocompletion=complete_preview_protocol,
    ),
]

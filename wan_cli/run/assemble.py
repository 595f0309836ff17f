"""From parsed command-line values to a finished run: prompt, settings, request, then `run`.

Kept out of the typer module so the CLI stays a thin declaration of flags.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wan_cli.errors import ExitCode, UsageError
from wan_cli.ui.output import Output, is_terminal, set_output

if TYPE_CHECKING:
    from wan_cli.history import Store
    from wan_cli.run.model import RunConfig
    from wan_cli.settings import Settings

# Flags that name a setting (resolved with env > profile > defaults by `settings`).
SETTING_FLAGS = ("api_key", "base_url", "model", "provider", "timeout", "retries", "output_dir")


def read_prompt(prompt: str | None, prompt_file: Path | None, stdin: TextIO) -> str:
    """The prompt from the argument, `--prompt-file`, or stdin ('-' or omitted with a pipe).

    Stdin is read only when asked for ('-') or when no prompt was given and stdin is not a
    terminal: a CI runner's open stdin is never waited on when the prompt is on the command line.
    """
    if prompt is not None and prompt_file is not None and prompt != "-":
        raise UsageError("give the prompt either as an argument or with --prompt-file, not both")
    if prompt_file is not None:
        try:
            # utf-8-sig: an editor's BOM is not part of the prompt; nor is the final newline.
            text = prompt_file.expanduser().read_text(encoding="utf-8-sig").rstrip("\n")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read prompt file {prompt_file}: {_reason(error)}") from None
        return text
    if prompt == "-" or (prompt is None and _stdin_has_data(stdin)):
        text = stdin.read()
        if not text.strip():
            raise UsageError("the prompt read from stdin is empty")
        return text.rstrip("\n")
    if prompt is None:
        raise UsageError(
            "no prompt: give it as an argument, with --prompt-file, or on stdin",
            hint='e.g. wan generate "an autumn painting" --dry-run',
        )
    return prompt


def _stdin_has_data(stdin: TextIO) -> bool:
    isatty = getattr(stdin, "isatty", None)
    if isatty is None or isatty():
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return True  # an in-memory stream (tests): readable without blocking
    # A pipe, a file or a socket; /dev/null-like character devices are not a prompt.
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def command_settings(args: Mapping[str, Any], out: Output) -> Settings:
    """The effective settings of a command that sends requests (flags > env > profile)."""
    from wan_cli.settings import resolve_settings

    flags: dict[str, object | None] = {name: args.get(name) for name in SETTING_FLAGS}
    flags["profile"] = args.get("profile")
    if args.get("output_dir") is not None:
        flags["output_dir"] = str(args["output_dir"])
    settings = resolve_settings(flags, dict(os.environ))
    for note in settings.notes:
        out.detail(note)
    if args.get("api_key") is not None:
        out.warn("--api-key lands in shell history: prefer `wan config set api-key` or WAN_API_KEY")
    return settings


def output_dir_of(settings: Settings) -> Path:
    """Where images go: `-o` / WAN_OUTPUT_DIR / config output-dir, else the current directory."""
    return Path(settings.output_dir).expanduser() if settings.output_dir else Path.cwd()


def run_config(
    settings: Settings,
    args: Mapping[str, Any],
    out: Output,
    *,
    json_output: bool = False,
    preview: str | None = None,
) -> RunConfig:
    """What every run of this command shares: the key (AuthError without one), limits, where
    images go, and the history store (opened here; the caller closes it)."""
    from wan_cli.files.naming import writable_directory
    from wan_cli.run.model import RunConfig
    from wan_cli.settings import require_api_key

    api_key = require_api_key(settings)
    output_dir = writable_directory(output_dir_of(settings))
    return RunConfig(
        api_key=api_key,
        model=settings.model,
        provider=settings.provider,
        timeout=settings.timeout,
        retries=settings.retries,
        output_dir=output_dir,
        json_output=json_output,
        metadata=settings.metadata and not args.get("no_metadata"),
        max_download_bytes=settings.max_image_mb * 1024 * 1024,
        history=open_history(bool(settings.history and not args.get("no_history")), out),
        preview=preview,
    )


def execute(args: dict[str, Any], *, mode: str, stdin: TextIO) -> ExitCode:
    """Validate everything, then dry-run, print curl, or run the generation."""
    from wan_cli.api.request import GenerateInputs, build_request, render_curl, render_dry_run

    out = set_output(Output(quiet=args["quiet"], verbose=args["verbose"]))
    settings = command_settings(args, out)
    preview = _preview_protocol(args, settings.preview)
    prompt = read_prompt(args.get("prompt"), args.get("prompt_file"), stdin)
    inputs = GenerateInputs(
        mode="generate" if mode == "generate" else "edit",
        prompt=prompt,
        refs=tuple(args.get("ref") or ()),
        size=args.get("size") or configured_size(settings.size, mode),
        max_images=args.get("max_images") if mode == "generate" else None,
        n=args.get("n") if mode == "edit" else None,
        negative_prompt=args.get("negative_prompt"),
        seed=args.get("seed"),
        watermark=args.get("watermark"),
        prompt_extend=args.get("prompt_extend") if mode == "edit" else None,
        model=settings.model,
        provider=settings.provider,
        base_url=settings.base_url,
        async_task=bool(args.get("async_task")),
    )
    prepared = build_request(inputs)
    if args["dry_run"] or args["curl"]:
        if args["curl"]:
            out.result(render_curl(prepared))
        else:
            pretty = is_terminal(out.stdout)
            out.result(render_dry_run(prepared, pretty=pretty, abbreviate_data=pretty))
        return ExitCode.OK

    from wan_cli.run.consume import run_generation

    config = run_config(settings, args, out, json_output=args["json_output"], preview=preview)
    history = config.history
    parameters = dict(prepared.body.get("parameters", {}))
    try:
        if inputs.async_task:  # submit only: `wan task wait` collects the images
            from wan_cli.tasks.flows import submit_task

            return submit_task(prepared, config, out, prompt, parameters)
        return run_generation(
            prepared, config, out, prompt, parameters, rerun_of=args.get("rerun_of")
        )
    finally:
        if history is not None:
            history.close()


def configured_size(size: str | None, mode: str) -> str | None:
    """The config's `size` for this mode: `1K`/`2K` exist in edit mode only, so a generate run
    leaves them to the service's default instead of failing on a setting it was not given."""
    if size is not None and mode != "edit" and size.strip().upper() in ("1K", "2K"):
        return None
    return size


def _preview_protocol(args: dict[str, Any], configured: bool) -> str | None:
    """None for no preview, else the protocol to draw with ("auto" = detect); checked early."""
    wanted = args.get("preview")
    if not (configured if wanted is None else wanted):
        return None
    from wan_cli.ui.preview import check_protocol

    return check_protocol(args.get("preview_protocol")) or "auto"


def open_history(enabled: bool, out: Output) -> Store | None:
    """The history store for this run (None when turned off, or unusable: warned once)."""
    if not enabled:
        return None
    from wan_cli.history import history_path, open_store

    return open_store(history_path(), warn=out.warn)

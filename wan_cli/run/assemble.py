"""From typed options to a run: the prompt, the settings, the request's inputs (`run_inputs`,
the one assembler) and the run's config (`make_run_config`, the one factory); then `execute`
dry-runs, prints curl, or runs it; `run_for_document` runs it for a program (`wan mcp`).

Every entry point that sends goes through `run_inputs` and `make_run_config`: generate, edit,
each batch line, `history rerun`, `task wait` and `history download`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wan_cli.errors import ExitCode, WanError
from wan_cli.run.prompt import read_prompt
from wan_cli.ui.output import Output, is_terminal, set_output

if TYPE_CHECKING:
    from wan_cli.api.request import GenerateInputs, PreparedRequest
    from wan_cli.history import Store
    from wan_cli.run.model import Pacer, RunConfig
    from wan_cli.run.options import GenerateOptions, OutputFlags, RequestOptions, SettingFlags
    from wan_cli.run.stopping import Cancel
    from wan_cli.settings import Settings
    from wan_cli.ui.render import View


def command_settings(flags: SettingFlags, out: Output) -> Settings:
    """The effective settings of a command that sends requests (flags > env > profile)."""
    from wan_cli.settings import resolve_settings

    settings = resolve_settings(flags.layer(), dict(os.environ))
    show_notes(settings, out)
    if flags.api_key is not None:
        out.warn("--api-key lands in shell history: prefer `wan config set api-key` or WAN_API_KEY")
    return settings


def show_notes(settings: Settings, out: Output) -> None:
    """The settings' notes: with -v all of them; without, only the notices (a base URL set aside,
    or paired with a provider from another layer), one line each."""
    notices = dict((text, level) for level, text in settings.notices)
    for note in settings.notes:
        level = notices.get(note)
        if level == "warn":
            out.warn(note)
        elif level == "info":
            out.info(note)
        else:
            out.detail(note)


def output_dir_of(settings: Settings) -> Path:
    """Where images go: `-o` / WAN_OUTPUT_DIR / config output-dir, else the current directory."""
    return Path(settings.output_dir).expanduser() if settings.output_dir else Path.cwd()


def run_inputs(
    request: RequestOptions,
    prompt: str,
    settings: Settings,
    *,
    async_task: bool = False,
) -> GenerateInputs:
    """The one assembler: options + resolved settings + mode → the inputs of a request.

    Every entry point goes through it (generate, edit, each batch line, history rerun), so a
    default taken from the settings (size) or a mode's own option is decided once."""
    from wan_cli.api.request import GenerateInputs
    from wan_cli.settings import size_for_mode

    mode = request.mode
    return GenerateInputs(
        mode=mode,
        prompt=prompt,
        refs=request.refs,
        size=request.size or size_for_mode(settings, mode),
        max_images=request.max_images if mode == "generate" else None,
        n=request.n if mode == "edit" else None,
        negative_prompt=request.negative_prompt,
        seed=request.seed,
        watermark=request.watermark,
        prompt_extend=request.prompt_extend if mode == "edit" else None,
        model=settings.model,
        provider=settings.provider,
        base_url=settings.base_url,
        async_task=async_task,
    )


def make_run_config(
    settings: Settings,
    *,
    api_key: str,
    output_dir: Path,
    history: Store | None,
    json_output: bool = False,
    metadata: bool = True,
    preview: str | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> RunConfig:
    """The one factory of `RunConfig`: limits and switches from the settings, the rest given.
    `metadata` False turns provenance off for this run (`--no-metadata`); `model`/`provider`
    replace the settings' (a recorded run's own)."""
    from wan_cli.run.model import RunConfig

    return RunConfig(
        api_key=api_key,
        model=model or settings.model,
        provider=provider or settings.provider,
        timeout=settings.timeout,
        deadline=settings.deadline or None,
        retries=settings.retries,
        output_dir=output_dir,
        json_output=json_output,
        metadata=settings.metadata and metadata,
        max_download_bytes=settings.max_image_mb * 1024 * 1024,
        history=history,
        preview=preview,
    )


def sending_key(settings: Settings) -> str:
    """The key of a command that sends: AuthError (exit 3) without one, UsageError (exit 2)
    for one that cannot be sent in a header. Asked before anything is recorded or sent."""
    from wan_cli.api.client import check_api_key
    from wan_cli.settings import require_api_key

    return check_api_key(require_api_key(settings))


def sending_config(
    settings: Settings, output: OutputFlags, out: Output, *, preview: str | None = None
) -> RunConfig:
    """The `RunConfig` of a command that sends: the key (`sending_key`), a writable output
    directory, and the history store (opened here; the caller closes it)."""
    from wan_cli.files.naming import writable_directory

    return make_run_config(
        settings,
        api_key=sending_key(settings),
        output_dir=writable_directory(output_dir_of(settings)),
        history=open_history(settings.history and not output.no_history, out),
        json_output=output.json_output,
        metadata=not output.no_metadata,
        preview=preview,
    )


def execute(options: GenerateOptions, *, stdin: TextIO) -> ExitCode:
    """Validate everything, then dry-run, print curl, or run the generation (with the mock
    provider, against the mock `wan` starts for the command)."""
    from wan_cli.mock.embedded import mock_service

    output = options.output
    out = set_output(Output(quiet=output.quiet, verbose=output.verbose))
    resolved = command_settings(options.settings, out)
    with mock_service(resolved, start=not (options.dry_run or options.curl)) as settings:
        return _execute(options, settings, out, stdin)


def _execute(options: GenerateOptions, settings: Settings, out: Output, stdin: TextIO) -> ExitCode:
    from wan_cli.api.request import build_request, render_curl, render_dry_run

    output = options.output
    preview = _preview_protocol(output, settings.preview)
    prompt = read_prompt(
        options.request.prompt, options.prompt_file, stdin, mode=options.request.mode
    )
    inputs = run_inputs(options.request, prompt, settings, async_task=options.async_task)
    prepared = build_request(inputs)
    if options.dry_run or options.curl:
        if options.curl:
            from wan_cli.run.curl_key import curl_key

            key = curl_key(settings)
            out.result(render_curl(prepared, key.expression))
            if key.note is not None:
                out.warn(key.note)
        else:
            pretty = is_terminal(out.stdout)
            out.result(render_dry_run(prepared, pretty=pretty, abbreviate_data=pretty))
        return ExitCode.OK

    from wan_cli.run.model import job_for

    if preview is not None:  # said now, before the run, if nothing can be drawn
        from wan_cli.ui.preview import usable_protocol

        preview = usable_protocol(preview, out)
    config = sending_config(settings, output, out, preview=preview)
    job = job_for(prepared, prompt, rerun_of=options.rerun_of)
    try:
        if inputs.async_task:  # submit only: `wan task wait` collects the images
            from wan_cli.tasks.submit import submit_task

            return submit_task(prepared, config, out, job)
        from wan_cli.run.consume import run_job

        return run_job(prepared, config, out, job)
    finally:
        if config.history is not None:
            config.history.close()


@dataclass(frozen=True)
class RunResult:
    """A run done for a program: its exit code, its `--json` document, its error (None: ok)."""

    code: ExitCode
    document: dict[str, Any]
    error: WanError | None


def run_for_document(
    options: GenerateOptions,
    out: Output,
    view: View,
    *,
    before_send: Callable[[PreparedRequest], None] | None = None,
    pacer: Pacer | None = None,
    cancel: Cancel | None = None,
) -> RunResult:
    """`execute`'s path for a program (`wan mcp`): nothing is printed on stdout, the `--json`
    document is returned. The prompt is `options.request.prompt` (no stdin, dry run or async
    task). A failure before sending raises its `WanError`, as in `execute`; `before_send` is
    given the exact request and may refuse it by raising, before anything is sent. `pacer` and
    `cancel` as in a batch's run: another thread can end the run at once (`BatchPacer.abort`),
    as `Interrupted`, partial files removed and its history row ended."""
    from wan_cli.api.request import build_request
    from wan_cli.mock.embedded import mock_service
    from wan_cli.run.consume import consume_events
    from wan_cli.run.model import job_for
    from wan_cli.run.outcome import run_document, settle
    from wan_cli.run.source import api_answer

    prompt = options.request.prompt or ""
    with mock_service(command_settings(options.settings, out)) as settings:
        prepared = build_request(run_inputs(options.request, prompt, settings))
        config = sending_config(settings, options.output, out)
        try:
            if before_send is not None:
                before_send(prepared)
            job = job_for(prepared, prompt)
            source = api_answer(prepared, config, out, pacer)
            record = consume_events(source, config, job, view, cancel)
            outcome = settle(record, config)
        finally:
            if config.history is not None:
                config.history.close()
    return RunResult(outcome.code, run_document(outcome, config, job), outcome.error)


def _preview_protocol(output: OutputFlags, configured: bool) -> str | None:
    """None for no preview, else the protocol to draw with ("auto" = detect); checked early."""
    wanted = output.preview
    if not (configured if wanted is None else wanted):
        return None
    from wan_cli.ui.preview import check_protocol

    return check_protocol(output.preview_protocol) or "auto"


def open_history(enabled: bool, out: Output) -> Store | None:
    """The history store for this run (None when turned off, or unusable: warned once)."""
    if not enabled:
        return None
    from wan_cli.history import history_path, open_store

    return open_store(history_path(), warn=out.warn)

"""`wan batch` as a command: options → read, parse, prepare, plan, then dry-run or ask and run,
then report; returns the batch's exit code. The steps themselves live in the sibling modules."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from wan_cli.batch.items import LineDefaults, prepare_items
from wan_cli.batch.manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    check_manifest_path,
    read_manifest,
)
from wan_cli.batch.outcome import BatchReport, LineOutcome
from wan_cli.batch.pacing import BatchPacer
from wan_cli.batch.parse import FORMATS, parse_batch
from wan_cli.batch.plan import (
    BatchPlan,
    Consent,
    Resume,
    Shard,
    check_budget,
    consent,
    make_plan,
    parse_shard,
    plan_summary,
    refusal,
)
from wan_cli.batch.report import print_summary, report_document
from wan_cli.batch.rescue import recorded_runs
from wan_cli.batch.runner import run_batch
from wan_cli.batch.views import make_progress
from wan_cli.errors import ExitCode, Interrupted, UsageError
from wan_cli.run.assemble import command_settings, output_dir_of, sending_config, sending_key
from wan_cli.run.options import OutputFlags, RequestOptions, SettingFlags
from wan_cli.run.stopping import Cancel
from wan_cli.ui.output import Output, ask_yes_no, is_terminal, printable_url, set_output
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.batch.manifest import ManifestRecord
    from wan_cli.history.rows import RunRow
    from wan_cli.settings import Settings

DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 32


@dataclass(frozen=True)
class BatchOptions:
    """Everything `wan batch` was told. `request` holds the defaults of every line."""

    file: str
    request: RequestOptions = field(default_factory=RequestOptions)
    settings: SettingFlags = field(default_factory=SettingFlags)
    output: OutputFlags = field(default_factory=OutputFlags)
    concurrency: int = DEFAULT_CONCURRENCY
    shard: str | None = None
    force: bool = False
    retry_failed: bool = False
    manifest: Path | None = None
    max_total_images: int | None = None
    yes: bool = False
    dry_run: bool = False
    input_format: str = "auto"


def execute_batch(options: BatchOptions, *, stdin: TextIO) -> ExitCode:
    """Validate every line, plan, then dry-run or send; returns the batch's exit code.
    (Ctrl-C while lines are in flight is handled by `run_batch`; anywhere else it is 130.)"""
    out = set_output(Output(quiet=options.output.quiet, verbose=options.output.verbose))
    try:
        return _execute(options, stdin, out)
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None


def _execute(options: BatchOptions, stdin: TextIO, out: Output) -> ExitCode:
    from wan_cli.mock.embedded import mock_service

    resolved = command_settings(options.settings, out)
    with mock_service(resolved, start=not options.dry_run) as settings:
        return _run(options, settings, stdin, out)


def _run(options: BatchOptions, settings: Settings, stdin: TextIO, out: Output) -> ExitCode:
    plan, manifest_path = _prepare(options, settings, stdin, out)
    out.info(plan_summary(plan))
    check_budget(plan, options.max_total_images)
    if options.dry_run:
        _print_dry_run(plan, out)
        return ExitCode.OK

    sending_key(settings)  # before the question: a missing or unusable key fails at once
    if not plan.work:
        skipped = plural(len(plan.skipped), "line")
        out.info(f"nothing to send: {skipped} skipped (--force sends them again)")
        if options.output.json_output:
            empty = BatchReport(plan, (), (), 0.0, False, manifest_path)
            out.result_json(report_document(empty))
        return ExitCode.OK
    question = (
        f"Send {plural(plan.requests, 'request')} that can produce up to "
        f"{plural(plan.max_images, 'billed image')}?"
    )
    interactive = is_terminal(stdin) and is_terminal(out.stderr)
    needed = consent(
        plan,
        yes=options.yes,
        max_total_images=options.max_total_images,
        interactive=interactive,
    )
    if needed is Consent.REFUSE:
        raise refusal(plan)
    if needed is Consent.ASK and not ask_yes_no(
        question, stdin, out.stderr, if_interrupted="interrupted: nothing was sent"
    ):
        raise UsageError("not confirmed: nothing was sent", hint="--yes skips the question")

    from wan_cli.files.naming import remove_stale_temps, writable_directory

    for directory in sorted({item.output_dir for item, _ in plan.work}):
        writable_directory(directory)  # every line's destination, before anything is sent
        # A killed run's `.part` files: this run owns the directory now (a live writer's stay).
        remove_stale_temps(directory)
    config = sending_config(settings, options.output, out)
    history = config.history
    writer = ManifestWriter(manifest_path)
    lock = threading.Lock()
    # Piped, each result goes out as its line finishes; on a terminal they wait for the end,
    # so they do not cut through the progress bar drawn on the same screen.
    held: list[str] | None = [] if is_terminal(out.stdout) else None

    def print_result(outcome: LineOutcome) -> None:
        if options.output.json_output:
            return
        # A URL stands for an image that was not saved (valid ~24 h).
        results = [*outcome.paths, *map(printable_url, outcome.unsaved)]
        with lock:
            if held is not None:
                held.extend(results)
                return
            for result in results:
                out.result(result)

    pacer = BatchPacer(Cancel(), timeout=config.timeout)
    try:
        report = run_batch(
            plan,
            config,
            out,
            concurrency=options.concurrency,
            manifest=writer,
            progress=make_progress(out),
            pacer=pacer,
            on_result=print_result,
        )
    finally:
        pacer.close()
        writer.close()
        if history is not None:
            history.close()
    print_summary(report, out)
    for result in held or ():
        out.result(result)
    if options.output.json_output:
        out.result_json(report_document(report))
    return report.code


def _prepare(
    options: BatchOptions, settings: Settings, stdin: TextIO, out: Output
) -> tuple[BatchPlan, Path]:
    shard, resume = _check_options(options)

    source = options.file
    text, base_dir = read_source(source, stdin)
    specs, problems = parse_batch(text, options.input_format)
    output_dir = output_dir_of(settings)
    defaults = LineDefaults(
        request=options.request, settings=settings, output_dir=output_dir, base_dir=base_dir
    )
    items, invalid = prepare_items(specs, defaults)
    total = len(specs) + len(problems)  # every non-blank line
    problems = tuple(sorted((*problems, *invalid), key=lambda problem: problem.number))
    if problems:
        for problem in problems:
            out.error(str(problem))
        raise UsageError(
            f"{len(problems)} of {plural(total, 'line')} "
            f"{'is' if len(problems) == 1 else 'are'} invalid: nothing was sent",
            hint="fix them (or check with --dry-run) and run again",
        )
    if not items:
        name = "stdin" if source == "-" else source
        raise UsageError(f"no prompts in {name}", hint="one JSON object or prompt per line")
    manifest_path = (
        options.manifest.expanduser() if options.manifest else output_dir / MANIFEST_NAME
    )
    check_manifest_path(manifest_path)  # a planted link is refused before anything is sent
    previous: dict[str, ManifestRecord] = {}
    recorded: dict[str, RunRow] = {}
    if resume is not Resume.FORCE:
        previous = read_manifest(manifest_path)
        # History knows the lines a killed run sent, whose manifest records were never written.
        enabled = settings.history and not options.output.no_history
        recorded = recorded_runs(enabled, items, out)
    return make_plan(items, previous, resume, shard, recorded), manifest_path


def _check_options(options: BatchOptions) -> tuple[Shard | None, Resume]:
    concurrency = options.concurrency
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    if options.input_format not in FORMATS:
        raise UsageError(
            f"--format must be one of {', '.join(FORMATS)}, got {options.input_format!r}"
        )
    limit = options.max_total_images
    if limit is not None and limit < 0:
        raise UsageError(f"--max-total-images must be 0 or more, got {limit}")
    if options.force and options.retry_failed:
        raise UsageError("--force redoes every line; --retry-failed only failed ones: pick one")
    shard = parse_shard(options.shard) if options.shard else None
    resume = Resume.PENDING
    if options.force:
        resume = Resume.FORCE
    elif options.retry_failed:
        resume = Resume.RETRY_FAILED
    return shard, resume


# The most a batch file (or stdin) may hold: `yes | wan batch -` never ends, and each line
# becomes a validated request held in memory until it is sent.
MAX_BATCH_BYTES = 64 * 1024 * 1024
MAX_BATCH_LINES = 100_000


def read_source(source: str, stdin: TextIO) -> tuple[str, Path]:
    """The batch file's text and the directory its relative paths are relative to. At most
    `MAX_BATCH_BYTES` and `MAX_BATCH_LINES` are read: more is refused (exit 2)."""
    name = "stdin" if source == "-" else f"the batch file {source}"
    if source == "-":
        data: bytes | str = _read_bounded(stdin)
        base_dir = Path.cwd()
    else:
        path = Path(source).expanduser()
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_BATCH_BYTES + 1)
        except OSError as error:
            raise UsageError(
                f"cannot read the batch file {source}: {error.strerror or error}"
            ) from None
        base_dir = path.absolute().parent
    if len(data) > MAX_BATCH_BYTES:
        raise UsageError(
            f"{name} is longer than {MAX_BATCH_BYTES // (1024 * 1024)} MiB: stopped reading it,"
            " nothing was sent",
            hint=f"split it into files of at most {MAX_BATCH_LINES:,} lines (split -l)",
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if lines > MAX_BATCH_LINES:
        raise UsageError(
            f"{name} has {lines:,} lines, more than {MAX_BATCH_LINES:,}: nothing was sent",
            hint=f"split it into files of at most {MAX_BATCH_LINES:,} lines (split -l)",
        )
    return text, base_dir


def _read_bounded(stdin: TextIO) -> bytes | str:
    """At most `MAX_BATCH_BYTES` + 1 of stdin: bytes when it has a byte buffer (a real stream),
    else characters (an in-memory one)."""
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        data = buffer.read(MAX_BATCH_BYTES + 1)
        if isinstance(data, bytes):
            return data
    return stdin.read(MAX_BATCH_BYTES + 1)


def _print_dry_run(plan: BatchPlan, out: Output) -> None:
    """One compact JSON line per request that would be sent (base64 abbreviated)."""
    from wan_cli.api.request import build_request, render_dry_run

    for item in plan.to_send:
        request = json.loads(
            render_dry_run(build_request(item.inputs), pretty=False, abbreviate_data=True)
        )
        document = {
            "line": item.number,
            "key": item.key,
            "name": item.name,
            "output_dir": str(item.output_dir),
            "max_images": item.max_images,
            "request": request,
        }
        out.result(json.dumps(document, ensure_ascii=False, separators=(",", ":")))

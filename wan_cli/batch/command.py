"""`wan batch` as a command: options → read, parse, prepare, plan, then dry-run or ask and run,
then report; returns the batch's exit code. The steps themselves live in the sibling modules."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wan_cli.batch.items import LineDefaults, prepare_items
from wan_cli.batch.manifest import MANIFEST_NAME, ManifestWriter, read_manifest
from wan_cli.batch.outcome import BatchReport, LineOutcome
from wan_cli.batch.pacing import BatchPacer
from wan_cli.batch.parse import FORMATS, parse_batch
from wan_cli.batch.plan import (
    BatchPlan,
    Resume,
    Shard,
    check_budget,
    make_plan,
    needs_confirmation,
    parse_shard,
    plan_summary,
)
from wan_cli.batch.report import print_summary, report_document
from wan_cli.batch.runner import run_batch
from wan_cli.batch.views import make_progress
from wan_cli.errors import ExitCode, Interrupted, UsageError
from wan_cli.run.assemble import command_settings, output_dir_of, run_config
from wan_cli.ui.output import Output, ask_yes_no, is_terminal, printable_url, set_output

if TYPE_CHECKING:
    from wan_cli.settings import Settings

DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 32


def execute_batch(args: Mapping[str, Any], *, stdin: TextIO) -> ExitCode:
    """Validate every line, plan, then dry-run or send; returns the batch's exit code.
    (Ctrl-C while lines are in flight is handled by `run_batch`; anywhere else it is 130.)"""
    out = set_output(Output(quiet=args["quiet"], verbose=args["verbose"]))
    try:
        return _execute(args, stdin, out)
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None


def _execute(args: Mapping[str, Any], stdin: TextIO, out: Output) -> ExitCode:
    plan, settings, manifest_path = _prepare(args, stdin, out)
    out.info(plan_summary(plan))
    check_budget(plan, args.get("max_total_images"))
    if args["dry_run"]:
        _print_dry_run(plan, out)
        return ExitCode.OK

    from wan_cli.settings import require_api_key

    require_api_key(settings)  # before the question: a missing key is exit 3 at once
    if not plan.to_send:
        out.info(f"nothing to send: {len(plan.skipped)} line(s) skipped (--force sends them again)")
        if args["json_output"]:
            empty = BatchReport(plan, (), (), 0.0, False, manifest_path)
            out.result_json(report_document(empty))
        return ExitCode.OK
    question = (
        f"Send {plan.requests} request(s) that can produce up to {plan.max_images} billed images?"
    )
    interactive = is_terminal(stdin) and is_terminal(out.stderr)
    asked = needs_confirmation(plan, yes=bool(args.get("yes")), interactive=interactive)
    if asked and not ask_yes_no(
        question, stdin, out.stderr, if_interrupted="interrupted: nothing was sent"
    ):
        raise UsageError("not confirmed: nothing was sent", hint="--yes skips the question")

    from wan_cli.files.naming import writable_directory

    for directory in sorted({item.output_dir for item in plan.to_send}):
        writable_directory(directory)  # every line's destination, before anything is sent
    config = run_config(settings, args, out)
    history = config.history
    writer = ManifestWriter(manifest_path)
    lock = threading.Lock()
    # Piped, each result goes out as its line finishes; on a terminal they wait for the end,
    # so they do not cut through the progress bar drawn on the same screen.
    held: list[str] | None = [] if is_terminal(out.stdout) else None

    def print_result(outcome: LineOutcome) -> None:
        if args["json_output"]:
            return
        # A URL stands for an image that was not saved (valid ~24 h).
        results = [*outcome.paths, *map(printable_url, outcome.unsaved)]
        with lock:
            if held is not None:
                held.extend(results)
                return
            for result in results:
                out.result(result)

    pacer = BatchPacer(threading.Event(), timeout=config.timeout)
    try:
        report = run_batch(
            plan,
            config,
            out,
            concurrency=args.get("concurrency", DEFAULT_CONCURRENCY),
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
    if args["json_output"]:
        out.result_json(report_document(report))
    return report.code


def _prepare(
    args: Mapping[str, Any], stdin: TextIO, out: Output
) -> tuple[BatchPlan, Settings, Path]:
    shard, resume = _check_options(args)
    settings = command_settings(args, out)

    source = str(args["file"])
    text, base_dir = read_source(source, stdin)
    specs, problems = parse_batch(text, args.get("format") or "auto")
    output_dir = output_dir_of(settings)
    defaults = LineDefaults(
        mode="edit" if args.get("mode") == "edit" else "generate",
        refs=tuple(args.get("ref") or ()),
        size=args.get("size") or settings.size,
        n=args.get("n"),
        max_images=args.get("max_images"),
        negative_prompt=args.get("negative_prompt"),
        seed=args.get("seed"),
        watermark=args.get("watermark"),
        prompt_extend=args.get("prompt_extend"),
        model=settings.model,
        provider=settings.provider,
        base_url=settings.base_url,
        output_dir=output_dir,
        base_dir=base_dir,
    )
    items, invalid = prepare_items(specs, defaults)
    total = len(specs) + len(problems)  # every non-blank line
    problems = tuple(sorted((*problems, *invalid), key=lambda problem: problem.number))
    if problems:
        for problem in problems:
            out.error(str(problem))
        raise UsageError(
            f"{len(problems)} of {total} line(s) are invalid: nothing was sent",
            hint="fix them (or check with --dry-run) and run again",
        )
    if not items:
        name = "stdin" if source == "-" else source
        raise UsageError(f"no prompts in {name}", hint="one JSON object or prompt per line")
    manifest_path = (
        Path(args["manifest"]).expanduser() if args.get("manifest") else output_dir / MANIFEST_NAME
    )
    previous = read_manifest(manifest_path) if resume is not Resume.FORCE else {}
    return make_plan(items, previous, resume, shard), settings, manifest_path


def _check_options(args: Mapping[str, Any]) -> tuple[Shard | None, Resume]:
    concurrency = args.get("concurrency", DEFAULT_CONCURRENCY)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    if args.get("format", "auto") not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {args['format']!r}")
    if args.get("mode", "generate") not in ("generate", "edit"):
        raise UsageError(f"--mode must be generate or edit, got {args['mode']!r}")
    limit = args.get("max_total_images")
    if limit is not None and limit < 0:
        raise UsageError(f"--max-total-images must be 0 or more, got {limit}")
    if args.get("force") and args.get("retry_failed"):
        raise UsageError("--force redoes every line; --retry-failed only failed ones: pick one")
    shard = parse_shard(args["shard"]) if args.get("shard") else None
    resume = Resume.PENDING
    if args.get("force"):
        resume = Resume.FORCE
    elif args.get("retry_failed"):
        resume = Resume.RETRY_FAILED
    return shard, resume


def read_source(source: str, stdin: TextIO) -> tuple[str, Path]:
    """The batch file's text and the directory its relative paths are relative to."""
    if source == "-":
        return stdin.read(), Path.cwd()
    path = Path(source).expanduser()
    try:
        return path.read_text(encoding="utf-8"), path.absolute().parent
    except UnicodeDecodeError:
        raise UsageError(f"the batch file {source} is not UTF-8 text") from None
    except OSError as error:
        raise UsageError(
            f"cannot read the batch file {source}: {error.strerror or error}"
        ) from None


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

"""How a consumed run ends: its error and exit code chosen (`settle`, which also closes its
history row), then its results printed (`conclude`: paths or URLs on stdout, or the `--json`
document; failures on stderr)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wan_cli.errors import ApiRejected, ExitCode, SaveFailed, WanError, error_document
from wan_cli.ui.output import Output, printable_url
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.api.events import ImageRef
    from wan_cli.files.download import SavedImage
    from wan_cli.run.model import Job, RunConfig, RunRecord
    from wan_cli.ui.render import View


@dataclass(frozen=True)
class RunOutcome:
    """How a finished run ended: per image its saved result (None: never finished), the images
    that were not saved, the error (None: success) and the exit code."""

    record: RunRecord
    saved: tuple[SavedImage | None, ...]  # in the order of record.images
    failed: tuple[tuple[ImageRef, SavedImage | None], ...]
    error: WanError | None
    code: ExitCode


def settle(record: RunRecord, config: RunConfig) -> RunOutcome:
    """Choose the error and exit code of a consumed run and close its history row."""
    saved = [record.saved.get(image.index) for image in record.images]
    failed = [
        (image, result)
        for image, result in zip(record.images, saved, strict=True)
        if result is None or result.error is not None or result.path is None
    ]
    error = record.error
    if error is None and failed:
        error = SaveFailed(
            f"{len(failed)} of {plural(len(record.images), 'image')} could not be saved",
            hint="image URLs expire after about 24 hours: fetch them soon",
        )
    if error is None and not record.images:
        error = ApiRejected("the answer contained no images", request_id=record.request_id)
    if error is not None and error.request_id is None:
        error.request_id = record.request_id
    if error is not None and record.request_id is None:
        # Refused before any answer was read (an HTTP error): the error's id is the run's, and
        # support asks for it, in --json and history as on stderr.
        record.request_id = error.request_id
    code = error.exit_code if error is not None else ExitCode.OK
    _history_end(record, config, saved, error, code)
    return RunOutcome(record, tuple(saved), tuple(failed), error, code)


def extra_reason(job: Job) -> str:
    """Why an image beyond the number asked for was not saved (history, --json)."""
    asked = job.images_asked
    key = "n" if job.command == "edit" else "max_images"
    return f"not saved: {_was_asked(asked or 0)} ({key} {asked})"


def extras_note(record: RunRecord, config: RunConfig) -> str | None:
    """One line for stderr when the answer held more images than asked for, else None."""
    extra = len(record.extra)
    if not extra:
        return None
    linked = sum(1 for image in record.extra if image.url)
    noun = "link" if linked == extra else "image"
    # Extras begin once the asked-for number has arrived: `record.images` holds exactly that.
    note = (
        f"the answer held {len(record.images) + extra} images, {_was_asked(len(record.images))}:"
        f" {extra} extra {_count(extra, noun)} not saved"
    )
    if not linked:
        return note  # inline images beyond the ask: nothing to keep
    they = "it is" if linked == 1 else "they are"
    if record.history_id is not None:
        return f"{note}; {they} in history (`wan history show {record.history_id}`)"
    if config.json_output:
        return f"{note}; {they} listed in the --json document"
    return f"{note}; history is off: --json lists {'it' if linked == 1 else 'them'}"


def _was_asked(asked: int) -> str:
    return f"{asked} was asked for" if asked == 1 else f"{asked} were asked for"


def _count(n: int, noun: str) -> str:
    return f"{noun} was" if n == 1 else f"{noun}s were"


def conclude(
    outcome: RunOutcome,
    config: RunConfig,
    out: Output,
    view: View,
    job: Job,
) -> ExitCode:
    """Print the results and report failures; returns the exit code."""
    from wan_cli.ui.render import Summary

    record, saved, failed, error, code = (
        outcome.record,
        list(outcome.saved),
        outcome.failed,
        outcome.error,
        outcome.code,
    )
    if config.preview is not None:
        # Drawn before the summary and the paths, which then stay on screen below it.
        from wan_cli.ui.preview import show_previews

        view.close()
        paths = [s.path for s in saved if s is not None and s.error is None and s.path]
        show_previews(paths, out, config.preview)
    if error is None:
        view.finish(
            Summary(
                saved=tuple(s for s in saved if s is not None),
                usage=record.usage,
                request_id=record.request_id,
                elapsed_s=time.monotonic() - record.started,
            )
        )
        if record.history_id is not None:
            out.info(f"history: run {record.history_id} (wan history show {record.history_id})")
    else:
        view.close()
        for image, result in failed:
            reason = result.error if result is not None and result.error else "not saved"
            where = image.url or "(inline image)"
            out.error(f"image {image.index + 1} not saved: {reason}: {where}")
        linked = sum(1 for image, _ in failed if image.url)
        if record.history_id is not None and linked:
            whose, them = ("its URL is", "it") if linked == 1 else ("their URLs are", "them")
            out.info(
                f"{whose} kept in history: `wan history download {record.history_id}`"
                f" fetches {them} while valid"
            )
        out.error(error.describe(), hint=error.hint)
    if (note := extras_note(record, config)) is not None:
        out.warn(note)

    if config.json_output:
        out.result_json(_document(record, config, job, saved, error, code))
    else:
        for image, result in zip(record.images, saved, strict=True):
            if result is not None and result.error is None and result.path is not None:
                out.result(str(result.path))
            elif image.url:
                out.result(printable_url(image.url))  # not saved: the URL is the result
    return code


def run_document(outcome: RunOutcome, config: RunConfig, job: Job) -> dict[str, Any]:
    """The `--json` document of a settled run, for a program that does not print it."""
    return _document(outcome.record, config, job, list(outcome.saved), outcome.error, outcome.code)


def _history_end(
    record: RunRecord,
    config: RunConfig,
    saved: list[SavedImage | None],
    error: WanError | None,
    code: ExitCode,
) -> None:
    for result in saved:  # again: a download that broke with a bug did not record itself
        if result is not None and result.error is not None:
            record.recorder.saved(result)
    record.recorder.end(
        code,
        error.message if error is not None else None,
        usage=record.usage.raw if record.usage else None,
        text=record.full_text,
        request_id=record.request_id,
    )


def _document(
    record: RunRecord,
    config: RunConfig,
    job: Job,
    saved: list[SavedImage | None],
    error: WanError | None,
    code: ExitCode,
) -> dict[str, Any]:
    """The `--json` result document (schema in docs/output.md)."""
    images = []
    for image, result in zip(record.images, saved, strict=True):
        images.append(
            {
                "url": image.url,
                "path": str(result.path) if result is not None and result.path else None,
                "bytes": result.bytes if result is not None and result.error is None else None,
                "sha256": result.sha256 if result is not None and result.error is None else None,
                "error": (result.error if result is not None else "not saved"),
            }
        )
    reason = extra_reason(job) if record.extra else None
    for image in record.extra:  # beyond the number asked for: listed, never downloaded
        images.append(
            {
                "url": image.url,
                "path": None,
                "bytes": None,
                "sha256": None,
                "error": reason,
                "extra": True,
            }
        )
    document: dict[str, Any] = {
        "request_id": record.request_id,
        "model": config.model,
        "provider": config.provider,
        "prompt": job.prompt,
        "parameters": job.parameters,
        "text": record.full_text,
        "images": images,
        "usage": record.usage.raw if record.usage else None,
        "elapsed_s": round(time.monotonic() - record.started, 3),
        "exit_code": int(code),
        "history_id": record.history_id,
    }
    if error is not None:
        document["error"] = error_document(error)
    return document

"""Recovering a recorded run's images: `wan history download ID`.

A run records each image URL before its download starts, so a crash, Ctrl-C or a full disk
leaves links that are still valid for about 24 hours. This saves them through the same
`run.save_image` a live run uses: same checks, names, provenance and history updates.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wan_cli.errors import ExitCode, UsageError
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.history.rows import ImageRow, RunRow
    from wan_cli.history.store import Store
    from wan_cli.ui.output import Output


def save_recorded_images(
    out: Output, store: Store, run: RunRow, output_dir: Path | None, *, no_metadata: bool
) -> ExitCode:
    """Save the images of a recorded run that are not on disk, exactly as the run would have:
    same names (its start time), same provenance (its request id, text, usage), history
    updated. Says when a link has expired (the service keeps results about 24 hours)."""
    from wan_cli.api.events import ImageRef, Usage
    from wan_cli.files.download import make_download_client
    from wan_cli.files.naming import writable_directory
    from wan_cli.history.replay import expired_reason
    from wan_cli.history.rows import resolve_image_path
    from wan_cli.run.assemble import make_run_config
    from wan_cli.run.model import Job, RunRecord
    from wan_cli.run.recorder import existing_row
    from wan_cli.run.save import save_image
    from wan_cli.settings import resolve_settings
    from wan_cli.ui.render import make_view

    run_id = run.id
    if run.status == "running":
        raise UsageError(
            f"run {run_id} is still running: it is saving its own images",
            hint="wait for it to finish (or stop it), then try again",
        )
    if not run.images and run.awaiting_task:
        raise UsageError(
            f"run {run_id} is an async task still on the service ({run.task_status})",
            hint=f"collect it with `wan task wait {run.task_id}`",
        )
    if not run.images:
        raise UsageError(f"run {run_id} has no images recorded ({run.status})")

    def saved_at(image: ImageRow) -> Path | None:
        # A relative recorded path was relative to the run's directory, not to ours.
        if not image.is_saved or image.path is None:
            return None
        path = resolve_image_path(image.path, run.output_dir)
        return path if path.exists() else None

    pending = [image for image in run.images if saved_at(image) is None]
    if not pending:
        out.info(
            f"the image of run {run_id} is already saved"
            if len(run.images) == 1
            else f"all {len(run.images)} images of run {run_id} are already saved"
        )
        for image in run.images:
            out.result(str(saved_at(image)))
        return ExitCode.OK

    settings = resolve_settings({}, dict(os.environ))
    # Refused before any download: a destination that cannot take files is not an expired link.
    directory = writable_directory((output_dir or Path(run.output_dir or ".")).expanduser())
    config = make_run_config(
        settings,
        api_key="",  # never used: image hosts get no credentials
        output_dir=directory,
        history=store,
        metadata=not no_metadata,
        model=run.model,
        provider=run.provider,
    )
    job = Job(
        prompt=run.prompt,
        parameters=run.parameters,
        references=tuple(run.references),
        command=run.command,
        host=run.host,
    )
    # The run as it was: same file names (created), same provenance (request id, text, usage).
    record = RunRecord(
        created=run.created,
        request_id=run.request_id,
        text=[run.text],
        usage=Usage(raw=run.usage) if run.usage else None,
        recorder=existing_row(store, run.id),
    )
    out.info(f"saving {plural(len(pending), 'image')} of run {run_id} into {config.output_dir}")
    view = make_view(out)
    failures: list[str] = []
    saved_paths: list[str] = []
    client = make_download_client(config.timeout)
    try:
        for image in pending:
            if image.url is None:
                failures.append(
                    f"image {image.index + 1} came inline (no URL) and was not saved:"
                    " it cannot be fetched again"
                )
                continue
            ref = ImageRef(index=image.index, url=image.url)
            view.image_found(image.index, image.url)
            result = save_image(client, ref, record, config, job, view, threading.Event())
            if result.ok:
                saved_paths.append(str(result.path))
                continue
            reason = result.error or "not saved"
            expired = expired_reason(reason, image.received, datetime.now(UTC))
            failures.append(f"image {image.index + 1} not saved: {expired or reason}: {image.url}")
    finally:
        client.close()
        view.close()
    for line in failures:
        out.error(line)
    for path in saved_paths:
        out.result(path)
    if failures:
        out.error(
            f"{len(failures)} of {plural(len(pending), 'image')} could not be saved",
            hint="expired links cannot be renewed: `wan history rerun "
            f"{run_id}` generates again (and is billed again)",
        )
        return ExitCode.SAVE_FAILED
    if run.exit_code == ExitCode.SAVE_FAILED:
        # The generation had succeeded and only saving had failed: now the run is complete.
        store.record_end(
            run.id,
            exit_code=ExitCode.OK,
            error=None,
            usage=run.usage,
            text=run.text,
            request_id=run.request_id,
        )
    return ExitCode.OK

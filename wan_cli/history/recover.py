"""Recovering a recorded run's images: `wan history download ID`, and `wan batch` resuming lines
a killed run had already been paid for.

A run records each image URL before its download starts, so a crash, Ctrl-C or a full disk
leaves links that are still valid for about 24 hours. `rescue_images` saves them through the
same `run.save_image` a live run uses: same checks, names, provenance and history updates.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wan_cli.errors import ExitCode, UsageError
from wan_cli.units import plural

if TYPE_CHECKING:
    import httpx

    from wan_cli.history.rows import ImageRow, RunRow
    from wan_cli.history.store import Store
    from wan_cli.run.model import RunConfig
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import View


@dataclass(frozen=True)
class Rescue:
    """What saving a recorded run's images came to."""

    saved: tuple[str, ...]  # every image of the run now on disk (saved before or just now)
    failed: tuple[tuple[ImageRow, str], ...]  # images not saved, and why (expiry said so)


def saved_at(run: RunRow, image: ImageRow) -> Path | None:
    """Where the image is on disk, if it was saved and is still there. (A relative recorded
    path was relative to the run's directory, not to ours.)"""
    from wan_cli.history.rows import resolve_image_path

    if not image.is_saved or image.path is None:
        return None
    path = resolve_image_path(image.path, run.output_dir)
    return path if path.exists() else None


def rescue_images(
    store: Store | None,
    run: RunRow,
    config: RunConfig,
    view: View,
    client: httpx.Client,
    *,
    name: str | None = None,
    cancel: threading.Event | None = None,
) -> Rescue:
    """Save the images of a recorded run that are not on disk into `config.output_dir`,
    exactly as the run would have: same names (its start time, or `name`), same provenance
    (its request id, text, usage), its history row updated. Never sends a request."""
    from wan_cli.api.events import ImageRef, Usage
    from wan_cli.history.replay import expired_reason
    from wan_cli.run.model import Job, RunRecord
    from wan_cli.run.recorder import existing_row
    from wan_cli.run.save import save_image

    job = Job(
        prompt=run.prompt,
        parameters=run.parameters,
        references=tuple(run.references),
        command=run.command,
        host=run.host,
        name=name,
    )
    # The run as it was: same file names (created), same provenance (request id, text, usage).
    record = RunRecord(
        created=run.created,
        request_id=run.request_id,
        text=[run.text],
        usage=Usage(raw=run.usage) if run.usage else None,
        recorder=existing_row(store, run.id),
    )
    cancel = cancel if cancel is not None else threading.Event()
    saved: dict[int, str] = {}
    failed: list[tuple[ImageRow, str]] = []
    for image in run.images:
        if (path := saved_at(run, image)) is not None:
            saved[image.index] = str(path)
            continue
        if image.url is None:
            failed.append((image, "it came inline (no URL) and cannot be fetched again"))
            continue
        ref = ImageRef(index=image.index, url=image.url)
        view.image_found(image.index, image.url)
        result = save_image(client, ref, record, config, job, view, cancel)
        if result.ok:
            saved[image.index] = str(result.path)
            continue
        reason = result.error or "not saved"
        failed.append((image, expired_reason(reason, image.received, datetime.now(UTC)) or reason))
    return Rescue(tuple(saved[index] for index in sorted(saved)), tuple(failed))


def save_recorded_images(
    out: Output, store: Store, run: RunRow, output_dir: Path | None, *, no_metadata: bool
) -> ExitCode:
    """`wan history download ID`: save the images of a recorded run that are not on disk, and
    say when a link has expired (the service keeps results about 24 hours)."""
    from wan_cli.files.download import make_download_client
    from wan_cli.files.naming import writable_directory
    from wan_cli.run.assemble import make_run_config
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

    pending = [image for image in run.images if saved_at(run, image) is None]
    if not pending:
        out.info(
            f"the image of run {run_id} is already saved"
            if len(run.images) == 1
            else f"all {len(run.images)} images of run {run_id} are already saved"
        )
        for image in run.images:
            out.result(str(saved_at(run, image)))
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
    out.info(f"saving {plural(len(pending), 'image')} of run {run_id} into {config.output_dir}")
    view = make_view(out)
    client = make_download_client(config.timeout)
    try:
        rescue = rescue_images(store, run, config, view, client)
    finally:
        client.close()
        view.close()
    already = {str(saved_at(run, image)) for image in run.images if image not in pending}
    for image, reason in rescue.failed:
        if image.url is None:
            out.error(
                f"image {image.index + 1} came inline (no URL) and was not saved:"
                " it cannot be fetched again"
            )
        else:
            out.error(f"image {image.index + 1} not saved: {reason}: {image.url}")
    for path in rescue.saved:
        if path not in already:
            out.result(path)
    if rescue.failed:
        out.error(
            f"{len(rescue.failed)} of {plural(len(pending), 'image')} could not be saved",
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

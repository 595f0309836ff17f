"""Lines an earlier run of the batch was already paid for: found in history by their request
key, their recorded images saved from the links (`history.recover.rescue_images`, the path of
`wan history download`), never sent again.

Why history and not only the manifest: a line's manifest record is written when the line ends,
and a run killed outright (`kill -9`, a crash, power loss) never ends its lines. So each line's
history row is opened with its key before its request is sent (`open_line_row`), and each image
URL is recorded before its download starts (`run.consume`): history knows what was paid for
even when the manifest does not. `plan.select_work` decides which lines are rescued.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from wan_cli.batch.outcome import LineOutcome
from wan_cli.errors import ExitCode, Interrupted, SaveFailed, WanError
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.batch.items import BatchItem
    from wan_cli.batch.pacing import BatchPacer
    from wan_cli.history.rows import RunRow
    from wan_cli.run.model import Job, RunConfig
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import View


def recorded_runs(enabled: bool, items: Sequence[BatchItem], out: Output) -> dict[str, RunRow]:
    """The newest history row of each line (same key, same output directory), by key. Empty
    when history is off or has never been written; a history that cannot be read is warned
    about and the manifest alone decides."""
    import sqlite3

    from wan_cli.history import history_path, open_store

    if not enabled or not items:
        return {}
    path = history_path()
    if not path.exists():
        return {}
    store = open_store(path, warn=out.warn)
    if store is None:
        return {}
    try:
        rows = store.batch_runs(item.key for item in items)
    except sqlite3.Error as error:
        out.warn(f"history was not consulted for this batch: {error}")
        return {}
    finally:
        store.close()
    found: dict[str, RunRow] = {}
    for item in items:
        row = rows.get((item.key, str(item.output_dir.absolute())))
        if row is not None:
            found[item.key] = _seen_from_here(row)
    return found


def _seen_from_here(row: RunRow) -> RunRow:
    """A "running" row with this process's pid was left by a killed process whose pid was
    reused (a container's small pid space): nothing of this run is in history yet."""
    import os

    from wan_cli.history.rows import RUNNING, UNFINISHED

    if row.status == RUNNING and row.pid == os.getpid():
        return replace(row, status=UNFINISHED)
    return row


def open_line_row(config: RunConfig, job: Job, key: str) -> Job:
    """Open the line's history row with its key, before anything is sent; the returned job
    fills that row (as `wan task wait` fills a task's)."""
    from wan_cli.run.recorder import start_run

    store = config.history
    if store is None:
        return job
    recorder = start_run(
        store, job, model=config.model, provider=config.provider, output_dir=config.output_dir
    )
    if recorder.id is None:
        return job
    store.record_batch_key(recorder.id, key)
    return replace(job, history_id=recorder.id)


def rescue_line(
    item: BatchItem, row: RunRow, config: RunConfig, pacer: BatchPacer, view: View
) -> LineOutcome:
    """Save the images an earlier run of this line recorded (nothing is sent) and end its
    history row; the line's outcome is that of the saving. Never raises."""
    from wan_cli.history.recover import rescue_images

    started = time.monotonic()
    urls = tuple(image.url for image in row.images if image.url)
    try:
        rescue = rescue_images(
            config.history,
            row,
            config,
            view,
            pacer.download_client(),
            name=item.name,
            cancel=pacer.cancel,
        )
    except Exception as error:  # a bug here must not take the other lines down
        return LineOutcome(
            item,
            ExitCode.INTERNAL,
            request_id=row.request_id,
            urls=urls,
            unsaved=urls,
            failure=WanError(f"internal error while saving recorded images: {error}"),
            history_id=row.id,
            elapsed_s=time.monotonic() - started,
            rescued=True,
        )
    failure: WanError | None = None
    if rescue.failed and pacer.cancel.is_set():
        failure = Interrupted("interrupted", hint="partial files were removed; image URLs are kept")
    elif rescue.failed:
        first, why = rescue.failed[0]
        failure = SaveFailed(
            f"{plural(len(rescue.failed), 'recorded image')} not saved"
            f" (image {first.index + 1}: {why})",
            hint=f"`wan history download {row.id}` tries again; the line is not generated again"
            " unless --retry-failed or --force",
        )
    code = failure.exit_code if failure is not None else ExitCode.OK
    if config.history is not None:
        config.history.record_end(
            row.id,
            exit_code=code,
            error=failure.message if failure is not None else None,
            usage=row.usage,
            text=row.text,
            request_id=row.request_id,
        )
    return LineOutcome(
        item,
        code,
        request_id=row.request_id,
        paths=rescue.saved,
        urls=urls,
        unsaved=tuple(image.url for image, _ in rescue.failed if image.url),
        failure=failure,
        history_id=row.id,
        elapsed_s=time.monotonic() - started,
        rescued=True,
    )

"""Step 5, run: N worker threads take the planned lines; each line is an ordinary run
(`run.consume_events` + `run.settle`: history, downloads, provenance) whose outcome goes to the
manifest, the progress view and stdout as soon as it ends. Ctrl-C, auth failures and quota or
billing errors stop it."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from wan_cli.batch.outcome import BatchReport, LineOutcome, manifest_record, outcome_of
from wan_cli.batch.pacing import BatchPacer
from wan_cli.batch.rescue import open_line_row, rescue_line
from wan_cli.batch.views import BatchProgress, Tally
from wan_cli.errors import QUOTA_CODES, ExitCode, WanError
from wan_cli.run.stopping import Cancel
from wan_cli.ui.output import Output
from wan_cli.ui.render import QuietView

if TYPE_CHECKING:
    from wan_cli.batch.items import BatchItem
    from wan_cli.batch.manifest import ManifestWriter
    from wan_cli.batch.plan import BatchPlan
    from wan_cli.history.rows import RunRow
    from wan_cli.run.model import RunConfig


class _LineView(QuietView):
    """The `render.View` of one line inside a batch: only retries are worth telling."""

    def __init__(self, item: BatchItem, progress: BatchProgress, cancel: threading.Event) -> None:
        self._item = item
        self._progress = progress
        self._cancel = cancel

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        if not self._cancel.is_set():  # after Ctrl-C, failures are the cancel's doing
            self._progress.retrying(self._item, attempt, delay, why)


def run_line(
    item: BatchItem,
    config: RunConfig,
    out: Output,
    pacer: BatchPacer,
    progress: BatchProgress,
) -> LineOutcome:
    """One line as an ordinary run (history, downloads, provenance); never raises."""
    from wan_cli.api.request import build_request
    from wan_cli.run.consume import consume_events
    from wan_cli.run.model import job_for
    from wan_cli.run.outcome import extras_note, settle
    from wan_cli.run.source import api_answer

    started = time.monotonic()
    try:
        prepared = build_request(item.inputs)  # reads the reference images again
        line_config = replace(config, output_dir=item.output_dir)
        job = job_for(prepared, item.inputs.prompt, name=item.name)
        # The row knows the line's key before anything is sent: after a `kill -9`, the next
        # run finds what this one was paid for (`batch.rescue`).
        job = open_line_row(line_config, job, item.key)
        record = consume_events(
            api_answer(prepared, line_config, out, pacer),
            line_config,
            job,
            _LineView(item, progress, pacer.cancel),
            pacer.cancel,
            download_client=pacer.download_client(),
        )
        outcome = outcome_of(item, settle(record, line_config), time.monotonic() - started)
        if (note := extras_note(record, line_config)) is not None:
            progress.note(f"line {item.number}: {note}")
        return outcome
    except WanError as error:
        return LineOutcome(
            item,
            error.exit_code,
            failure=error,
            elapsed_s=time.monotonic() - started,
        )
    except Exception as error:  # a bug in one line must not take the others down
        if os.environ.get("WAN_DEBUG"):
            import traceback

            traceback.print_exc()
        return LineOutcome(
            item,
            ExitCode.INTERNAL,
            failure=WanError(f"internal error: {type(error).__name__}: {error}"),
            elapsed_s=time.monotonic() - started,
        )


def _stops_the_batch(outcome: LineOutcome) -> str | None:
    """Why no further line should be sent after this one, if that is so."""
    if outcome.code == ExitCode.AUTH:
        return "authentication failed"
    if outcome.error_code in QUOTA_CODES:
        return f"quota or billing ({outcome.error_code})"
    return None


@dataclass
class _Shared:
    """State the workers share (guarded by `lock`)."""

    total: int
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: int = 0  # workers running
    finished: threading.Event = field(default_factory=threading.Event)
    outcomes: list[LineOutcome] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    manifest_error: str | None = None
    crash: Exception | None = None  # a worker failed outside a line (see `work`)

    def tally(self) -> Tally:
        done = sum(1 for outcome in self.outcomes if outcome.code == ExitCode.OK)
        stopped = sum(1 for outcome in self.outcomes if outcome.code == ExitCode.INTERRUPTED)
        return Tally(
            total=self.total,
            done=done,
            failed=len(self.outcomes) - done - stopped,
            elapsed_s=time.monotonic() - self.started,
            interrupted=stopped,
        )


def run_batch(
    plan: BatchPlan,
    config: RunConfig,
    out: Output,
    *,
    concurrency: int,
    manifest: ManifestWriter,
    progress: BatchProgress,
    pacer: BatchPacer | None = None,
    on_result: Callable[[LineOutcome], None] | None = None,
) -> BatchReport:
    """Send every planned line with `concurrency` requests in flight; each outcome goes to the
    manifest as soon as it is known, then to `progress` and `on_result` (stdout). An auth
    failure (exit 3) stops sending new lines. Ctrl-C stops sending, aborts the requests in
    flight, waits for their downloads to clean up, and returns a report marked interrupted."""
    own_pacer = pacer is None
    pacer = pacer or BatchPacer(Cancel(), timeout=config.timeout)
    pending: queue.SimpleQueue[tuple[BatchItem, RunRow | None]] = queue.SimpleQueue()
    lines = plan.work
    for line in lines:
        pending.put(line)
    shared = _Shared(total=len(lines))
    # A refused key or model fails every line alike: stop sending (lines in flight finish).
    stop = threading.Event()

    def work() -> None:
        try:
            take_lines()
        except Exception as error:  # showing a result failed (stdout closed?), or a bug
            with shared.lock:
                if shared.crash is None:
                    shared.crash = error
            stop.set()  # no new line: whatever broke here would break it too
        finally:
            with shared.lock:
                shared.live -= 1
                if shared.live == 0:
                    shared.finished.set()

    def take_lines() -> None:
        while not pacer.cancel.is_set() and not stop.is_set():
            try:
                item, recorded = pending.get_nowait()
            except queue.Empty:
                return
            with shared.lock:
                shared.taken.add(item.key)
            if recorded is not None:  # paid for by an earlier run: saved, never sent again
                line_config = replace(config, output_dir=item.output_dir)
                view = _LineView(item, progress, pacer.cancel)
                outcome = rescue_line(item, recorded, line_config, pacer, view)
            else:
                outcome = run_line(item, config, out, pacer, progress)
            try:
                manifest.append(manifest_record(outcome))
            except OSError as error:
                with shared.lock:
                    if shared.manifest_error is None:
                        shared.manifest_error = str(error.strerror or error)
                        progress.note(f"warning: the manifest could not be written: {error}")
            with shared.lock:
                if not stop.is_set() and (why := _stops_the_batch(outcome)) is not None:
                    # Every other line would be refused the same way (and counted).
                    stop.set()
                    progress.note(f"{why}: no further line is sent")
                shared.outcomes.append(outcome)
                tally = shared.tally()
                # Under the lock: stdout lines and progress lines stay in finishing order.
                if on_result is not None:
                    on_result(outcome)
                progress.finished(outcome, tally)

    workers = [
        threading.Thread(target=work, name=f"batch-{n}", daemon=True)
        for n in range(max(1, min(concurrency, len(lines))))
    ]
    interrupted = False
    # Waiting is on an Event, never Thread.join: a join interrupted by Ctrl-C can leave the
    # thread marked as stopped while it still runs (CPython bpo-45274), and the workers must be
    # waited for to leave the manifest and the output directory consistent.
    try:
        progress.start(len(lines), rescued=len(plan.to_rescue))
        for worker in workers:
            with shared.lock:
                shared.live += 1
            worker.start()
        # With a timeout: the kernel may hand Ctrl-C's SIGINT to a worker blocked in a read,
        # and Python runs the handler only in the main thread, once it wakes; an untimed
        # wait slept until a line finished (tens of seconds) before the Ctrl-C took effect.
        while not shared.finished.wait(0.25):
            pass
    except KeyboardInterrupt:
        interrupted = True
        pacer.abort()
        progress.note("interrupted: stopping the requests in flight…")
        try:
            # Each run removes its partial files and records its outcome. (A worker counted but
            # never started cannot set `finished`: hence the check of who is still alive.)
            while not shared.finished.wait(0.25):
                if not any(worker.is_alive() for worker in workers):
                    break
        except KeyboardInterrupt:
            # A second Ctrl-C reaches here only without `wan`'s own signal handling (in-process
            # callers): `wan` notes it and lets this cleanup finish (wan_cli/signals.py).
            pass  # leave now (daemon threads end with the process)
    finally:
        progress.close()
        if own_pacer:
            pacer.close()
    with shared.lock:
        outcomes = tuple(shared.outcomes)
        taken = set(shared.taken)
        crash = shared.crash
    if crash is not None and not interrupted:
        raise crash  # in the main thread: the error boundary makes it one line and its exit code
    return BatchReport(
        plan=plan,
        outcomes=outcomes,
        not_run=tuple(item for item, _ in lines if item.key not in taken),
        elapsed_s=time.monotonic() - shared.started,
        interrupted=interrupted or pacer.cancel.is_set(),
        manifest=manifest.path,
        manifest_error=shared.manifest_error,
    )

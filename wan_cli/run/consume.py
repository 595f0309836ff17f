"""One generation, end to end: send → events → live view + downloads → results and exit code.

The order of a run, readable top to bottom in `run_job`:
1. open the answer (`source`: client, auth, retries);
2. translate it into events (api.sse: framing; api.events: pure translation);
3. show each event (ui.render) and start each image's download the moment its link arrives
   (`save`);
4. wait for the downloads, then choose the exit code and print the results (`outcome`).
A paid result is never dropped: if saving fails, or the run is interrupted or breaks after images
arrived, their URLs still reach stdout / the JSON document. The run's history row (`recorder`)
is written before the request is sent and each image URL before its download starts.

`wan batch` runs many of these at once: it calls the same steps split in two, `consume_events`
(run → `RunRecord`) and `outcome.settle` (→ `RunOutcome`: error, exit code, history end), with
its own quiet per-line view, a shared cancel event and a `Pacer` shared by every request, and
prints the outcomes itself instead of `outcome.conclude`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wan_cli.api.events import (
    ApiError,
    Done,
    Event,
    ImageRef,
    RequestId,
    StreamCut,
    TaskCreated,
    TextDelta,
    Usage,
)
from wan_cli.errors import (
    ApiRejected,
    ExitCode,
    Interrupted,
    ServiceUnavailable,
    WanError,
    error_from_api,
)
from wan_cli.run.model import EventSource, Job, RunConfig, RunRecord
from wan_cli.run.outcome import conclude, settle
from wan_cli.run.recorder import start_run
from wan_cli.run.save import save_image
from wan_cli.run.source import api_answer
from wan_cli.run.stopping import Cancel, Deadline
from wan_cli.signals import held

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.request import PreparedRequest
    from wan_cli.files.download import SavedImage
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import View

# Downloads in flight at once: enough to overlap with streaming text, gentle on the image host.
DOWNLOAD_WORKERS = 4
# The model's text a run keeps (characters): a real answer has a few thousand. Past it the run
# ends (exit 6) with what it received so far; an endless stream cannot fill memory or history.
TEXT_LIMIT = 1 << 20

# Output directories this process has cleared of the temp files killed runs left behind.
_swept: set[Path] = set()
_swept_lock = threading.Lock()


def run_job(prepared: PreparedRequest, config: RunConfig, out: Output, job: Job) -> ExitCode:
    """Send one request and run it to the end; returns the exit code (errors are reported)."""
    return run_events(api_answer(prepared, config, out), config, out, job)


def run_events(
    source: EventSource, config: RunConfig, out: Output, job: Job, *, view: View | None = None
) -> ExitCode:
    """Consume an answer's events: show them, save each image as soon as its link arrives,
    then print the results. Every way a run can end comes back as an exit code."""
    if view is None:
        from wan_cli.ui.render import make_view

        view = make_view(out)
    record = consume_events(source, config, job, view)
    with held():  # the report is the run's last word: a Ctrl-C now must not cut it off
        return conclude(settle(record, config), config, out, view, job)


def consume_events(
    source: EventSource,
    config: RunConfig,
    job: Job,
    view: View,
    cancel: Cancel | None = None,
    download_client: httpx.Client | None = None,
) -> RunRecord:
    """Run the answer to its end: every event applied, every image saved or failed. Nothing is
    printed on stdout; every way it can end is in `record.error`.

    Ctrl-C in this thread, or `cancel` set by another (a batch's Ctrl-C), cancels the downloads
    (each removes its temp file) and ends the run as `Interrupted`. `config.deadline` bounds
    the whole run: when it passes, the answer's reads and the downloads are aborted (this run's
    only) and the run ends with exit 6, keeping every URL received. A `download_client` given
    by the caller (shared by a batch) is not closed here.
    """
    from wan_cli.api.abort import ReadScope, bind, bound
    from wan_cli.files.download import abortable, make_download_client

    record = RunRecord()
    # The run's own cancel (its downloads check it): set by Ctrl-C, by its deadline, or when
    # the caller's is set; setting it never stops a batch's other lines.
    stop = cancel.follower() if cancel is not None else Cancel()
    reads = ReadScope()  # the sockets this run reads from, for its deadline
    futures: dict[int, Future[SavedImage]] = {}
    pool = ThreadPoolExecutor(
        max_workers=DOWNLOAD_WORKERS,
        thread_name_prefix="download",
        initializer=bind,
        initargs=(reads,),
    )
    own_client = download_client is None
    abort_client: Callable[[], None] = _nothing  # a caller's client is the caller's to abort
    if download_client is None:
        download_client = make_download_client(config.timeout)
        abort_client = abortable(download_client)

    def halt() -> None:
        """Stop everything in flight: downloads stop between chunks and retry no more; blocked
        reads (the answer's, the downloads') fail at once."""
        stop.set()
        reads.abort()
        abort_client()

    error_at_deadline: list[WanError | None] = []

    def expire() -> None:  # on the deadline's timer thread
        error_at_deadline.append(record.error)  # an error the run had already is kept
        halt()

    deadline = Deadline(config.deadline, expire)
    finished = False  # the answer's final part arrived
    try:
        try:
            with bound(reads):
                record.recorder = start_run(
                    config.history,
                    job,
                    model=config.model,
                    provider=config.provider,
                    output_dir=config.output_dir,
                    created=record.created,
                )
                record.answer_over.clear()
                pool.submit(_sweep_once, config.output_dir)  # meanwhile, on a download thread
                with source(view) as events:
                    for event in events:
                        if isinstance(event, ImageRef) and _beyond_asked(record, job):
                            _keep_extra(event, record, job)
                            continue
                        _apply(event, record, view)
                        _record_event(record, event)
                        if isinstance(event, ImageRef):
                            futures[event.index] = pool.submit(
                                save_image, download_client, event, record, config, job, view, stop
                            )
                        if record.error is not None:
                            break
                        if isinstance(event, Done):
                            finished = True
                            break
                    else:
                        if record.error is None:
                            record.error = ServiceUnavailable(
                                "the answer ended without its final part"
                            )
            record.answer_over.set()
            if futures:
                view.waiting("saving images")
            if _collect(futures, record, stop, halt):
                raise KeyboardInterrupt
        except WanError as error:
            record.answer_over.set()
            record.error = error
            if _collect(futures, record, stop, halt):
                raise KeyboardInterrupt from None
        except Exception as error:  # the transport broke mid-answer (httpx errors and the like)
            record.answer_over.set()
            record.error = _transport_failure(error, record)
            if _collect(futures, record, stop, halt):
                raise KeyboardInterrupt from None
    except KeyboardInterrupt:  # in the answer, or while the downloads were awaited
        record.answer_over.set()
        halt()
        _collect(futures, record, stop, halt)
        record.error = Interrupted("interrupted", hint=_interrupted_hint(record, "listed"))
    finally:
        deadline.end()  # from here on `deadline.passed` holds still
        record.answer_over.set()
        with held():  # a Ctrl-C now would only cut the cleanup short: noted, not raised
            pool.shutdown(wait=True)
            reads.close()
            if own_client:
                download_client.close()
            _settle_stop(record, deadline, error_at_deadline, stop, finished)
            if record.error is not None:
                view.close()
    return record


def _settle_stop(
    record: RunRecord,
    deadline: Deadline,
    error_at_deadline: list[WanError | None],
    stop: threading.Event,
    finished: bool,
) -> None:
    """The error of a run stopped from outside: past its deadline, the deadline's (unless the
    run had failed before it); cancelled by another thread, `Interrupted`. Either way the
    broken connection or cancelled download was the stop's doing, not the service's."""
    if not _cut_short(record, finished):
        return
    if deadline.passed:
        before = error_at_deadline[0] if error_at_deadline else None
        if record.error is None or record.error is not before:
            record.error = deadline.error()
    elif stop.is_set() and not isinstance(record.error, Interrupted):
        record.error = Interrupted("interrupted", hint=_interrupted_hint(record, "kept"))


def _sweep_once(directory: Path) -> None:
    """Remove the temp files of killed runs from `directory`, once per process (a batch's
    lines share directories)."""
    from wan_cli.files.naming import remove_stale_temps

    key = directory.absolute()
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    remove_stale_temps(directory)


def _beyond_asked(record: RunRecord, job: Job) -> bool:
    asked = job.images_asked
    return asked is not None and len(record.images) >= asked


def _keep_extra(image: ImageRef, record: RunRecord, job: Job) -> None:
    """An image beyond what the request asked for (a broken or hostile answer may hold
    hundreds): its link is recorded in history and listed by --json, but never downloaded."""
    from dataclasses import replace

    from wan_cli.files.download import SavedImage
    from wan_cli.run.outcome import extra_reason

    image = replace(image, data=None)  # an inline extra is not kept
    record.extra.append(image)
    _record_event(record, image)
    record.recorder.saved(SavedImage.failed(image.index, image.url, extra_reason(job)))


def _interrupted_hint(record: RunRecord, where: Literal["listed", "kept"]) -> str | None:
    """What an interrupted run leaves: the links of the images not saved (listed with the
    results, or kept in history by a batch), said only when there are some."""
    unsaved = [
        image
        for image in record.images
        if image.url and not (image.index in record.saved and record.saved[image.index].ok)
    ]
    if not unsaved:
        return None
    whose = "the unsaved image's URL is" if len(unsaved) == 1 else "the unsaved images' URLs are"
    return f"partial files were removed; {whose} {where}" + (" above" if where == "listed" else "")


def _cut_short(record: RunRecord, finished: bool) -> bool:
    return (
        record.error is not None
        or not finished
        or any(not saved.ok for saved in record.saved.values())
    )


def _transport_failure(error: Exception, record: RunRecord) -> WanError:
    import httpx

    if isinstance(error, httpx.TimeoutException):
        return ServiceUnavailable(
            "the answer stalled past --timeout", hint="raise --timeout or try again"
        )
    if isinstance(error, httpx.HTTPError):
        return ServiceUnavailable(
            f"the connection broke mid-answer: {error}", hint=_billed_hint(record)
        )
    raise error


def _billed_hint(record: RunRecord) -> str:
    """For an answer that broke off: the service may have charged for it."""
    where = (
        f"check `wan history show {record.history_id}`"
        if record.history_id is not None
        else "check your account's usage"
    )
    return f"the generation may have been billed: {where}"


def _record_event(record: RunRecord, event: Event) -> None:
    """Keep the history row up to date; an image URL is stored before its download starts."""
    if isinstance(event, RequestId):
        record.recorder.request_id(event.request_id)
    elif isinstance(event, ImageRef):
        usage = record.usage.raw if record.usage else None
        record.recorder.image(event.index, event.url, record.full_text, usage)


def _apply(event: Event, record: RunRecord, view: View) -> None:
    if isinstance(event, TextDelta):
        record.text_size += len(event.text)
        if record.text_size > TEXT_LIMIT:
            record.error = ServiceUnavailable(
                f"the answer's text passed {TEXT_LIMIT:,} characters: stopped reading it",
                hint="a misbehaving service; " + _billed_hint(record),
                code="AnswerTooLarge",
            )
            return
        record.text.append(event.text)
        view.text(event.text)
    elif isinstance(event, ImageRef):
        record.images.append(event)
        view.image_found(event.index, event.url)
    elif isinstance(event, Usage):
        record.usage = event
    elif isinstance(event, RequestId):
        record.request_id = event.request_id
    elif isinstance(event, ApiError):
        record.request_id = record.request_id or event.request_id
        record.error = error_from_api(event.status, event.code, event.message, record.request_id)
    elif isinstance(event, StreamCut):
        record.error = ServiceUnavailable(event.reason, hint=_billed_hint(record))
    elif isinstance(event, TaskCreated):
        record.task_id = event.task_id
        record.error = ApiRejected(
            f"the service answered with async task {event.task_id} "
            f"({event.status or 'PENDING'}), not images",
            hint=f"the images are generated as a task: collect them with "
            f"`wan task wait {event.task_id}`",
        )


def _nothing() -> None:
    pass


def _collect(
    futures: dict[int, Future[SavedImage]],
    record: RunRecord,
    cancel: threading.Event,
    abort: Callable[[], None] = _nothing,
) -> bool:
    """Wait for every started download; True if Ctrl-C was pressed meanwhile.

    Ctrl-C cancels the downloads (`abort` breaks their blocked reads) but still waits for each
    to remove its temp file.
    """
    from wan_cli.files.download import SavedImage

    interrupted = False
    for index, future in sorted(futures.items()):
        while True:
            try:
                record.saved[index] = future.result()
                break
            except KeyboardInterrupt:
                interrupted = True
                cancel.set()
                abort()
            except Exception as error:  # a bug in a download must not drop the URL
                image = record.images[index] if index < len(record.images) else None
                record.saved[index] = SavedImage.failed(
                    index, image.url if image else None, f"internal error while saving: {error}"
                )
                break
    return interrupted

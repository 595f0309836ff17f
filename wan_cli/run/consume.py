"""One generation, end to end: send → events → live view + downloads → results and exit code.

The order of a run, readable top to bottom in `run_generation`:
1. open the answer (client: auth, retries);
2. translate it into events (sse: framing; events: pure translation);
3. show each event (render) and start each image's download the moment its link arrives;
4. wait for the downloads, print the results (stdout) and choose the exit code.
A paid result is never dropped: if saving fails, or the run is interrupted or breaks after images
arrived, their URLs still reach stdout / the JSON document. With history on, the run's row is
written before the request is sent and each image URL before its download starts (history.py).

`wan batch` runs many of these at once: it calls the same steps split in two, `consume_events`
(run → `RunRecord`) and `settle` (→ `RunOutcome`: error, exit code, history end), with its own
quiet per-line view, a shared cancel event and a `Pacer` shared by every request, and prints the
outcomes itself instead of `_conclude`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

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
from wan_cli.api.request import url_host
from wan_cli.errors import (
    ApiRejected,
    ExitCode,
    Interrupted,
    SaveFailed,
    ServiceUnavailable,
    WanError,
    error_from_api,
)
from wan_cli.ui.output import Output, printable_url

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.request import PreparedRequest
    from wan_cli.files.download import SavedImage
    from wan_cli.history import Store
    from wan_cli.ui.render import View

# Downloads in flight at once: enough to overlap with streaming text, gentle on the image host.
DOWNLOAD_WORKERS = 4


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs besides the request itself."""

    api_key: str
    model: str
    provider: str
    timeout: float
    retries: int
    output_dir: Path
    json_output: bool = False
    metadata: bool = True
    max_download_bytes: int = 200 * 1024 * 1024
    history: Store | None = field(default=None, compare=False)  # None: not recorded
    preview: str | None = None  # draw saved images on a TTY: a protocol name or "auto"


@dataclass(frozen=True)
class Job:
    """What was asked for: the facts every saved image's provenance repeats."""

    prompt: str
    parameters: dict[str, Any]
    references: tuple[dict[str, object], ...] = ()
    command: str = "generate"
    host: str = ""  # where the request goes (host[:port]), for history
    rerun_of: int | None = None  # the history id this run repeats
    name: str | None = None  # file-name stem chosen by the user: `{name}-{i}.ext`
    history_id: int | None = None  # an existing row to fill (a task's, `wan task wait`)


def job_for(
    prepared: PreparedRequest,
    prompt: str,
    parameters: dict[str, Any],
    *,
    rerun_of: int | None = None,
    name: str | None = None,
) -> Job:
    """The Job of a request about to be sent."""
    return Job(
        prompt=prompt,
        parameters=parameters,
        references=tuple(ref.describe() for ref in prepared.refs),
        command=prepared.mode,
        host=url_host(prepared.url),
        rerun_of=rerun_of,
        name=name,
    )


class Pacer(Protocol):
    """One pace shared by many requests in flight (`wan batch`): one API client (connections
    reused), wait before sending, slow everyone down when one is told to retry, and a cancel
    that can abort blocking network I/O."""

    def before_send(self) -> None:
        """Block until sending is allowed; raise `Interrupted` if the batch was cancelled."""

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        """The client will send again after `delay` seconds (Retry-After or backoff)."""

    def sleep(self, seconds: float) -> None:
        """Wait before a retry (at least `seconds`); raise `Interrupted` when cancelled."""

    def api_client(self) -> httpx.Client:
        """The API client every request sharing this pace uses (its owner closes it)."""


# Opens the answer and yields its events; given the view so it can report retries.
EventSource = Callable[["View"], AbstractContextManager[Iterator[Event]]]


def _already_set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class RunRecord:
    """What the run has learned so far (mutated only by the main thread)."""

    started: float = field(default_factory=time.monotonic)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_id: str | None = None
    text: list[str] = field(default_factory=list)
    usage: Usage | None = None
    images: list[ImageRef] = field(default_factory=list)
    saved: dict[int, SavedImage] = field(default_factory=dict)
    error: WanError | None = None
    task_id: str | None = None
    history_id: int | None = None
    # Set once the answer is over (ended, failed or cut): provenance waits for it, so each
    # image records the run's whole text and final usage. Set from the start for a record
    # that is not fed by a live answer (history download, a finished task).
    answer_over: threading.Event = field(default_factory=_already_set, repr=False)

    @property
    def full_text(self) -> str:
        return "".join(self.text)


def answer_events(response: httpx.Response) -> Iterator[Event]:
    """Pick the translation for the answer's content type (a gateway may not stream)."""
    from wan_cli.api import events, sse

    content_type = response.headers.get("content-type", "")
    if "text/event-stream" in content_type.lower():
        yield from events.events_from_sse(sse.iter_sse(response.iter_bytes()))
        return
    import json

    raw = response.read()
    try:
        document = json.loads(raw)
    except ValueError:
        if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"data:", b"event:", b"id:", b":")):
            # A stream under another (or no) content type, e.g. relabelled by a proxy.
            yield from events.events_from_sse(sse.iter_sse([raw]))
            return
        snippet = raw[:80].decode("utf-8", "replace")
        yield StreamCut(
            f"the answer is not JSON ({content_type or 'no content type'}): {snippet!r}"
        )
        return
    yield from events.events_from_json(document, status=response.status_code)


def run_generation(
    prepared: PreparedRequest,
    config: RunConfig,
    out: Output,
    prompt: str,
    parameters: dict[str, Any],
    *,
    rerun_of: int | None = None,
) -> ExitCode:
    """Send one request and run it to the end; returns the exit code (errors are reported)."""
    job = job_for(prepared, prompt, parameters, rerun_of=rerun_of)
    return run_events(api_answer(prepared, config, out), config, out, job)


def api_answer(
    prepared: PreparedRequest, config: RunConfig, out: Output, pacer: Pacer | None = None
) -> EventSource:
    """The event source of a normal run: POST the request, then translate the answer.

    With a `pacer` (batch), the request goes through its client, sending waits for it, and
    retries slow every request sharing it.
    """

    @contextmanager
    def source(view: View) -> Iterator[Iterator[Event]]:
        from contextlib import nullcontext

        from wan_cli.api.client import RetryPolicy, make_api_client, open_answer

        on_retry: Callable[[int, float, str], None] = view.retrying
        sleep: Callable[[float], None] = time.sleep
        if pacer is not None:
            pacer.before_send()
            on_retry = _both(pacer.retrying, view.retrying)
            sleep = pacer.sleep
        view.waiting(f"sending to {url_host(prepared.url)}: {config.model}")
        client = (
            nullcontext(pacer.api_client())
            if pacer is not None
            else make_api_client(config.timeout)
        )
        with (
            client as api,
            open_answer(
                api,
                prepared,
                config.api_key,
                RetryPolicy(retries=config.retries),
                on_retry=on_retry,
                sleep=sleep,
                log=out.detail if out.verbose else None,
            ) as response,
        ):
            view.waiting(f"generating with {config.model}")
            yield answer_events(response)

    return source


def _both(
    first: Callable[[int, float, str], None], second: Callable[[int, float, str], None]
) -> Callable[[int, float, str], None]:
    def call(attempt: int, delay: float, why: str) -> None:
        first(attempt, delay, why)
        second(attempt, delay, why)

    return call


def run_events(
    source: EventSource, config: RunConfig, out: Output, job: Job, *, view: View | None = None
) -> ExitCode:
    """Consume an answer's events: show them, save each image as soon as its link arrives,
    then print the results. Every way a run can end comes back as an exit code."""
    if view is None:
        from wan_cli.ui.render import make_view

        view = make_view(out)
    record = consume_events(source, config, job, view)
    return _conclude(settle(record, config), config, out, view, job)


def consume_events(
    source: EventSource,
    config: RunConfig,
    job: Job,
    view: View,
    cancel: threading.Event | None = None,
    download_client: httpx.Client | None = None,
) -> RunRecord:
    """Run the answer to its end: every event applied, every image saved or failed. Nothing is
    printed on stdout; every way it can end is in `record.error`.

    Ctrl-C in this thread, or `cancel` set by another (a batch's Ctrl-C), cancels the downloads
    (each removes its temp file) and ends the run as `Interrupted`. A `download_client` given
    by the caller (shared by a batch) is not closed here.
    """
    from wan_cli.files.download import abortable, make_download_client

    record = RunRecord()
    cancel = cancel if cancel is not None else threading.Event()
    futures: dict[int, Future[SavedImage]] = {}
    pool = ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS, thread_name_prefix="download")
    own_client = download_client is None
    abort_downloads: Callable[[], None] = _nothing  # a caller's client is the caller's to abort
    if download_client is None:
        download_client = make_download_client(config.timeout)
        abort_downloads = abortable(download_client)
    record.history_id = _history_start(config, job, record)
    record.answer_over.clear()
    try:
        with source(view) as events:
            for event in events:
                _apply(event, record, view)
                _history_event(config.history, record, event)
                if isinstance(event, ImageRef):
                    futures[event.index] = pool.submit(
                        save_image, download_client, event, record, config, job, view, cancel
                    )
                if record.error is not None or isinstance(event, Done):
                    break
            else:
                if record.error is None:
                    record.error = ServiceUnavailable("the answer ended without its final part")
        record.answer_over.set()
        if futures:
            view.waiting("saving images")
        if _collect(futures, record, cancel, abort_downloads):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        record.answer_over.set()
        cancel.set()
        abort_downloads()
        _collect(futures, record, cancel, abort_downloads)
        record.error = Interrupted(
            "interrupted", hint="partial files were removed; image URLs are listed above"
        )
    except WanError as error:
        record.answer_over.set()
        record.error = error
        _collect(futures, record, cancel, abort_downloads)
    except Exception as error:  # the transport broke mid-answer (httpx errors and the like)
        record.answer_over.set()
        record.error = _transport_failure(error, record)
        _collect(futures, record, cancel, abort_downloads)
    finally:
        record.answer_over.set()
        pool.shutdown(wait=True)
        if own_client:
            download_client.close()
        if cancel.is_set() and not isinstance(record.error, Interrupted) and _cut_short(record):
            # Cancelled from another thread: the broken connection or cancelled download is
            # the cancel's doing, not the service's.
            record.error = Interrupted(
                "interrupted", hint="partial files were removed; image URLs are kept"
            )
        if record.error is not None:
            view.close()
    return record


def _cut_short(record: RunRecord) -> bool:
    return record.error is not None or any(not saved.ok for saved in record.saved.values())


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


def _history_start(config: RunConfig, job: Job, record: RunRecord) -> int | None:
    """The run's history row, written before anything is sent (None: history is off)."""
    if config.history is None:
        return None
    output_dir = str(config.output_dir.absolute())
    if job.history_id is not None:
        resumed = config.history.record_resume(job.history_id, output_dir=output_dir)
        if resumed is not None:
            return resumed
    return config.history.record_start(
        command=job.command,
        model=config.model,
        provider=config.provider,
        host=job.host,
        prompt=job.prompt,
        parameters=job.parameters,
        references=job.references,
        output_dir=output_dir,
        created=record.created,
        rerun_of=job.rerun_of,
    )


def _history_event(history: Store | None, record: RunRecord, event: Event) -> None:
    """Keep the history row up to date; an image URL is stored before its download starts."""
    if history is None or record.history_id is None:
        return
    if isinstance(event, RequestId):
        history.record_request_id(record.history_id, event.request_id)
    elif isinstance(event, ImageRef):
        usage = record.usage.raw if record.usage else None
        history.record_progress(record.history_id, record.full_text, usage)
        history.record_image(record.history_id, event.index, event.url)


def _history_saved(config: RunConfig, record: RunRecord, saved: SavedImage) -> None:
    if config.history is not None:
        ok = saved.error is None and saved.path is not None
        config.history.record_saved(
            record.history_id,
            saved.index,
            str(saved.path) if saved.path is not None else None,
            saved.sha256,
            saved.bytes if ok else None,
            saved.error,
        )


def _apply(event: Event, record: RunRecord, view: View) -> None:
    if isinstance(event, TextDelta):
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


def save_image(
    client: httpx.Client,
    image: ImageRef,
    record: RunRecord,
    config: RunConfig,
    job: Job,
    view: View,
    cancel: threading.Event,
) -> SavedImage:
    from wan_cli.files.download import download_image, save_inline
    from wan_cli.files.naming import image_stem

    if job.name is not None:
        stem = f"{job.name}-{image.index + 1}"
    else:
        stem = image_stem(job.prompt, record.created, image.index + 1)
    finalize = None
    if config.metadata:
        finalize = _png_embedder(record, config, job, image)

    def progress(done: int, total: int | None) -> None:
        view.download_progress(image.index, done, total)

    if image.data is not None:
        saved = save_inline(
            image.data,
            directory=config.output_dir,
            stem=stem,
            index=image.index,
            finalize=finalize,
        )
    else:
        saved = download_image(
            client,
            image.url or "",
            directory=config.output_dir,
            stem=stem,
            index=image.index,
            max_bytes=config.max_download_bytes,
            retries=config.retries,
            on_progress=progress,
            finalize=finalize,
            cancel=cancel,
        )
    if saved.error is None and saved.path is not None and config.metadata:
        from wan_cli.files.provenance import write_sidecar

        try:
            meta = _metadata(record, config, job, image)
            # The image's own hash cannot live inside it (embedding changes it): the sidecar has it.
            write_sidecar(saved.path, {**meta, "sha256": saved.sha256, "bytes": saved.bytes})
        except OSError as error:
            saved = replace(saved, error=f"saved, but the sidecar could not be written: {error}")
    _history_saved(config, record, saved)
    view.image_saved(saved)
    return saved


def _metadata(record: RunRecord, config: RunConfig, job: Job, image: ImageRef) -> dict[str, Any]:
    from wan_cli.files.provenance import build_metadata

    return build_metadata(
        prompt=job.prompt,
        negative_prompt=job.parameters.get("negative_prompt"),
        parameters=job.parameters,
        references=list(job.references),
        model=config.model,
        provider=config.provider,
        request_id=record.request_id,
        source_url=image.url,
        usage=record.usage.raw if record.usage else None,
        index=image.index,
        text=record.full_text,
        created=record.created,
    )


def _png_embedder(
    record: RunRecord, config: RunConfig, job: Job, image: ImageRef
) -> Callable[[Path, str], None]:
    def embed(path: Path, mime: str) -> None:
        from wan_cli.files.provenance import make_png_embedder, png_text_entries

        record.answer_over.wait()  # the image is downloaded; its provenance wants the whole run
        meta = _metadata(record, config, job, image)
        make_png_embedder(png_text_entries(meta))(path, mime)

    return embed


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
            f"{len(failed)} of {len(record.images)} image(s) could not be saved",
            hint="image URLs expire after about 24 hours: fetch them soon",
        )
    if error is None and not record.images:
        error = ApiRejected("the answer contained no images", request_id=record.request_id)
    if error is not None and error.request_id is None:
        error.request_id = record.request_id
    code = error.exit_code if error is not None else ExitCode.OK
    _history_end(record, config, saved, error, code)
    return RunOutcome(record, tuple(saved), tuple(failed), error, code)


def _conclude(
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
        if record.history_id is not None and any(image.url for image, _ in failed):
            out.info(
                f"their URLs are kept in history: `wan history download {record.history_id}`"
                " fetches them while they are valid"
            )
        out.error(
            f"{error.message} (request_id {error.request_id})"
            if error.request_id
            else error.message,
            hint=error.hint,
        )

    if config.json_output:
        out.result_json(_document(record, config, job, saved, error, code))
    else:
        for image, result in zip(record.images, saved, strict=True):
            if result is not None and result.error is None and result.path is not None:
                out.result(str(result.path))
            elif image.url:
                out.result(printable_url(image.url))  # not saved: the URL is the result
    if config.preview is not None:
        from wan_cli.ui.preview import show_previews

        paths = [s.path for s in saved if s is not None and s.error is None and s.path]
        show_previews(paths, out, config.preview)
    return code


def _history_end(
    record: RunRecord,
    config: RunConfig,
    saved: list[SavedImage | None],
    error: WanError | None,
    code: ExitCode,
) -> None:
    history = config.history
    if history is None or record.history_id is None:
        return
    for result in saved:  # again: a download that broke with a bug did not record itself
        if result is not None and result.error is not None:
            _history_saved(config, record, result)
    history.record_end(
        record.history_id,
        exit_code=int(code),
        error=error.message if error is not None else None,
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
        document["error"] = {
            "message": error.message,
            "code": error.code,
            "status": error.status,
            "class": type(error).__name__,
        }
    return document

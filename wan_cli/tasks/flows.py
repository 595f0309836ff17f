"""The async-task commands: `--async` submits, `wan task status|wait|cancel|list` follow up.

Each flow is settings → history row → `tasks.protocol` calls → output. `submit_task` records the
run before sending, like every run; `task_wait` polls (`protocol.wait_for_final`) with a status
line, then hands the finished task's answer to `run.run_events`, so files, provenance, history
and exit codes are exactly those of a normal run. The history bridge (`find_task_row`,
`remember_state`) keeps a task's row in step with every state it is seen in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.api.request import url_host
from wan_cli.errors import (
    ApiRejected,
    ExitCode,
    Interrupted,
    UsageError,
    WanError,
    error_document,
)
from wan_cli.tasks.protocol import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    UNKNOWN,
    TaskApi,
    TaskStatus,
    configured_delays,
    create_task,
    fetch_task,
    request_cancel,
    result_events,
    task_error,
    wait_for_final,
)

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.client import RetryHook
    from wan_cli.api.events import Event
    from wan_cli.api.request import PreparedRequest
    from wan_cli.history import RunRow, Store
    from wan_cli.run.model import RunConfig
    from wan_cli.settings import Settings
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import View

# Plain (log) output repeats the status at least this often, so CI does not think we hung.
HEARTBEAT_S = 60.0


# -- submitting (`wan generate|edit --async`) --------------------------------------------------


def submit_task(
    prepared: PreparedRequest,
    config: RunConfig,
    out: Output,
    prompt: str,
    parameters: dict[str, Any],
) -> ExitCode:
    """Send an async request; print the task id (or, with --json, the service's answer).

    The task is recorded in history before the request is sent, like every run. Errors are
    raised (the CLI prints them); the history row is ended with their exit code first.
    """
    from wan_cli.api.client import make_api_client

    history = config.history
    row_id = None
    if history is not None:
        row_id = history.record_start(
            command=prepared.mode,
            model=config.model,
            provider=config.provider,
            host=url_host(prepared.url),
            prompt=prompt,
            parameters=parameters,
            references=[ref.describe() for ref in prepared.refs],
            output_dir=str(config.output_dir.absolute()),
        )
    out.info(f"submitting an async task to {url_host(prepared.url)}: {config.model}")
    try:
        with make_api_client(config.timeout) as client:
            status = create_task(
                client,
                prepared,
                config.api_key,
                config.retries,
                on_retry=_warn_retry(out),
                log=out.detail if out.verbose else None,
            )
    except KeyboardInterrupt:
        _end_row(history, row_id, ExitCode.INTERRUPTED, "interrupted while submitting")
        raise Interrupted(
            "interrupted while submitting",
            hint="the task may have been created on the service, but its id never arrived",
        ) from None
    except WanError as error:
        _end_row(history, row_id, error.exit_code, error.message)
        raise
    ended = task_error(status)
    if history is not None and row_id is not None:
        if status.request_id:
            history.record_request_id(row_id, status.request_id)
        history.record_task(row_id, status.task_id, status.state)
        if ended is not None:
            _end_row(history, row_id, ended.exit_code, _row_error(status))
    if ended is not None:  # the task exists but has already ended without images
        raise ended
    if config.json_output:
        out.result_json(dict(status.document))
    else:
        out.result(status.task_id)
    out.info(
        f"task {status.task_id} submitted ({status.state}); collect the images with "
        f"`wan task wait {status.task_id}` within 24 hours"
    )
    return ExitCode.OK


# -- history -----------------------------------------------------------------------------------


def _end_row(history: Store | None, row_id: int | None, code: int, error: str | None) -> None:
    if history is not None and row_id is not None:
        history.record_end(
            row_id, exit_code=int(code), error=error, usage=None, text="", request_id=None
        )


def _row_error(status: TaskStatus) -> str:
    """What the row of a task that ended without images keeps as its error: `task STATE`,
    then the service's code and message."""
    detail = f"{status.code}: {status.message}" if status.code else status.message
    return f"task {status.state}" + (f": {detail}" if detail else "")


def find_task_row(history: Store | None, task_id: str, out: Output) -> RunRow | None:
    """The history row of a task this machine submitted (or collected), or None."""
    import sqlite3

    if history is None:
        return None
    try:
        return history.find_task(task_id)
    except sqlite3.Error as error:
        out.warn(f"cannot read history: {error}")
        return None


def remember_state(history: Store | None, row: RunRow | None, status: TaskStatus) -> None:
    """Record the state just seen in the task's row. A task still awaited there that ended
    without images ends its row too (the exit code and error `wan task wait` gives)."""
    if history is None or row is None:
        return
    if status.state != row.task_status:
        history.record_task(row.id, status.task_id, status.state)
    error = task_error(status)
    if error is not None and row.awaiting_task:
        _end_row(history, row.id, error.exit_code, _row_error(status))


# -- the `wan task` commands -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFlags:
    """The options every `wan task` command takes (None: not given)."""

    profile: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    retries: int | None = None
    json_output: bool = False
    quiet: bool = False
    verbose: bool = False
    no_history: bool = False


@dataclass(frozen=True)
class _Session:
    out: Output
    settings: Settings
    api: TaskApi
    history: Store | None
    row: RunRow | None  # the task's history row, if this machine has one


@contextmanager
def _session(flags: TaskFlags, task_id: str) -> Iterator[_Session]:
    """Output, settings (provider forced to DashScope: only it has tasks), key, history and the
    task's row in it; warns when the row says the task was submitted to another host."""
    from wan_cli.api.request import normalize_base_url
    from wan_cli.history import history_path, open_store
    from wan_cli.settings import require_api_key, resolve_settings
    from wan_cli.ui.output import Output, set_output

    out = set_output(Output(quiet=flags.quiet, verbose=flags.verbose))
    settings = resolve_settings(
        {
            "provider": "dashscope",
            "base_url": flags.base_url,
            "api_key": flags.api_key,
            "retries": flags.retries,
            "profile": flags.profile,
        },
        dict(os.environ),
    )
    for note in settings.notes:
        out.detail(note)
    if flags.api_key is not None:
        out.warn("--api-key lands in shell history: prefer `wan config set api-key` or WAN_API_KEY")
    api = TaskApi(
        base_url=normalize_base_url(settings.base_url),
        api_key=require_api_key(settings),
        timeout=settings.timeout,
        retries=settings.retries,
        log=out.detail if out.verbose else None,
    )
    history = None
    if settings.history and not flags.no_history:
        history = open_store(history_path(), warn=out.warn)
    try:
        row = find_task_row(history, task_id, out)
        if row is not None and row.host and row.host != url_host(api.base_url):
            out.warn(
                f"task {row.task_id} was submitted to {row.host}, but this asks "
                f"{url_host(api.base_url)}: pass --base-url if it is not found"
            )
        yield _Session(out, settings, api, history, row)
    finally:
        if history is not None:
            history.close()


def _interrupted(task_id: str) -> Interrupted:
    return Interrupted(
        f"interrupted: task {task_id} keeps running on the service",
        hint=f"resume with `wan task wait {task_id}`",
    )


def task_status(flags: TaskFlags, task_id: str) -> ExitCode:
    """One query: the state on stdout (`--json`: the whole answer). 0 when the query worked."""
    from wan_cli.api.client import make_api_client
    from wan_cli.api.request import check_task_id

    task_id = check_task_id(task_id)
    with _session(flags, task_id) as session:
        out, row = session.out, session.row
        try:
            with make_api_client(session.api.timeout) as client:
                status = fetch_task(session.api, client, task_id, on_retry=_warn_retry(out))
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
        remember_state(session.history, row, status)
        if flags.json_output:
            out.result_json(dict(status.document) or {"task_id": task_id, "task_status": UNKNOWN})
        else:
            out.result(status.state)
        _explain(status, out)
    return ExitCode.OK


def _warn_retry(out: Output) -> RetryHook:
    def warn(attempt: int, delay: float, why: str) -> None:
        from wan_cli.ui.render import retry_message

        out.warn(retry_message(attempt, delay, why))

    return warn


def _explain(status: TaskStatus, out: Output) -> None:
    """A line for people about what the state means and what to do next."""
    tid = status.task_id
    if status.state in (PENDING, RUNNING):
        out.info(f"task {tid} is {status.state}: `wan task wait {tid}` collects the images")
    elif status.state == SUCCEEDED:
        out.info(f"task {tid} SUCCEEDED: `wan task wait {tid}` downloads the images")
    else:
        error = task_error(status)
        if error is not None:
            out.info(error.message + (f" ({error.hint})" if error.hint else ""))
        else:
            out.info(f"task {tid} is {status.state}")


def task_cancel(flags: TaskFlags, task_id: str) -> ExitCode:
    """Cancel a PENDING task. A task in any other state cannot be: say which and why (exit 4);
    one already canceled is not an error."""
    from wan_cli.api.client import make_api_client
    from wan_cli.api.request import check_task_id

    task_id = check_task_id(task_id)
    with _session(flags, task_id) as session:
        out, row = session.out, session.row
        try:
            with make_api_client(session.api.timeout) as client:
                try:
                    request_cancel(session.api, client, task_id, on_retry=_warn_retry(out))
                except ApiRejected:
                    status = fetch_task(session.api, client, task_id, _warn_retry(out))
                    remember_state(session.history, row, status)
                    if status.state == PENDING:
                        raise  # the refusal was about something else: show it as it is
                    if status.state != CANCELED:
                        raise _not_cancellable(status) from None
                    out.info(f"task {task_id} was already canceled")
                else:
                    status = TaskStatus(task_id, CANCELED)
                    remember_state(session.history, row, status)
                    out.info(f"task {task_id} canceled")
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted", hint=f"check with `wan task status {task_id}`"
            ) from None
        if flags.json_output:
            out.result_json({"task_id": task_id, "task_status": CANCELED})
        else:
            out.result(CANCELED)
    return ExitCode.OK


def _not_cancellable(status: TaskStatus) -> WanError:
    tid = status.task_id
    if status.state == UNKNOWN:
        error = task_error(status)
        assert error is not None
        return error
    hints = {
        RUNNING: f"it is already being generated: `wan task wait {tid}` collects the images",
        SUCCEEDED: f"it has finished: `wan task wait {tid}` downloads the images",
        FAILED: "it has already failed: there is nothing to cancel",
    }
    return ApiRejected(
        f"task {tid} is {status.state}: only PENDING tasks can be cancelled",
        hint=hints.get(status.state),
        code="TaskNotCancellable",
        request_id=status.request_id,
    )


def task_wait(
    flags: TaskFlags,
    task_id: str,
    *,
    timeout: float | None = None,
    output_dir: Path | None = None,
    metadata: bool = True,
) -> ExitCode:
    """Poll until the task ends, then save its images exactly like a normal run would."""
    from wan_cli.api.client import make_api_client
    from wan_cli.api.request import check_task_id

    task_id = check_task_id(task_id)
    if timeout is not None and timeout < 0:
        raise UsageError(f"--timeout must be 0 or more seconds, got {timeout:g}")
    with _session(flags, task_id) as session:
        out, row = session.out, session.row
        if row is None:
            out.info(
                f"task {task_id} is not in this machine's history: images are named "
                "'image-…' and their provenance has no prompt"
            )
        from wan_cli.files.naming import writable_directory
        from wan_cli.ui.render import make_view

        # Refused before the wait, as `generate` refuses before sending (exit 2).
        directory = writable_directory(_output_directory(session, output_dir))
        view = make_view(out)  # one status line from the first poll to the last download
        try:
            with make_api_client(session.api.timeout) as client:
                status = _poll(session, client, task_id, timeout, view)
        except KeyboardInterrupt:
            view.close()
            stop = _interrupted(task_id)
            _json_failure(flags, task_id, None, stop, out)
            raise stop from None
        except WanError as error:
            view.close()
            _json_failure(flags, task_id, None, error, out)
            raise
        ended = task_error(status)
        if ended is not None:
            view.close()
            _json_failure(flags, task_id, status, ended, out)
            raise ended
        return _collect(session, status, directory, metadata, flags.json_output, view)


def _poll(
    session: _Session,
    client: httpx.Client,
    task_id: str,
    timeout: float | None,
    view: View,
) -> TaskStatus:
    """`wait_for_final` with a status line: live (spinner and elapsed time) on a terminal, a
    line per change (and a heartbeat) in logs. Each new state is recorded in the task's row."""
    from dataclasses import replace

    out = session.out
    shown: dict[str, Any] = {"state": None, "at": 0.0}
    known = session.row

    def on_poll(status: TaskStatus, elapsed: float) -> None:
        nonlocal known
        if known is not None:
            remember_state(session.history, known, status)
            known = replace(known, task_status=status.state)
        changed = status.state != shown["state"]
        if changed or (not out.fancy and elapsed - shown["at"] >= HEARTBEAT_S):
            shown["state"], shown["at"] = status.state, elapsed
            text = f"task {task_id}: {status.state}"
            view.waiting(text if out.fancy else f"{text} ({elapsed:.0f} s)")

    return wait_for_final(
        lambda: fetch_task(session.api, client, task_id, on_retry=view.retrying),
        timeout=timeout,
        delays=configured_delays(),
        on_poll=on_poll,
    )


def _json_failure(
    flags: TaskFlags, task_id: str, status: TaskStatus | None, error: WanError, out: Output
) -> None:
    """With --json, a wait that ends without images still prints one document."""
    if not flags.json_output:
        return
    out.result_json(
        {
            "task_id": task_id,
            "task_status": status.state if status is not None else None,
            "request_id": status.request_id if status is not None else None,
            "images": [],
            "exit_code": int(error.exit_code),
            "error": error_document(error),
        }
    )


def _output_directory(session: _Session, output_dir: Path | None) -> Path:
    """Where the images go: `-o`, else where the task was submitted from, else the setting."""
    settings, row = session.settings, session.row
    if output_dir is not None:
        return output_dir
    if row is not None and row.output_dir:
        return Path(row.output_dir)
    return Path(settings.output_dir).expanduser() if settings.output_dir else Path.cwd()


def _collect(
    session: _Session,
    status: TaskStatus,
    directory: Path,
    metadata: bool,
    json_output: bool,
    view: View,
) -> ExitCode:
    """Hand the finished task to `run_events`: the same saving, provenance and exit codes, and
    the images recorded in the task's own row (one is made for a task not in history)."""
    from wan_cli.run.consume import run_events
    from wan_cli.run.model import EventSource, Job, RunConfig

    settings, row = session.settings, session.row
    history_id = row.id if row is not None else None
    if row is None and session.history is not None:
        history_id = session.history.record_start(
            command="generate",
            model=settings.model,
            provider="dashscope",
            host=url_host(session.api.base_url),
            prompt="",
            parameters={},
            references=[],
            output_dir=str(directory.absolute()),
        )
        session.history.record_task(history_id, status.task_id, status.state)
    config = RunConfig(
        api_key=session.api.api_key,
        model=row.model if row is not None else settings.model,
        provider="dashscope",
        timeout=settings.timeout,
        retries=settings.retries,
        output_dir=directory,
        json_output=json_output,
        metadata=settings.metadata and metadata,
        max_download_bytes=settings.max_image_mb * 1024 * 1024,
        history=session.history,
    )
    job = Job(
        prompt=row.prompt if row is not None else "",
        parameters=dict(row.parameters) if row is not None else {},
        references=tuple(row.references) if row is not None else (),
        command=row.command if row is not None else "generate",
        host=url_host(session.api.base_url),
        history_id=history_id,
    )

    @contextmanager
    def finished(view: View) -> Iterator[Iterator[Event]]:
        yield result_events(status)  # the view already shows the task's final state

    source: EventSource = finished
    return run_events(source, config, session.out, job, view=view)


def task_list(flags: TaskFlags, limit: int | None = 20) -> ExitCode:
    """The tasks this machine submitted (from history), newest first, with their last known
    state. Needs no key and sends nothing."""
    import sqlite3

    from wan_cli.history import format_time, history_path, open_existing
    from wan_cli.ui.output import Output, sanitize, set_output

    out = set_output(Output(quiet=flags.quiet, verbose=flags.verbose))
    store = open_existing(history_path(), warn=out.warn) if not flags.no_history else None
    rows: list[RunRow] = []
    if store is not None:
        try:
            rows = store.list_tasks(limit)
        except sqlite3.Error as error:
            raise UsageError(f"cannot read history {store.path}: {error}") from None
        finally:
            store.close()
    if flags.json_output:
        out.result_json(
            [
                {
                    "task_id": row.task_id,
                    "status": _state(row),
                    "history_id": row.id,
                    "history_status": row.status,
                    "saved": row.saved_count,
                    "created": format_time(row.created),
                    "command": row.command,
                    "model": row.model,
                    "host": row.host,
                    "prompt": row.prompt,
                    "error": row.error,
                }
                for row in rows
            ]
        )
        return ExitCode.OK
    if not rows:
        out.info("no tasks in history: submit one with `wan generate … --async`")
        return ExitCode.OK
    for row in rows:
        when = row.created.astimezone().strftime("%Y-%m-%d %H:%M")
        prompt = " ".join(sanitize(row.prompt).split())
        prompt = prompt if len(prompt) <= 50 else prompt[:49] + "…"
        task = sanitize(f"{row.task_id}  {_state(row):<9}")  # both are the service's words
        out.result(f"{task}  {when}  #{row.id}  {prompt}")
    return ExitCode.OK


def _state(row: RunRow) -> str:
    return row.task_status or PENDING

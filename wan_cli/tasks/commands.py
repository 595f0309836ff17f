"""`wan task status`, `wan task cancel` and `wan task list`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_cli.errors import ApiRejected, ExitCode, Interrupted, UsageError, WanError
from wan_cli.tasks.protocol import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    UNKNOWN,
    TaskStatus,
    fetch_task,
    request_cancel,
    task_error,
)
from wan_cli.tasks.rows import remember_state
from wan_cli.tasks.session import TaskFlags, open_session, warn_retry

if TYPE_CHECKING:
    from wan_cli.history import RunRow
    from wan_cli.ui.output import Output


def task_status(flags: TaskFlags, task_id: str) -> ExitCode:
    """One query: the state on stdout (`--json`: the whole answer). 0 when the query worked."""
    from wan_cli.api.client import make_api_client
    from wan_cli.api.request import check_task_id

    task_id = check_task_id(task_id)
    with open_session(flags, task_id) as session:
        out, row = session.out, session.row
        try:
            with make_api_client(session.api.timeout) as client:
                status = fetch_task(session.api, client, task_id, on_retry=warn_retry(out))
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
        remember_state(session.history, row, status)
        if flags.json_output:
            out.result_json(dict(status.document) or {"task_id": task_id, "task_status": UNKNOWN})
        else:
            out.result(status.state)
        _explain(status, out)
    return ExitCode.OK


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
    with open_session(flags, task_id) as session:
        out, row = session.out, session.row
        try:
            with make_api_client(session.api.timeout) as client:
                try:
                    request_cancel(session.api, client, task_id, on_retry=warn_retry(out))
                except ApiRejected:
                    status = fetch_task(session.api, client, task_id, warn_retry(out))
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

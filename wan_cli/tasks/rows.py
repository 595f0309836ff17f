"""The history bridge of a task: its row found by task id, and kept in step with every state
the task is seen in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_cli.run.recorder import existing_row
from wan_cli.tasks.protocol import TaskStatus, task_error

if TYPE_CHECKING:
    from wan_cli.history import RunRow, Store
    from wan_cli.ui.output import Output


def row_error(status: TaskStatus) -> str:
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
        existing_row(history, row.id).end(error.exit_code, row_error(status))

"""What every `wan task` command shares: its options (`TaskFlags`) and a session (output,
settings with DashScope forced, the task API, history and the task's row)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wan_cli.api.request import url_host
from wan_cli.errors import Interrupted
from wan_cli.tasks.protocol import TaskApi
from wan_cli.tasks.rows import find_task_row

if TYPE_CHECKING:
    from wan_cli.api.client import RetryHook
    from wan_cli.history import RunRow, Store
    from wan_cli.settings import Settings
    from wan_cli.ui.output import Output


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
class TaskSession:
    out: Output
    settings: Settings
    api: TaskApi
    history: Store | None
    row: RunRow | None  # the task's history row, if this machine has one


@contextmanager
def open_session(flags: TaskFlags, task_id: str) -> Iterator[TaskSession]:
    """Output, settings (provider forced to DashScope: only it has tasks), key, history and the
    task's row in it; warns when the row says the task was submitted to another host."""
    from wan_cli.api.request import normalize_base_url
    from wan_cli.history import history_path, open_store
    from wan_cli.run.assemble import sending_key, show_notes
    from wan_cli.settings import resolve_settings
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
        origins={"provider": "wan task (only DashScope runs tasks)"},
    )
    show_notes(settings, out)
    if flags.api_key is not None:
        out.warn("--api-key lands in shell history: prefer `wan config set api-key` or WAN_API_KEY")
    api = TaskApi(
        base_url=normalize_base_url(settings.base_url),
        api_key=sending_key(settings),
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
        yield TaskSession(out, settings, api, history, row)
    finally:
        if history is not None:
            history.close()


def interrupted(task_id: str) -> Interrupted:
    return Interrupted(
        f"interrupted: task {task_id} keeps running on the service",
        hint=f"resume with `wan task wait {task_id}`",
    )


def warn_retry(out: Output) -> RetryHook:
    def warn(attempt: int, delay: float, why: str) -> None:
        from wan_cli.ui.render import retry_message

        out.warn(retry_message(attempt, delay, why))

    return warn

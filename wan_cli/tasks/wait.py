"""`wan task wait`: poll until the task ends (a status line live on a terminal, a line per
change and a heartbeat in logs), then hand the finished task's answer to `run.consume`, so
files, provenance, history and exit codes are exactly those of a normal run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.api.request import url_host
from wan_cli.errors import UsageError, WanError, error_document
from wan_cli.tasks.protocol import (
    TaskStatus,
    configured_delays,
    fetch_task,
    result_events,
    task_error,
    wait_for_final,
)
from wan_cli.tasks.rows import remember_state
from wan_cli.tasks.session import TaskFlags, TaskSession, interrupted, open_session

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.events import Event
    from wan_cli.errors import ExitCode
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import View

# Plain (log) output repeats the status at least this often, so CI does not think we hung.
HEARTBEAT_S = 60.0


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
    with open_session(flags, task_id) as session:
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
            stop = interrupted(task_id)
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
    session: TaskSession,
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


def _output_directory(session: TaskSession, output_dir: Path | None) -> Path:
    """Where the images go: `-o`, else where the task was submitted from, else the setting."""
    settings, row = session.settings, session.row
    if output_dir is not None:
        return output_dir
    if row is not None and row.output_dir:
        return Path(row.output_dir)
    return Path(settings.output_dir).expanduser() if settings.output_dir else Path.cwd()


def _collect(
    session: TaskSession,
    status: TaskStatus,
    directory: Path,
    metadata: bool,
    json_output: bool,
    view: View,
) -> ExitCode:
    """Hand the finished task to `run_events`: the same saving, provenance and exit codes, and
    the images recorded in the task's own row (one is made for a task not in history)."""
    from wan_cli.run.assemble import make_run_config
    from wan_cli.run.consume import run_events
    from wan_cli.run.model import EventSource, Job
    from wan_cli.run.recorder import start_run

    settings, row = session.settings, session.row
    host = url_host(session.api.base_url)
    if row is not None:
        job = Job(
            prompt=row.prompt,
            parameters=dict(row.parameters),
            references=tuple(row.references),
            command=row.command,
            host=host,
            history_id=row.id,
        )
    else:  # a task submitted elsewhere: its row is made now, then filled by the run
        job = Job(prompt="", parameters={}, host=host)
        recorder = start_run(
            session.history,
            job,
            model=settings.model,
            provider="dashscope",
            output_dir=directory,
        )
        recorder.task(status.task_id, status.state)
        job = replace(job, history_id=recorder.id)
    config = make_run_config(
        settings,
        api_key=session.api.api_key,
        output_dir=directory,
        history=session.history,
        json_output=json_output,
        metadata=metadata,
        model=row.model if row is not None else None,
        provider="dashscope",
    )

    @contextmanager
    def finished(view: View) -> Iterator[Iterator[Event]]:
        yield result_events(status)  # the view already shows the task's final state

    source: EventSource = finished
    return run_events(source, config, session.out, job, view=view)

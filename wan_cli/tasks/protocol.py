"""DashScope async tasks: submit now, collect later (`--async`, `wan task …`).

A task's life on the service: PENDING → RUNNING → SUCCEEDED | FAILED, or CANCELED (only a
PENDING task can be cancelled), or UNKNOWN (expired after 24 h, or never existed). This module:
- submits one (`submit_task`: POST with `X-DashScope-Async: enable`) and records it in history;
- queries (`GET {base}/tasks/{id}`) and cancels (`POST {base}/tasks/{id}/cancel`) it, through
  `client.open_answer`, so every call retries transient errors like any other request;
- waits for it (`wait_for_final`: polls with a growing delay, 2 s up to 10 s), then hands the
  finished task's answer to `run.run_events`, so files, provenance and exit codes are exactly
  those of a normal run.

Exit codes of the final states: SUCCEEDED → the run's (0, or 7 if saving failed); FAILED → the
class of the service's code (`errors.error_from_api`: moderation 4, internal 6, quota 5…);
CANCELED → 4 (the request was withdrawn: nothing was generated, retrying cannot help); UNKNOWN →
4 ("expired or not found"). `wait --timeout` elapsing → 6; Ctrl-C → 130. In both of the last
two cases the task keeps running on the service and the message says how to resume.

History: a submitted task is one run row with its task id and last known state (every query
that sees a new state records it); it shows as `task STATE` until `wan task wait` fills that
same row with the images (through `run_events`, `Job.history_id`), or until the task ends
without images, which ends the row with that state's exit code and `task STATE…` as its error.

For tests only: `WAN_POLL_INTERVAL=SECONDS` replaces the growing delay by a fixed one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.errors import (
    ApiRejected,
    ExitCode,
    Interrupted,
    ServiceUnavailable,
    WanError,
    error_from_api,
)

if TYPE_CHECKING:
    import httpx

    from wan_cli.events import Event
    from wan_cli.history import RunRow, Store
    from wan_cli.output import Output
    from wan_cli.render import View
    from wan_cli.request import PreparedRequest
    from wan_cli.run import RunConfig
    from wan_cli.settings import Settings

PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"
UNKNOWN = "UNKNOWN"
STATES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN)
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELED, UNKNOWN})

# Polling: the first wait, its growth per poll, and its ceiling (the service suggests polling
# "every few seconds"; a task takes from seconds to minutes).
POLL_FIRST_S = 2.0
POLL_GROWTH = 1.5
POLL_MAX_S = 10.0
ENV_POLL_INTERVAL = "WAN_POLL_INTERVAL"  # for tests: a fixed delay between polls
# Plain (log) output repeats the status at least this often, so CI does not think we hung.
HEARTBEAT_S = 60.0


# -- the task document (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class TaskStatus:
    """What one answer says about a task."""

    task_id: str
    state: str  # upper case; one of STATES, or a state this version does not know
    request_id: str | None = None
    code: str | None = None  # FAILED: the service's error code
    message: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def parse_task(document: object, task_id: str | None = None) -> TaskStatus:
    """The task in a create or query answer (`{"output": {"task_id", "task_status", …}}`).

    A missing status is UNKNOWN; a status this version does not know is kept as it is and
    treated as still active. Raises ServiceUnavailable for a body that is not a task.
    """
    if not isinstance(document, dict):
        raise ServiceUnavailable("the task answer is not a JSON object", code="UnexpectedAnswer")
    output = document.get("output")
    output = output if isinstance(output, dict) else {}
    found = output.get("task_id")
    tid = found if isinstance(found, str) and found else task_id
    if not tid:
        keys = ", ".join(sorted(str(key) for key in document)) or "nothing"
        raise ServiceUnavailable(
            f"the answer holds no task id (it has {keys})", code="UnexpectedAnswer"
        )
    raw_state = output.get("task_status")
    state = raw_state.strip().upper() if isinstance(raw_state, str) and raw_state.strip() else ""
    request_id = document.get("request_id")
    return TaskStatus(
        task_id=tid,
        state=state or UNKNOWN,
        request_id=request_id if isinstance(request_id, str) and request_id else None,
        code=_text(output.get("code")) or _text(document.get("code")),
        message=_text(output.get("message"))
        or _text(output.get("msg"))
        or _text(document.get("message")),
        document=document,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def task_error(status: TaskStatus) -> WanError | None:
    """The error a task that ended without images stands for; None while it can still succeed."""
    tid = status.task_id
    if status.state == FAILED:
        error = error_from_api(
            None,
            status.code or "TaskFailed",
            status.message or "the service gave no reason",
            status.request_id,
        )
        error.message = f"task {tid} failed: {error.message}"
        return error
    if status.state == CANCELED:
        return ApiRejected(
            f"task {tid} was canceled: no images were generated",
            code="TaskCanceled",
            request_id=status.request_id,
        )
    if status.state == UNKNOWN:
        return ApiRejected(
            f"task {tid} is UNKNOWN to the service: it expired (tasks are kept 24 hours) "
            "or was never submitted there",
            hint="task ids belong to one region and account: check --base-url and the API key",
            code="TaskUnknown",
            request_id=status.request_id,
        )
    return None


def result_events(status: TaskStatus) -> Iterator[Event]:
    """A SUCCEEDED task's answer as a normal run's events (its TaskCreated left out)."""
    from wan_cli.events import TaskCreated, events_from_json

    for event in events_from_json(dict(status.document)):
        if not isinstance(event, TaskCreated):
            yield event


def poll_delays(
    first: float = POLL_FIRST_S, growth: float = POLL_GROWTH, cap: float = POLL_MAX_S
) -> Iterator[float]:
    """The waits between polls: `first`, growing by `growth`, never above `cap`."""
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(cap, delay * growth)


def configured_delays(env: Mapping[str, str] | None = None) -> Iterator[float]:
    """`poll_delays()`, or a fixed delay from WAN_POLL_INTERVAL (tests)."""
    env = os.environ if env is None else env
    raw = env.get(ENV_POLL_INTERVAL, "").strip()
    try:
        fixed = float(raw) if raw else None
    except ValueError:
        fixed = None
    if fixed is not None and fixed >= 0:
        return poll_delays(fixed, 1.0, fixed)
    return poll_delays()


def wait_for_final(
    fetch: Callable[[], TaskStatus],
    *,
    timeout: float | None,
    delays: Iterable[float],
    on_poll: Callable[[TaskStatus, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TaskStatus:
    """Poll until the task reaches a final state and return that status.

    `on_poll(status, elapsed)` sees every answer. When `timeout` seconds have passed, one last
    poll is made; still active, it raises ServiceUnavailable (exit 6) with the resume command.
    """
    start = clock()
    pauses = iter(delays)
    while True:
        status = fetch()
        elapsed = clock() - start
        if on_poll is not None:
            on_poll(status, elapsed)
        if status.final:
            return status
        pause = next(pauses)
        if timeout is not None:
            left = timeout - elapsed
            if left <= 0:
                raise ServiceUnavailable(
                    f"task {status.task_id} is still {status.state} after {elapsed:.0f} s",
                    hint=f"it keeps running on the service: resume with "
                    f"`wan task wait {status.task_id}`",
                    code="TaskWaitTimeout",
                )
            pause = min(pause, left)
        sleep(pause)


# -- talking to the service --------------------------------------------------------------------


@dataclass(frozen=True)
class TaskApi:
    """Where tasks live and how to ask: DashScope's base URL, the key, the request policy."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 300.0
    retries: int = 2
    log: Callable[[str], None] | None = field(default=None, compare=False)


def _read_json(response: httpx.Response) -> object:
    import json

    import httpx

    try:
        raw = response.read()
    except httpx.HTTPError as error:
        raise ServiceUnavailable(
            f"the connection broke while reading the answer: {error}"
        ) from None
    try:
        return json.loads(raw)
    except ValueError:
        snippet = raw[:80].decode("utf-8", "replace")
        raise ServiceUnavailable(
            f"the answer is not JSON: {snippet!r}", code="UnexpectedAnswer"
        ) from None


def _call(
    api: TaskApi,
    client: httpx.Client,
    prepared: PreparedRequest,
    on_retry: Callable[[int, float, str], None] | None,
) -> object:
    from wan_cli.client import RetryPolicy, open_answer

    policy = RetryPolicy(retries=api.retries)
    with open_answer(
        client, prepared, api.api_key, policy, on_retry=on_retry, log=api.log
    ) as response:
        return _read_json(response)


def fetch_task(
    api: TaskApi,
    client: httpx.Client,
    task_id: str,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> TaskStatus:
    """One query. A 404 for the task is UNKNOWN (the service forgot it, or never knew it)."""
    from wan_cli.request import task_request

    try:
        document = _call(api, client, task_request(api.base_url, task_id, "status"), on_retry)
    except ApiRejected as error:
        if error.status != 404:
            raise
        return TaskStatus(task_id, UNKNOWN, error.request_id, error.code, error.message)
    return parse_task(document, task_id)


def request_cancel(
    api: TaskApi,
    client: httpx.Client,
    task_id: str,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> None:
    """Ask the service to cancel; raises its refusal (a task no longer PENDING) as ApiRejected."""
    from wan_cli.request import task_request

    _call(api, client, task_request(api.base_url, task_id, "cancel"), on_retry)


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
    from wan_cli.client import RetryPolicy, make_api_client, open_answer

    history = config.history
    row_id = None
    if history is not None:
        row_id = history.record_start(
            command=prepared.mode,
            model=config.model,
            provider=config.provider,
            host=_host(prepared.url),
            prompt=prompt,
            parameters=parameters,
            references=[ref.describe() for ref in prepared.refs],
            output_dir=str(config.output_dir.absolute()),
        )
    out.info(f"submitting an async task to {_host(prepared.url)}: {config.model}")
    try:
        with (
            make_api_client(config.timeout) as client,
            open_answer(
                client,
                prepared,
                config.api_key,
                RetryPolicy(retries=config.retries),
                on_retry=lambda attempt, delay, why: out.warn(
                    f"{why}; retrying in {delay:.1f} s (attempt {attempt + 1})"
                ),
                log=out.detail if out.verbose else None,
            ) as response,
        ):
            status = parse_task(_read_json(response))
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
            _end_row(history, row_id, ended.exit_code, _row_error(status, ended))
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


def _host(url: str) -> str:
    """host[:port] of a URL, without any user:password."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.rpartition("@")[2]


# -- history -----------------------------------------------------------------------------------


def _end_row(history: Store | None, row_id: int | None, code: int, error: str | None) -> None:
    if history is not None and row_id is not None:
        history.record_end(
            row_id, exit_code=int(code), error=error, usage=None, text="", request_id=None
        )


def _row_error(status: TaskStatus, error: WanError | None) -> str | None:
    """What the row of a task that ended without images keeps as its error: `task STATE`,
    then the service's code and message."""
    if error is None:
        return None
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
        _end_row(history, row.id, error.exit_code, _row_error(status, error))


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


@dataclass
class _Session:
    out: Output
    settings: Settings
    api: TaskApi
    history: Store | None


@contextmanager
def _session(flags: TaskFlags) -> Iterator[_Session]:
    """Output, settings (provider forced to DashScope: only it has tasks), key and history."""
    from wan_cli.history import history_path, open_store
    from wan_cli.output import Output, set_output
    from wan_cli.request import normalize_base_url
    from wan_cli.settings import require_api_key, resolve_settings

    out = set_output(Output(quiet=flags.quiet, verbose=flags.verbose, json_mode=flags.json_output))
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
        yield _Session(out, settings, api, history)
    finally:
        if history is not None:
            history.close()


def _check_host(session: _Session, row: RunRow | None) -> None:
    """Warn when the task was submitted to another host than the one about to be asked."""
    if row is not None and row.host and row.host != _host(session.api.base_url):
        session.out.warn(
            f"task {row.task_id} was submitted to {row.host}, but this asks "
            f"{_host(session.api.base_url)}: pass --base-url if it is not found"
        )


def _interrupted(task_id: str) -> Interrupted:
    return Interrupted(
        f"interrupted: task {task_id} keeps running on the service",
        hint=f"resume with `wan task wait {task_id}`",
    )


def task_status(flags: TaskFlags, task_id: str) -> ExitCode:
    """One query: the state on stdout (`--json`: the whole answer). 0 when the query worked."""
    from wan_cli.client import make_api_client
    from wan_cli.request import check_task_id

    task_id = check_task_id(task_id)
    with _session(flags) as session:
        out = session.out
        row = find_task_row(session.history, task_id, out)
        _check_host(session, row)
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


def _warn_retry(out: Output) -> Callable[[int, float, str], None]:
    def warn(attempt: int, delay: float, why: str) -> None:
        out.warn(f"{why}; retrying in {delay:.1f} s (attempt {attempt + 1})")

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
    from wan_cli.client import make_api_client
    from wan_cli.request import check_task_id

    task_id = check_task_id(task_id)
    with _session(flags) as session:
        out = session.out
        row = find_task_row(session.history, task_id, out)
        _check_host(session, row)
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
    from wan_cli.client import make_api_client
    from wan_cli.request import check_task_id

    task_id = check_task_id(task_id)
    if timeout is not None and timeout < 0:
        from wan_cli.errors import UsageError

        raise UsageError(f"--timeout must be 0 or more seconds, got {timeout:g}")
    with _session(flags) as session:
        out = session.out
        row = find_task_row(session.history, task_id, out)
        _check_host(session, row)
        if row is None:
            out.info(
                f"task {task_id} is not in this machine's history: images are named "
                "'image-…' and their provenance has no prompt"
            )
        from wan_cli.render import make_view

        view = make_view(out)  # one status line from the first poll to the last download
        try:
            with make_api_client(session.api.timeout) as client:
                status = _poll(session, client, task_id, timeout, view, row)
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
        return _collect(session, status, row, output_dir, metadata, flags.json_output, view)


def _poll(
    session: _Session,
    client: httpx.Client,
    task_id: str,
    timeout: float | None,
    view: View,
    row: RunRow | None,
) -> TaskStatus:
    """`wait_for_final` with a status line: live (spinner and elapsed time) on a terminal, a
    line per change (and a heartbeat) in logs. Each new state is recorded in the task's row."""
    from dataclasses import replace

    out = session.out
    shown: dict[str, Any] = {"state": None, "at": 0.0}
    known = row

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
            "error": {
                "message": error.message,
                "code": error.code,
                "status": error.status,
                "class": type(error).__name__,
            },
        }
    )


def _collect(
    session: _Session,
    status: TaskStatus,
    row: RunRow | None,
    output_dir: Path | None,
    metadata: bool,
    json_output: bool,
    view: View,
) -> ExitCode:
    """Hand the finished task to `run_events`: the same saving, provenance and exit codes, and
    the images recorded in the task's own row (one is made for a task not in history)."""
    from wan_cli.run import EventSource, Job, RunConfig, run_events

    settings = session.settings
    directory = output_dir
    if directory is None and row is not None and row.output_dir:
        directory = Path(row.output_dir)
    if directory is None:
        directory = Path(settings.output_dir).expanduser() if settings.output_dir else Path.cwd()
    history_id = row.id if row is not None else None
    if row is None and session.history is not None:
        history_id = session.history.record_start(
            command="generate",
            model=settings.model,
            provider="dashscope",
            host=_host(session.api.base_url),
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
        history=session.history,
    )
    job = Job(
        prompt=row.prompt if row is not None else "",
        parameters=dict(row.parameters) if row is not None else {},
        references=tuple(row.references) if row is not None else (),
        command=row.command if row is not None else "generate",
        host=_host(session.api.base_url),
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
    from wan_cli.output import Output, sanitize, set_output

    out = set_output(Output(quiet=flags.quiet, verbose=flags.verbose, json_mode=flags.json_output))
    store = open_existing(history_path(), warn=out.warn) if not flags.no_history else None
    rows: list[RunRow] = []
    if store is not None:
        try:
            rows = store.list_tasks(limit)
        except sqlite3.Error as error:
            from wan_cli.errors import UsageError

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
        out.result(f"{row.task_id}  {_state(row):<9}  {when}  #{row.id}  {prompt}")
    return ExitCode.OK


def _state(row: RunRow) -> str:
    return row.task_status or PENDING

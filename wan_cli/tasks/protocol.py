"""The DashScope async-task protocol: what a task answer means, how to poll, how to ask.

Pure: `parse_task` reads a create or query answer into a `TaskStatus`; `task_error` is the
error a task that ended without images stands for; `result_events` turns a SUCCEEDED task's
answer into a normal run's events; `poll_delays` and `wait_for_final` are the polling loop
(sleep and clock passed in). Service calls, each through `client.open_answer` so transient
errors are retried like any other request: `create_task` (POST with `X-DashScope-Async:
enable`), `fetch_task` (`GET {base}/tasks/{id}`), `request_cancel` (`POST {base}/tasks/{id}/
cancel`). What the commands do with them is in
`tasks.submit`, `tasks.commands` and `tasks.wait`.

For tests only: `WAN_POLL_INTERVAL=SECONDS` replaces the growing delay by a fixed one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from wan_cli.errors import ApiRejected, ServiceUnavailable, WanError, error_from_api

# Re-exported (`as`): callers import the states from here as well as from `tasks.states`.
from wan_cli.tasks.states import CANCELED as CANCELED
from wan_cli.tasks.states import FAILED as FAILED
from wan_cli.tasks.states import FINAL_STATES as FINAL_STATES
from wan_cli.tasks.states import PENDING as PENDING
from wan_cli.tasks.states import RUNNING as RUNNING
from wan_cli.tasks.states import SUCCEEDED as SUCCEEDED
from wan_cli.tasks.states import UNKNOWN as UNKNOWN

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.client import RetryHook
    from wan_cli.api.events import Event
    from wan_cli.api.intake import ServiceAnswer
    from wan_cli.api.request import PreparedRequest


# Polling: the first wait, its growth per poll, and its ceiling (the service suggests polling
# "every few seconds"; a task takes from seconds to minutes).
POLL_FIRST_S = 2.0
POLL_GROWTH = 1.5
POLL_MAX_S = 10.0
ENV_POLL_INTERVAL = "WAN_POLL_INTERVAL"  # for tests: a fixed delay between polls


# -- the task document (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class TaskStatus:
    """What one answer says about a task."""

    task_id: str
    state: str  # upper case; one of the above, or a state this version does not know
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
    from wan_cli.ui.output import sanitize

    if not isinstance(document, dict):
        raise ServiceUnavailable("the task answer is not a JSON object", code="UnexpectedAnswer")
    output = document.get("output")
    output = output if isinstance(output, dict) else {}
    found = output.get("task_id")
    # The id and state are printed bare on stdout: no control characters from the service.
    found = sanitize(found) if isinstance(found, str) else None
    tid = found if found else task_id
    if not tid:
        keys = ", ".join(sorted(str(key) for key in document)) or "nothing"
        raise ServiceUnavailable(
            f"the answer holds no task id (it has {keys})", code="UnexpectedAnswer"
        )
    raw_state = output.get("task_status")
    state = sanitize(raw_state).strip().upper() if isinstance(raw_state, str) else ""
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
    from wan_cli.api.events import TaskCreated, events_from_json

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


def _read_json(answer: ServiceAnswer) -> object:
    """A task answer's JSON: read bounded and redacted by `intake`; too deep is unreadable."""
    import httpx

    from wan_cli.api import jsontext
    from wan_cli.api.intake import TASK_LIMIT

    try:
        raw = answer.read(TASK_LIMIT, what="a task answer")
    except httpx.HTTPError as error:
        raise ServiceUnavailable(
            f"the connection broke while reading the answer: {error}"
        ) from None
    try:
        return jsontext.loads(raw)
    except jsontext.TooDeep as error:
        raise ServiceUnavailable(
            f"the task answer is unreadable: {error}", code="UnexpectedAnswer"
        ) from None
    except ValueError:
        snippet = raw[:80].decode("utf-8", "replace")
        raise ServiceUnavailable(
            f"the answer is not JSON: {snippet!r}", code="UnexpectedAnswer"
        ) from None


def _send(
    client: httpx.Client,
    prepared: PreparedRequest,
    api_key: str,
    retries: int,
    on_retry: RetryHook | None,
    log: Callable[[str], None] | None,
) -> object:
    """One request through `client.open_answer` (auth, retries); its JSON body."""
    from wan_cli.api.client import RetryPolicy, open_answer

    policy = RetryPolicy(retries=retries)
    with open_answer(client, prepared, api_key, policy, on_retry=on_retry, log=log) as answer:
        return _read_json(answer)


def _call(
    api: TaskApi,
    client: httpx.Client,
    task_id: str,
    action: Literal["status", "cancel"],
    on_retry: RetryHook | None,
) -> object:
    """A query ("status") or a cancel ("cancel") of one task at `api`."""
    from wan_cli.api.request import task_request

    prepared = task_request(api.base_url, task_id, action)
    return _send(client, prepared, api.api_key, api.retries, on_retry, api.log)


def create_task(
    client: httpx.Client,
    prepared: PreparedRequest,
    api_key: str,
    retries: int,
    on_retry: RetryHook | None = None,
    log: Callable[[str], None] | None = None,
) -> TaskStatus:
    """Send an async request (`request.build_request` with `async_task`): the task it created.

    Raises ServiceUnavailable for an answer that is not a task.
    """
    return parse_task(_send(client, prepared, api_key, retries, on_retry, log))


def fetch_task(
    api: TaskApi,
    client: httpx.Client,
    task_id: str,
    on_retry: RetryHook | None = None,
) -> TaskStatus:
    """One query. A 404 for the task is UNKNOWN (the service forgot it, or never knew it)."""
    try:
        document = _call(api, client, task_id, "status", on_retry)
    except ApiRejected as error:
        if error.status != 404:
            raise
        return TaskStatus(task_id, UNKNOWN, error.request_id, error.code, error.message)
    return parse_task(document, task_id)


def request_cancel(
    api: TaskApi,
    client: httpx.Client,
    task_id: str,
    on_retry: RetryHook | None = None,
) -> None:
    """Ask the service to cancel; raises its refusal (a task no longer PENDING) as ApiRejected."""
    _call(api, client, task_id, "cancel", on_retry)

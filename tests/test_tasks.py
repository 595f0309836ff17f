"""Async tasks, piece by piece: the async request, task documents, states → errors, the poll
schedule and loop, and the task queries against the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeapi import FakeAPI, Reply
from wan_cli.api.events import Done, ImageRef, RequestId, TaskCreated, Usage
from wan_cli.api.request import GenerateInputs, build_request, check_task_id, task_request
from wan_cli.errors import (
    ApiRejected,
    AuthError,
    ExitCode,
    RateLimited,
    ServiceUnavailable,
    UsageError,
)
from wan_cli.history import RunRow, open_store
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
    fetch_task,
    parse_task,
    poll_delays,
    request_cancel,
    result_events,
    task_error,
    wait_for_final,
)
from wan_cli.tasks.rows import remember_state

DASHSCOPE = "https://dashscope.aliyuncs.com/api/v1"
KEY = "sk-task-secret-1234"


def task_doc(state: str, task_id: str = "task-1", **output: object) -> dict[str, object]:
    return {
        "request_id": f"req-{state.lower()}",
        "output": {"task_id": task_id, "task_status": state, **output},
    }


def succeeded_doc(urls: list[str], task_id: str = "task-1") -> dict[str, object]:
    document = task_doc(
        SUCCEEDED,
        task_id,
        choices=[
            {
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": [{"type": "image", "image": url}]},
            }
            for url in urls
        ],
    )
    document["usage"] = {"image_count": len(urls), "size": "1280*1280"}
    return document


# -- the async request ------------------------------------------------------------------------


def test_async_edit_request_on_dashscope() -> None:
    inputs = GenerateInputs(
        mode="edit",
        prompt="make it snow",
        refs=("https://example.com/a.png",),
        provider="dashscope",
        async_task=True,
    )
    req = build_request(inputs)
    assert req.method == "POST"
    assert req.url == f"{DASHSCOPE}/services/aigc/image-generation/generation"
    assert dict(req.headers) == {"Content-Type": "application/json", "X-DashScope-Async": "enable"}
    assert "stream" not in req.body["parameters"]
    assert req.body["parameters"]["enable_interleave"] is False
    assert req.stream is False


def test_async_generate_is_allowed_without_streaming() -> None:
    # The sync API needs streaming for interleaved mode; the async one never streams.
    req = build_request(
        GenerateInputs(mode="generate", prompt="a fox", provider="dashscope", async_task=True)
    )
    assert req.body["parameters"] == {"enable_interleave": True, "max_images": 1}
    assert "Accept" not in req.headers and "X-DashScope-SSE" not in req.headers


def test_async_keeps_a_custom_base_url() -> None:
    inputs = GenerateInputs(
        mode="generate",
        prompt="a fox",
        provider="dashscope",
        base_url="http://127.0.0.1:9/api/v1/",
        async_task=True,
    )
    assert build_request(inputs).url == (
        "http://127.0.0.1:9/api/v1/services/aigc/image-generation/generation"
    )


def test_async_on_the_gateway_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        build_request(GenerateInputs(mode="generate", prompt="a fox", async_task=True))
    assert caught.value.exit_code == ExitCode.USAGE
    assert "only DashScope" in caught.value.message
    assert caught.value.hint is not None and "--provider dashscope" in caught.value.hint


def test_task_requests() -> None:
    status = task_request(DASHSCOPE + "/", "abc-123_x", "status")
    assert (status.method, status.url) == ("GET", f"{DASHSCOPE}/tasks/abc-123_x")
    assert status.body_bytes() == b""
    cancel = task_request(DASHSCOPE, "abc", "cancel")
    assert (cancel.method, cancel.url) == ("POST", f"{DASHSCOPE}/tasks/abc/cancel")
    assert cancel.body_bytes() == b""
    for req in (status, cancel):
        assert all(name.lower() != "authorization" for name in req.headers)


@pytest.mark.parametrize("bad", ["", "  ", "../etc", "a/b", "a b", "a?b=1", "x" * 129, "é"])
def test_task_ids_that_could_escape_the_url_are_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        check_task_id(bad)


def test_task_id_is_trimmed() -> None:
    assert check_task_id(" 0385dc79-5ff8 \n") == "0385dc79-5ff8"


# -- task documents -----------------------------------------------------------------------------


def test_parse_create_answer() -> None:
    status = parse_task(task_doc(PENDING, "t-9"))
    assert (status.task_id, status.state, status.request_id) == ("t-9", PENDING, "req-pending")
    assert not status.final
    assert status.document["output"]["task_id"] == "t-9"


def test_parse_failed_task_keeps_code_and_message() -> None:
    status = parse_task(task_doc("failed", code="DataInspectionFailed", message="bad input"))
    assert status.state == FAILED and status.final
    assert (status.code, status.message) == ("DataInspectionFailed", "bad input")


def test_parse_missing_state_is_unknown_and_a_new_state_stays_active() -> None:
    assert parse_task({"output": {"task_id": "t"}}).state == UNKNOWN
    queued = parse_task(task_doc("QUEUED"))
    assert queued.state == "QUEUED" and not queued.final


def test_parse_task_id_falls_back_to_the_one_asked_for() -> None:
    status = parse_task({"output": {"task_status": "RUNNING"}}, "asked")
    assert status.task_id == "asked"


@pytest.mark.parametrize("document", [[], "text", {"output": {}}, {"request_id": "r"}])
def test_not_a_task_is_unavailable(document: object) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        parse_task(document)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE


# -- states → errors and exit codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "exit_code"),
    [
        ("DataInspectionFailed", ApiRejected, 4),
        ("InternalError.Algo", ServiceUnavailable, 6),
        ("Arrearage", RateLimited, 5),
        ("InvalidApiKey", AuthError, 3),
        (None, ApiRejected, 4),
    ],
)
def test_failed_task_error_follows_the_service_code(
    code: str | None, kind: type[Exception], exit_code: int
) -> None:
    extra = {"code": code, "message": "why"} if code else {}
    error = task_error(parse_task(task_doc(FAILED, "t-1", **extra)))
    assert isinstance(error, kind)
    assert error.exit_code == exit_code
    assert error.message.startswith("task t-1 failed: ")
    assert error.request_id == "req-failed"


def test_moderation_failure_says_so() -> None:
    error = task_error(parse_task(task_doc(FAILED, code="DataInspectionFailed", message="no")))
    assert error is not None and error.hint is not None and "moderation" in error.hint


def test_canceled_and_unknown_are_rejected() -> None:
    canceled = task_error(parse_task(task_doc(CANCELED)))
    assert isinstance(canceled, ApiRejected) and "canceled" in canceled.message
    unknown = task_error(parse_task(task_doc(UNKNOWN)))
    assert isinstance(unknown, ApiRejected) and unknown.exit_code == 4
    assert "expired" in unknown.message and "24 hours" in unknown.message


@pytest.mark.parametrize("state", [PENDING, RUNNING, SUCCEEDED, "QUEUED"])
def test_states_that_can_still_give_images_are_no_error(state: str) -> None:
    assert task_error(parse_task(task_doc(state))) is None


def test_result_events_are_a_normal_answer() -> None:
    events = list(result_events(parse_task(succeeded_doc(["https://h/a.png", "https://h/b.png"]))))
    assert not any(isinstance(event, TaskCreated) for event in events)
    assert events[0] == RequestId("req-succeeded")
    images = [event for event in events if isinstance(event, ImageRef)]
    assert [image.url for image in images] == ["https://h/a.png", "https://h/b.png"]
    assert isinstance(events[-2], Usage) and isinstance(events[-1], Done)


# -- polling ------------------------------------------------------------------------------------


def test_poll_delays_grow_from_2_to_10_seconds() -> None:
    delays = poll_delays()
    assert [round(next(delays), 2) for _ in range(7)] == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0, 10.0]


def test_poll_interval_override_for_tests() -> None:
    fixed = configured_delays({"WAN_POLL_INTERVAL": "0.05"})
    assert [next(fixed) for _ in range(3)] == [0.05, 0.05, 0.05]
    assert next(configured_delays({"WAN_POLL_INTERVAL": "soon"})) == 2.0
    assert next(configured_delays({})) == 2.0


class FakeClock:
    """A clock that only moves when the wait loop sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def statuses(*states: str) -> Iterator[TaskStatus]:
    for state in states:
        yield TaskStatus("t-1", state)


def test_wait_polls_until_a_final_state() -> None:
    clock = FakeClock()
    answers = statuses(PENDING, RUNNING, RUNNING, SUCCEEDED)
    seen: list[tuple[str, float]] = []
    final = wait_for_final(
        lambda: next(answers),
        timeout=None,
        delays=poll_delays(),
        on_poll=lambda status, elapsed: seen.append((status.state, elapsed)),
        sleep=clock.sleep,
        clock=clock,
    )
    assert final.state == SUCCEEDED
    assert clock.sleeps == [2.0, 3.0, 4.5]
    assert seen == [(PENDING, 0.0), (RUNNING, 2.0), (RUNNING, 5.0), (SUCCEEDED, 9.5)]


def test_wait_timeout_is_exit_6_with_the_resume_command() -> None:
    clock = FakeClock()
    with pytest.raises(ServiceUnavailable) as caught:
        wait_for_final(
            lambda: TaskStatus("t-7", RUNNING),
            timeout=6.0,
            delays=poll_delays(),
            sleep=clock.sleep,
            clock=clock,
        )
    # 2 + 3, then only the 1 s left: the last poll happens right at the deadline.
    assert clock.sleeps == [2.0, 3.0, 1.0]
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert "still RUNNING" in caught.value.message
    assert caught.value.hint is not None and "wan task wait t-7" in caught.value.hint


def test_wait_timeout_zero_polls_once() -> None:
    clock = FakeClock()
    with pytest.raises(ServiceUnavailable):
        wait_for_final(
            lambda: TaskStatus("t", PENDING),
            timeout=0,
            delays=poll_delays(),
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == []
    final = wait_for_final(
        lambda: TaskStatus("t", FAILED), timeout=0, delays=poll_delays(), sleep=clock.sleep
    )
    assert final.state == FAILED


# -- queries against the fake ------------------------------------------------------------------


@pytest.fixture
def api(fake_api: FakeAPI) -> TaskApi:
    return TaskApi(base_url=f"{fake_api.url}/api/v1", api_key=KEY, timeout=5, retries=2)


def test_fetch_task_sends_an_authorized_get(fake_api: FakeAPI, api: TaskApi) -> None:
    from wan_cli.api.client import make_api_client

    fake_api.add("/api/v1/tasks/t-1", Reply.json(task_doc(RUNNING)))
    with make_api_client(5) as client:
        status = fetch_task(api, client, "t-1")
    assert status.state == RUNNING
    [sent] = fake_api.requests
    assert (sent.method, sent.path, sent.body) == ("GET", "/api/v1/tasks/t-1", b"")
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_fetch_task_retries_transient_errors(fake_api: FakeAPI, api: TaskApi) -> None:
    from wan_cli.api.client import make_api_client

    fake_api.add(
        "/api/v1/tasks/t-1",
        Reply.json(
            {"code": "Throttling", "message": "slow"}, status=429, headers={"Retry-After": "0"}
        ),
        Reply.status(503, headers={"Retry-After": "0"}),
        Reply.json(task_doc(PENDING)),
    )
    retried: list[int] = []
    with make_api_client(5) as client:
        status = fetch_task(api, client, "t-1", on_retry=lambda n, delay, why: retried.append(n))
    assert status.state == PENDING
    assert retried == [1, 2]
    assert len(fake_api.requests) == 3


def test_fetch_task_404_is_unknown(fake_api: FakeAPI, api: TaskApi) -> None:
    from wan_cli.api.client import make_api_client

    with make_api_client(5) as client:
        status = fetch_task(api, client, "gone")
    assert status.state == UNKNOWN and status.task_id == "gone"


def test_fetch_task_auth_failure_is_raised(fake_api: FakeAPI, api: TaskApi) -> None:
    from wan_cli.api.client import make_api_client

    fake_api.add(
        "/api/v1/tasks/t-1",
        Reply.json({"code": "InvalidApiKey", "message": "Invalid API-key provided."}, status=401),
    )
    with make_api_client(5) as client, pytest.raises(AuthError):
        fetch_task(api, client, "t-1")


def test_fetch_task_unreadable_answer_is_unavailable(fake_api: FakeAPI, api: TaskApi) -> None:
    from wan_cli.api.client import make_api_client

    fake_api.add("/api/v1/tasks/t-1", Reply.status(200, b"<html>oops</html>"))
    with make_api_client(5) as client, pytest.raises(ServiceUnavailable):
        fetch_task(api, client, "t-1")


def test_cancel_refusal_is_rejected(fake_api: FakeAPI, api: TaskApi) -> None:
    from wan_cli.api.client import make_api_client

    refusal = {
        "request_id": "r",
        "code": "UnsupportedOperation",
        "message": "Failed to cancel the task, please confirm if the task is in PENDING status.",
    }
    fake_api.add("/api/v1/tasks/t-1/cancel", Reply.json(refusal, status=400))
    with make_api_client(5) as client, pytest.raises(ApiRejected):
        request_cancel(api, client, "t-1")
    [sent] = fake_api.requests
    assert (sent.method, sent.path) == ("POST", "/api/v1/tasks/t-1/cancel")
    assert sent.body == b""


# -- history --------------------------------------------------------------------------------


def test_remember_state_records_new_states_and_ends_an_awaited_task(tmp_path: Path) -> None:
    store = open_store(tmp_path / "history.db")
    assert store is not None
    run_id = store.record_start(
        command="generate",
        model="wan2.6-image",
        provider="dashscope",
        host="h",
        prompt="p",
        parameters={},
        references=[],
        output_dir=None,
    )
    store.record_task(run_id, "task-1", PENDING)

    def row() -> RunRow:
        found = store.find_task("task-1")
        assert found is not None
        return found

    remember_state(store, row(), TaskStatus("task-1", RUNNING))
    assert (row().status, row().task_status, row().finished) == ("task RUNNING", RUNNING, None)
    remember_state(store, None, TaskStatus("task-1", FAILED))  # not in history: nothing
    remember_state(None, row(), TaskStatus("task-1", FAILED))
    assert row().task_status == RUNNING

    failed = TaskStatus("task-1", FAILED, code="DataInspectionFailed", message="inappropriate")
    remember_state(store, row(), failed)
    ended = row()
    assert (ended.status, ended.exit_code, ended.task_status) == ("failed", 4, FAILED)
    assert ended.error == "task FAILED: DataInspectionFailed: inappropriate"
    assert not ended.awaiting_task


def test_remember_state_keeps_a_collected_row_as_it_ended(tmp_path: Path) -> None:
    store = open_store(tmp_path / "history.db")
    assert store is not None
    run_id = store.record_start(
        command="generate",
        model="m",
        provider="dashscope",
        host="h",
        prompt="p",
        parameters={},
        references=[],
        output_dir=None,
    )
    assert run_id is not None
    store.record_task(run_id, "task-1", SUCCEEDED)
    store.record_resume(run_id, output_dir=None)
    store.record_end(run_id, exit_code=0, error=None, usage=None, text="", request_id=None)
    collected = store.get_run(run_id)
    assert collected is not None
    # A day later the service has forgotten it: the last known state changes, the run does not.
    remember_state(store, collected, TaskStatus("task-1", UNKNOWN))
    after = store.get_run(run_id)
    assert after is not None
    assert (after.status, after.exit_code, after.task_status) == ("ok", 0, UNKNOWN)

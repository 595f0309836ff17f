"""End to end: `wan generate|edit --async` and `wan task …` against the loopback fake service."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli, RunWan, SpawnWan
from tests.fakeapi import FakeAPI, Reply, png_bytes
from wan_cli.files.provenance import sidecar_path

KEY = "sk-task-cli-secret-5678"
ENV = {"WAN_API_KEY": KEY, "WAN_POLL_INTERVAL": "0.01"}
SUBMIT = "/api/v1/services/aigc/image-generation/generation"
TASK = "task-0385dc79"
POLL = f"/api/v1/tasks/{TASK}"
CANCEL = f"{POLL}/cancel"


def base(fake: FakeAPI) -> str:
    return f"{fake.url}/api/v1"


def doc(state: str, task_id: str = TASK, **output: Any) -> dict[str, Any]:
    return {
        "request_id": f"req-{state.lower()}",
        "output": {"task_id": task_id, "task_status": state, **output},
    }


def succeeded(fake: FakeAPI, count: int = 1, task_id: str = TASK) -> Reply:
    urls = [fake.image_url(f"{task_id}-{i}.png", png_bytes(8, 8)) for i in range(count)]
    document = doc(
        "SUCCEEDED",
        task_id,
        choices=[
            {
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": [{"type": "image", "image": url}]},
            }
            for url in urls
        ],
        finished=True,
    )
    document["usage"] = {"image_count": count, "size": "1280*1280"}
    return Reply.json(document)


def submit(
    run_cli: RunCli, fake: FakeAPI, out: Path, *extra: str, prompt: str = "a lighthouse at dusk"
) -> Any:
    fake.add(SUBMIT, Reply.json(doc("PENDING")))
    return run_cli(
        [
            "generate",
            prompt,
            "--async",
            "--provider",
            "dashscope",
            "--base-url",
            base(fake),
            "-o",
            str(out),
            *extra,
        ],
        env=ENV,
    )


def task(run_cli: RunCli, fake: FakeAPI, *argv: str, env: dict[str, str] | None = None) -> Any:
    return run_cli(["task", *argv, "--base-url", base(fake)], env=env or ENV)


def images_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix == ".png")


def no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


# -- submitting ---------------------------------------------------------------------------------


def test_async_submit_prints_the_task_id_and_sends_an_async_request(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    result = submit(run_cli, fake_api, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{TASK}\n"
    assert f"wan task wait {TASK}" in result.stderr
    [sent] = fake_api.requests
    assert sent.path == SUBMIT
    assert sent.headers["x-dashscope-async"] == "enable"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert "x-dashscope-sse" not in sent.headers
    assert "stream" not in sent.json["parameters"]
    assert sent.json["input"]["messages"][0]["content"] == [{"text": "a lighthouse at dusk"}]
    assert images_in(tmp_path) == []
    no_key(result.stdout, result.stderr)


def test_async_submit_json_is_the_service_answer(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    result = submit(run_cli, fake_api, tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == doc("PENDING")


def test_async_edit_sends_its_references(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    ref = tmp_path / "room.png"
    ref.write_bytes(png_bytes(300, 300))
    fake_api.add(SUBMIT, Reply.json(doc("PENDING")))
    result = run_cli(
        [
            "edit",
            "make it snow",
            "-r",
            str(ref),
            "--async",
            "--provider",
            "dashscope",
            "--base-url",
            base(fake_api),
            "-n",
            "2",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.stderr
    [sent] = fake_api.requests
    content = sent.json["input"]["messages"][0]["content"]
    assert content[1]["image"].startswith("data:image/png;base64,")
    assert sent.json["parameters"]["n"] == 2


def test_async_on_the_gateway_is_refused_before_sending(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli(
        ["generate", "a fox", "--async", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)],
        env=ENV,
    )
    assert result.exit_code == 2
    assert "only DashScope" in result.stderr and "--provider dashscope" in result.stderr
    assert fake_api.requests == []


def test_async_dry_run_shows_the_async_request(fake_api: FakeAPI, run_cli: RunCli) -> None:
    result = run_cli(
        [
            "generate",
            "a fox",
            "--async",
            "--provider",
            "dashscope",
            "--base-url",
            base(fake_api),
            "--dry-run",
        ],
        env={"WAN_API_KEY": ""},
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["url"].endswith(SUBMIT)
    assert document["headers"]["X-DashScope-Async"] == "enable"
    assert fake_api.requests == []


def test_async_submit_refused_by_the_service(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(
        SUBMIT,
        Reply.json(
            {"code": "InvalidParameter", "message": "size is bad", "request_id": "r-9"}, status=400
        ),
    )
    result = run_cli(
        ["generate", "a fox", "--async", "--provider", "dashscope", "--base-url", base(fake_api)],
        env=ENV,
    )
    assert result.exit_code == 4
    assert "InvalidParameter: size is bad" in result.stderr
    assert result.stdout == ""


def test_a_task_answer_to_a_normal_request_says_how_to_collect_it(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add("/v1/images/generations", Reply.json(doc("PENDING", "t-42")))
    result = run_cli(
        ["generate", "a fox", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)], env=ENV
    )
    assert result.exit_code == 4
    assert "async task t-42" in result.stderr and "`wan task wait t-42`" in result.stderr
    assert "not supported" not in result.stderr


# -- the whole life of a task ---------------------------------------------------------------


def history_runs(run_cli: RunCli, *extra: str) -> list[dict[str, Any]]:
    result = run_cli(["history", "--json", *extra])
    assert result.exit_code == 0, result.stderr
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def test_submit_then_wait_through_pending_and_running_to_saved_images(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert submit(run_cli, fake_api, out, "--max-images", "2").exit_code == 0
    listed = run_cli(["task", "list"], env=ENV)
    assert listed.exit_code == 0
    assert listed.stdout.startswith(f"{TASK}  PENDING")
    assert "a lighthouse at dusk" in listed.stdout
    [run] = history_runs(run_cli)
    assert (run["task_id"], run["task_status"], run["status"]) == (TASK, "PENDING", "task PENDING")
    assert run["request_id"] == "req-pending" and "async" not in run["parameters"]

    # A query records the state it sees: pending on the service is not a failure.
    fake_api.add(POLL, Reply.json(doc("RUNNING")))
    assert task(run_cli, fake_api, "status", TASK).stdout == "RUNNING\n"
    assert run_cli(["task", "list"], env=ENV).stdout.startswith(f"{TASK}  RUNNING")
    assert history_runs(run_cli, "--failed") == []
    plain = run_cli(["history"])
    assert "task RUNNING" in plain.stdout and "unfinished" not in plain.stdout

    fake_api.add(POLL, succeeded(fake_api, 2))  # after one more RUNNING
    result = task(run_cli, fake_api, "wait", TASK)
    assert result.exit_code == 0, result.stderr
    # Saved where the task was submitted to be saved, named after its prompt.
    saved = [Path(line) for line in result.stdout.splitlines()]
    assert saved == images_in(out) and len(saved) == 2
    assert all(p.name.startswith("a-lighthouse-at-dusk-") for p in saved)
    assert saved[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sidecar = json.loads(sidecar_path(saved[0]).read_text())
    assert sidecar["prompt"] == "a lighthouse at dusk"
    assert "async" not in json.dumps(sidecar.get("parameters", {}))
    polls = fake_api.requests_to(POLL)
    assert len(polls) == 3  # status, then wait: RUNNING, SUCCEEDED
    assert all(p.method == "GET" and p.headers["authorization"] == f"Bearer {KEY}" for p in polls)
    for state in ("RUNNING", "SUCCEEDED"):
        assert state in result.stderr
    no_key(result.stdout, result.stderr)

    listed = run_cli(["task", "list", "--json"], env=ENV)
    [entry] = json.loads(listed.stdout)
    assert entry["task_id"] == TASK and entry["status"] == "SUCCEEDED"
    assert entry["history_status"] == "ok" and entry["saved"] == 2

    # One history row: the submission's, filled with the images.
    [run] = history_runs(run_cli)
    assert run["id"] == entry["history_id"]
    assert (run["task_id"], run["task_status"], run["status"]) == (TASK, "SUCCEEDED", "ok")
    assert run["exit_code"] == 0 and run["error"] is None
    assert run["prompt"] == "a lighthouse at dusk" and run["request_id"] == "req-succeeded"
    assert [image["path"] for image in run["images"]] == [str(path) for path in saved]
    assert run["output_dir"] == str(out.absolute())
    assert run["usage"] == {"image_count": 2, "size": "1280*1280"}
    assert history_runs(run_cli, "--failed") == []
    assert [r["id"] for r in history_runs(run_cli, "--search", TASK)] == [run["id"]]


def test_wait_json_is_a_normal_run_document(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(POLL, succeeded(fake_api))
    result = task(run_cli, fake_api, "wait", TASK, "-o", str(tmp_path), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 0
    assert document["request_id"] == "req-succeeded"
    [image] = document["images"]
    assert Path(image["path"]).exists() and image["error"] is None


def test_wait_for_a_task_not_in_history_still_saves(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(POLL, succeeded(fake_api))
    result = task(run_cli, fake_api, "wait", TASK, "-o", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    [saved] = images_in(tmp_path)
    assert saved.name.startswith("image-")
    assert "not in this machine's history" in result.stderr
    # It is in history now, as a task with its images.
    [run] = history_runs(run_cli)
    assert (run["task_id"], run["task_status"], run["status"]) == (TASK, "SUCCEEDED", "ok")
    assert [image["path"] for image in run["images"]] == [str(saved)]


def test_wait_again_after_a_failed_download_fills_the_same_row(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    assert submit(run_cli, fake_api, tmp_path).exit_code == 0
    # The image host fails the first download only (404: not retried).
    fake_api.add(f"/img/{TASK}-0.png", Reply.status(404))
    fake_api.add(POLL, succeeded(fake_api))
    first = task(run_cli, fake_api, "wait", TASK)
    assert first.exit_code == 7, first.stderr
    [run] = history_runs(run_cli, "--failed")
    assert (run["status"], run["task_status"]) == ("unsaved", "SUCCEEDED")

    again = task(run_cli, fake_api, "wait", TASK)
    assert again.exit_code == 0, again.stderr
    [run] = history_runs(run_cli)
    assert (run["status"], run["exit_code"], run["error"]) == ("ok", 0, None)
    assert [image["path"] for image in run["images"]] == again.stdout.splitlines()


def test_failed_with_moderation_code_is_exit_4(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    assert submit(run_cli, fake_api, tmp_path).exit_code == 0
    fake_api.add(
        POLL,
        Reply.json(doc("RUNNING")),
        Reply.json(
            doc(
                "FAILED",
                code="DataInspectionFailed",
                message="Input data may contain inappropriate content.",
            )
        ),
    )
    result = task(run_cli, fake_api, "wait", TASK, "--json")
    assert result.exit_code == 4
    assert f"task {TASK} failed: DataInspectionFailed" in result.stderr
    assert "moderation" in result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 4 and document["task_status"] == "FAILED"
    assert document["error"]["code"] == "DataInspectionFailed"
    assert images_in(tmp_path) == []

    status = task(run_cli, fake_api, "status", TASK)
    assert status.exit_code == 0 and status.stdout == "FAILED\n"
    listed = run_cli(["task", "list"], env=ENV)
    assert listed.stdout.startswith(f"{TASK}  FAILED")
    [run] = history_runs(run_cli, "--failed")
    assert (run["task_id"], run["task_status"], run["status"]) == (TASK, "FAILED", "failed")
    assert run["exit_code"] == 4 and run["error"].startswith("task FAILED: DataInspectionFailed")


def test_failed_with_internal_error_is_exit_6(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(POLL, Reply.json(doc("FAILED", code="InternalError", message="boom")))
    result = task(run_cli, fake_api, "wait", TASK)
    assert result.exit_code == 6
    assert "InternalError: boom" in result.stderr


def test_unknown_task_is_exit_4_expired_or_not_found(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(POLL, Reply.json(doc("UNKNOWN")))
    result = task(run_cli, fake_api, "wait", TASK)
    assert result.exit_code == 4
    assert "UNKNOWN" in result.stderr and "expired" in result.stderr
    status = task(run_cli, fake_api, "status", TASK)
    assert status.exit_code == 0 and status.stdout == "UNKNOWN\n"
    assert "expired" in status.stderr


def test_task_the_service_never_heard_of_404(fake_api: FakeAPI, run_cli: RunCli) -> None:
    result = task(run_cli, fake_api, "wait", "no-such-task")
    assert result.exit_code == 4
    assert "expired" in result.stderr


def test_wait_timeout_is_exit_6_and_says_how_to_resume(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(POLL, Reply.json(doc("RUNNING")))
    result = task(run_cli, fake_api, "wait", TASK, "--timeout", "0.05", "--json")
    assert result.exit_code == 6
    assert "still RUNNING" in result.stderr
    assert f"wan task wait {TASK}" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 6
    assert len(fake_api.requests_to(POLL)) >= 2


def test_polling_retries_transient_errors(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(
        POLL,
        Reply.json(doc("RUNNING")),
        Reply.status(503, headers={"Retry-After": "0"}),
        Reply.json(
            {"code": "Throttling", "message": "slow down"}, status=429, headers={"Retry-After": "0"}
        ),
        succeeded(fake_api),
    )
    result = task(run_cli, fake_api, "wait", TASK, "-o", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert len(images_in(tmp_path)) == 1
    assert "retrying" in result.stderr


def test_status_prints_the_state_or_the_document(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(POLL, Reply.json(doc("RUNNING")))
    result = task(run_cli, fake_api, "status", TASK)
    assert (result.exit_code, result.stdout) == (0, "RUNNING\n")
    assert f"wan task wait {TASK}" in result.stderr
    as_json = task(run_cli, fake_api, "status", TASK, "--json")
    assert json.loads(as_json.stdout) == doc("RUNNING")
    assert [r.method for r in fake_api.requests] == ["GET", "GET"]


@pytest.mark.regression(
    "`wan task` said 'provider dashscope (from --provider)' when no one gave it"
)
def test_task_messages_say_the_provider_comes_from_wan_task(
    fake_api: FakeAPI, run_cli: RunCli
) -> None:
    fake_api.add(POLL, Reply.json(doc("RUNNING")))
    env = {**ENV, "WAN_BASE_URL": base(fake_api)}  # no provider beside it; DashScope's path
    result = run_cli(["task", "status", TASK], env=env)
    assert (result.exit_code, result.stdout) == (0, "RUNNING\n"), result.stderr
    assert "used with provider dashscope (from wan task): it ends with /api/v1" in result.stderr
    assert "--provider" not in result.stderr


@pytest.mark.regression("task wait -o FILE polled (and waited) before refusing the folder")
def test_task_wait_into_a_file_is_refused_before_waiting(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(POLL, Reply.json(doc("PENDING")))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    result = run_cli(
        ["task", "wait", TASK, "-o", str(a_file), "--timeout", "0", "--base-url", base(fake_api)],
        env={**ENV, "WAN_RETRIES": "0"},
    )
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.stderr
    assert fake_api.requests_to(POLL) == []  # nothing polled


# -- cancelling ---------------------------------------------------------------------------------


def test_cancel_a_pending_task(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    assert submit(run_cli, fake_api, tmp_path).exit_code == 0
    fake_api.add(CANCEL, Reply.json({"request_id": "req-cancel"}))
    result = task(run_cli, fake_api, "cancel", TASK)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "CANCELED\n"
    [sent] = fake_api.requests_to(CANCEL)
    assert sent.method == "POST" and sent.headers["authorization"] == f"Bearer {KEY}"
    listed = run_cli(["task", "list"], env=ENV)
    assert listed.stdout.startswith(f"{TASK}  CANCELED")
    [run] = history_runs(run_cli, "--failed")
    assert (run["status"], run["exit_code"], run["task_status"]) == ("failed", 4, "CANCELED")
    # Waiting for it afterwards: canceled is exit 4.
    fake_api.add(POLL, Reply.json(doc("CANCELED")))
    waited = task(run_cli, fake_api, "wait", TASK)
    assert waited.exit_code == 4 and "canceled" in waited.stderr


def test_cancel_a_running_task_is_refused_with_the_reason(
    fake_api: FakeAPI, run_cli: RunCli
) -> None:
    fake_api.add(
        CANCEL,
        Reply.json(
            {
                "request_id": "req-x",
                "code": "UnsupportedOperation",
                "message": "Failed to cancel the task, please confirm if the task is in PENDING "
                "status.",
            },
            status=400,
        ),
    )
    fake_api.add(POLL, Reply.json(doc("RUNNING")))
    result = task(run_cli, fake_api, "cancel", TASK)
    assert result.exit_code == 4
    assert "is RUNNING: only PENDING tasks can be cancelled" in result.stderr
    assert f"wan task wait {TASK}" in result.stderr
    assert result.stdout == ""


def test_cancel_an_already_canceled_task_is_fine(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(CANCEL, Reply.json({"code": "UnsupportedOperation", "message": "no"}, status=400))
    fake_api.add(POLL, Reply.json(doc("CANCELED")))
    result = task(run_cli, fake_api, "cancel", TASK)
    assert result.exit_code == 0
    assert result.stdout == "CANCELED\n" and "already canceled" in result.stderr


def test_cancel_an_unknown_task(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(CANCEL, Reply.json({"code": "UnsupportedOperation", "message": "no"}, status=400))
    fake_api.add(POLL, Reply.json(doc("UNKNOWN")))
    result = task(run_cli, fake_api, "cancel", TASK)
    assert result.exit_code == 4 and "expired" in result.stderr


# -- bad input, no key, list ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "wait", "cancel"])
def test_a_bad_task_id_sends_nothing(fake_api: FakeAPI, run_cli: RunCli, command: str) -> None:
    result = task(run_cli, fake_api, command, "../../v1/images")
    assert result.exit_code == 2
    assert "invalid task id" in result.stderr
    assert fake_api.requests == []


def test_no_key_is_exit_3(fake_api: FakeAPI, run_cli: RunCli) -> None:
    result = task(run_cli, fake_api, "status", TASK, env={"WAN_POLL_INTERVAL": "0"})
    assert result.exit_code == 3
    assert fake_api.requests == []


def test_dashscope_key_variable_is_used_for_tasks(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(POLL, Reply.json(doc("PENDING")))
    result = task(run_cli, fake_api, "status", TASK, env={"DASHSCOPE_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    assert fake_api.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_list_without_history(run_cli: RunCli) -> None:
    result = run_cli(["task", "list"])
    assert result.exit_code == 0 and result.stdout == ""
    assert "no tasks" in result.stderr
    assert json.loads(run_cli(["task", "list", "--json"]).stdout) == []


def test_list_shows_only_tasks_newest_first(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(SUBMIT, Reply.json(doc("PENDING", "first")), Reply.json(doc("PENDING", "second")))
    for prompt in ("one", "two"):
        result = run_cli(
            [
                "generate",
                prompt,
                "--async",
                "--provider",
                "dashscope",
                "--base-url",
                base(fake_api),
                "-o",
                str(tmp_path),
            ],
            env=ENV,
        )
        assert result.exit_code == 0, result.stderr
    # a normal (not async) run is not a task
    url = fake_api.image_url("sync.png")
    fake_api.add("/v1/images/generations", Reply.json({"data": [{"url": url}]}))
    normal = run_cli(
        ["generate", "sync", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)], env=ENV
    )
    assert normal.exit_code == 0, normal.stderr
    listed = run_cli(["task", "list"], env=ENV)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["second", "first"]
    limited = run_cli(["task", "list", "-n", "1", "--json"], env=ENV)
    assert [entry["task_id"] for entry in json.loads(limited.stdout)] == ["second"]


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_during_wait_then_wait_again_completes(
    fake_api: FakeAPI, spawn_wan: SpawnWan, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(POLL, Reply.json(doc("RUNNING")))
    argv = ["task", "wait", TASK, "--base-url", base(fake_api), "-o", str(tmp_path)]
    process = spawn_wan(argv, env={**ENV, "WAN_POLL_INTERVAL": "0.2"})
    fake_api.wait_for_requests(1, timeout=20)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert f"task {TASK} keeps running on the service" in stderr
    assert f"wan task wait {TASK}" in stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    assert fake_api.requests_to(CANCEL) == []  # the task was left alone

    fake_api.add(POLL, succeeded(fake_api))
    again = run_wan_subprocess(argv, env=ENV)
    assert again.returncode == 0, again.stderr
    [saved] = images_in(tmp_path)
    assert again.stdout == f"{saved}\n"


@pytest.mark.regression("a task state or id with escape codes drove the terminal")
def test_a_task_state_with_terminal_escapes_is_printed_without_them(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    evil = "PEND\x1b]0;pwned\x07ING\x1b[2J\x9b31m"
    answer = {"request_id": "r", "output": {"task_id": "t-1\x1b[1m", "task_status": evil}}
    fake_api.add(SUBMIT, Reply.json(answer))
    fake_api.add("/api/v1/tasks/t-1", Reply.json(answer))
    at = ["--base-url", base(fake_api)]
    commands = [
        ["generate", "x", "--async", "--provider", "dashscope", "-o", str(tmp_path), *at],
        ["task", "status", "t-1", *at],
        ["task", "list"],
        ["history"],
        ["history", "show", "1"],
    ]
    for argv in commands:
        result = run_cli(argv, env={**ENV, "WAN_RETRIES": "0"})
        assert result.exit_code == 0, (argv, result.output)
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown, argv
        assert "PEND]0;PWNEDING[2J" in shown or argv[0] == "generate", argv

"""`wan mcp` end to end: the real `wan mcp` as a subprocess, driven by the MCP SDK's own stdio
client (`stdio_client` + `ClientSession`), against the loopback fake API or the offline mock;
plus the pieces on their own (budget, previews, progress, redaction) and the start-up rules
(only `wan mcp` imports the SDK; without it, one line and exit 2)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult, ImageContent, TextContent

from tests.conftest import WAN_BIN
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk

API = "/v1/images/generations"
KEY = "sk-test-secret-key-9876"

Scenario = Callable[[ClientSession], Awaitable[None]]


class Server:
    """How a test starts `wan mcp`: its arguments, environment and log file."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = tmp_path / "out"
        self.log = tmp_path / "server.log"
        self.args = ["mcp", "-o", str(self.out), *args]
        # The test's isolated environment (config, history, proxies), as a user's shell gives it.
        self.env = {**os.environ, "WAN_MOCK_DELAY": "0", **(env or {})}

    def run(self, scenario: Scenario) -> None:
        anyio.run(self._run, scenario)

    async def _run(self, scenario: Scenario) -> None:
        async with self.session() as session:
            await scenario(session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[ClientSession]:
        params = StdioServerParameters(command=str(WAN_BIN), args=self.args, env=self.env)
        with self.log.open("a", encoding="utf-8") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session

    def logged(self) -> str:
        return self.log.read_text(encoding="utf-8")


def fake_server(tmp_path: Path, fake: FakeAPI, *args: str) -> Server:
    env = {"WAN_BASE_URL": f"{fake.url}/v1", "WAN_API_KEY": KEY}
    return Server(tmp_path, *args, env=env)


class Progress:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))

    @property
    def messages(self) -> list[str]:
        return [message or "" for _, _, message in self.seen]


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def images_of(result: CallToolResult) -> list[ImageContent]:
    return [block for block in result.content if isinstance(block, ImageContent)]


def structured(result: CallToolResult) -> dict[str, Any]:
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def two_image_stream(fake: FakeAPI) -> Reply:
    return Reply.sse(
        [
            sse_chunk(text="A lighthouse "),
            sse_chunk(text="at dusk.\n"),
            sse_chunk(image=fake.image_url("a.png", png_bytes(64, 48))),
            sse_chunk(text="And at night."),
            sse_chunk(image=fake.image_url("b.png", png_bytes(32, 32)), finish="stop"),
        ]
    )


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


# -- the tools and their schemas ----------------------------------------------------------


def test_tools_are_listed_with_their_schemas(tmp_path: Path) -> None:
    listed: dict[str, Any] = {}

    async def scenario(session: ClientSession) -> None:
        result = await session.list_tools()
        listed.update({tool.name: tool for tool in result.tools})

    Server(tmp_path, "--provider", "mock").run(scenario)
    assert set(listed) == {
        "generate_image",
        "edit_image",
        "list_runs",
        "get_run",
        "save_run_images",
    }
    generate = listed["generate_image"].input_schema
    assert generate["required"] == ["prompt"]
    assert set(generate["properties"]) >= {"prompt", "size", "max_images", "reference"}
    max_images = generate["properties"]["max_images"]["anyOf"][0]
    assert (max_images["minimum"], max_images["maximum"]) == (1, 5)
    edit = listed["edit_image"].input_schema
    assert set(edit["required"]) == {"prompt", "references"}
    references = edit["properties"]["references"]
    assert (references["minItems"], references["maxItems"]) == (1, 4)
    n = edit["properties"]["n"]["anyOf"][0]
    assert (n["minimum"], n["maximum"]) == (1, 4)
    for name in ("get_run", "save_run_images"):
        schema = listed[name].input_schema
        assert schema["required"] == ["id"] and schema["properties"]["id"]["type"] == "integer"
    assert listed["list_runs"].annotations.read_only_hint is True
    assert listed["generate_image"].annotations.read_only_hint is False
    assert all(listed[name].description for name in listed)


# -- generate and edit against the fake service ---------------------------------------------


def test_generate_image_saves_files_with_previews_and_progress(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    fake_api.add(API, two_image_stream(fake_api))
    server = fake_server(tmp_path, fake_api)
    progress = Progress()
    results: list[CallToolResult] = []

    async def scenario(session: ClientSession) -> None:
        arguments = {"prompt": "a lighthouse", "max_images": 2, "size": "1280*720"}
        results.append(
            await session.call_tool("generate_image", arguments, progress_callback=progress)
        )

    server.run(scenario)
    [result] = results
    assert not result.is_error, text_of(result)
    facts = structured(result)
    paths = [Path(path) for path in facts["paths"]]
    assert len(paths) == 2 and all(path.parent == server.out and path.exists() for path in paths)
    assert facts["request_id"] == "req-1" and isinstance(facts["run_id"], int)
    assert facts["text"] == "A lighthouse at dusk.\nAnd at night."
    assert facts["usage"]["image_count"] == 2
    assert facts["images_spent"] == 2 and facts["session"] == {"limit": 10, "spent": 2, "left": 8}
    text = text_of(result)
    assert all(str(path) in text for path in paths)
    assert "A lighthouse at dusk." in text and "8 left" in text
    previews = images_of(result)
    assert len(previews) == 2 and all(image.mime_type == "image/jpeg" for image in previews)
    # Progress: numbered in order, as the text streamed and the images downloaded and saved.
    steps = [step for step, _, _ in progress.seen]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert any("writing" in message for message in progress.messages)
    assert any("image 1 received" in message for message in progress.messages)
    assert sum("saved:" in message for message in progress.messages) == 2
    [sent] = fake_api.requests_to(API)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["parameters"]["max_images"] == 2
    assert sent.json["parameters"]["size"] == "1280*720"
    log = server.logged()
    assert "lighthouse" in log and "saved image 1" in log
    assert_no_key(text, json.dumps(facts), log)


def test_edit_image_with_a_local_file_and_a_url(fake_api: FakeAPI, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(320, 240))
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(image=fake_api.image_url("e1.png")),
                sse_chunk(image=fake_api.image_url("e2.png"), finish="stop"),
            ]
        ),
    )
    second = fake_api.image_url("ref.png", png_bytes(256, 256))
    server = fake_server(tmp_path, fake_api)
    results: list[CallToolResult] = []
    progress = Progress()

    async def scenario(session: ClientSession) -> None:
        arguments = {"prompt": "make it snow", "references": [str(photo), second], "n": 2}
        results.append(await session.call_tool("edit_image", arguments, progress_callback=progress))

    server.run(scenario)
    [result] = results
    assert not result.is_error, text_of(result)
    facts = structured(result)
    assert len(facts["paths"]) == 2 and facts["images_spent"] == 2
    assert len(images_of(result)) == 2
    assert any("saved" in message for message in progress.messages)
    [sent] = fake_api.requests_to(API)
    assert sent.json["parameters"]["n"] == 2
    content = sent.json["input"]["messages"][0]["content"]
    assert content[0] == {"text": "make it snow"}
    assert content[1]["image"].startswith("data:image/png;base64,")  # the local file, inlined
    assert content[2]["image"] == second  # the URL, passed on


# -- errors come back as tool errors of the CLI's classes -------------------------------------


def _one_call(server: Server, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    results: list[CallToolResult] = []

    async def scenario(session: ClientSession) -> None:
        results.append(await session.call_tool(tool, arguments))

    server.run(scenario)
    return results[0]


def test_a_refused_key_is_an_auth_error(fake_api: FakeAPI, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.json(
            {"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r401"},
            status=401,
        ),
    )
    server = fake_server(tmp_path, fake_api)
    result = _one_call(server, "generate_image", {"prompt": "a lighthouse"})
    assert result.is_error
    error = structured(result)["error"]
    assert (error["kind"], error["exit_code"], error["class"]) == ("auth", 3, "AuthError")
    assert error["code"] == "InvalidApiKey" and error["request_id"] == "r401"
    text = text_of(result)
    assert text.startswith("auth error: InvalidApiKey") and "wan config set api-key" in text
    assert structured(result)["images_spent"] == 0
    assert structured(result)["session"]["left"] == 10
    assert len(fake_api.requests_to(API)) == 1  # never retried
    assert_no_key(text, json.dumps(structured(result)), server.logged())


def test_a_missing_key_is_an_auth_error_before_sending(tmp_path: Path) -> None:
    server = Server(tmp_path, env={"WAN_BASE_URL": "http://127.0.0.1:9/v1"})
    result = _one_call(server, "generate_image", {"prompt": "a lighthouse"})
    assert result.is_error
    assert structured(result)["error"]["kind"] == "auth"


def test_moderation_is_a_rejection(fake_api: FakeAPI, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.json(
            {
                "code": "DataInspectionFailed",
                "message": "Input data may contain inappropriate content.",
            },
            status=400,
        ),
    )
    result = _one_call(fake_server(tmp_path, fake_api), "generate_image", {"prompt": "x"})
    assert result.is_error
    facts = structured(result)
    error = facts["error"]
    assert (error["kind"], error["exit_code"], error["code"]) == (
        "rejected",
        4,
        "DataInspectionFailed",
    )
    assert "inappropriate content" in text_of(result)
    assert "moderation" in text_of(result) and "do not send it again unchanged" in text_of(result)
    assert facts["paths"] == [] and facts["images_spent"] == 0


def test_bad_arguments_are_usage_errors_and_nothing_is_sent(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    fake_api.add(API, two_image_stream(fake_api))
    results: list[CallToolResult] = []

    async def scenario(session: ClientSession) -> None:
        for tool, arguments in (
            ("generate_image", {"prompt": "a fox", "size": "banana"}),
            ("generate_image", {"prompt": "a fox", "max_images": 9}),  # the schema's limit
            ("edit_image", {"prompt": "snow", "references": [str(tmp_path / "missing.png")]}),
        ):
            results.append(await session.call_tool(tool, arguments))

    fake_server(tmp_path, fake_api).run(scenario)
    assert all(result.is_error for result in results)
    size, count, missing = results
    assert structured(size)["error"]["kind"] == "usage"
    assert "banana" in text_of(size)
    assert "max_images" in text_of(count)
    assert structured(missing)["error"]["kind"] == "usage"
    assert fake_api.requests_to(API) == []


def test_generated_but_unsaved_then_rescued(fake_api: FakeAPI, tmp_path: Path) -> None:
    fake_api.add("/img/late.png", Reply.status(404), Reply.bytes(png_bytes(16, 16), "image/png"))
    url = f"{fake_api.url}/img/late.png"
    fake_api.add(API, Reply.sse([sse_chunk(text="Here."), sse_chunk(image=url, finish="stop")]))
    results: list[CallToolResult] = []

    async def scenario(session: ClientSession) -> None:
        failed = await session.call_tool("generate_image", {"prompt": "a lighthouse"})
        results.append(failed)
        run_id = structured(failed)["run_id"]
        results.append(await session.call_tool("save_run_images", {"id": run_id}))
        results.append(await session.call_tool("get_run", {"id": run_id}))

    fake_server(tmp_path, fake_api).run(scenario)
    failed, rescued, shown = results
    assert failed.is_error
    facts = structured(failed)
    assert (facts["error"]["kind"], facts["error"]["exit_code"]) == ("unsaved", 7)
    assert facts["images_spent"] == 1  # billed, even though not saved
    assert url in text_of(failed) and "save_run_images" in text_of(failed)
    assert not rescued.is_error, text_of(rescued)
    [path] = structured(rescued)["paths"]
    assert Path(path).exists() and len(images_of(rescued)) == 1
    assert structured(shown)["run"]["images"][0]["path"] == path
    assert len(fake_api.requests_to(API)) == 1  # rescued from the link, not generated again


# -- the session's budget --------------------------------------------------------------------


def test_the_budget_refuses_a_call_before_anything_is_sent(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    one_image = Reply.sse([sse_chunk(image=fake_api.image_url("c.png"), finish="stop")])
    fake_api.add(API, two_image_stream(fake_api), one_image)
    results: list[CallToolResult] = []
    sent: list[int] = []

    async def scenario(session: ClientSession) -> None:
        for tool, arguments in (
            ("generate_image", {"prompt": "first", "max_images": 2}),
            ("generate_image", {"prompt": "second", "max_images": 2}),
            ("edit_image", {"prompt": "third", "references": ["https://x.test/a.png"], "n": 2}),
        ):
            results.append(await session.call_tool(tool, arguments))
            sent.append(len(fake_api.requests))
        # Within what is left: goes through, and uses the budget up.
        results.append(await session.call_tool("generate_image", {"prompt": "fourth"}))
        sent.append(len(fake_api.requests))
        results.append(await session.call_tool("generate_image", {"prompt": "fifth"}))
        sent.append(len(fake_api.requests))

    server = fake_server(tmp_path, fake_api, "--max-images", "3")
    server.run(scenario)
    first, second, third, fourth, fifth = results
    assert not first.is_error and structured(first)["session"]["left"] == 1
    for refused in (second, third):
        assert refused.is_error
        assert structured(refused)["error"]["kind"] == "usage"
        assert "refused before sending" in text_of(refused)
        assert "at most 1 image" in text_of(refused)
    assert sent[1] == sent[0] and sent[2] == sent[0]  # not one request, not one download
    assert not fourth.is_error and structured(fourth)["session"] == {
        "limit": 3,
        "spent": 3,
        "left": 0,
    }
    assert fifth.is_error and "used up" in text_of(fifth) and "--max-images" in text_of(fifth)
    assert sent[4] == sent[3]
    assert [
        json.loads(r.text)["input"]["messages"][0]["content"][0]["text"]
        for r in fake_api.requests_to(API)
    ] == ["first", "fourth"]


# -- history --------------------------------------------------------------------------------


def test_history_has_the_runs(fake_api: FakeAPI, tmp_path: Path) -> None:
    fake_api.add(API, two_image_stream(fake_api))
    results: dict[str, CallToolResult] = {}

    async def scenario(session: ClientSession) -> None:
        results["none"] = await session.call_tool("list_runs", {})
        results["made"] = await session.call_tool(
            "generate_image", {"prompt": "a lighthouse", "max_images": 2}
        )
        # Asks for 1, the answer holds 2: the extra one is listed, not saved, and billed.
        results["extra"] = await session.call_tool("generate_image", {"prompt": "a windmill"})
        results["all"] = await session.call_tool("list_runs", {})
        results["found"] = await session.call_tool("list_runs", {"search": "windmill"})
        run_id = structured(results["made"])["run_id"]
        results["run"] = await session.call_tool("get_run", {"id": run_id})
        results["missing"] = await session.call_tool("get_run", {"id": 999})

    fake_server(tmp_path, fake_api).run(scenario)
    assert not results["none"].is_error and structured(results["none"])["runs"] == []
    runs = structured(results["all"])["runs"]
    assert [run["prompt"] for run in runs] == ["a windmill", "a lighthouse"]
    made = structured(results["made"])
    [found] = structured(results["found"])["runs"]
    assert found["prompt"] == "a windmill" and found["id"] == made["run_id"] + 1
    assert found["status"] == "ok" and (found["images"], found["saved"]) == (2, 1)
    extra = structured(results["extra"])
    assert len(extra["paths"]) == 1 and extra["images"][1]["extra"] is True
    assert extra["images_spent"] == 2 and "1 more image than asked for" in text_of(results["extra"])
    assert runs[1]["paths"] == made["paths"]
    run = structured(results["run"])["run"]
    assert run["id"] == made["run_id"] and run["request_id"] == "req-1"
    assert run["text"] == "A lighthouse at dusk.\nAnd at night."
    assert [image["path"] for image in run["images"]] == made["paths"]
    assert "a lighthouse" in text_of(results["run"]) and len(images_of(results["run"])) == 2
    assert results["missing"].is_error and "no run 999" in text_of(results["missing"])


# -- cancelling a call ----------------------------------------------------------------------


def test_a_cancelled_call_stops_its_run_at_once(fake_api: FakeAPI, tmp_path: Path) -> None:
    stalled = Reply.sse(
        [sse_chunk(text="A lighthouse "), sse_chunk(image=fake_api.image_url(), finish="stop")],
        stall_after_events=1,
        stall=50,  # the answer goes silent: only aborting its socket ends the read
    )
    one_image = Reply.sse([sse_chunk(image=fake_api.image_url("b.png"), finish="stop")])
    fake_api.add(API, stalled, one_image)
    results: list[CallToolResult] = []

    async def scenario(session: ClientSession) -> None:
        writing = anyio.Event()

        async def progress(step: float, total: float | None, message: str | None) -> None:
            if message and "writing" in message:
                writing.set()

        async with anyio.create_task_group() as group:

            async def calling() -> None:
                await session.call_tool("generate_image", {"prompt": "a"}, None, progress)

            group.start_soon(calling)
            await writing.wait()
            group.cancel_scope.cancel()  # the client sends notifications/cancelled
        with anyio.fail_after(20):
            while True:  # the server ends the run's history row once the run has stopped
                listed = await session.call_tool("list_runs", {})
                if structured(listed)["runs"][0]["status"] != "running":
                    break
                await anyio.sleep(0.05)
        results.append(listed)
        results.append(await session.call_tool("generate_image", {"prompt": "b"}))

    fake_server(tmp_path, fake_api).run(scenario)
    listed, after = results
    [run] = structured(listed)["runs"]
    assert run["status"] == "interrupted" and run["prompt"] == "a"
    assert not after.is_error  # the server goes on serving
    assert structured(after)["session"]["spent"] == 1  # the cancelled run delivered nothing


# -- the mock provider, and stdout carrying protocol frames only ----------------------------


def test_stdout_carries_only_protocol_messages_with_the_mock(tmp_path: Path) -> None:
    """Raw JSON-RPC over the pipes: every line the server writes on stdout is a message."""
    server = Server(tmp_path, "--provider", "mock", "-v")
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "generate_image",
                "arguments": {"prompt": "a red fox", "max_images": 2},
                "_meta": {"progressToken": "p1"},
            },
        },
    ]
    with server.log.open("w", encoding="utf-8") as errlog:
        done = subprocess.run(
            [str(WAN_BIN), *server.args],
            input="".join(json.dumps(request) + "\n" for request in requests[:2]),
            stdout=subprocess.PIPE,
            stderr=errlog,
            text=True,
            env=server.env,
            timeout=30,
            check=False,
        )
    assert done.returncode == 0  # stdin closed: the server ends cleanly
    process = subprocess.Popen(
        [str(WAN_BIN), *server.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        for request in requests:
            process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        messages = []
        while True:
            line = process.stdout.readline()
            assert line, "stdout closed before the answer"
            message = json.loads(line)  # anything else on stdout would break the client
            assert message["jsonrpc"] == "2.0"
            messages.append(message)
            if message.get("id") == 2:
                break
        process.stdin.close()
        stderr = process.stderr.read() if process.stderr else ""
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    answer = messages[-1]["result"]
    assert answer["isError"] is False
    assert len(answer["structuredContent"]["paths"]) == 2
    assert answer["structuredContent"]["provider"] == "mock"
    kinds = [block["type"] for block in answer["content"]]
    assert kinds == ["text", "image", "image"]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert progress and all(m["params"]["progressToken"] == "p1" for m in progress)
    assert "serving on stdio" in stderr and "saved image 2" in stderr
    assert "debug:" in stderr  # -v: request details, on stderr


# -- start-up: only `wan mcp` loads the SDK; without it, one line ---------------------------


def test_other_commands_do_not_import_the_sdk() -> None:
    code = "import sys, wan_cli.cli.app; print('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "mcp" not in loaded and "wan_cli.mcp_server" not in loaded
    for args in (["--help"], ["mcp", "--help"], ["generate", "--help"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "wan_cli", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        imported = {
            line.rsplit("|", 1)[1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert not {"mcp", "mcp_types", "anyio", "pydantic", "wan_cli.mcp_server"} & imported


def test_without_the_sdk_one_line_with_the_install_command() -> None:
    code = (
        "import sys; sys.modules['mcp'] = None; sys.argv = ['wan', 'mcp'];"
        " from wan_cli.__main__ import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and "pip install 'wan-cli[mcp]'" in line


def test_an_unknown_profile_fails_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(WAN_BIN), "mcp", "--profile", "nope"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "nope" in done.stderr


# -- the pieces on their own ------------------------------------------------------------------


def test_budget_reserves_then_charges_what_was_delivered() -> None:
    from wan_cli.mcp_server.budget import Budget, BudgetExceeded

    budget = Budget(5)
    budget.reserve(3)
    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(3)  # 3 held by a call in flight
    assert "only 2 of this session's 5 remain, 3 held by calls in progress" in str(refused.value)
    assert refused.value.hint == "ask for at most 2 images (max_images or n)"
    assert refused.value.exit_code == 2
    budget.settle(3, 1)  # asked for up to 3, got 1
    state = budget.state()
    assert (state.spent, state.reserved, state.left) == (1, 0, 4)
    budget.reserve(4)
    budget.settle(4, 4)
    with pytest.raises(BudgetExceeded, match="used up"):
        budget.reserve(1)
    assert Budget(0).state().left == 0


def test_images_asked_and_delivered() -> None:
    from wan_cli.mcp_server.calls import images_asked, images_delivered

    assert images_asked({"parameters": {"max_images": 3}}) == 3
    assert images_asked({"parameters": {"n": 2}}) == 2
    assert images_asked({}) == 1
    assert images_delivered({"images": [{}, {}], "usage": {"image_count": 1}}) == 2
    assert images_delivered({"images": [{}], "usage": {"image_count": 3}}) == 3
    assert images_delivered({"images": [], "usage": None}) == 0


def test_previews_without_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wan_cli.mcp_server import images

    small = tmp_path / "small.png"
    small.write_bytes(png_bytes(8, 8))
    with_pillow = images.inline_image(small)
    assert isinstance(with_pillow, images.InlineImage) and with_pillow.mime == "image/jpeg"
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    raw = images.inline_image(small)
    assert isinstance(raw, images.InlineImage) and raw.mime == "image/png"
    assert base64.b64decode(raw.data) == small.read_bytes()
    monkeypatch.setattr(images, "MAX_RAW_BYTES", 10)
    note = images.inline_image(small)
    assert isinstance(note, str) and "too large" in note and "wan-cli[preview]" in note


def test_progress_view_reports_milestones_and_throttles_the_rest() -> None:
    from wan_cli.files.download import SavedImage
    from wan_cli.mcp_server.progress import ProgressView
    from wan_cli.ui.render import QuietView

    now = [0.0]
    reported: list[str] = []
    view = ProgressView(QuietView(), reported.append, interval=1.0, clock=lambda: now[0])
    view.text("Hello ")
    view.text("world")  # within the interval: not reported
    now[0] = 1.5
    view.text("!")
    view.image_found(0, "https://x.test/a.png")
    view.download_progress(0, 10, 100)
    view.download_progress(0, 50, 100)  # throttled
    view.download_progress(1, 5, None)  # another image: its own pace
    view.image_saved(SavedImage.failed(0, "https://x.test/a.png", "HTTP 404"))
    assert reported == [
        "the model is writing (6 characters so far)",
        "the model is writing (12 characters so far)",
        "image 1 received: downloading",
        "image 1: 10 B of 100 B downloaded",
        "image 2: 5 B downloaded",
        "image 1 not saved: HTTP 404",
    ]


def test_answers_never_carry_the_key() -> None:
    from wan_cli.errors import AuthError
    from wan_cli.mcp_server.results import error_answer, redacted

    answer = error_answer(AuthError(f"refused {KEY}", hint=f"not {KEY}"))
    clean = redacted(answer, [KEY, "short"])
    assert KEY not in clean.text and KEY not in json.dumps(clean.structured)
    assert "[redacted]" in clean.text and clean.is_error

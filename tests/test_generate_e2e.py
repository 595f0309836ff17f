"""End to end: the real CLI against the loopback fake API — every answer shape and failure."""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import RunCli, RunWan, SpawnWan, disk_full
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk, sse_error

API = "/v1/images/generations"
KEY = "sk-test-secret-key-9876"
ENV = {"WAN_API_KEY": KEY}
ANSI = re.compile(r"\x1b\[")


def args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a lighthouse", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def saved_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.endswith(".json"))


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


# -- answer shapes ------------------------------------------------------------------------
def test_sse_stream_saves_images_and_prints_paths(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    first = fake_api.image_url("a.png", png_bytes(8, 8))
    second = fake_api.image_url("b.png")
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="Here is "),
                sse_chunk(text="a lighthouse.\n"),
                sse_chunk(image=first),
                sse_chunk(text="And at night:"),
                sse_chunk(image=second, image_style="bare", finish="stop"),
            ]
        ),
    )
    result = run_cli(args(fake_api, tmp_path, "--max-images", "2"), env=ENV)
    assert result.exit_code == 0, result.stderr
    paths = result.stdout.splitlines()
    assert len(paths) == 2
    assert [Path(p) for p in paths] == saved_files(tmp_path)
    assert Path(paths[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(paths[0]).name.startswith("a-lighthouse-")
    [sent] = fake_api.requests_to(API)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["parameters"]["max_images"] == 2
    assert "lighthouse" in result.stderr and "And at night:" in result.stderr
    assert not ANSI.search(result.stderr)
    # the image host never sees the key
    for image_request in fake_api.requests_to("/img/a.png") + fake_api.requests_to("/img/b.png"):
        assert "authorization" not in image_request.headers
    assert_no_key(result.stdout, result.stderr)


def test_json_document_on_success(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    url = fake_api.image_url("a.png")
    fake_api.add(
        API,
        Reply.sse([sse_chunk(text="A lighthouse."), sse_chunk(image=url, finish="stop")]),
    )
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) >= {
        "request_id",
        "model",
        "provider",
        "prompt",
        "parameters",
        "text",
        "images",
        "usage",
        "elapsed_s",
        "exit_code",
    }
    assert document["request_id"] == "req-1"
    assert document["text"] == "A lighthouse."
    assert document["exit_code"] == 0
    [image] = document["images"]
    assert image["url"] == url and image["error"] is None
    saved = Path(image["path"])
    assert image["bytes"] == saved.stat().st_size
    assert len(image["sha256"]) == 64
    assert document["usage"]["total_tokens"] >= 28


def test_dashscope_json_with_one_choice_per_image(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    urls = [fake_api.image_url(f"{i}.png") for i in range(2)]
    body = {
        "output": {
            "choices": [
                {
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": [{"type": "image", "image": u}]},
                }
                for u in urls
            ],
            "finished": True,
        },
        "usage": {"image_count": 2, "size": "1280*1280", "input_tokens": 0},
        "request_id": "req-json",
    }
    fake_api.add(API, Reply.json(body))
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 300))
    out = tmp_path / "out"
    result = run_cli(
        [
            *("edit", "make it snow", "--ref", str(ref), "-n", "2"),
            *("--base-url", f"{fake_api.url}/v1", "-o", str(out)),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.stderr
    assert len(saved_files(out)) == 2
    assert fake_api.requests_to(API)[0].json["parameters"]["n"] == 2


def test_gateway_shape_with_links_in_text(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    typed = fake_api.image_url("typed.png")
    in_text = fake_api.image_url("md.png")
    body = {
        "output": [
            {
                "type": "message",
                "content": [
                    {"type": "text", "text": f"Done: ![lighthouse]({in_text})"},
                    {"type": "image", "text": typed},
                ],
            }
        ],
        "usage": {"total_tokens": 1500, "input_tokens": 500, "output_tokens": 1000},
        "request_id": "req_uuid_123456",
    }
    fake_api.add(API, Reply.json(body))
    result = run_cli(args(fake_api, tmp_path, "--json", "--max-images", "2"), env=ENV)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {image["url"] for image in document["images"]} == {typed, in_text}
    assert all(Path(image["path"]).exists() for image in document["images"])
    assert document["request_id"] == "req_uuid_123456"


def test_openai_shape_with_url_and_base64(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    url = fake_api.image_url("o.png")
    inline = png_bytes(5, 5)
    body = {
        "created": 1,
        "data": [{"url": url}, {"b64_json": base64.b64encode(inline).decode()}],
        "usage": {"total_tokens": 10},
    }
    fake_api.add(API, Reply.json(body))
    result = run_cli(args(fake_api, tmp_path, "--max-images", "2"), env=ENV)
    assert result.exit_code == 0, result.stderr
    files = [Path(p) for p in result.stdout.splitlines()]
    assert len(files) == 2
    assert files[1].read_bytes().startswith(inline[:16])


def _result_frame(content: dict[str, str], finish: str) -> str:
    choice = {"message": {"content": [content]}, "finish_reason": finish}
    document = {"output": {"choices": [choice]}, "request_id": "r-1"}
    return f"id:1\nevent:result\n:HTTP_STATUS/200\ndata:{json.dumps(document)}\n\n"


@pytest.mark.regression("a stream relabelled (or unlabelled) by a proxy lost its paid images")
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_a_stream_under_another_content_type_still_saves_its_images(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, content_type: str
) -> None:
    url = fake_api.image_url()
    body = _result_frame({"type": "text", "text": "A fox"}, "null") + _result_frame(
        {"type": "image", "image": url}, "stop"
    )
    fake_api.add(API, Reply.bytes(body.encode(), content_type=content_type))
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["text"] == "A fox" and document["request_id"] == "r-1"
    [image] = document["images"]
    assert image["url"] == url and Path(image["path"]).exists()


def test_async_task_answer_is_explained(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.json({"output": {"task_id": "t-42", "task_status": "PENDING"}, "request_id": "r"}),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 4
    assert "t-42" in result.stderr


# -- errors and retries -------------------------------------------------------------------
def test_401_is_an_auth_error(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.json(
            {"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r401"},
            status=401,
        ),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 3
    assert "InvalidApiKey" in result.stderr and "r401" in result.stderr
    assert len(fake_api.requests_to(API)) == 1  # never retried
    assert "Traceback" not in result.stderr
    assert_no_key(result.stdout, result.stderr)


def test_moderation_400_shows_code_and_message(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
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
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 4
    assert "DataInspectionFailed" in result.stderr
    assert "inappropriate content" in result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 4 and document["images"] == []
    assert document["error"]["code"] == "DataInspectionFailed"


def _ok_stream(fake: FakeAPI) -> Reply:
    return Reply.sse([sse_chunk(image=fake.image_url("ok.png"), finish="stop")])


def test_429_with_retry_after_then_success(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        Reply.json(
            {"code": "Throttling", "message": "slow"}, status=429, headers={"Retry-After": "0"}
        ),
        _ok_stream(fake_api),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert len(fake_api.requests_to(API)) == 2
    assert "retrying" in result.stderr


def test_429_forever_gives_up_after_bounded_attempts(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        Reply.json(
            {"code": "Throttling", "message": "slow"}, status=429, headers={"Retry-After": "0"}
        ),
    )
    result = run_cli(args(fake_api, tmp_path, "--retries", "3"), env=ENV)
    assert result.exit_code == 5
    assert len(fake_api.requests_to(API)) == 4


def test_quota_429_is_not_retried(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.json({"code": "Throttling.AllocationQuota", "message": "quota"}, status=429),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 5
    assert len(fake_api.requests_to(API)) == 1


def test_retry_after_too_long_fails_fast(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(
        API, Reply.json({"code": "Throttling"}, status=429, headers={"Retry-After": "3600"})
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 5
    assert len(fake_api.requests_to(API)) == 1
    assert "3600" in result.stderr


def test_500_then_success_with_backoff(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, Reply.json({"code": "InternalError", "message": "oops"}, status=500))
    fake_api.add(API, _ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert len(fake_api.requests_to(API)) == 2


def test_503_forever_is_unavailable(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.json(
            {"code": "ModelUnavailable", "message": "busy"},
            status=503,
            headers={"Retry-After": "0"},
        ),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 6
    assert len(fake_api.requests_to(API)) == 3  # default: 2 retries
    assert "ModelUnavailable" in result.stderr


@pytest.mark.parametrize(
    "reply",
    [
        Reply.bytes(b"<html><body><h1>403 Forbidden</h1></body></html>", "text/html", status=403),
        Reply.status(403),
    ],
    ids=["html", "empty"],
)
def test_a_bare_403_is_an_auth_error_and_never_retried(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, reply: Reply
) -> None:
    # A proxy or WAF in front of the API says 403 without the API's JSON (no code at all).
    fake_api.add(API, reply)
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 3, result.stderr
    assert len(fake_api.requests_to(API)) == 1
    assert "403" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 3
    assert_no_key(result.stdout, result.stderr)


@pytest.mark.parametrize(
    "reply",
    [
        Reply.status(500),
        Reply.status(502),
        Reply.bytes(b"<html><h1>502 Bad Gateway</h1></html>", "text/html", status=502),
    ],
    ids=["500-empty", "502-empty", "502-html"],
)
def test_a_bare_5xx_is_retried_then_unavailable(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, reply: Reply
) -> None:
    fake_api.add(API, reply)
    result = run_cli(args(fake_api, tmp_path, "--retries", "1"), env=ENV)
    assert result.exit_code == 6, result.stderr
    assert len(fake_api.requests_to(API)) == 2  # the first try and one retry
    assert "retrying" in result.stderr and "Traceback" not in result.stderr


def test_an_api_read_timeout_is_retried_then_succeeds(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # The first answer's headers never come in time; nothing was received, so sending again
    # cannot bill twice.
    fake_api.add(API, Reply.sse([sse_chunk(text="late")], delay=30), _ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path, "--timeout", "0.5", "--retries", "1"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert len(fake_api.requests_to(API)) == 2
    assert "retrying" in result.stderr
    assert len(saved_files(tmp_path)) == 1


def test_error_event_mid_stream(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="Drawing"),
                sse_error(
                    "DataInspectionFailed",
                    "Output data may contain inappropriate content.",
                    space=True,
                ),
            ]
        ),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 4
    assert "DataInspectionFailed" in result.stderr and "req-1" in result.stderr
    assert len(fake_api.requests_to(API)) == 1  # content was delivered: never re-sent


def test_cut_stream_keeps_the_images_already_received(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    url = fake_api.image_url("paid.png")
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(text="one"), sse_chunk(image=url), sse_chunk(text="more")],
            cut_after_events=3,
        ),
    )
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 6
    document = json.loads(result.stdout)
    [image] = document["images"]
    assert image["url"] == url and Path(image["path"]).exists()  # the paid image is kept
    assert len(fake_api.requests_to(API)) == 1


def test_invalid_json_answer(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, Reply.bytes(b"<html>gateway error</html>", content_type="application/json"))
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 6
    assert "not JSON" in result.stderr


def test_stall_past_timeout(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(text="slow"), sse_chunk(text="never")], stall_after_events=1, stall=10
        ),
    )
    result = run_cli(args(fake_api, tmp_path, "--timeout", "0.3", "--json"), env=ENV)
    assert result.exit_code == 6
    assert "timeout" in result.stderr
    assert json.loads(result.stdout)["text"] == "slow"


def test_no_api_key_is_exit_3_and_nothing_sent(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli(args(fake_api, tmp_path))
    assert result.exit_code == 3
    assert fake_api.requests == []


# -- downloads ----------------------------------------------------------------------------
def test_downloads_start_while_text_streams(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # Images are slow to serve and the stream stays open after them: if downloads waited for
    # the end of the stream, the server would never serve three requests at once.
    first = f"{fake_api.url}/img/1.png"
    second = f"{fake_api.url}/img/2.png"
    fake_api.add("/img/1.png", Reply.bytes(png_bytes(), delay=0.3))
    fake_api.add("/img/2.png", Reply.bytes(png_bytes(), delay=0.3))
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(image=first), sse_chunk(image=second), sse_chunk(text="end", finish="stop")],
            stall_after_events=2,
            stall=1.0,
        ),
    )
    result = run_cli(args(fake_api, tmp_path, "-m", "2"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert fake_api.max_concurrency >= 3
    assert len(saved_files(tmp_path)) == 2


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.status(404), "404"),
        (Reply.bytes(png_bytes(64, 64), cut_after_bytes=100), "cut short"),
        (Reply.bytes(b"<html>not found</html>", content_type="text/html"), "not an image"),
    ],
)
def test_failed_download_exit_7_keeps_url(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, reply: Reply, reason: str
) -> None:
    url = f"{fake_api.url}/img/bad.png"
    fake_api.add("/img/bad.png", reply)
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    result = run_cli(args(fake_api, tmp_path, "--retries", "0"), env=ENV)
    assert result.exit_code == 7
    assert result.stdout.strip() == url  # the paid result is not dropped
    assert url in result.stderr and "24 hours" in result.stderr
    assert reason in result.stderr.lower()
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize("answer", ["link", "inline"])
def test_a_full_disk_is_exit_7_with_the_link_and_no_temp_file(
    fake_api: FakeAPI,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
) -> None:
    disk_full(monkeypatch)  # every write to an image's temp file fails with ENOSPC
    image = png_bytes(64, 64) + bytes(200_000)
    url = f"{fake_api.url}/img/big.png"
    fake_api.add("/img/big.png", Reply.bytes(image))
    if answer == "link":
        fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    else:
        inline = {"data": [{"b64_json": base64.b64encode(image).decode()}], "request_id": "r"}
        fake_api.add(API, Reply.json(inline))
    out = tmp_path / "out"
    result = run_cli(args(fake_api, out, *(["--json"] if answer == "inline" else [])), env=ENV)
    assert result.exit_code == 7, result.stderr
    assert os.strerror(errno.ENOSPC) in result.stderr
    assert "Traceback" not in result.stderr
    if answer == "link":
        assert result.stdout == f"{url}\n"  # the paid link, to fetch once there is room
    else:
        document = json.loads(result.stdout)
        assert document["exit_code"] == 7 and document["images"][0]["path"] is None
    assert list(out.iterdir()) == []  # no .part left behind


def test_non_http_link_is_reported_not_fetched(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image="file:///etc/passwd", finish="stop")]))
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 7
    [image] = json.loads(result.stdout)["images"]
    assert image["url"] == "file:///etc/passwd" and image["path"] is None and image["error"]
    assert list(tmp_path.iterdir()) == []


def test_url_path_cannot_choose_the_location(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add("/img/evil.png", Reply.bytes(png_bytes()))
    url = f"{fake_api.url}/img/../../../../tmp/evil.png"
    fake_api.add("/tmp/evil.png", Reply.bytes(png_bytes()))
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    out = tmp_path / "out"
    result = run_cli(args(fake_api, out), env=ENV)
    assert result.exit_code == 0, result.stderr
    [saved] = [Path(p) for p in result.stdout.splitlines()]
    assert saved.parent == out and "evil" not in saved.name


def test_second_run_never_overwrites(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, _ok_stream(fake_api))
    first = run_cli(args(fake_api, tmp_path), env=ENV)
    second = run_cli(args(fake_api, tmp_path), env=ENV)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout != second.stdout
    assert len(saved_files(tmp_path)) == 2


@pytest.mark.regression("a Chinese prompt was saved as image-<time>-1.png")
@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_a_prompt_in_any_script_names_its_file(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path, locale: str
) -> None:
    """The real `wan`, even under the C locale (Python's UTF-8 mode keeps the name)."""
    fake_api.add(API, _ok_stream(fake_api))
    prompt = "一只红狐狸在雪地里"
    argv = ["generate", prompt, "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)]
    done = run_wan_subprocess(argv, env={**ENV, "LC_ALL": locale, "LANG": locale})
    assert done.returncode == 0, done.stderr
    [image] = saved_files(tmp_path)
    assert re.fullmatch(r"一只红狐狸在雪地里-\d{8}-\d{6}-1\.png", image.name), image.name
    assert done.stdout.strip() == str(image)
    assert json.loads(Path(f"{image}.json").read_text(encoding="utf-8"))["prompt"] == prompt


def test_provenance_sidecar_and_png_text(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    from wan_cli.files.provenance import read_png_text

    fake_api.add(API, _ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path, "--seed", "7"), env=ENV)
    assert result.exit_code == 0, result.stderr
    image = Path(result.stdout.strip())
    sidecar = json.loads(Path(f"{image}.json").read_text())
    assert sidecar["prompt"] == "a lighthouse"
    assert sidecar["request_id"] == "req-1"
    assert sidecar["parameters"]["seed"] == 7
    embedded = read_png_text(image)
    assert any("a lighthouse" in value for value in embedded.values())
    assert KEY not in image.read_bytes().decode("latin-1")

    plain = run_cli(args(fake_api, tmp_path / "plain", "--no-metadata"), env=ENV)
    assert plain.exit_code == 0
    assert [p.suffix for p in (tmp_path / "plain").iterdir()] == [".png"]


# -- Ctrl-C (a real process and a real signal) ---------------------------------------------
def test_ctrl_c_mid_stream(fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.sse([sse_chunk(text="one"), sse_chunk(text="two")], stall_after_events=1, stall=30),
    )
    process = spawn_wan(args(fake_api, tmp_path), env=ENV)
    fake_api.wait_events_sent(1, timeout=20)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "interrupted" in stderr
    assert "Traceback" not in stderr


# SIGTERM (a cancelled CI job) ends a run exactly like Ctrl-C.
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_mid_download_leaves_no_partial_file(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path, stop: signal.Signals
) -> None:
    big = png_bytes(64, 64) + b"\0" * 4_000_000
    fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=0.01))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    process = spawn_wan(args(fake_api, tmp_path, "--json"), env=ENV)
    fake_api.wait_bytes_sent("/img/big.png", 8192, timeout=20)
    process.send_signal(stop)
    stdout, _ = process.communicate(timeout=20)
    assert process.returncode == 130
    assert list(tmp_path.iterdir()) == []  # the temp file is gone
    document = json.loads(stdout)
    assert document["exit_code"] == 130 and document["images"][0]["url"] == url


@pytest.mark.regression("Ctrl-C waited for a stalled download thread's read timeout (minutes)")
@pytest.mark.parametrize("stalled", ["before the headers", "mid-body"])
def test_ctrl_c_during_a_stalled_download_ends_at_once(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path, stalled: str
) -> None:
    # Ctrl-C reaches only the main thread; a download thread blocked reading a silent image
    # host must still stop now, not when the read timeout runs out.
    big = png_bytes(64, 64) + b"\0" * 100_000
    if stalled == "before the headers":
        fake_api.add("/img/big.png", Reply.bytes(big, delay=60))
    else:
        fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=60))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    out = tmp_path / "out"
    process = spawn_wan(args(fake_api, out, "--json"), env=ENV)
    if stalled == "before the headers":
        fake_api.wait_for_requests(2, timeout=20)
    else:
        fake_api.wait_bytes_sent("/img/big.png", 4096, timeout=20)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == []  # no partial file
    document = json.loads(stdout)
    assert document["images"][0]["url"] == url


def test_a_redirect_is_not_followed_with_the_key(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.redirect(f"{fake_api.url}/elsewhere"))
    fake_api.add("/elsewhere", _ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 4
    assert "redirect" in result.stderr and "--base-url" in result.stderr
    assert fake_api.requests_to("/elsewhere") == []


def test_image_size_cap_is_configurable(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    big = png_bytes(64, 64) + b"\0" * (2 * 1024 * 1024)
    fake_api.add("/img/big.png", Reply.bytes(big))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    capped = run_cli(args(fake_api, tmp_path / "capped"), env={**ENV, "WAN_MAX_IMAGE_MB": "1"})
    assert capped.exit_code == 7
    assert capped.stdout.strip() == url
    roomy = run_cli(args(fake_api, tmp_path / "roomy"), env={**ENV, "WAN_MAX_IMAGE_MB": "3"})
    assert roomy.exit_code == 0, roomy.stderr


def test_a_closed_stdout_is_not_reported_as_a_bug(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path
) -> None:
    import os

    fake_api.add(API, _ok_stream(fake_api))
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads stdout
    process = spawn_wan(args(fake_api, tmp_path), env=ENV, stdout=write_end)
    os.close(write_end)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert len(saved_files(tmp_path)) == 1  # the image itself was saved


def test_provenance_holds_the_whole_answer_even_text_after_the_image(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    from wan_cli.files.provenance import read_png_text

    url = fake_api.image_url("p.png")
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="Before. "),
                sse_chunk(image=url),
                sse_chunk(text="After the image."),
                sse_chunk(text="", finish="stop"),
            ],
            stall_after_events=2,  # the image is downloaded before the rest of the text comes
            stall=0.3,
        ),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    image = Path(result.stdout.strip())
    sidecar = json.loads(Path(f"{image}.json").read_text())
    assert sidecar["text"] == "Before. After the image."
    assert sidecar["usage"]["output_tokens"] == 4  # the final, cumulative usage
    embedded = json.loads(read_png_text(image)["wan"])
    assert embedded["text"] == "Before. After the image."


@pytest.mark.parametrize("where", ["body", "header"])
def test_a_refused_request_keeps_its_request_id_in_json_and_history(
    where: str, fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    """stderr, --json and `wan history show` all give the request id support asks for."""
    body = {"code": "DataInspectionFailed", "message": "Input data may be inappropriate."}
    headers = {}
    if where == "body":
        body["request_id"] = "req-refused-1"
    else:
        headers["X-Request-Id"] = "req-refused-1"
    fake_api.add(API, Reply.json(body, status=400, headers=headers))
    result = run_cli(args(fake_api, tmp_path, "--json"), env=ENV)
    assert result.exit_code == 4
    assert "req-refused-1" in result.stderr
    document = json.loads(result.stdout)
    assert document["request_id"] == document["error"]["request_id"] == "req-refused-1"
    shown = run_cli(["history", "show", str(document["history_id"])])
    assert "req-refused-1" in shown.stdout

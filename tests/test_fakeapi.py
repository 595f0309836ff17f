"""The loopback fake API itself, exercised with httpx as the CLI will use it."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IsolatedEnv, RunCli, RunWan
from tests.fakeapi import (
    FakeAPI,
    Reply,
    SSEEvent,
    bmp_bytes,
    jpeg_bytes,
    png_bytes,
    sse_chunk,
    sse_error,
    webp_bytes,
)

GEN = "/v1/images/generations"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def test_json_reply_and_recording(fake_api: FakeAPI, client: httpx.Client) -> None:
    fake_api.add(GEN, Reply.json({"ok": True}, status=201, headers={"X-Request-Id": "r1"}))
    response = client.post(
        f"{fake_api.url}{GEN}?a=1", json={"model": "wan2.6-image"}, headers={"Authorization": "B k"}
    )
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "r1"
    [recorded] = fake_api.requests_to(GEN)
    assert (recorded.method, recorded.path, recorded.query) == ("POST", GEN, "a=1")
    assert recorded.json == {"model": "wan2.6-image"}
    assert recorded.body == b'{"model":"wan2.6-image"}'
    assert recorded.headers["Authorization"] == "B k"
    assert "authorization" in recorded.headers and "cookie" not in recorded.headers
    assert "authorization" in dict(recorded.headers)  # keys are lowercase
    assert recorded.time <= time.monotonic()


def test_unscripted_path_is_404_json(fake_api: FakeAPI, client: httpx.Client) -> None:
    response = client.get(f"{fake_api.url}/nowhere")
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"
    assert fake_api.requests[0].json is None


def test_queue_then_last_reply_repeats(fake_api: FakeAPI, client: httpx.Client) -> None:
    fake_api.add(GEN, Reply.status(429, headers={"Retry-After": "0"}), Reply.json({"n": 1}))
    fake_api.add(GEN, Reply.json({"n": 2}, status=503))
    codes = [client.post(f"{fake_api.url}{GEN}").status_code for _ in range(5)]
    assert codes == [429, 200, 503, 503, 503]
    assert len(fake_api.requests_to(GEN)) == 5
    # keep-alive: httpx reused one connection for all of them
    assert len({r.client_port for r in fake_api.requests}) == 1


def test_sse_framing(fake_api: FakeAPI, client: httpx.Client) -> None:
    fake_api.add(
        GEN,
        Reply.sse(
            [
                sse_chunk(text="A cat", request_id="rq"),
                sse_chunk(image="http://x/1.png", image_style="bare", request_id="rq"),
                "data:raw\n\n",
                sse_error("InternalError", "boom", space=True),
            ]
        ),
    )
    response = client.post(f"{fake_api.url}{GEN}")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    frames = response.text.split("\n\n")
    assert frames[0].split("\n")[:3] == ["id:1", "event:result", ":HTTP_STATUS/200"]
    first = json.loads(frames[0].split("\n")[3].removeprefix("data:"))
    second = json.loads(frames[1].split("\n")[3].removeprefix("data:"))
    assert frames[1].startswith("id:2\n")
    assert first["output"] == {
        "choices": [
            {
                "message": {"content": [{"type": "text", "text": "A cat"}], "role": "assistant"},
                "finish_reason": "null",
            }
        ],
        "finished": False,
    }
    assert first["request_id"] == "rq"
    assert second["output"]["choices"][0]["message"]["content"] == [{"image": "http://x/1.png"}]
    # usage is cumulative over the reply's chunks
    assert first["usage"]["output_tokens"] == 2 and first["usage"]["image_count"] == 0
    assert second["usage"]["output_tokens"] == 2 and second["usage"]["image_count"] == 1
    assert frames[2] == "data:raw"
    assert frames[3].startswith("event: error\ndata:")
    assert json.loads(frames[3].split("data:")[1])["code"] == "InternalError"
    assert frames[4] == ""
    # the stream ended with its terminating chunk, so the connection is reused
    assert client.post(f"{fake_api.url}{GEN}").status_code == 200
    assert len({r.client_port for r in fake_api.requests}) == 1


def test_sse_chunk_is_a_plain_string_too() -> None:
    chunk = sse_chunk(image="u", finish="stop", usage={"image_count": 1}, event_id="9")
    assert isinstance(chunk, str) and isinstance(chunk, SSEEvent)
    assert chunk.startswith("id:9\nevent:result\n:HTTP_STATUS/200\ndata:{")
    assert chunk.endswith("}\n\n")
    body = json.loads(chunk.split("data:", 1)[1])
    assert body["output"]["finished"] is True
    assert body["output"]["choices"][0]["finish_reason"] == "stop"
    assert body["output"]["choices"][0]["message"]["content"] == [{"type": "image", "image": "u"}]
    assert body["usage"] == {"image_count": 1}
    error = sse_error("Throttling", "slow", "r9", message_key="msg")
    assert (
        error == 'event:error\ndata:{"code": "Throttling", "msg": "slow", "request_id": "r9"}\n\n'
    )


def test_sse_line_endings_bom_and_dicts(fake_api: FakeAPI, client: httpx.Client) -> None:
    fake_api.add(
        GEN, Reply.sse([sse_chunk(text="a", event_id="7"), {"k": 1}], line_ending="\r\n", bom=True)
    )
    raw = client.post(f"{fake_api.url}{GEN}").content
    assert raw.startswith("\ufeffid:7\r\nevent:result\r\n".encode())
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.endswith(b'id:2\r\nevent:result\r\n:HTTP_STATUS/200\r\ndata:{"k": 1}\r\n\r\n')


def test_sse_cut_drops_connection_without_final_chunk(
    fake_api: FakeAPI, client: httpx.Client
) -> None:
    fake_api.add(GEN, Reply.sse([sse_chunk(text="a"), sse_chunk(text="b")], cut_after_events=1))
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", f"{fake_api.url}{GEN}") as response,
    ):
        for data in response.iter_bytes():
            received += data
    assert received.startswith(b"id:1\n") and b"id:2" not in received
    assert fake_api.events_sent == 1
    assert fake_api.errors == []


def test_sse_stall_times_out_the_client_and_stop_is_prompt(
    capfd: pytest.CaptureFixture[str],
) -> None:
    api = FakeAPI().start()
    api.add(
        GEN, Reply.sse([sse_chunk(text="a"), sse_chunk(text="b")], stall_after_events=1, stall=30)
    )
    with (
        httpx.Client(timeout=httpx.Timeout(0.3)) as c,
        pytest.raises(httpx.ReadTimeout),
        c.stream("POST", f"{api.url}{GEN}") as response,
    ):
        for _ in response.iter_bytes():
            pass
    api.add("/other", Reply.sse([sse_chunk(text="x")], stall_after_events=1, stall=30))
    stalled = threading.Thread(target=_swallow, args=(f"{api.url}/other",), daemon=True)
    stalled.start()
    api.wait_events_sent(2)
    started = time.monotonic()
    api.stop()  # one stall already abandoned by its client, one with the client still waiting
    assert time.monotonic() - started < 1.5
    stalled.join(timeout=2)
    assert not stalled.is_alive()
    assert api.errors == []
    assert "Traceback" not in capfd.readouterr().err


def _swallow(url: str) -> None:
    try:
        with httpx.Client(timeout=10) as c, c.stream("GET", url) as response:
            for _ in response.iter_bytes():
                pass
    except httpx.HTTPError:
        pass


def test_event_delay_and_wait_events_sent(fake_api: FakeAPI) -> None:
    events = [sse_chunk(text=str(i)) for i in range(3)]
    fake_api.add(GEN, Reply.sse(events, event_delay=0.1))
    thread = threading.Thread(target=_swallow, args=(f"{fake_api.url}{GEN}",))
    thread.start()
    fake_api.wait_events_sent(1)
    first = time.monotonic()
    fake_api.wait_events_sent(3)
    assert time.monotonic() - first >= 0.15  # two delays of 0.1 s
    thread.join(timeout=2)


def test_bytes_and_truncated_download(fake_api: FakeAPI, client: httpx.Client) -> None:
    data = bytes(range(256)) * 40
    fake_api.add("/img/full.png", Reply.bytes(data, chunk_size=1000))
    fake_api.add("/img/cut.png", Reply.bytes(data, cut_after_bytes=3000, chunk_size=1000))
    response = client.get(f"{fake_api.url}/img/full.png")
    assert response.content == data
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(data))
    fake_api.wait_bytes_sent("/img/full.png", len(data))  # counted just after each write
    assert fake_api.bytes_sent("/img/full.png") == len(data)
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("GET", f"{fake_api.url}/img/cut.png") as cut,
    ):
        assert cut.headers["content-length"] == str(len(data))
        for chunk in cut.iter_bytes():
            received += chunk
    assert received == data[:3000]
    fake_api.wait_bytes_sent("/img/cut.png", 3000)
    with pytest.raises(TimeoutError):
        fake_api.wait_bytes_sent("/img/cut.png", 3001, timeout=0.05)


def test_file_reply_streams_from_disk(
    fake_api: FakeAPI, client: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "big.webp"
    path.write_bytes(os.urandom(300_000))
    fake_api.add("/big", Reply.file(path, chunk_size=65536))
    response = client.get(f"{fake_api.url}/big")
    assert response.content == path.read_bytes()
    assert response.headers["content-type"] == "image/webp"


def test_image_url_redirect_and_status(fake_api: FakeAPI, client: httpx.Client) -> None:
    url = fake_api.image_url("a.png")
    assert url == f"{fake_api.url}/img/a.png"
    fake_api.add("/go", Reply.redirect("/img/a.png"))
    fake_api.add("/teapot", Reply.status(418, b"short and stout"))
    moved = client.get(f"{fake_api.url}/go")
    assert (moved.status_code, moved.headers["location"]) == (302, "/img/a.png")
    assert client.get(f"{fake_api.url}/go", follow_redirects=True).content == png_bytes()
    teapot = client.get(f"{fake_api.url}/teapot")
    assert (teapot.status_code, teapot.content) == (418, b"short and stout")
    # a wrong Content-Length is sent as asked
    fake_api.add("/liar", Reply.bytes(b"abc", content_length=10))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"{fake_api.url}/liar")


def test_concurrency_counter(fake_api: FakeAPI) -> None:
    fake_api.add(GEN, Reply.json({}, delay=0.3))
    threads = [threading.Thread(target=_swallow, args=(f"{fake_api.url}{GEN}",)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert fake_api.max_concurrency == 3


def test_wait_for_requests(fake_api: FakeAPI) -> None:
    fake_api.add(GEN, Reply.json({}))
    with pytest.raises(TimeoutError):
        fake_api.wait_for_requests(1, timeout=0.05)
    thread = threading.Thread(target=_swallow, args=(f"{fake_api.url}{GEN}",))
    thread.start()
    assert [r.path for r in fake_api.wait_for_requests(1)] == [GEN]
    thread.join(timeout=5)


def test_chunked_request_body_is_recorded(fake_api: FakeAPI, client: httpx.Client) -> None:
    client.post(f"{fake_api.url}/up", content=iter([b"ab", b"cd"]))
    assert fake_api.requests_to("/up")[0].body == b"abcd"


def test_png_is_decodable() -> None:
    data = png_bytes(5, 3)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = {}, 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        offset += 12 + length
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (5, 3)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 3 * (1 + 5 * 3)
    assert b"IEND" in chunks


def test_other_formats_carry_magic_and_dimensions() -> None:
    jpeg = jpeg_bytes(100, 60)
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    sof = jpeg.index(b"\xff\xc0")
    assert struct.unpack(">HH", jpeg[sof + 5 : sof + 9]) == (60, 100)  # height, width
    webp = webp_bytes(300, 200)
    assert webp[:4] == b"RIFF" and webp[8:16] == b"WEBPVP8 "
    assert struct.unpack("<I", webp[4:8])[0] == len(webp) - 8
    assert webp[23:26] == b"\x9d\x01\x2a"
    assert struct.unpack("<HH", webp[26:30]) == (300, 200)
    bmp = bmp_bytes(7, 9)
    assert bmp[:2] == b"BM" and struct.unpack("<I", bmp[2:6])[0] == len(bmp)
    assert struct.unpack("<ii", bmp[18:26]) == (7, 9)


# -- the other fixtures -------------------------------------------------------------------------
def test_environment_is_isolated(isolated_env: IsolatedEnv) -> None:
    assert os.environ["WAN_CONFIG"] == str(isolated_env.config)
    assert os.environ["WAN_HISTORY"] == str(isolated_env.history)
    assert "WAN_API_KEY" not in os.environ
    # the developer's proxies are replaced by a dead loopback one: nothing leaves the machine
    assert os.environ["HTTPS_PROXY"] == os.environ["HTTP_PROXY"] == "http://127.0.0.1:9"
    assert os.environ["NO_PROXY"] == "127.0.0.1,localhost"


def test_run_cli_separates_streams(run_cli: RunCli) -> None:
    result = run_cli(["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("wan ") and result.stderr == ""
    bad = run_cli(["--no-such-flag"])
    assert bad.exit_code == 2 and bad.stdout == "" and "no-such-flag" in bad.stderr


def test_run_wan_subprocess(run_wan_subprocess: RunWan) -> None:
    done = run_wan_subprocess(["--version"], env={"WAN_API_KEY": "sk-test"})
    assert done.returncode == 0 and done.stdout.startswith("wan ")


def test_client_leaving_mid_download_is_quiet(
    fake_api: FakeAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_api.add("/img/slow.png", Reply.bytes(b"x" * 50_000, chunk_size=1000, chunk_delay=0.005))
    with httpx.Client(timeout=5) as c, c.stream("GET", f"{fake_api.url}/img/slow.png") as response:
        next(response.iter_raw())
    fake_api.wait_idle()  # the server noticed the client had gone
    assert 1000 <= fake_api.bytes_sent("/img/slow.png") < 50_000
    fake_api.add(GEN, Reply.json({}))  # the server still answers afterwards
    assert httpx.post(f"{fake_api.url}{GEN}").status_code == 200
    assert fake_api.errors == []
    assert "Traceback" not in capfd.readouterr().err


def test_nothing_in_a_test_can_reach_past_loopback(run_cli: RunCli) -> None:
    result = run_cli(
        ["generate", "x", "--base-url", "https://example.com/v1", "--retries", "0"],
        env={"WAN_API_KEY": "sk-test-0123456789abcdef"},
    )
    assert result.exit_code == 6  # refused by the dead loopback proxy, at once
    assert "cannot reach" in result.stderr

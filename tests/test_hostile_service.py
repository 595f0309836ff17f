"""What comes FROM the service, when the service (or a proxy) misbehaves (issue 16): the key it
echoes never reaches the screen, `--json` or history; bodies are read with bounds on their
decompressed size; JSON nested absurdly deep is a service error (exit 6) that keeps what was
received; a password in the base URL is masked wherever a URL is shown; a key that cannot be
a header is refused before anything is recorded or sent. All end to end: the real CLI against
the loopback fake service."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import IsolatedEnv, RunCli
from tests.fakeapi import FakeAPI, Reply, gzip_bomb, sse_chunk
from wan_cli.api.intake import Redactor, ServiceAnswer
from wan_cli.errors import ServiceUnavailable

API = "/v1/images/generations"
TASK = "task-5a1e"
TASK_PATH = f"/api/v1/tasks/{TASK}"
MIB = 1 << 20

KEYS = {
    "sk": "sk-3f9a0c7e2b8d4f61a5c9e0b7d2f48a16",
    "tkh": "tkh_Q2x9fLm3Rt7vW1yZ5bN8pK4s",
    "b64": "Zk9+aW1/cGx=Ab+cD/eF+gH/iJ==",
}


def forms(key: str) -> set[str]:
    """The key and the encodings of it a service might echo."""
    return {key, quote(key, safe=""), quote(key), quote_plus(key), key.replace("/", "\\/")}


def history_bytes(env: IsolatedEnv) -> bytes:
    """The history database with its write-ahead log: everything written to disk."""
    files = sorted(env.root.glob(env.history.name + "*"))
    return b"".join(path.read_bytes() for path in files if path.is_file())


def generate(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a fox", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def statuses(env: IsolatedEnv) -> list[str]:
    with sqlite3.connect(env.history) as db:
        return [row[0] for row in db.execute("SELECT status FROM runs ORDER BY id")]


def html_page(key: str) -> bytes:
    page = f"<html><head><title>Denied: {key}</title></head><body>key={key}</body></html>"
    return page.encode()


# -- 1. the key is never shown when the service echoes it ------------------------------------

# Each place: script the fake to echo `key` there; the arguments after `generate ...`.
Place = Callable[[FakeAPI, str], list[str]]


def _text_401(fake: FakeAPI, key: str) -> list[str]:
    fake.add(API, Reply.status(401, f"invalid api key {key}\n".encode()))
    return []


def _html_401(fake: FakeAPI, key: str) -> list[str]:
    fake.add(API, Reply.bytes(html_page(key), content_type="text/html", status=401))
    return []


def _json_code(fake: FakeAPI, key: str) -> list[str]:
    fake.add(API, Reply.json({"code": key, "message": "refused", "request_id": key}, status=400))
    return []


def _location(fake: FakeAPI, key: str) -> list[str]:
    where = f"https://login.example/?key={quote(key, safe='')}&raw={key}&plus={quote_plus(key)}"
    fake.add(API, Reply.redirect(where))
    return []


def _request_id_header(fake: FakeAPI, key: str) -> list[str]:
    error = {"code": "InvalidApiKey", "message": "Invalid API-key provided."}
    fake.add(API, Reply.json(error, status=401, headers={"X-Request-Id": key}))
    return ["-v"]


def _url_encoded_message(fake: FakeAPI, key: str) -> list[str]:
    encoded = quote(key, safe="")
    message = f"bad header Authorization=Bearer%20{encoded} (as form: {quote_plus(key)})"
    fake.add(API, Reply.json({"code": "InvalidApiKey", "message": message}, status=401))
    return []


def _json_escaped(fake: FakeAPI, key: str) -> list[str]:
    escaped = key.replace("/", "\\/")  # as PHP's json_encode writes a "/"
    body = f'{{"code":"InvalidApiKey","message":"key {escaped} refused"}}'.encode()
    fake.add(API, Reply.bytes(body, content_type="application/json", status=401))
    return []


def _unreadable_event(fake: FakeAPI, key: str) -> list[str]:
    fake.add(API, Reply.sse([sse_chunk(text="Sure."), f"data:<echo {key}>\n\n"]))
    return []


def _not_json_200(fake: FakeAPI, key: str) -> list[str]:
    fake.add(API, Reply.bytes(f"debug: auth={key}".encode(), content_type="text/plain"))
    return []


def _gzip_error(fake: FakeAPI, key: str) -> list[str]:
    body = gzip_bomb(json.dumps({"code": "X", "message": f"{key} refused"}).encode(), 0)
    fake.add(
        API,
        Reply.bytes(body, "application/json", status=403, headers={"Content-Encoding": "gzip"}),
    )
    return []


def _stream_text_and_link(fake: FakeAPI, key: str) -> list[str]:
    image = fake.image_url("a.png") + f"?token={quote(key, safe='')}&k={key}"
    fake.add(
        API,
        Reply.sse(
            [
                sse_chunk(text=f"You sent the key {key} ", request_id=key),
                sse_chunk(text=f"({quote(key, safe='')}).", request_id=key),
                sse_chunk(image=image, finish="stop", request_id=key),
            ]
        ),
    )
    return []


PLACES: dict[str, Place] = {
    "401-text": _text_401,
    "401-html": _html_401,
    "json-code": _json_code,
    "redirect-location": _location,
    "x-request-id": _request_id_header,
    "url-encoded-message": _url_encoded_message,
    "json-escaped": _json_escaped,
    "unreadable-event": _unreadable_event,
    "not-json-200": _not_json_200,
    "gzip-error": _gzip_error,
    "stream-text-and-link": _stream_text_and_link,
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("style", sorted(KEYS))
def test_an_echoed_key_is_never_shown_or_recorded(
    fake_api: FakeAPI,
    run_cli: RunCli,
    isolated_env: IsolatedEnv,
    tmp_path: Path,
    style: str,
    place: str,
) -> None:
    key = KEYS[style]
    extra = PLACES[place](fake_api, key)
    result = run_cli(
        generate(fake_api, tmp_path, "--json", "--retries", "0", *extra),
        env={"WAN_API_KEY": key},
    )
    [sent] = fake_api.requests_to(API)
    assert sent.headers["authorization"] == f"Bearer {key}"  # it was sent, and echoed
    document = json.loads(result.stdout)  # --json: always one document
    assert document["exit_code"] == result.exit_code
    stored = history_bytes(isolated_env)
    assert stored, "the run was recorded"
    for form in forms(key):
        assert form not in result.stdout
        assert form not in result.stderr
        assert form.encode() not in stored
    if place == "stream-text-and-link":
        assert result.exit_code == 0, result.stderr
        assert document["text"] == "You sent the key *** (***)."
        assert document["request_id"] == "***"
    else:
        assert result.exit_code != 0
        assert "***" in result.stderr or place in ("401-html", "gzip-error")


@pytest.mark.parametrize("style", sorted(KEYS))
def test_a_task_status_echoing_the_key_is_redacted(
    fake_api: FakeAPI, run_cli: RunCli, style: str
) -> None:
    key = KEYS[style]
    failed = {
        "request_id": key,
        "output": {"task_id": TASK, "task_status": "FAILED", "code": key, "message": f"k={key}"},
    }
    fake_api.add(TASK_PATH, Reply.json(failed, headers={"X-Request-Id": key}))
    for extra in ([], ["--json"]):
        result = run_cli(
            ["task", "status", TASK, "--base-url", f"{fake_api.url}/api/v1", "-v", *extra],
            env={"WAN_API_KEY": key},
        )
        assert result.exit_code == 0, result.stderr
        assert "FAILED" in result.stdout
        for form in forms(key):
            assert form not in result.stdout + result.stderr


def test_a_short_test_key_is_not_masked_out_of_answers(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    """Keys shorter than 8 characters are not real: masking them would mangle every answer."""
    image = fake_api.image_url("a.png")
    fake_api.add(API, Reply.sse([sse_chunk(text="a kite"), sse_chunk(image=image, finish="stop")]))
    result = run_cli(generate(fake_api, tmp_path, "--json"), env={"WAN_API_KEY": "k"})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "a kite"


# -- 2. bounded reads ---------------------------------------------------------------------------


def assert_quick(started: float, limit: float = 20.0) -> None:
    assert time.monotonic() - started < limit


def image_chunk(fake: FakeAPI) -> bytes:
    """A stream's first event: one image (served by the fake), then whatever misbehaves."""
    return str(sse_chunk(text="Here it is.", image=fake.image_url("first.png"))).encode()


def test_a_gzip_bomb_as_the_json_answer_stops_at_the_bound(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    bomb = gzip_bomb(b'{"output": {"choices": [], "pad": "', 512 * MIB)
    assert len(bomb) < MIB
    headers = {"Content-Encoding": "gzip"}
    fake_api.add(API, Reply.bytes(bomb, "application/json", headers=headers))
    started = time.monotonic()
    result = run_cli(generate(fake_api, tmp_path, "--json"), env={"WAN_API_KEY": KEYS["sk"]})
    assert_quick(started)
    assert result.exit_code == 6, result.stderr
    assert "larger than 32 MiB" in result.stderr
    document = json.loads(result.stdout)
    assert document["error"]["code"] == "AnswerTooLarge"
    assert statuses(isolated_env) == ["failed"]
    [sent] = fake_api.requests_to(API)
    assert sent.headers["accept-encoding"] == "gzip, deflate"


def test_a_gzip_bomb_as_an_error_body_gives_a_bounded_message(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    bomb = gzip_bomb(b"unauthorized: ", 512 * MIB, fill=b"A")
    fake_api.add(
        API, Reply.bytes(bomb, "text/plain", status=401, headers={"Content-Encoding": "gzip"})
    )
    started = time.monotonic()
    result = run_cli(generate(fake_api, tmp_path), env={"WAN_API_KEY": KEYS["sk"]})
    assert_quick(started)
    assert result.exit_code == 3
    assert "HTTP 401 Unauthorized: unauthorized: AAA" in result.stderr
    assert len(result.stderr) < 2000


def test_a_gzip_bomb_in_a_stream_keeps_the_image_received_before_it(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    bomb = gzip_bomb(image_chunk(fake_api) + b"data:", 512 * MIB)
    fake_api.add(
        API,
        Reply.bytes(bomb, "text/event-stream", headers={"Content-Encoding": "gzip"}),
    )
    started = time.monotonic()
    result = run_cli(generate(fake_api, tmp_path, "--json"), env={"WAN_API_KEY": KEYS["sk"]})
    assert_quick(started)
    assert result.exit_code == 6, result.stderr
    assert "one stream event larger than 32 MiB" in result.stderr
    document = json.loads(result.stdout)
    [image] = document["images"]
    assert image["url"].endswith("/img/first.png") and Path(image["path"]).is_file()
    assert document["text"] == "Here it is."
    assert statuses(isolated_env) == ["failed"]


def test_an_endless_stream_of_text_ends_with_exit_6_and_keeps_the_image(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    fake_api.add(
        API, Reply.endless(image_chunk(fake_api), str(sse_chunk(text="la " * 3000)).encode())
    )
    started = time.monotonic()
    result = run_cli(generate(fake_api, tmp_path), env={"WAN_API_KEY": KEYS["sk"]})
    assert_quick(started)
    assert result.exit_code == 6, result.stderr
    assert "the answer's text passed 1,048,576 characters" in result.stderr
    [path] = result.stdout.splitlines()
    assert Path(path).is_file()
    assert statuses(isolated_env) == ["failed"]
    with sqlite3.connect(isolated_env.history) as db:
        [(text,)] = db.execute("SELECT text FROM runs")
    assert len(text) <= 1 << 20


def test_one_endless_line_ends_with_exit_6_and_keeps_the_image(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.endless(image_chunk(fake_api) + b"data:", b"x" * 65536))
    started = time.monotonic()
    result = run_cli(generate(fake_api, tmp_path), env={"WAN_API_KEY": KEYS["sk"]})
    assert_quick(started)
    assert result.exit_code == 6, result.stderr
    assert "one stream event larger than 32 MiB" in result.stderr
    [path] = result.stdout.splitlines()
    assert Path(path).is_file()


def test_an_endless_stream_of_heartbeats_ends_at_the_stream_bound(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    heartbeat = b":" + b" " * 65000 + b"\n\n"  # comments: nothing to show, nothing to keep
    fake_api.add(API, Reply.endless(image_chunk(fake_api), heartbeat))
    started = time.monotonic()
    result = run_cli(generate(fake_api, tmp_path), env={"WAN_API_KEY": KEYS["sk"]})
    assert_quick(started, 60)
    assert result.exit_code == 6, result.stderr
    assert "a stream larger than 256 MiB" in result.stderr
    assert len(result.stdout.splitlines()) == 1


# -- 3. JSON nested absurdly deep ---------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_deep_json_answer_is_a_service_error(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.bytes(DEEP.encode(), "application/json"))
    result = run_cli(generate(fake_api, tmp_path, "--json"), env={"WAN_API_KEY": KEYS["sk"]})
    assert result.exit_code == 6, result.stderr
    assert "nested more than 100 levels deep" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 6
    assert statuses(isolated_env) == ["failed"]


def test_a_deep_error_body_is_a_service_error(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.bytes(DEEP.encode(), "application/json", status=500))
    result = run_cli(generate(fake_api, tmp_path, "--retries", "0"), env={"WAN_API_KEY": "sk-x"})
    assert result.exit_code == 6, result.stderr
    assert "HTTP 500 Internal Server Error: the body is JSON nested more than 100" in result.stderr


@pytest.mark.parametrize("depth", [100_000, 900])
def test_a_deep_stream_event_keeps_the_image_before_it(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path, depth: int
) -> None:
    # 900 deep decodes, but would break history and --json when re-encoded as the usage.
    deep = '{"usage": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    fake_api.add(API, Reply.endless(image_chunk(fake_api) + f"data:{deep}\n\n".encode(), b"\n"))
    result = run_cli(generate(fake_api, tmp_path, "--json"), env={"WAN_API_KEY": KEYS["sk"]})
    assert result.exit_code == 6, result.stderr
    assert "unreadable data in the stream: JSON nested more than 100" in result.stderr
    document = json.loads(result.stdout)
    [image] = document["images"]
    assert Path(image["path"]).is_file()
    assert statuses(isolated_env) == ["failed"]


def test_a_deep_task_status_is_a_service_error(fake_api: FakeAPI, run_cli: RunCli) -> None:
    fake_api.add(TASK_PATH, Reply.bytes(DEEP.encode(), "application/json"))
    result = run_cli(
        ["task", "status", TASK, "--base-url", f"{fake_api.url}/api/v1"],
        env={"WAN_API_KEY": KEYS["sk"]},
    )
    assert result.exit_code == 6, result.stderr
    assert "the task answer is unreadable: JSON nested more than 100" in result.stderr


# -- 4. a password in the base URL --------------------------------------------------------------


def test_a_password_in_the_base_url_is_masked_wherever_a_url_is_shown(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    image = fake_api.image_url("a.png")
    fake_api.add(API, Reply.sse([sse_chunk(image=image, finish="stop")]))
    base = f"http://robin:hunter2pass@127.0.0.1:{fake_api.port}/v1"
    env = {"WAN_API_KEY": KEYS["sk"]}
    for extra in (["--dry-run"], ["--curl"], ["-v"]):
        args = ["generate", "a fox", "--base-url", base, "-o", str(tmp_path), *extra]
        result = run_cli(args, env=env)
        assert result.exit_code == 0, result.stderr
        shown = result.stdout + result.stderr
        assert "hunter2pass" not in shown
        assert f"***@127.0.0.1:{fake_api.port}/v1" in shown


# -- 5. a key that cannot be a header -----------------------------------------------------------


@pytest.mark.parametrize("key", ["sk-caf\u00e9-0123456789", "sk-\u5bc6\u94a5abcdef0123"])
def test_a_key_that_cannot_be_a_header_is_refused_before_anything_is_recorded(
    fake_api: FakeAPI, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path, key: str
) -> None:
    for args in (
        generate(fake_api, tmp_path),
        ["task", "status", TASK, "--base-url", f"{fake_api.url}/api/v1"],
    ):
        result = run_cli(args, env={"WAN_API_KEY": key})
        assert result.exit_code == 2, result.stderr
        assert "the API key contains a non-ASCII character" in result.stderr
        assert key not in result.stderr and key not in result.stdout
        assert "internal error" not in result.stderr
    assert fake_api.requests == []
    assert not isolated_env.history.exists() or statuses(isolated_env) == []


# -- the intake on its own: chunk boundaries and encodings --------------------------------------


def _answer(chunks: Iterable[bytes], key: str, encoding: str | None = None) -> ServiceAnswer:
    import httpx

    class Chunks(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

    headers = {"content-type": "text/event-stream"}
    if encoding:
        headers["content-encoding"] = encoding
    return ServiceAnswer(httpx.Response(200, headers=headers, stream=Chunks()), Redactor(key))


@pytest.mark.parametrize("style", sorted(KEYS))
def test_a_key_split_between_two_chunks_is_still_redacted(style: str) -> None:
    key = KEYS[style]
    for form in sorted(forms(key)):
        body = f'data:{{"echo":"{form}"}}\n\n'.encode()
        for cut in range(1, len(body)):
            joined = b"".join(_answer([body[:cut], body[cut:]], key).stream())
            assert joined == b'data:{"echo":"***"}\n\n', (form, cut)


def test_a_chunk_ending_an_event_is_passed_on_at_once() -> None:
    """Only the end of a chunk that could begin the key waits for the next chunk."""
    asked: list[int] = []

    def pieces() -> Iterator[bytes]:
        for number, piece in enumerate([b"data:{}\n\n", b"data:s", b"k-1\n\n"]):
            asked.append(number)
            yield piece

    stream = _answer(pieces(), KEYS["sk"]).stream()
    assert next(stream) == b"data:{}\n\n"
    assert asked == [0]  # given on before the next chunk was read
    assert next(stream) == b"data:"  # "s" could begin "sk-3f9a…": held
    assert list(stream) == [b"sk-1\n\n"]


@pytest.mark.parametrize("kind", ["gzip", "deflate-zlib", "deflate-raw"])
def test_every_encoding_we_ask_for_is_inflated(kind: str) -> None:
    import zlib

    body = b"data:" + b"x" * 300_000 + b"\n\n"
    wbits = {"gzip": 31, "deflate-zlib": 15, "deflate-raw": -15}[kind]
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(body) + packer.flush()
    chunks = [packed[i : i + 1000] for i in range(0, len(packed), 1000)]
    answer = _answer(chunks, KEYS["sk"], kind.split("-")[0])
    assert b"".join(answer.stream()) == body


def test_an_encoding_we_did_not_ask_for_or_corrupt_data_is_a_service_error() -> None:
    with pytest.raises(ServiceUnavailable, match="encoded as 'br'"):
        _answer([b"xx"], KEYS["sk"], "br").read()
    with pytest.raises(ServiceUnavailable, match="compressed data is corrupt"):
        _answer([b"\x1f\x8b\x08\x00garbage-garbage"], KEYS["sk"], "gzip").read()
    with pytest.raises(ServiceUnavailable, match="larger than 1 MiB"):
        _answer([b"x" * (MIB + 1)], KEYS["sk"]).read(MIB)
    assert _answer([b"x" * (MIB + 1)], KEYS["sk"]).read(MIB, cut=True) == b"x" * MIB

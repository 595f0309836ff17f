"""`wan batch` end to end: the real CLI against the loopback fake API.

Most replies are OpenAI-shaped JSON with the image inline (b64_json), so the only requests the
fake serves are API requests and `fake_api.max_concurrency` counts exactly those.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IsolatedEnv, RunCli, RunWan, SpawnWan
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from wan_cli.batch.manifest import MANIFEST_NAME

API = "/v1/images/generations"
KEY = "sk-test-batch-secret-4242"
ENV = {"WAN_API_KEY": KEY}


def inline(delay: float = 0.0, request_id: str = "req-b") -> Reply:
    body = {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(png_bytes()).decode()}],
        "usage": {"total_tokens": 1},
        "request_id": request_id,
    }
    return Reply.json(body, delay=delay)


def rejected() -> Reply:
    return Reply.json({"code": "InvalidParameter", "message": "bad prompt"}, status=400)


def throttled(retry_after: str = "0") -> Reply:
    return Reply.json(
        {"code": "Throttling", "message": "slow down"},
        status=429,
        headers={"Retry-After": retry_after},
    )


def prompts_file(tmp_path: Path, prompts: list[str], name: str = "prompts.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    return path


def batch_args(fake: FakeAPI, source: Path | str, out: Path, *extra: str) -> list[str]:
    return ["batch", str(source), "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def sent_prompts(fake: FakeAPI) -> list[str]:
    return [r.json["input"]["messages"][0]["content"][0]["text"] for r in fake.requests_to(API)]


def manifest(out: Path) -> dict[str, dict[str, Any]]:
    """The last record per key, as `read_manifest` sees it, but as raw JSON."""
    records: dict[str, dict[str, Any]] = {}
    for line in (out / MANIFEST_NAME).read_text().splitlines():
        record = json.loads(line)
        records[record["key"]] = record
    return records


def statuses(out: Path) -> list[str]:
    return sorted(str(record["status"]) for record in manifest(out).values())


def images_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.png"))


PROMPTS = [f"product shot {i}" for i in range(12)]


# -- concurrency -------------------------------------------------------------------------------


def test_twelve_lines_at_j4_keep_exactly_four_in_flight(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(API, inline(delay=0.3))
    out = tmp_path / "out"
    result = run_cli(batch_args(fake_api, prompts_file(tmp_path, PROMPTS), out, "-j", "4"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert fake_api.max_concurrency == 4  # three rounds of four, never more
    assert sorted(sent_prompts(fake_api)) == sorted(PROMPTS)
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 12 and all(path.exists() for path in paths)
    assert sorted(paths) == images_in(out)
    assert statuses(out) == ["done"] * 12
    assert "12 done" in result.stderr and "0 failed" in result.stderr
    assert result.stderr.count(" done in ") == 12  # a plain line per finished request
    assert "12/12 finished, 0 failed" in result.stderr
    assert KEY not in result.stdout + result.stderr
    # Every batch request is in history like a single run.
    from wan_cli.history import open_existing

    store = open_existing(isolated_env.history)
    assert store is not None
    try:
        runs = store.list_runs(limit=None)
    finally:
        store.close()
    assert sorted(run.prompt for run in runs) == sorted(PROMPTS)
    assert all(run.status == "ok" for run in runs)


# -- failures and resume -----------------------------------------------------------------------


def test_a_400_and_a_429_then_ok_leave_11_done_1_failed_and_a_rerun_sends_only_that_line(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # Replies in arrival order: the 3rd request is refused, the 5th throttled once (retried).
    fake_api.add(API, inline(), inline(), rejected(), inline(), throttled(), inline())
    out = tmp_path / "out"
    source = prompts_file(tmp_path, PROMPTS)
    first = run_cli(batch_args(fake_api, source, out, "-j", "4"), env=ENV)
    assert first.exit_code == 4, first.stderr
    assert len(fake_api.requests_to(API)) == 13  # 12 lines + the one retry after 429
    records = manifest(out)
    assert statuses(out) == ["done"] * 11 + ["failed"]
    [failed] = [r for r in records.values() if r["status"] == "failed"]
    assert failed["exit_code"] == 4 and "InvalidParameter" in str(failed["error"])
    failed_prompt = PROMPTS[int(str(failed["line"])) - 1]
    assert f"line {failed['line']} (exit 4)" in first.stderr
    assert len(first.stdout.splitlines()) == 11

    second = run_cli(batch_args(fake_api, source, out, "-j", "4"), env=ENV)
    assert second.exit_code == 0, second.stderr
    assert sent_prompts(fake_api)[13:] == [failed_prompt]  # only the failed line is sent again
    assert statuses(out) == ["done"] * 12
    assert "11 line(s) already done: skipped" in second.stderr

    third = run_cli(batch_args(fake_api, source, out), env=ENV)
    assert third.exit_code == 0 and len(fake_api.requests_to(API)) == 14
    assert "nothing to send" in third.stderr


def test_an_edited_line_is_sent_again(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, inline())
    out = tmp_path / "out"
    source = prompts_file(tmp_path, ["a cat", "a dog"])
    assert run_cli(batch_args(fake_api, source, out), env=ENV).exit_code == 0
    prompts_file(tmp_path, ["a new first line", "a cat", "a dog, at night"])
    assert run_cli(batch_args(fake_api, source, out), env=ENV).exit_code == 0
    assert sorted(sent_prompts(fake_api)[2:]) == ["a dog, at night", "a new first line"]


def test_force_and_retry_failed(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, rejected(), inline())
    out = tmp_path / "out"
    source = prompts_file(tmp_path, ["one", "two"])
    assert run_cli(batch_args(fake_api, source, out, "-j", "1"), env=ENV).exit_code == 4
    prompts_file(tmp_path, ["one", "two", "three"])
    retried = run_cli(batch_args(fake_api, source, out, "--retry-failed"), env=ENV)
    assert retried.exit_code == 0, retried.stderr
    assert sent_prompts(fake_api)[2:] == ["one"]  # not "three": it was never sent
    forced = run_cli(batch_args(fake_api, source, out, "--force", "-j", "1"), env=ENV)
    assert forced.exit_code == 0
    assert sent_prompts(fake_api)[3:] == ["one", "two", "three"]
    both = run_cli(batch_args(fake_api, source, out, "--force", "--retry-failed"), env=ENV)
    assert both.exit_code == 2


def test_shard_2_of_3_sends_exactly_its_lines(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, inline())
    lines = [f"prompt {i}" for i in range(10)]
    text = "\n".join(lines[:5]) + "\n\n\n" + "\n".join(lines[5:]) + "\n"  # blanks not counted
    source = tmp_path / "p.txt"
    source.write_text(text)
    result = run_cli(batch_args(fake_api, source, tmp_path / "o", "--shard", "2/3"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert sorted(sent_prompts(fake_api)) == ["prompt 1", "prompt 4", "prompt 7"]
    assert "shard 2/3: 3 of 10" in result.stderr


# -- validation and the cost guard (nothing sent) ------------------------------------------------


def test_every_bad_line_is_listed_and_nothing_is_sent(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, inline())
    source = tmp_path / "b.jsonl"
    source.write_text(
        "\n".join(
            [
                '{"prompt": "fine"}',
                '{"prompt": "too many", "max_images": 9}',
                '{"prompt": "broken"',
                '{"prompt": "edit without refs", "mode": "edit"}',
                '{"prompt": "fine too", "seed": 4}',
            ]
        )
    )
    result = run_cli(batch_args(fake_api, source, tmp_path / "o"), env=ENV)
    assert result.exit_code == 2
    for number in (2, 3, 4):
        assert f"line {number}:" in result.stderr
    assert "line 1:" not in result.stderr and "line 5:" not in result.stderr
    assert "3 of 5 line(s) are invalid" in result.stderr
    assert fake_api.requests == []
    assert not (tmp_path / "o").exists()


def test_dry_run_prints_the_requests_without_a_key(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 300))
    source = tmp_path / "b.jsonl"
    source.write_text(
        '{"prompt": "a", "name": "first"}\n'
        '{"prompt": "b", "mode": "edit", "refs": ["ref.png"], "n": 2}\n'
    )
    result = run_cli(batch_args(fake_api, source, tmp_path / "o", "--dry-run"))
    assert result.exit_code == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["line"] == 1 and first["name"] == "first"
    assert first["request"]["body"]["input"]["messages"][0]["content"][0]["text"] == "a"
    assert second["max_images"] == 2 and second["request"]["body"]["parameters"]["n"] == 2
    assert "…(" in json.dumps(second, ensure_ascii=False)  # base64 abbreviated
    assert "2 request(s), at most 3 image(s)" in result.stderr
    assert fake_api.requests == []


def test_max_total_images_refuses_the_batch(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, inline())
    source = prompts_file(tmp_path, ["a", "b", "c"])
    result = run_cli(
        batch_args(fake_api, source, tmp_path / "o", "-m", "2", "--max-total-images", "5"),
        env=ENV,
    )
    assert result.exit_code == 2
    assert "up to 6 images" in result.stderr
    assert fake_api.requests == []
    ok = run_cli(batch_args(fake_api, source, tmp_path / "o", "--max-total-images", "3"), env=ENV)
    assert ok.exit_code == 0


def test_no_api_key_is_exit_3_and_nothing_sent(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli(batch_args(fake_api, prompts_file(tmp_path, ["a"]), tmp_path / "o"))
    assert result.exit_code == 3 and fake_api.requests == []


# -- the shared rate limiter ---------------------------------------------------------------------


def test_a_429_makes_every_worker_wait_its_retry_after(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # The first request is throttled for 1 s; the other worker's answer takes 0.5 s, after
    # which it must not send its next line before the 1 s is over.
    fake_api.add(API, throttled("1"), inline(delay=0.5), inline())
    source = prompts_file(tmp_path, ["a", "b", "c"])
    result = run_cli(batch_args(fake_api, source, tmp_path / "o", "-j", "2"), env=ENV)
    assert result.exit_code == 0, result.stderr
    requests = fake_api.requests_to(API)
    assert len(requests) == 4
    throttled_at = requests[0].time
    assert all(r.time >= throttled_at + 0.9 for r in requests[2:])
    assert "every request waits 1.0 s" in result.stderr


def test_auth_failure_stops_the_batch_and_wins_the_exit_code(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        rejected(),
        Reply.json({"code": "InvalidApiKey", "message": "Invalid API-key provided."}, status=401),
    )
    source = prompts_file(tmp_path, ["a", "b", "c", "d"])
    result = run_cli(batch_args(fake_api, source, tmp_path / "o", "-j", "1", "--json"), env=ENV)
    assert result.exit_code == 3
    assert len(fake_api.requests_to(API)) == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 3 and document["not_started"] == 2
    assert [line["status"] for line in document["lines"]] == [
        "failed",
        "failed",
        "not_started",
        "not_started",
    ]
    assert KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "refusal",
    [
        Reply.json({"code": "Throttling.AllocationQuota", "message": "quota"}, status=429),
        Reply.json({"code": "Arrearage", "message": "unpaid bills"}, status=400),
    ],
    ids=["quota", "billing"],
)
def test_a_quota_or_billing_error_stops_the_batch(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, refusal: Reply
) -> None:
    fake_api.add(API, inline(), refusal)
    source = prompts_file(tmp_path, ["a", "b", "c", "d"])
    result = run_cli(batch_args(fake_api, source, tmp_path / "o", "-j", "1", "--json"), env=ENV)
    assert result.exit_code == 5
    assert len(fake_api.requests_to(API)) == 2  # the other lines would be refused the same way
    assert "no further line is sent" in result.stderr
    document = json.loads(result.stdout)
    assert [line["status"] for line in document["lines"]] == [
        "done",
        "failed",
        "not_started",
        "not_started",
    ]


# -- names, directories, stdin ------------------------------------------------------------------


def test_names_and_output_dirs_never_overwrite(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, inline())
    source = tmp_path / "b.jsonl"
    source.write_text(
        '{"prompt": "a cat", "name": "cat"}\n'
        '{"prompt": "a dog", "name": "dog", "output_dir": "dogs"}\n'
    )
    out = tmp_path / "out"
    assert run_cli(batch_args(fake_api, source, out), env=ENV).exit_code == 0
    again = run_cli(batch_args(fake_api, source, out, "--force"), env=ENV)
    assert again.exit_code == 0
    names = sorted(str(p.relative_to(out)) for p in images_in(out))
    assert names == ["cat-1-2.png", "cat-1.png", "dogs/dog-1-2.png", "dogs/dog-1.png"]
    assert (out / MANIFEST_NAME).exists() and not (out / "dogs" / MANIFEST_NAME).exists()


def test_streamed_answers_with_image_links_are_downloaded_with_provenance(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    urls = [fake_api.image_url(f"{i}.png") for i in range(3)]
    for url in urls:
        fake_api.add(API, Reply.sse([sse_chunk(text="Here."), sse_chunk(image=url, finish="stop")]))
    source = tmp_path / "b.jsonl"
    source.write_text("".join(f'{{"prompt": "p{i}", "name": "n{i}"}}\n' for i in range(3)))
    out = tmp_path / "out"
    result = run_cli(batch_args(fake_api, source, out, "-j", "3"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in images_in(out)] == ["n0-1.png", "n1-1.png", "n2-1.png"]
    for image in images_in(out):
        sidecar = json.loads(Path(f"{image}.json").read_text())
        assert sidecar["prompt"] == f"p{image.name[1]}" and sidecar["text"] == "Here."
    assert sorted(str(r["urls"][0]) for r in manifest(out).values()) == sorted(urls)
    for url in urls:  # the image host never sees the key
        [download] = fake_api.requests_to(url.removeprefix(fake_api.url))
        assert "authorization" not in download.headers


def test_prompts_from_stdin(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, inline())
    result = run_cli(batch_args(fake_api, "-", tmp_path / "o"), input="one\ntwo\n", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert sorted(sent_prompts(fake_api)) == ["one", "two"]


def test_json_document(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, inline(request_id="req-7"))
    out = tmp_path / "o"
    source = prompts_file(tmp_path, ["a", "b"])
    result = run_cli(batch_args(fake_api, source, out, "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["done"] == 2 and document["failed"] == 0 and document["exit_code"] == 0
    assert document["manifest"] == str(out / MANIFEST_NAME)
    for line in document["lines"]:
        assert line["status"] == "done" and line["request_id"] == "req-7"
        assert Path(line["images"][0]).exists()


# -- Ctrl-C (a real process and a real signal) ----------------------------------------------------


def test_ctrl_c_mid_batch_then_a_rerun_completes_the_rest(
    fake_api: FakeAPI, spawn_wan: SpawnWan, run_cli: RunCli, tmp_path: Path
) -> None:
    # Two quick answers, then two that hang; after those, quick again (for the re-run).
    fake_api.add(API, inline(), inline(), inline(delay=30), inline(delay=30), inline())
    out = tmp_path / "out"
    prompts = [f"line {i}" for i in range(6)]
    source = prompts_file(tmp_path, prompts)
    process = spawn_wan(batch_args(fake_api, source, out, "-j", "2"), env=ENV)
    fake_api.wait_for_requests(4, timeout=20)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert statuses(out) == ["done", "done", "interrupted", "interrupted"], (
        stderr + (out / MANIFEST_NAME).read_text()
    )
    assert len(stdout.splitlines()) == 2
    assert len(images_in(out)) == 2
    assert not [p for p in out.iterdir() if ".part" in p.name]

    rerun = run_cli(batch_args(fake_api, source, out, "-j", "2"), env=ENV)
    assert rerun.exit_code == 0, rerun.stderr
    first_two = set(sent_prompts(fake_api)[:2])
    assert sorted(sent_prompts(fake_api)[4:]) == sorted(set(prompts) - first_two)
    assert statuses(out) == ["done"] * 6


def test_ctrl_c_mid_download_removes_partial_files(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path
) -> None:
    big = png_bytes(64, 64) + b"\0" * 4_000_000
    fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=0.01))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    out = tmp_path / "out"
    source = prompts_file(tmp_path, ["a", "b"])
    process = spawn_wan(batch_args(fake_api, source, out, "-j", "2"), env=ENV)
    fake_api.wait_bytes_sent("/img/big.png", 16384, timeout=20)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert [p.name for p in out.iterdir()] == [MANIFEST_NAME]  # no partial image left
    records = list(manifest(out).values())
    assert [r["status"] for r in records] == ["interrupted", "interrupted"]
    assert all(r["urls"] == [url] for r in records)  # the paid links are kept


@pytest.mark.regression("a closed stdout killed workers with a raw traceback; exit was 0")
def test_a_closed_stdout_stops_the_batch_instead_of_killing_workers_silently(
    spawn_wan: SpawnWan, fake_api: FakeAPI, tmp_path: Path
) -> None:
    # `wan batch FILE | head -1`: printing a result failed in a worker thread, which died with
    # a raw "Exception in thread" traceback; the lines left were never sent, and exit was 0.
    fake_api.add(API, inline())
    source = prompts_file(tmp_path, [f"prompt {i}" for i in range(6)])
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads stdout: every write fails with EPIPE
    try:
        process = spawn_wan(
            batch_args(fake_api, source, tmp_path / "out", "-j", "1"), env=ENV, stdout=write_end
        )
    finally:
        os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode not in (0, 130), stderr
    assert "Exception in thread" not in stderr and "Traceback" not in stderr
    assert len(fake_api.requests_to(API)) == 1  # no new line was sent
    assert statuses(tmp_path / "out") == ["done"]  # its image is kept


# -- Ctrl-C over HTTPS (a TLS server on 127.0.0.1, directly and through a CONNECT proxy) -------


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate for 127.0.0.1")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


class _SilentTLSServer:
    """An HTTPS server on 127.0.0.1 that reads each request and never answers."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requested = threading.Event()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
                tls = self._context.wrap_socket(conn, server_side=True)
            except OSError:
                return
            self._open.append(tls)
            with contextlib.suppress(OSError):
                tls.recv(65536)
            self.requested.set()

    def close(self) -> None:
        self._listener.close()
        for conn in self._open:
            conn.close()


class _ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 (what HTTPS_PROXY points at)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += client.recv(4096)
            host, _, port = head.split()[1].decode().rpartition(":")
            upstream = socket.create_connection((host, int(port)))
            self._open += [client, upstream]
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)

    def close(self) -> None:
        self._listener.close()
        for conn in self._open:
            conn.close()


@pytest.mark.regression("Ctrl-C over https waited out the 300 s read timeout (TLS hid the socket)")
@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "https-proxy"])
def test_ctrl_c_aborts_a_batch_stalled_on_an_https_answer(
    spawn_wan: SpawnWan, tmp_path: Path, through_proxy: bool
) -> None:
    # The pacer shut down the TCP socket of each connection, but TLS wraps (and detaches) it:
    # over https the shutdown did nothing. Through a proxy the TLS step has another name
    # ("proxy.start_tls").
    cert, key = _self_signed_cert(tmp_path)
    server = _SilentTLSServer(cert, key)
    proxy = _ConnectProxy()
    env: dict[str, str | None] = {**ENV, "SSL_CERT_FILE": str(cert)}
    if through_proxy:
        env.update(HTTPS_PROXY=proxy.url, NO_PROXY=None)
    try:
        source = prompts_file(tmp_path, ["a red fox"])
        process = spawn_wan(
            ["batch", str(source), "-o", str(tmp_path / "out"), "--timeout", "120"]
            + ["--base-url", f"https://127.0.0.1:{server.port}/v1"],
            env=env,
        )
        assert server.requested.wait(30), "the request never arrived"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        server.close()
        proxy.close()
    assert process.returncode == 130, stderr
    assert "1 interrupted" in stderr
    assert KEY not in stderr


# -- on a terminal: the cost question and the live bar --------------------------------------------


def _run_on_a_terminal(argv: list[str], answer: str) -> tuple[int, str, str]:
    """Run `wan` with stdin and stderr on a real pty, typing `answer`; (exit, stdout, pty)."""
    from tests.conftest import run_on_a_terminal

    done = run_on_a_terminal(argv, ENV, typed=answer)
    return done.returncode, done.stdout, done.shown


def test_a_large_batch_asks_first_on_a_terminal(fake_api: FakeAPI, tmp_path: Path) -> None:
    fake_api.add(API, inline())
    source = prompts_file(tmp_path, [f"p{i}" for i in range(21)])  # 21 images > 20
    code, stdout, shown = _run_on_a_terminal(batch_args(fake_api, source, tmp_path / "o"), "n\n")
    assert code == 2
    assert "Send 21 request(s) that can produce up to 21 billed images?" in shown
    assert "nothing was sent" in shown and stdout == ""
    assert fake_api.requests == []

    code, stdout, shown = _run_on_a_terminal(
        batch_args(fake_api, source, tmp_path / "o", "-j", "8"), "y\n"
    )
    assert code == 0, shown
    assert len(stdout.splitlines()) == 21 and "\x1b" not in stdout
    assert "✓" in shown and "21 done" in shown  # the lines above the bar, and the summary
    assert len(fake_api.requests_to(API)) == 21

    # --yes: no question
    code, _, shown = _run_on_a_terminal(batch_args(fake_api, source, tmp_path / "o2", "--yes"), "")
    assert code == 0 and "Send 21" not in shown


@pytest.mark.regression("21 images without a terminal were sent with no question and no refusal")
def test_a_large_batch_without_a_terminal_is_refused_unless_told(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    """Like `terraform apply` without -auto-approve: nobody to ask, so nothing is sent."""
    fake_api.add(API, inline())
    prompts = [f"p{i}" for i in range(21)]  # 21 images > 20
    source = prompts_file(tmp_path, prompts)
    refused = run_wan_subprocess(batch_args(fake_api, source, tmp_path / "o"), env=ENV)
    assert refused.returncode == 2, refused.stderr
    assert "up to 21 billed images" in refused.stderr and "nothing was sent" in refused.stderr
    assert "--yes" in refused.stderr and "--max-total-images 21" in refused.stderr
    assert refused.stdout == ""
    # From a pipe (stdin is the batch) too.
    piped = run_wan_subprocess(
        batch_args(fake_api, "-", tmp_path / "o"), env=ENV, input="\n".join(prompts)
    )
    assert piped.returncode == 2 and "--yes" in piped.stderr
    assert fake_api.requests == []
    assert not (tmp_path / "o").exists()  # not even the manifest

    # A cap too small is refused as before; a cap that holds, or --yes, sends it.
    over = run_wan_subprocess(
        batch_args(fake_api, source, tmp_path / "o", "--max-total-images", "20"), env=ENV
    )
    assert over.returncode == 2 and "more than --max-total-images 20" in over.stderr
    assert fake_api.requests == []
    capped = run_wan_subprocess(
        batch_args(fake_api, source, tmp_path / "o", "--max-total-images", "21", "-j", "8"),
        env=ENV,
    )
    assert capped.returncode == 0, capped.stderr
    assert len(fake_api.requests_to(API)) == 21
    told = run_wan_subprocess(
        batch_args(fake_api, source, tmp_path / "o2", "--yes", "-j", "8"), env=ENV
    )
    assert told.returncode == 0, told.stderr
    assert len(fake_api.requests_to(API)) == 42
    # 20 images are under the threshold: sent without a word.
    small = prompts_file(tmp_path, prompts[:20], name="small.txt")
    quiet = run_wan_subprocess(batch_args(fake_api, small, tmp_path / "o3", "-j", "8"), env=ENV)
    assert quiet.returncode == 0, quiet.stderr
    assert len(fake_api.requests_to(API)) == 62


def test_a_large_dry_run_needs_no_consent(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    source = prompts_file(tmp_path, [f"p{i}" for i in range(21)])
    result = run_cli(batch_args(fake_api, source, tmp_path / "o", "--dry-run"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 21 and fake_api.requests == []


def test_a_paid_but_unsaved_line_is_not_billed_again_by_a_rerun(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # Line "one" is generated but its image cannot be fetched (exit 7): it was paid for.
    broken = f"{fake_api.url}/img/gone.png"
    fake_api.add("/img/gone.png", Reply.status(404), Reply.bytes(png_bytes()))
    fake_api.add(API, Reply.json({"data": [{"url": broken}], "request_id": "paid"}), inline())
    out = tmp_path / "out"
    source = prompts_file(tmp_path, ["one", "two"])
    first = run_cli(batch_args(fake_api, source, out, "-j", "1", "--retries", "0"), env=ENV)
    assert first.exit_code == 7, first.stderr
    [unsaved] = [r for r in manifest(out).values() if r["status"] == "failed"]
    assert unsaved["exit_code"] == 7 and unsaved["urls"] == [broken]

    again = run_cli(batch_args(fake_api, source, out), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert len(fake_api.requests_to(API)) == 2  # nothing sent: the line is not billed twice
    assert "1 line(s) paid for but not saved: skipped" in again.stderr

    # `wan history download` saves it without paying; --retry-failed generates it again.
    saved = run_cli(["history", "download", str(unsaved["history_id"])], env=ENV)
    assert saved.exit_code == 0, saved.stderr
    retried = run_cli(batch_args(fake_api, source, out, "--retry-failed"), env=ENV)
    assert retried.exit_code == 0, retried.stderr
    assert sent_prompts(fake_api)[2:] == ["one"]

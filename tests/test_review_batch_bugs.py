"""Regression tests for bugs found in review of `wan batch`, settings, config and errors."""

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
import tomllib
from pathlib import Path

import pytest

from tests.conftest import IsolatedEnv, RunCli, SpawnWan
from tests.fakeapi import FakeAPI, Reply, png_bytes
from wan_cli.batch.manifest import MANIFEST_NAME
from wan_cli.batch.plan import parse_shard
from wan_cli.errors import UsageError
from wan_cli.settings import parse_value

KEY = "sk-review-secret-0123456789"


@pytest.mark.parametrize("text", ["²/3", "1/³", "1/²"])
def test_a_shard_of_non_decimal_digits_is_a_usage_error_not_a_crash(text: str) -> None:
    # "²".isdigit() is True but int("²") raises ValueError: this was exit 1, a traceback.
    with pytest.raises(UsageError, match="invalid --shard"):
        parse_shard(text)


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc/v1", "https://127.0.0.1:99999/v1"])
def test_a_base_url_with_a_bad_port_is_refused_before_sending(url: str, run_cli: RunCli) -> None:
    # It used to pass validation and fail in httpx: exit 1, "internal error: InvalidURL".
    with pytest.raises(ValueError, match=r"(?i)port"):
        parse_value("base-url", url)
    result = run_cli(["generate", "a fox", "--base-url", url], env={"WAN_API_KEY": KEY})
    assert result.exit_code == 2, result.stderr
    assert "--base-url" in result.stderr and "internal error" not in result.stderr
    stored = run_cli(["config", "set", "base-url", url])
    assert stored.exit_code == 2, stored.stderr


# -- config: a bad stored value can be repaired with `wan config set|unset` ----------------------


@pytest.mark.parametrize(
    ("text", "args", "left"),
    [
        ('[default]\ntimeout = "abc"\nmodel = "m"\n', ["unset", "timeout"], {"model": "m"}),
        ('[default]\ntimeout = "abc"\n', ["set", "timeout", "60"], {"timeout": 60}),
        (
            '[profiles.work]\nretries = "many"\n',
            ["unset", "retries", "--profile", "work"],
            {},
        ),
    ],
)
def test_the_commands_the_error_points_to_can_repair_a_bad_value(
    text: str, args: list[str], left: dict[str, object], run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    # Every command said "timeout must be a positive number", and so did `config set/unset`:
    # the only way out was to edit the file by hand.
    isolated_env.config.write_text(text)
    assert run_cli(["config", "show"]).exit_code == 2
    result = run_cli(["config", *args])
    assert result.exit_code == 0, result.stderr
    assert run_cli(["config", "show"]).exit_code == 0
    document = tomllib.loads(isolated_env.config.read_text())
    table = document["profiles"]["work"] if "--profile" in args else document["default"]
    assert table == left


def test_set_still_refuses_to_write_a_file_left_invalid(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    text = '[default]\ntimeout = "abc"\n'
    isolated_env.config.write_text(text)
    result = run_cli(["config", "set", "model", "m"])
    assert result.exit_code == 2
    assert "timeout must be a positive number" in result.stderr
    assert isolated_env.config.read_text() == text


# -- batch: Ctrl-C aborts reads over HTTPS too ---------------------------------------------------


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


@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "https-proxy"])
def test_ctrl_c_aborts_a_batch_stalled_on_an_https_answer(
    spawn_wan: SpawnWan, tmp_path: Path, through_proxy: bool
) -> None:
    # The pacer shut down the TCP socket of each connection, but TLS wraps (and detaches) it:
    # over https the shutdown did nothing and Ctrl-C waited out the read timeout (300 s).
    # Through a proxy the TLS step has another name ("proxy.start_tls").
    cert, key = _self_signed_cert(tmp_path)
    server = _SilentTLSServer(cert, key)
    proxy = _ConnectProxy()
    env = {"WAN_API_KEY": KEY, "SSL_CERT_FILE": str(cert)}
    if through_proxy:
        env.update(HTTPS_PROXY=proxy.url, NO_PROXY=None)
    try:
        batch_file = tmp_path / "prompts.txt"
        batch_file.write_text("a red fox\n")
        process = spawn_wan(
            ["batch", str(batch_file), "-o", str(tmp_path / "out"), "--timeout", "120"]
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


# -- batch: a worker that fails outside a line stops the batch and is not exit 0 -----------------


def test_a_closed_stdout_stops_the_batch_instead_of_killing_workers_silently(
    spawn_wan: SpawnWan, fake_api: FakeAPI, tmp_path: Path
) -> None:
    # `wan batch FILE | head -1`: printing a result failed in a worker thread, which died with
    # a raw "Exception in thread" traceback; the lines left were never sent, and exit was 0.
    fake_api.add("/v1/images/generations", _inline())
    batch_file = tmp_path / "prompts.txt"
    batch_file.write_text("".join(f"prompt {i}\n" for i in range(6)))
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads stdout: every write fails with EPIPE
    try:
        process = spawn_wan(
            ["batch", str(batch_file), "-o", str(tmp_path / "out"), "-j", "1"]
            + ["--base-url", f"{fake_api.url}/v1"],
            env={"WAN_API_KEY": KEY},
            stdout=write_end,
        )
    finally:
        os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode not in (0, 130), stderr
    assert "Exception in thread" not in stderr and "Traceback" not in stderr
    assert len(fake_api.requests_to("/v1/images/generations")) == 1  # no new line was sent
    manifest = (tmp_path / "out" / MANIFEST_NAME).read_text().splitlines()
    assert [json.loads(line)["status"] for line in manifest] == ["done"]  # its image is kept


def _inline() -> Reply:
    body = {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(png_bytes()).decode()}],
        "request_id": "req-r",
    }
    return Reply.json(body)


def test_every_boolean_setting_completes_true_and_false() -> None:
    # `preview` (added after metadata/history) offered nothing after `wan config set preview`.
    from wan_cli.cli.completion_values import config_values

    for key in ("metadata", "history", "preview"):
        assert [value for value, _ in config_values(key)] == ["true", "false"], key


@pytest.mark.parametrize("command", ["set", "get", "unset"])
def test_key_equals_value_is_refused_without_echoing_the_value(
    command: str, run_cli: RunCli
) -> None:
    # `wan config set api-key=sk-…` echoed the whole argument, key included, to stderr (logs).
    result = run_cli(["config", command, f"api-key={KEY}"])
    assert result.exit_code == 2
    assert KEY not in result.stdout + result.stderr
    assert "KEY VALUE" in result.stderr

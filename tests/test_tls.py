"""The TLS context every client shares: built as httpx builds its own, one per process, and its
CA certificates loaded on the first https connection only (an http:// run loads none)."""

from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import certifi
import httpx
import pytest

from tests.fakeapi import FakeAPI, Reply
from wan_cli.api import tls
from wan_cli.api.client import make_api_client
from wan_cli.api.tls import LazyTLSContext, tls_context
from wan_cli.files.image_client import make_download_client


@pytest.fixture(autouse=True)
def _fresh_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "_contexts", {})
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE"):
        monkeypatch.delenv(name, raising=False)


def _settings(context: ssl.SSLContext) -> dict[str, object]:
    return {
        "protocol": context.protocol,
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "options": context.options,
        "verify_flags": context.verify_flags,
        "minimum_version": context.minimum_version,
        "maximum_version": context.maximum_version,
        "post_handshake_auth": context.post_handshake_auth,
        "keylog_filename": context.keylog_filename,
        "cert_store_stats": context.cert_store_stats(),
        "ca_certs": context.get_ca_certs(),
    }


def test_the_clients_share_one_context_and_load_no_certificates_for_http(
    fake_api: FakeAPI,
) -> None:
    fake_api.add("/v1/x", Reply.json({}))
    with make_api_client(10) as api, make_download_client(10) as images:
        api.get(f"{fake_api.url}/v1/x")
        images.get(f"{fake_api.url}/v1/x")
    context = tls_context()
    assert isinstance(context, LazyTLSContext)
    assert tls_context(trust_env=False) is context  # no SSL_CERT_* set: both use certifi
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing loaded


def test_once_loaded_it_is_the_context_httpx_would_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(Path("/dev/null")))
    context = tls_context()
    assert isinstance(context, LazyTLSContext)
    context.load()
    context.load()  # once
    assert _settings(context) == _settings(httpx.create_ssl_context())
    assert context.cert_store_stats()["x509_ca"] > 0


def test_ssl_cert_file_is_honoured_only_when_the_client_trusts_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    trusting, not_trusting = tls_context(trust_env=True), tls_context(trust_env=False)
    assert trusting is not not_trusting
    assert isinstance(trusting, LazyTLSContext) and isinstance(not_trusting, LazyTLSContext)
    assert trusting._cafile == str(bundle)
    assert not_trusting._cafile == certifi.where()


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 (a fresh self-signed certificate) answering every GET."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", cert
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_request_loads_the_certificates_and_verifies_with_them(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = https_server
    with make_api_client(10) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        client.get(url)  # certifi's bundle does not know the self-signed certificate
    assert tls_context().cert_store_stats()["x509_ca"] > 0
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with make_api_client(10) as client:
        assert client.get(url).text == "ok"


def test_a_wan_run_imports_neither_trio_nor_httpx_cli(fake_api: FakeAPI, tmp_path: Path) -> None:
    """httpcore imports trio (when installed) for its async locks, and `import httpx` its own
    command line (click, rich's progress bars, pygments); `wan` runs neither."""
    from tests.fakeapi import sse_chunk

    image = fake_api.image_url()
    fake_api.add("/v1/images/generations", Reply.sse([sse_chunk(image=image, finish="stop")]))
    env = {
        "PATH": os.environ["PATH"],
        "WAN_API_KEY": "sk-test",
        "NO_PROXY": "*",
        "WAN_CONFIG": str(tmp_path / "config.toml"),
        "WAN_HISTORY": str(tmp_path / "history.db"),
    }
    code = (
        "import sys\n"
        "from wan_cli.__main__ import main\n"
        "code = None\n"
        "try:\n    main()\nexcept SystemExit as end:\n    code = end.code\n"
        "unused = ('trio', 'httpx._main', 'pygments', 'click')\n"
        "unused = [name for name in unused if sys.modules.get(name)]\n"
        "print('httpcore' in sys.modules, unused, code, file=sys.stderr)\n"
    )
    argv = [sys.executable, "-c", code, "generate", "a fox"]
    argv += ["--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.stderr.splitlines()[-1] == "True [] 0", done.stderr

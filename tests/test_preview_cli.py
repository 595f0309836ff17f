"""`--preview` wired into a real run: drawn on a terminal's stderr, never into pipes."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import WAN_BIN, RunCli, RunWan, _environment
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876"}


def _args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a red fox", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def _run_on_a_terminal(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `wan` with stderr on a real pty; returns the process and what the pty showed."""
    master, slave = os.openpty()
    received: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child closed the terminal
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = _environment({**ENV, "COLORTERM": "truecolor", "TERM": "xterm-256color"})
    done = subprocess.run(
        [str(WAN_BIN), *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return done, b"".join(received).decode("utf-8", "replace")


def test_preview_draws_on_a_terminal(fake_api: FakeAPI, tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    url = fake_api.image_url("p.png", png_bytes(8, 4))
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    blocks = ["--preview", "--preview-protocol", "blocks"]
    done, drawn = _run_on_a_terminal(_args(fake_api, tmp_path, *blocks))
    assert done.returncode == 0
    assert Path(done.stdout.strip()).exists()  # stdout: the path only
    assert "▀" in drawn and "\x1b[38;2;" in drawn

    # the same picture again from history
    shown, drawn_again = _run_on_a_terminal(["history", "show", "1", *blocks])
    assert shown.returncode == 0
    assert "a red fox" in shown.stdout
    assert "▀" in drawn_again


def test_preview_never_reaches_pipes(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    done = run_wan_subprocess(
        _args(fake_api, tmp_path, "--preview", "--preview-protocol", "blocks"),
        env={**ENV, "COLORTERM": "truecolor"},
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "▀" not in done.stderr


def test_unknown_preview_protocol_is_refused_before_sending(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli(_args(fake_api, tmp_path, "--preview", "--preview-protocol", "vt100"), env=ENV)
    assert result.exit_code == 2
    assert "preview protocol" in result.stderr
    assert fake_api.requests == []

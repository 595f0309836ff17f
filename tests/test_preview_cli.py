"""`--preview` wired into a real run: drawn on a terminal's stderr, never into pipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli, RunWan, run_on_a_terminal
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876"}


def _args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a red fox", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


TRUECOLOR = {**ENV, "COLORTERM": "truecolor"}


def test_preview_draws_on_a_terminal(fake_api: FakeAPI, tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    url = fake_api.image_url("p.png", png_bytes(8, 4))
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    blocks = ["--preview", "--preview-protocol", "blocks"]
    done = run_on_a_terminal(_args(fake_api, tmp_path, *blocks), TRUECOLOR)
    assert done.returncode == 0
    assert Path(done.stdout.strip()).exists()  # stdout: the path only
    assert "▀" in done.shown and "\x1b[38;2;" in done.shown

    # the same picture again from history
    again = run_on_a_terminal(["history", "show", "1", *blocks], TRUECOLOR)
    assert again.returncode == 0
    assert "a red fox" in again.stdout
    assert "▀" in again.shown


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

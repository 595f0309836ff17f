"""Review of the core run path: Ctrl-C while a download is stalled."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import SpawnWan
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876"}


@pytest.mark.parametrize("stalled", ["before the headers", "mid-body"])
def test_ctrl_c_during_a_stalled_download_ends_at_once(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path, stalled: str
) -> None:
    # Ctrl-C reaches only the main thread; a download thread blocked reading a silent image
    # host must still stop now, not when the read timeout (minutes) runs out.
    big = png_bytes(64, 64) + b"\0" * 100_000
    if stalled == "before the headers":
        fake_api.add("/img/big.png", Reply.bytes(big, delay=60))
    else:
        fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=60))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    out = tmp_path / "out"
    process = spawn_wan(
        ["generate", "a fox", "--base-url", f"{fake_api.url}/v1", "-o", str(out), "--json"],
        env=ENV,
    )
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

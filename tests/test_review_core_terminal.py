"""Review of the core run path on a real terminal (the live view)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_on_a_terminal
from tests.fakeapi import FakeAPI, Reply, sse_chunk

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876"}


def test_live_view_strips_control_sequences_from_the_models_text(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    # The service's text must never drive the terminal: no OSC title change, no colour.
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="evil \x1b]0;pwned\x07 title\n"),
                sse_chunk(text="red \x1b[31mtext\x1b[0m and a partial line"),
                sse_chunk(image=fake_api.image_url(), finish="stop"),
            ]
        ),
    )
    args = ["generate", "a fox", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)]
    done = run_on_a_terminal(args, ENV)
    assert done.returncode == 0, done.shown
    assert "]0;pwned" in done.shown  # the text itself is shown, its escape codes are not
    assert "\x1b]0;" not in done.shown and "\x07" not in done.shown
    assert "\x1b[31mtext" not in done.shown

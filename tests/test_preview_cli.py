"""`--preview` wired into a real run: drawn on a terminal's stderr, never into pipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli, RunWan, run_on_a_terminal
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from tests.terminal import OnATerminal

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


# -- as a person sees it: a part of the screen, above the summary and the path ---------------

TMUX_256 = {**ENV, "TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color"}


@pytest.mark.regression("in tmux with 256 colours nothing was drawn (and the note came last)")
@pytest.mark.regression("the preview filled the pane after the summary, pushing the path off")
def test_preview_in_tmux_is_drawn_in_256_colours_above_the_summary_and_path(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    pytest.importorskip("PIL")
    url = fake_api.image_url("big.png", png_bytes(200, 200))
    fake_api.add(API, Reply.sse([sse_chunk(text="A fox."), sse_chunk(image=url, finish="stop")]))
    args = _args(fake_api, tmp_path, "--preview")
    with OnATerminal(args, TMUX_256, cols=200, rows=24, stdout_too=True) as term:
        code, _, shown = term.finish()
        screen = term.screen()
    assert code == 0, shown
    assert "\x1b[38;5;" in shown and "\x1b[38;2;" not in shown  # tmux's 256 colours
    [saved] = list(tmp_path.glob("*.png"))
    drawn = [line for line in screen.text() if "▀" in line]
    assert 0 < len(drawn) <= 24 // 2  # at most half the rows
    visible = screen.visible()  # the last 24 rows, down to the cursor's (the shell's prompt)
    assert visible[-1] == "" and visible[-2] == str(saved)  # the path, last and on screen
    assert any(line.startswith("done in ") for line in visible)  # the summary too
    summary = next(i for i, line in enumerate(visible) if line.startswith("done in "))
    assert all("▀" not in line for line in visible[summary:])  # below the picture


def test_a_terminal_that_cannot_show_a_preview_is_told_before_the_run(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    args = _args(fake_api, tmp_path, "--preview")
    with OnATerminal(args, {**ENV, "TERM": "xterm"}, cols=200) as term:
        code, stdout, shown = term.finish()
    assert code == 0, shown
    lines = term.screen().text()
    note = next(i for i, line in enumerate(lines) if "no preview will be drawn" in line)
    assert note == 0  # the first thing shown: before the request is even sent
    assert sum("no preview" in line for line in lines) == 1
    assert "▀" not in shown and Path(stdout.strip()).exists()

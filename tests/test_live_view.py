"""The live view as a person sees it on a real terminal (a pty, read through `tests.terminal`):
the model's words wrapped between words and labelled apart from the tool's lines, each phase
named, the usage total computed, the saved path shown once, and the text streaming even with
`NO_COLOR`."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from tests.terminal import OnATerminal, Screen
from wan_cli.api.events import Usage
from wan_cli.ui.render import usage_line
from wan_cli.ui.wrap import StreamWrapper

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-live-view-5555"}
COLS = 40

# Fragments cut inside words, as the service streams them: "au|tumn", "an|d".
FRAGMENTS = [
    "An au",
    "tumn painting of a quiet lake an",
    "d trees with golden leaves reflecting in the still water.\nA second",
    " paragraph follows with more words to wrap around the edge.",
]
WORDS = "".join(FRAGMENTS).split()
# Views: rich's live view, and the plain one a terminal gets with NO_COLOR.
VIEWS = {"live": {}, "NO_COLOR": {"NO_COLOR": "1"}}
STAMP = r"\d\d:\d\d:\d\d "


def _args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return ["generate", "a red fox", "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def _answer(fake: FakeAPI, usage: dict[str, int] | None = None) -> None:
    url = fake.image_url("1.png", png_bytes(8, 8))
    chunks = [sse_chunk(text=fragment) for fragment in FRAGMENTS]
    fake.add(API, Reply.sse([*chunks, sse_chunk(image=url, finish="stop", usage=usage)]))


def _model_block(lines: list[str]) -> list[str]:
    """The lines of the model's text: the labelled one and the indented ones after it."""
    first = next(i for i, line in enumerate(lines) if re.match(f"({STAMP})?model: ", line))
    indent = len(lines[first]) - len(lines[first].split("model: ", 1)[1])
    block = [lines[first][indent:]]
    for line in lines[first + 1 :]:
        if not line.startswith(" " * indent) or not line.strip():
            break
        block.append(line[indent:])
    return block


# -- the model's words -------------------------------------------------------------------------


@pytest.mark.regression("the model's text was cut mid-word at the terminal's edge ('au|tumn')")
@pytest.mark.parametrize("view", VIEWS)
def test_the_models_text_wraps_between_words(fake_api: FakeAPI, tmp_path: Path, view: str) -> None:
    _answer(fake_api)
    with OnATerminal(_args(fake_api, tmp_path), {**ENV, **VIEWS[view]}, cols=COLS) as term:
        code, _, _ = term.finish()
        screen = term.screen()
    assert code == 0, term.shown
    lines = screen.text()
    block = _model_block(lines)
    assert " ".join(block).split() == WORDS  # every word whole, in order
    assert len(block) > 3  # it did need wrapping at 40 columns
    start = next(row for row, line in enumerate(lines) if "model: " in line)
    rows = range(start, start + len(block))
    assert not screen.wrapped & set(rows), lines  # the terminal never had to cut a line
    assert all(len(lines[row]) <= COLS for row in rows)


@pytest.mark.parametrize("view", VIEWS)
def test_the_models_words_are_set_apart_from_the_tools_lines(
    fake_api: FakeAPI, tmp_path: Path, view: str
) -> None:
    _answer(fake_api)
    with OnATerminal(_args(fake_api, tmp_path), {**ENV, **VIEWS[view]}, cols=100) as term:
        code, _, _ = term.finish()
    assert code == 0, term.shown
    lines = term.screen().text()
    block = _model_block(lines)
    first, second = "".join(FRAGMENTS).split("\n")
    assert " ".join(block[:-1]) == first  # wrapped between words to the width
    assert block[-1] == second  # a line end of the model's own starts a line
    labelled = [line for line in lines if "model: " in line]
    assert len(labelled) == 1  # one label for the block; its lines are indented under it
    own = [line for line in lines if "image 1" in line]
    assert own and not any(line.startswith(" ") for line in own)  # the tool's lines: no indent


def test_the_plain_view_in_a_log_labels_every_line_of_the_model(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    _answer(fake_api)
    result = run_cli(_args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    model = [line.split(" ", 1)[1] for line in result.stderr.splitlines() if " model: " in line]
    assert model == [
        "model: An autumn painting of a quiet lake and trees with golden leaves reflecting"
        " in the still water.",
        "model: A second paragraph follows with more words to wrap around the edge.",
    ]  # whole lines in a log: never wrapped


def test_wrapper_keeps_a_word_that_is_still_arriving() -> None:
    wrap = StreamWrapper(30, lambda: "model: ")
    assert wrap.feed("a quiet au") == "model: a quiet"  # "au…" held back
    assert wrap.preview() == " au"  # the live area shows it meanwhile
    assert wrap.feed("tumn lake") == " autumn"
    assert wrap.flush() == " lake\n"
    assert wrap.feed("next") == ""
    assert wrap.flush() == "model: next\n"  # a new block is labelled again


def test_wrapper_breaks_wide_scripts_anywhere_and_cuts_only_overlong_words() -> None:
    wrap = StreamWrapper(23, lambda: "m: ")  # 20 cells of text
    assert wrap.feed("灯塔在岩石海岸上秋天的树叶飘过水面") + wrap.flush() == (
        "m: 灯塔在岩石海岸上秋天\n   的树叶飘过水面\n"
    )
    wrap = StreamWrapper(19, lambda: "m: ")  # 16 cells
    text = wrap.feed("go https://example.com/very/long ok") + wrap.flush()
    assert text == "m: go\n   https://example.\n   com/very/long ok\n"


# -- phases, totals ----------------------------------------------------------------------------


@pytest.mark.regression("the live view said 'writing' without saying who writes what")
@pytest.mark.parametrize(
    ("events_before", "phase"),
    [
        (0, "waiting for the first words or image from wan2.6-image"),
        (1, "the model is writing (text)"),
        (2, "waiting for more from the model"),
    ],
)
def test_each_phase_is_named_on_the_live_view(
    fake_api: FakeAPI, tmp_path: Path, events_before: int, phase: str
) -> None:
    url = fake_api.image_url("1.png", png_bytes(8, 8))
    chunks = [sse_chunk(text="A quiet lake "), sse_chunk(image=url), sse_chunk(text="more")]
    fake_api.add(API, Reply.sse(chunks, stall_after_events=events_before, stall=30))
    with OnATerminal(_args(fake_api, tmp_path), ENV, cols=100) as term:
        term.wait_for(phase)  # the answer stalls there: the live view says what it waits for
        term.process.send_signal(signal.SIGINT)
        assert term.finish()[0] == 130


def test_downloads_are_named_on_the_live_view(fake_api: FakeAPI, tmp_path: Path) -> None:
    big = png_bytes(8, 8) + b"\0" * 100_000
    fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=60))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    with OnATerminal(_args(fake_api, tmp_path), ENV, cols=100) as term:
        term.wait_for("downloading image 1")
        term.wait_for("saving images")
        term.process.send_signal(signal.SIGINT)
        assert term.finish()[0] == 130


@pytest.mark.regression("every summary said 'total ?' when the service sent no total")
def test_the_token_total_is_computed_or_left_out(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    _answer(fake_api, usage={"input_tokens": 28, "output_tokens": 3, "image_count": 1})
    result = run_cli(_args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "usage: tokens in 28 / out 3 / total 31 · 1 image" in result.stderr
    assert "?" not in result.stderr
    assert usage_line(Usage(raw={}, output_tokens=5)) == "tokens in 0 / out 5"
    assert usage_line(Usage(raw={}, input_tokens=1, output_tokens=2, total_tokens=9)) == (
        "tokens in 1 / out 2 / total 9"
    )


# -- the saved path: once on a terminal, always on stdout --------------------------------------


@pytest.mark.regression("on a terminal the saved path was printed twice (stderr and stdout)")
@pytest.mark.parametrize("view", VIEWS)
def test_the_saved_path_shows_once_on_a_terminal(
    fake_api: FakeAPI, tmp_path: Path, view: str
) -> None:
    _answer(fake_api)
    with OnATerminal(
        _args(fake_api, tmp_path), {**ENV, **VIEWS[view]}, cols=200, stdout_too=True
    ) as term:
        code, _, _ = term.finish()
    assert code == 0, term.shown
    [saved] = list(tmp_path.glob("*.png"))
    lines = term.screen().text()
    assert sum(str(saved) in line for line in lines) == 1, lines
    assert lines[-1] == str(saved)  # the result, last
    assert any("saved image 1 (" in line for line in lines)  # the ✓ line, without the path


@pytest.mark.parametrize("view", VIEWS)
def test_a_piped_stdout_still_gets_the_path_and_the_terminal_too(
    fake_api: FakeAPI, tmp_path: Path, view: str
) -> None:
    _answer(fake_api)
    with OnATerminal(_args(fake_api, tmp_path), {**ENV, **VIEWS[view]}, cols=200) as term:
        code, stdout, _ = term.finish()
    assert code == 0, term.shown
    [saved] = list(tmp_path.glob("*.png"))
    assert stdout == f"{saved}\n"
    assert any(f"saved image 1: {saved} (" in line for line in term.screen().text())


# -- NO_COLOR streams --------------------------------------------------------------------------


@pytest.mark.regression("with NO_COLOR on a terminal the text appeared all at once at the end")
def test_no_color_on_a_terminal_still_streams_the_text(fake_api: FakeAPI, tmp_path: Path) -> None:
    chunks = [sse_chunk(text="An autumn painting of a quiet lake "), sse_chunk(text="and more")]
    fake_api.add(API, Reply.sse(chunks, stall_after_events=1, stall=30))
    with OnATerminal(_args(fake_api, tmp_path), {**ENV, "NO_COLOR": "1"}, cols=COLS) as term:
        # The first words show while the answer is still open (it stalls after them).
        term.wait_for("An autumn painting of a")
        assert "\x1b[" not in term.shown  # and no colour or cursor codes: it is NO_COLOR
        term.process.send_signal(signal.SIGINT)
        code, _, _ = term.finish()
    assert code == 130
    assert "and more" not in term.shown


def test_screen_emulator_cuts_lines_as_a_terminal_does() -> None:
    screen = Screen(5).feed("abcdefg\r\nxy\x1b[1A\r\x1b[2Kz\x1b[31m!\x1b[0m\x1b]8;;u\x1b\\")
    assert screen.text() == ["abcde", "z!", "xy"]
    assert screen.wrapped == {1}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("fancy", [False, True], ids=["plain", "live"])
def test_a_download_finishing_mid_word_never_splits_the_word(fancy: bool) -> None:
    from wan_cli.files.download import SavedImage
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import LiveView, PlainView

    terminal = _Terminal()
    out = Output(stdout=io.StringIO(), stderr=terminal, fancy=fancy)
    view = LiveView(out) if fancy else PlainView(out, width=60)
    saved = SavedImage(0, None, Path("a.png"), 2048, None, "image/png", 1, 1, None)
    view.text("a quiet au")
    view.image_saved(saved)  # a download thread reports between "au" and "tumn"
    view.text("tumn lake\n")
    view.close()
    lines = Screen(60).feed(terminal.getvalue().replace("\n", "\r\n")).text()
    shown = [re.sub(f"^{STAMP}", "", line) for line in lines]
    mark = "✓ " if fancy else ""
    assert shown == ["model: a quiet", f"{mark}saved image 1: a.png (2.0 KB)", "model: autumn lake"]

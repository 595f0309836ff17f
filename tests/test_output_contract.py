"""The stdout/stderr contract scripts rely on: no escape codes when not a terminal, whatever
FORCE_COLOR or GITHUB_ACTIONS say; `--quiet`; `--json` on every failure class; the service's
text and links never drive a terminal; results reach a stdout of any encoding; the yes/no
question is asked on stderr and a Ctrl-C at it is always answered."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tests.conftest import RunCli, RunWan, run_on_a_terminal
from tests.fakeapi import FakeAPI, Reply, sse_chunk

API = "/v1/images/generations"
KEY = "sk-test-secret-key-9876"
ANSI = re.compile(r"\x1b[\[\]]")


def _args(fake: FakeAPI, out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "a [bold]red[/bold] fox",
        "--base-url",
        f"{fake.url}/v1",
        "-o",
        str(out),
        *extra,
    ]


@pytest.mark.parametrize(
    "forcing", [{"FORCE_COLOR": "1"}, {"GITHUB_ACTIONS": "true"}, {"TERM": "xterm-256color"}]
)
def test_no_escape_codes_when_piped_even_if_colour_is_forced(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path, forcing: dict[str, str]
) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="\x1b[31mred text\x1b[0m and [bold]markup[/bold]\n"),
                sse_chunk(image=fake_api.image_url(), finish="stop"),
            ]
        ),
    )
    done = run_wan_subprocess(_args(fake_api, tmp_path), env={"WAN_API_KEY": KEY, **forcing})
    assert done.returncode == 0, done.stderr
    assert not ANSI.search(done.stdout) and not ANSI.search(done.stderr)
    assert "[bold]markup[/bold]" in done.stderr  # service text shown literally, not as markup
    assert Path(done.stdout.strip()).exists()


def test_errors_are_escaped_too(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        Reply.json(
            {"code": "InvalidParameter", "message": "bad \x1b]0;pwned\x07 [red]x[/red]"}, status=400
        ),
    )
    done = run_wan_subprocess(
        _args(fake_api, tmp_path), env={"WAN_API_KEY": KEY, "FORCE_COLOR": "1"}
    )
    assert done.returncode == 4
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "[red]x[/red]" in done.stderr


def test_quiet_shows_errors_only(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(
        API,
        Reply.sse([sse_chunk(text="chatty"), sse_chunk(image=fake_api.image_url(), finish="stop")]),
        Reply.json({"code": "InvalidParameter", "message": "nope"}, status=400),
    )
    ok = run_cli(_args(fake_api, tmp_path, "-q"), env={"WAN_API_KEY": KEY})
    assert ok.exit_code == 0
    assert ok.stderr == ""
    assert Path(ok.stdout.strip()).exists()
    failed = run_cli(_args(fake_api, tmp_path, "-q"), env={"WAN_API_KEY": KEY})
    assert failed.exit_code == 4
    assert "nope" in failed.stderr


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply.json({"code": "InvalidApiKey", "message": "no"}, status=401), 3),
        (Reply.json({"code": "InvalidParameter", "message": "no"}, status=400), 4),
        (
            Reply.json(
                {"code": "Throttling", "message": "no"}, status=429, headers={"Retry-After": "0"}
            ),
            5,
        ),
        (
            Reply.json(
                {"code": "InternalError", "message": "no"}, status=500, headers={"Retry-After": "0"}
            ),
            6,
        ),
    ],
)
def test_json_document_on_each_failure_class(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, reply: Reply, code: int
) -> None:
    fake_api.add(API, reply)
    result = run_cli(
        _args(fake_api, tmp_path, "--json", "--retries", "1"), env={"WAN_API_KEY": KEY}
    )
    assert result.exit_code == code
    document = json.loads(result.stdout)  # exactly one JSON document
    assert document["exit_code"] == code
    assert document["images"] == []
    assert document["error"]["code"]
    assert document["prompt"] == "a [bold]red[/bold] fox"
    assert KEY not in result.stdout + result.stderr


def test_verbose_shows_request_metadata_without_the_key(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    result = run_cli(_args(fake_api, tmp_path, "-v"), env={"WAN_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    assert f"POST {fake_api.url}/v1/images/generations" in result.stderr
    assert (
        "Bearer sk-…9876" in result.stderr or "authorization: Bearer ***" in result.stderr.lower()
    )
    assert "HTTP 200" in result.stderr
    assert KEY not in result.stderr


# -- the service's text and links never drive the terminal -----------------------------------


@pytest.mark.regression("an unsaved link's control characters reached stdout (a terminal too)")
def test_an_unsaved_link_with_control_characters_cannot_drive_the_terminal(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # The link is printed with its control characters percent-encoded (as in any URL), and
    # still on one line.
    url = f"{fake_api.url}/img/a\x1b]0;pwned\x07\nb.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    result = run_cli(_args(fake_api, tmp_path), env={"WAN_API_KEY": KEY})
    assert result.exit_code == 7
    assert result.stdout == f"{fake_api.url}/img/a%1B]0;pwned%07%0Ab.png\n"


@pytest.mark.regression("the live view passed the model's escape codes (OSC title, colour) through")
def test_live_view_strips_control_sequences_from_the_models_text(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
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
    done = run_on_a_terminal(_args(fake_api, tmp_path), {"WAN_API_KEY": KEY})
    assert done.returncode == 0, done.shown
    assert "]0;pwned" in done.shown  # the text itself is shown, its escape codes are not
    assert "\x1b]0;" not in done.shown and "\x07" not in done.shown
    assert "\x1b[31mtext" not in done.shown


# -- results reach stdout whatever its encoding ------------------------------------------------

# A stdout that cannot encode CJK text: a Windows pipe (ANSI code page), a legacy locale.
ASCII_STDOUT = {"WAN_API_KEY": KEY, "PYTHONIOENCODING": "ascii"}


@pytest.mark.regression("--json crashed on a stdout that cannot encode the prompt")
def test_json_result_on_a_stdout_that_cannot_encode_the_prompt(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(text="一只猫 😺"), sse_chunk(image=fake_api.image_url(), finish="stop")]
        ),
    )
    argv = ["generate", "一只猫", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path), "--json"]
    done = run_wan_subprocess(argv, env=ASCII_STDOUT)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # the exact JSON, escaped to ASCII
    assert document["prompt"] == "一只猫" and document["text"] == "一只猫 😺"
    assert Path(document["images"][0]["path"]).exists()


@pytest.mark.regression("printing a saved path crashed on a stdout that cannot encode it")
def test_saved_path_on_a_stdout_that_cannot_encode_it(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    out = tmp_path / "猫"
    argv = ["generate", "a cat", "--base-url", f"{fake_api.url}/v1", "-o", str(out)]
    done = run_wan_subprocess(argv, env=ASCII_STDOUT)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    [saved] = [p for p in out.iterdir() if p.suffix == ".png"]
    assert line.endswith(saved.name) and "\\u732b" in line  # escaped, not a crash


# -- the yes/no question ------------------------------------------------------------------------


class _CtrlCOnFlush(io.StringIO):
    """A stderr where Ctrl-C lands the moment the prompt has been written."""

    def flush(self) -> None:
        raise KeyboardInterrupt


@pytest.mark.regression("Ctrl-C just after the [y/N] prompt was written exited 130 silently")
def test_ctrl_c_as_the_question_is_shown_is_interrupted_with_its_message() -> None:
    from wan_cli.errors import ExitCode, Interrupted
    from wan_cli.ui.output import ask_yes_no

    stderr = _CtrlCOnFlush()
    try:
        with pytest.raises(Interrupted, match="nothing deleted") as caught:
            ask_yes_no("Delete?", io.StringIO("y\n"), stderr, if_interrupted="nothing deleted")
    except KeyboardInterrupt:  # caught here, or pytest would stop the whole session
        pytest.fail("a bare KeyboardInterrupt escaped: exit 130 without the message")
    assert caught.value.exit_code == ExitCode.INTERRUPTED
    assert stderr.getvalue() == "Delete? [y/N] \n"


@pytest.mark.parametrize(
    ("typed", "yes"), [("y\n", True), ("YES\n", True), ("\n", False), ("", False)]
)
def test_the_question_defaults_to_no_and_is_asked_on_stderr(typed: str, yes: bool) -> None:
    from wan_cli.ui.output import ask_yes_no

    stderr = io.StringIO()
    assert ask_yes_no("Send?", io.StringIO(typed), stderr, if_interrupted="-") is yes
    assert stderr.getvalue() == "Send? [y/N] "

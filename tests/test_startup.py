"""Start-up stays cheap, and the views stay cheap while a stream runs.

- The CLI module imports only what `wan --help` uses; `wan --help`, `wan generate --help` and
  `wan config show` never load httpx, pydantic or rich.
- `app()` builds only the command that runs (`WanTyper`): its output must be exactly what the
  fully built tree (typer's own way, as CliRunner does it) prints.
- Parameters are converted without pydantic (`quick_value`): the same values typer gives.
- LiveView redraws at a bounded rate over a long stream; PlainView keeps every line intact.
Timings live in `python -m benchmarks.run` (docs/performance.md), not here.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IsolatedEnv

HEAVY = ("httpx", "httpx_sse", "pydantic", "rich", "sqlite3", "base64", "typer.rich_utils")


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def _imported_by(args: Sequence[str]) -> set[str]:
    """Every module the real `wan ARGS` imports (it runs as a child, like a user's shell)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "wan_cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_importing_the_cli_does_not_import_heavy_modules() -> None:
    for statement in ("import wan_cli.cli", "import wan_cli.cli.app"):
        loaded = _modules_after(statement)
        for heavy in (*HEAVY, "rich.live", "rich.progress", "json"):
            assert heavy not in loaded, f"{heavy} is imported by `{statement}`"


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["config", "show"]])
def test_start_up_commands_import_nothing_heavy(args: list[str], isolated_env: IsolatedEnv) -> None:
    isolated_env.config.write_text('[default]\nmodel = "wan2.6-image"\n', encoding="utf-8")
    loaded = _imported_by(args)
    assert "wan_cli.cli.app" in loaded
    for heavy in HEAVY:
        assert heavy not in loaded, f"`wan {' '.join(args)}` imports {heavy}"


def test_importing_the_app_leaves_garbage_collection_as_it_was() -> None:
    code = "import gc; import wan_cli.cli.app; print(gc.isenabled())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
    code = "import gc; gc.disable(); import wan_cli.cli.app; print(gc.isenabled())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# -- the lazily built command tree ------------------------------------------------------------

_RUN = """
import sys
from wan_cli.cli.app import app
args = sys.argv[2:]
if sys.argv[1] == "eager":
    from typer.main import get_command
    get_command(app)(args, prog_name="wan")
else:
    app(args, prog_name="wan")
"""


def _run_app(mode: str, args: Sequence[str]) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", _RUN, mode, *args], capture_output=True, text=True, env=env
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["--version"],
        ["generate", "--help"],
        ["edit", "-h"],
        ["config"],
        ["config", "show"],
        ["config", "set", "--help"],
        ["history", "--help"],
        ["generat"],  # a typo: the suggestion needs every command's name
        ["generate", "a fox", "--seed", "abc", "--dry-run"],  # typer's own error message
        ["generate", "a fox", "--seed", "7", "--size", "1280*1280", "--dry-run"],
        ["generate", "--bogus"],
    ],
    ids=lambda args: " ".join(args) or "(none)",
)
def test_lazy_tree_behaves_like_the_full_tree(args: list[str], isolated_env: IsolatedEnv) -> None:
    assert _run_app("lazy", args) == _run_app("eager", args)


def test_lazy_tree_builds_only_the_command_that_runs() -> None:
    from typer.main import get_command

    from wan_cli.cli.app import app
    from wan_cli.cli.fast_start import LazyCommands

    group = app.lazy_group()
    assert isinstance(group.commands, LazyCommands)
    eager: Any = get_command(app)
    assert list(group.commands) == list(eager.commands)  # same names, same order
    assert {"generate", "edit", "config", "doctor"} <= set(group.commands)
    assert app.registered_commands, "the app's registrations are restored"
    command = group.commands["config"]
    assert command.name == "config"
    assert group.commands["config"] is command  # built once
    assert group.commands.summary("config") is command
    stand_in = group.commands.summary("generate")
    assert stand_in.params == []  # the list in `wan --help` does not build parameters
    assert stand_in.help and stand_in.help.startswith("Create images")


# -- parameters converted without pydantic ----------------------------------------------------


def _descriptor(annotation: Any, **info: Any) -> Any:
    from wan_cli.compat import type_descriptor

    return type_descriptor(annotation, **info)


CASES: list[tuple[Any, dict[str, Any], Any]] = [
    (str, {}, "a red fox"),
    (str, {}, ""),
    (bool, {}, True),
    (bool, {}, False),
    (int, {}, "42"),
    (int, {}, "-7"),
    (int, {}, "007"),
    (int, {}, "2147483647"),
    (float, {}, "1.5"),
    (float, {}, "-2e3"),
    (float, {}, ".5"),
    (float, {}, "300"),
    (list[str], {}, ("a.png", "b.png")),
    (list[str], {}, ()),
    (Path, {}, "out/dir"),
    (Path, {}, "~/x.png"),
    (Path, {"resolve_path": True}, "out/../x"),
    (Path, {"exists": True, "dir_okay": False}, __file__),
]


@pytest.mark.parametrize(("annotation", "info", "value"), CASES, ids=repr)
def test_quick_conversion_gives_what_typer_gives(
    annotation: Any, info: dict[str, Any], value: Any
) -> None:
    from wan_cli.cli.fast_start import _NOT_QUICK, quick_value
    from wan_cli.compat import typer_conversion

    descriptor = _descriptor(annotation, **info)
    quick = quick_value(descriptor, value)
    assert quick is not _NOT_QUICK, "this value is expected to take the quick path"
    expected = typer_conversion(descriptor, value)  # called without a click context
    assert quick == expected
    assert type(quick) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "info", "value"),
    [
        (int, {}, "abc"),
        (int, {}, "+3"),
        (int, {}, "٣"),  # a non-ASCII digit
        (int, {}, "1_000"),
        (int, {"min": 0, "max": 9}, "12"),  # out of range: typer words the error
        (float, {}, "nan"),
        (float, {}, "1e"),
        (bool, {}, "yes"),
        (str, {}, b"bytes"),
        (list[int], {}, ("1",)),
        (Path, {}, ""),
    ],
    ids=repr,
)
def test_anything_unusual_is_left_to_typer(
    annotation: Any, info: dict[str, Any], value: Any
) -> None:
    from wan_cli.cli.fast_start import _NOT_QUICK, quick_value

    assert quick_value(_descriptor(annotation, **info), value) is _NOT_QUICK


def test_a_path_that_must_exist_fails_with_typers_message(tmp_path: Path) -> None:
    from typer import BadParameter

    from wan_cli.cli.fast_start import quick_value
    from wan_cli.compat import typer_conversion

    descriptor = _descriptor(Path, exists=True)
    missing = str(tmp_path / "missing.png")
    with pytest.raises(BadParameter) as quick:
        quick_value(descriptor, missing)
    with pytest.raises(BadParameter) as full:
        typer_conversion(descriptor, missing)  # called without a click context
    assert quick.value.message == full.value.message


# -- views over a long stream -----------------------------------------------------------------


@pytest.mark.parametrize("line_every", [20, 1], ids=["a line per 20 fragments", "every fragment"])
def test_live_view_redraws_at_a_bounded_rate(line_every: int) -> None:
    from benchmarks.liveview import count_live_writes
    from benchmarks.stream import sse_stream

    writes, seconds, allowed = count_live_writes(sse_stream(10_000, line_every=line_every))
    # 10,000 events, hundreds to thousands of lines: a redraw per event would be 10,000 writes.
    assert writes <= allowed, f"{writes} terminal writes in {seconds:.2f} s"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_view_prints_every_line_once_and_in_order() -> None:
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import LiveView

    terminal = _Terminal()
    view = LiveView(Output(stdout=io.StringIO(), stderr=terminal, fancy=True))
    fragments = ["Hel", "lo wor", "ld\nsecond", " line\n", "third\nfourth\nfif", "th"]
    for fragment in fragments:
        view.text(fragment)
    view.image_found(0, "https://example.com/a.png")
    view.text("after the image")
    view.close()
    text = _ANSI.sub("\n", terminal.getvalue())  # a cursor move starts a new line
    printed = [line.strip() for line in text.splitlines() if line.strip()]
    expected = ["Hello world", "second line", "third", "fourth", "fifth", "▣ image 1"]
    assert [line for line in printed if line in {*expected, "after the image"}] == [
        *expected,
        "after the image",
    ]


def test_plain_view_writes_whole_lines() -> None:
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import PlainView

    log = io.StringIO()
    view = PlainView(Output(stdout=io.StringIO(), stderr=log, fancy=False))
    for fragment in ["Hel", "lo\n", "a", "b\nc\nd", "e", "\n", "tail"]:
        view.text(fragment)
    assert log.getvalue().count("\n") == 4  # "Hello", "ab", "c", "de": complete lines only
    view.close()
    lines = [line.split(" ", 1)[1] for line in log.getvalue().splitlines()]
    assert lines == ["Hello", "ab", "c", "de", "tail"]


def test_plain_view_handles_a_long_line_in_linear_time() -> None:
    """A line made of 200,000 fragments: joined once, not re-copied per fragment."""
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import PlainView

    log = io.StringIO()
    view = PlainView(Output(stdout=io.StringIO(), stderr=log, fancy=False))
    for _ in range(200_000):
        view.text("word ")
    view.text("end\n")
    assert log.getvalue().endswith("word end\n")
    assert len(log.getvalue()) > 1_000_000


# -- help on a terminal -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["config", "show", "--help"]])
def test_help_is_styled_only_on_a_colour_terminal(args: list[str]) -> None:
    from benchmarks.measure import run_child

    argv = [sys.executable, "-m", "wan_cli", *args]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    styled = run_child(argv, env={**env, "TERM": "xterm-256color"}, terminal=True)
    assert styled.returncode == 0
    assert "\x1b[1mUsage: \x1b[0m" in styled.stdout
    assert "\x1b[36m\x1b[1m-h, --help\x1b[0m" in styled.stdout
    plain = _ANSI.sub("", styled.stdout)
    for no_colour in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        run = run_child(argv, env={**env, **no_colour}, terminal=True)
        assert "\x1b[" not in run.stdout
        assert run.stdout.replace("\r", "").split() == plain.split()  # the same words
    piped = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    assert "\x1b[" not in piped.stdout

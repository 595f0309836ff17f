"""`wan_cli.compat`, the one module that imports typer's and httpx-sse's private modules.

- What the adapter builds behaves as typer and httpx-sse do through their public API: a small
  typer app run the stock way (`CliRunner`, which builds it with `typer.main.get_command`) and
  the `wan` way (`WanTyper`: the lazy group, parameters converted by `quick_value` first) gives
  the same values, errors, exit codes and help; `iter_sse` gives the messages httpx-sse's
  public `EventSource` gives.
- No other module imports a private typer or httpx-sse module (the source is read with ast).
"""

from __future__ import annotations

import ast
import enum
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from wan_cli.cli.fast_start import LightGroup, WanTyper

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "wan_cli" / "compat.py"
PRIVATE_ROOTS = ("typer", "httpx_sse")


# -- the same app, stock and fast ---------------------------------------------------------------


class Mode(enum.Enum):
    fast = "fast"
    slow = "slow"


def _root() -> None:
    """A demo app."""


def _run(
    name: Annotated[str, typer.Argument(help="Who.")],
    count: Annotated[int, typer.Option("--count", "-c", help="How many.")] = 1,
    ratio: Annotated[float, typer.Option(help="A fraction.")] = 0.5,
    level: Annotated[int, typer.Option(min=0, max=9, help="0..9.")] = 3,
    limit: Annotated[int | None, typer.Option(help="At most.", show_default=False)] = None,
    retries: Annotated[int | None, typer.Option(envvar="DEMO_RETRIES")] = None,
    timeout: Annotated[float | None, typer.Option(metavar="SECONDS")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")] = False,
    color: Annotated[bool, typer.Option("--color/--no-color")] = True,
    watermark: Annotated[bool | None, typer.Option("--watermark/--no-watermark")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tags.")] = None,
    out: Annotated[Path, typer.Option(help="Where.")] = Path("out"),
    src: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    mode: Annotated[Mode, typer.Option(help="How.")] = Mode.fast,
    size: Annotated[str | None, typer.Option("--size", "-s", metavar="W*H")] = None,
) -> None:
    """Run the demo: prints every value it was given, with its type."""
    values = {
        "name": name,
        "count": count,
        "ratio": ratio,
        "level": level,
        "limit": limit,
        "retries": retries,
        "timeout": timeout,
        "verbose": verbose,
        "color": color,
        "watermark": watermark,
        "tag": tag,
        "out": out,
        "src": src,
        "mode": mode,
        "size": size,
    }
    for key, value in values.items():
        typer.echo(f"{key}={value!r} ({type(value).__name__})")


_SETTINGS: dict[str, Any] = {
    "name": "demo",
    "help": "A demo app.",
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
}


def _stock_app() -> typer.Typer:
    app = typer.Typer(**_SETTINGS)
    app.callback()(_root)
    app.command("run")(_run)
    return app


def _fast_app() -> WanTyper:
    app = WanTyper(cls=LightGroup, **_SETTINGS)
    app.callback()(_root)
    app.command("run")(_run)
    return app


def _run_stock(args: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(_stock_app(), list(args), env=dict(env), prog_name="demo")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _run_fast(args: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    """As `wan` runs: `app()` (the lazy group), in CliRunner's isolated streams."""
    app = _fast_app()
    with CliRunner().isolation(env=dict(env)) as (_, _, output):
        try:
            app(list(args), prog_name="demo")
            code: Any = 0
        except SystemExit as exit:
            code = exit.code
        sys.stdout.flush()
        return code, output.getvalue().decode()


@pytest.fixture
def existing(tmp_path: Path) -> str:
    path = tmp_path / "in.png"
    path.write_bytes(b"\x89PNG")
    return str(path)


CASES: list[tuple[list[str], dict[str, str]]] = [
    (["run", "fox"], {}),
    (
        # every option given a plain value: the quick path for all but --level and --mode
        ["run", "fox", "-c", "3", "--ratio", "1.5", "--level", "9", "--limit", "5"]
        + ["--timeout", "300", "-v", "--no-color", "--watermark", "-t", "a", "-t", "b"]
        + ["--out", "x/y", "--mode", "slow", "-s", "1280*1280", "--src", "{existing}"],
        {},
    ),
    (["run", "fox", "--count", "-7", "--ratio", "-2e3", "--tag", ""], {}),
    (["run", "fox", "--count", "007", "--ratio", ".5", "--out", "~/x.png"], {}),
    (["run", "fox", "--count", "1_000", "--ratio", "nan"], {}),  # typer's own conversion
    (["run", "fox", "--no-watermark", "--out", "a/../b"], {}),
    (["run", "fox"], {"DEMO_RETRIES": "4"}),
    (["run", "fox"], {"DEMO_RETRIES": "four"}),
    # bad values: typer's messages and exit code 2
    (["run", "fox", "--count", "abc"], {}),
    (["run", "fox", "--count", "+"], {}),
    (["run", "fox", "--ratio", "1e"], {}),
    (["run", "fox", "--ratio", "x"], {}),
    (["run", "fox", "--level", "11"], {}),
    (["run", "fox", "--limit", "x"], {}),
    (["run", "fox", "--mode", "bogus"], {}),
    (["run", "fox", "--src", "{missing}"], {}),
    (["run", "fox", "--src", "{directory}"], {}),
    (["run", "fox", "--out", ""], {}),
    (["run", "fox", "--bogus"], {}),
    (["run", "fox", "--count"], {}),
    (["run"], {}),
    (["walk"], {}),
    ([], {}),
    # help
    (["--help"], {}),
    (["run", "--help"], {}),
]


def _fill(args: list[str], existing: str, tmp_path: Path) -> list[str]:
    names = {"existing": existing, "missing": str(tmp_path / "no.png"), "directory": str(tmp_path)}
    return [arg.format(**names) if arg.startswith("{") else arg for arg in args]


def _case_id(case: tuple[list[str], dict[str, str]]) -> str:
    args, env = case
    return " ".join([*(f"{k}={v}" for k, v in env.items()), *args]) or "(none)"


@pytest.mark.parametrize(("args", "env"), CASES, ids=[_case_id(case) for case in CASES])
def test_fast_path_gives_what_stock_typer_gives(
    args: list[str],
    env: dict[str, str],
    existing: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # `out` stays relative; resolved paths land here
    args = _fill(args, existing, tmp_path)
    stock = _run_stock(args, env)
    assert _run_fast(args, env) == stock


def test_the_quick_path_is_taken_for_plain_values(
    existing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The equality above is not vacuous: `quick_value` converts the plain values itself."""
    from wan_cli.cli import fast_start

    seen: dict[str, bool] = {}
    quick_value = fast_start.quick_value

    def recording(descriptor: Any, value: Any, param: Any = None, ctx: Any = None) -> Any:
        converted = quick_value(descriptor, value, param, ctx)
        seen[param.name] = converted is not fast_start._NOT_QUICK
        return converted

    monkeypatch.setattr(fast_start, "quick_value", recording)
    monkeypatch.chdir(tmp_path)
    code, output = _run_fast(_fill(CASES[1][0], existing, tmp_path), {})
    assert code == 0, output
    quick = {name for name, taken in seen.items() if taken}
    # The flags are not here: typer passes a flag's bool through without converting it. An int
    # range ("level") is quick when its value is in range; out of range, typer words the error.
    assert quick == {
        *("name", "count", "level", "ratio", "limit", "timeout", "tag", "out", "src", "size")
    }
    assert "mode" in set(seen) - quick  # a choice: typer converts it


def test_click_exceptions_are_told_apart() -> None:
    from wan_cli.compat import is_click_exception

    assert is_click_exception(typer.BadParameter("no"))
    with pytest.raises(Exception) as usage:
        typer.main.get_command(_stock_app()).main(["run"], standalone_mode=False)
    assert is_click_exception(usage.value)  # a missing argument: click's UsageError
    for other in (typer.Exit(2), typer.Abort(), ValueError("x"), KeyboardInterrupt()):
        assert not is_click_exception(other)


def test_option_names_are_joined_as_help_shows_them() -> None:
    from wan_cli.compat import join_options

    assert join_options(["--count", "-c"]) == "-c, --count"
    assert join_options(["--size"]) == "--size"
    _, help_text = _run_stock(["run", "--help"], {})
    assert "-c, --count" in help_text


# -- httpx-sse ----------------------------------------------------------------------------------

STREAM = (
    b": a comment\r\n"
    b"event: start\r\ndata: {}\r\n\r\n"
    b"data: first line\ndata: second line\nid: 7\n\n"
    b"retry: 1000\ndata: after retry\n\n"
    b"data:no space\rdata:  two spaces\r\r"
    b"event: delta\ndata: caf\xc3\xa9 \xe2\x9c\x93\n\n"
    b"unknown: field\ndata\n\n"
    b"event: done\ndata: [DONE]\n\n"
)


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("size", [1, 2, 7, len(STREAM)])
def test_iter_sse_gives_what_httpx_sse_gives(size: int) -> None:
    import httpx
    from httpx_sse import EventSource

    from wan_cli.api.sse import iter_sse

    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=utf-8"},
        content=_chunks(STREAM, size),
    )
    public = [
        (sse.event, sse.data, sse.id)
        for sse in EventSource(response).iter_sse()
        if sse.data or sse.event != "message"  # iter_sse skips messages with nothing in them
    ]
    ours = [tuple(message) for message in iter_sse(_chunks(STREAM, size))]
    assert ours == public
    assert len(ours) == 6


# -- the one adapter ----------------------------------------------------------------------------


def _private_imports(path: Path) -> Iterator[str]:
    """Each import in `path` of a private module or name of typer or httpx-sse."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            root, *rest = target.split(".")
            if root in PRIVATE_ROOTS and any(part.startswith("_") for part in rest):
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {target}"


def test_only_the_adapter_imports_private_typer_or_httpx_sse_modules() -> None:
    sources = [
        path
        for folder in ("wan_cli", "scripts", "benchmarks", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
    ]
    assert ADAPTER in sources
    found = [hit for path in sources if path != ADAPTER for hit in _private_imports(path)]
    assert found == [], "import these through wan_cli/compat.py:\n" + "\n".join(found)
    assert list(_private_imports(ADAPTER)), "the scan finds the adapter's own imports"


def test_the_adapter_loads_neither_typer_nor_httpx_on_import() -> None:
    import subprocess

    code = "import sys, wan_cli.compat; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert not {"typer", "httpx", "httpx_sse"} & loaded

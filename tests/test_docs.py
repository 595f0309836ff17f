"""The documentation cannot drift from the code.

- docs/cli.md is exactly what `scripts/gen_docs.py` makes from the app (run it to fix a failure);
- the hand-written pages name every setting, variable, exit code, error class and service code
  the code knows, and the service limits `request.py` enforces;
- every example command in README.md and docs/*.md runs: in-process, in a throw-away
  environment, with `--dry-run` added where it would send a request.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import itertools
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import IsolatedEnv, RunCli
from tests.fakeapi import (
    FakeAPI,
    Reply,
    bmp_bytes,
    jpeg_bytes,
    png_bytes,
    sse_chunk,
    webp_bytes,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = sorted([ROOT / "README.md", *DOCS.glob("*.md")], key=lambda p: str(p.relative_to(ROOT)))
REGENERATE = "run `python scripts/gen_docs.py` and commit the result"
EXAMPLE_KEY = "sk-example-0123456789abcdef"


def load_gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- the generated reference ----------------------------------------------------------------


def test_cli_reference_is_current() -> None:
    gen = load_gen_docs()
    expected = gen.cli_reference()
    committed = _read(ROOT / gen.CLI_DOC)
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(), expected.splitlines(), "committed", "generated", lineterm=""
        )
        excerpt = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/cli.md is stale: {REGENERATE}\n{excerpt}")


def test_generation_is_deterministic() -> None:
    gen = load_gen_docs()
    first = gen.generated_files()
    assert gen.generated_files() == first
    for path, content in first.items():
        assert str(ROOT) not in content, f"{path} contains an absolute path"
        assert str(Path.home()) not in content, f"{path} contains the home directory"
        assert content.endswith("\n") and not content.endswith("\n\n"), path


def test_the_script_checks_from_a_plain_checkout() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def _commands(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    import typer

    yield command, ctx
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _commands(sub, typer.Context(sub, info_name=name, parent=ctx))


def _app_commands() -> list[tuple[Any, Any]]:
    import typer
    from typer.main import get_command

    from wan_cli.cli.app import app

    root = get_command(app)
    return list(_commands(root, typer.Context(root, info_name="wan")))


def test_reference_lists_every_command_and_option() -> None:
    reference = _read(DOCS / "cli.md")
    for command, ctx in _app_commands():
        assert f"# {ctx.command_path}\n" in reference, ctx.command_path
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            for name in [*param.opts, *param.secondary_opts]:
                if name.startswith("--"):
                    assert name in reference, f"{ctx.command_path} {name}"


def test_settings_options_of_the_reference_exist() -> None:
    """The generator's option → setting map names real options of real settings."""
    from wan_cli.settings import KEYS

    gen = load_gen_docs()
    commands = {ctx.command_path: command for command, ctx in _app_commands()}
    for path in gen.SETTINGS_COMMANDS:
        names = {param.name for param in commands[path].params}
        for name, key in gen.settings_options().items():
            assert name in names, f"{path} has no option {name}"
            assert key in KEYS, key


def test_every_command_has_a_short_description() -> None:
    for command, ctx in _app_commands():
        assert (command.help or "").strip(), f"`{ctx.command_path}` has no help text"


def test_generate_and_edit_help_show_examples(run_cli: RunCli) -> None:
    for name in ("generate", "edit"):
        result = run_cli([name, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.stdout
        assert f"wan {name} " in result.stdout.split("Examples:", 1)[1]


def test_every_command_help_shows_an_example() -> None:
    missing = [
        ctx.command_path
        for command, ctx in _app_commands()
        if ctx.parent is not None and f"{ctx.command_path}" not in (command.help or "")
    ]
    assert not missing, f"no example in --help of: {', '.join(missing)}"


def test_bare_wan_prints_help_to_stderr_and_exits_2(run_cli: RunCli) -> None:
    """What docs/cli.md and docs/output.md promise (click's rule for a missing command)."""
    result = run_cli([])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: wan [OPTIONS] COMMAND")
    helped = run_cli(["--help"])
    assert helped.exit_code == 0
    assert helped.stdout.startswith("Usage: wan [OPTIONS] COMMAND")


# -- the hand-written pages name what the code knows ------------------------------------------


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    names: set[str] = set()
    for source in (ROOT / "wan_cli").rglob("*.py"):
        names.update(re.findall(r"\b(?:WAN_[A-Z][A-Z_]*|DASHSCOPE_API_KEY)\b", _read(source)))
    assert "WAN_API_KEY" in names
    configuration, reference = _read(DOCS / "configuration.md"), _read(DOCS / "cli.md")
    for name in sorted(names):
        assert f"`{name}`" in configuration, f"{name} is not in docs/configuration.md"
        assert f"`{name}`" in reference, f"{name} is not in docs/cli.md"


def test_every_setting_is_documented() -> None:
    from wan_cli.settings import ENV_VARS, KEYS

    configuration = _read(DOCS / "configuration.md")
    for key in KEYS:
        row = re.search(rf"^\| `{re.escape(key)}` \|.*$", configuration, re.MULTILINE)
        assert row, f"setting {key} has no row in docs/configuration.md"
        if key in ENV_VARS:
            assert f"`{ENV_VARS[key]}`" in row.group(0), key


def test_every_exit_code_is_documented() -> None:
    from wan_cli.errors import ExitCode

    output = _read(DOCS / "output.md")
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", output, re.MULTILINE), f"exit {int(code)}"


def _service_codes() -> set[str]:
    from wan_cli import errors

    codes = set(errors.AUTH_CODES | errors.MODERATION_CODES | errors.QUOTA_CODES)
    # Codes the classifier names inline ("SystemError", prefixes such as "InternalError").
    codes.update(re.findall(r'"([A-Z][A-Za-z]+(?:\.[A-Za-z]+)*)"', inspect.getsource(errors)))
    return codes


def test_every_error_class_and_service_code_is_explained() -> None:
    from wan_cli import errors

    troubleshooting = _read(DOCS / "troubleshooting.md")
    classes = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.WanError) and cls is not errors.WanError
    }
    for name in sorted(classes):
        assert f"| `{name}` |" in troubleshooting, f"error class {name}"
    for code in sorted(_service_codes()):
        assert f"`{code}`" in troubleshooting, f"service code {code}"


def test_provider_page_states_the_enforced_limits() -> None:
    from wan_cli.api import request

    providers = _read(DOCS / "providers.md")
    for sizes in request.RECOMMENDED_SIZES.values():
        for size in sizes:
            assert f"`{size}`" in providers, size
    for url in request.DEFAULT_BASE_URLS.values():
        assert url in providers
    for path in request.ENDPOINT_PATHS.values():
        assert path in providers
    for limit in (request.MAX_PROMPT_CHARS, request.MAX_NEGATIVE_PROMPT_CHARS, request.MAX_SEED):
        assert str(limit) in providers
    for mode, (low, high) in request.PIXEL_RANGE.items():
        assert f"{low}²–{high}²" in providers, mode
    for low, high in (request.MAX_IMAGES_RANGE, request.N_RANGE):
        assert f"{low}–{high}" in providers
    assert f"1:{request.MAX_ASPECT} to {request.MAX_ASPECT}:1" in providers


def test_relative_links_point_to_files() -> None:
    for path in DOC_FILES:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", _read(path)):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


# -- every example runs ------------------------------------------------------------------------


@dataclass
class Example:
    where: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    expected: int = 0


_OPERATORS = {";", "&&", "||", "|", "&", "(", ")"}
_REDIRECTS = {">", ">>", "<", "&>", ">&", "<<<"}
_KEYWORDS = {"if", "!", "then", "do", "else", "elif", "while", "until", "time"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_EXPECTED = re.compile(r"#.*\bexit (\d+)")
_NOT_RUN = ("--install-completion", "--show-completion")  # tests/test_completions.py runs them


def _shell_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, command line) of fenced shell blocks, `run:` steps of YAML blocks, and
    `wan …` lines of unlabelled blocks; continuation lines are joined."""
    fence: str | None = None
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip().lower()
            continue
        if fence is None:
            continue
        if fence in ("bash", "sh", "shell", "console", "zsh"):
            command = stripped[2:] if fence == "console" and stripped.startswith("$ ") else stripped
        elif fence in ("yaml", "yml"):
            found = re.match(r"^(?:- )?run:\s*(.+)$", stripped)
            command = found.group(1) if found else ""
        elif fence == "":
            command = stripped if re.match(r"^(?:\$ )?wan\s", stripped) else ""
            command = command.removeprefix("$ ")
        else:
            continue
        if not pending:
            start = number
        if command.endswith("\\"):
            pending += command[:-1] + " "
            continue
        yield start, pending + command
        pending = ""


def _expand(token: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: variables.get(m[1], m[0]), token)


def examples(path: Path) -> list[Example]:
    """Every `wan` command in a markdown file, with the environment its block builds up."""
    found: list[Example] = []
    exported: dict[str, str] = {}
    variables = {"KEY": EXAMPLE_KEY, "SECRET": EXAMPLE_KEY, "WAN_API_KEY": EXAMPLE_KEY}
    for number, line in _shell_lines(_read(path)):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        expected = _EXPECTED.search(line)
        groups: list[tuple[str | None, list[str]]] = [(None, [])]
        for token in tokens:
            if token in _OPERATORS:
                groups.append((token, []))
            else:
                groups[-1][1].append(token)
        previous: list[str] = []
        for joined_by, group in groups:
            words = list(group)
            while words and words[0] in _KEYWORDS:
                words.pop(0)
            if words[:1] == ["export"]:
                for word in words[1:]:
                    name, _, value = word.partition("=")
                    exported[name] = _expand(value, {**variables, **exported})
                previous = words
                continue
            env: dict[str, str] = {}
            while words and _ASSIGNMENT.match(words[0]):
                name, _, value = words.pop(0).partition("=")
                env[name] = _expand(value, {**variables, **exported})
            stdin = None
            if joined_by == "|" and previous[:1] == ["echo"]:
                stdin = " ".join(_expand(w, {**variables, **exported}) for w in previous[1:]) + "\n"
            argv: list[str] = []
            index = 0
            while index < len(words):
                word = words[index]
                if word in _REDIRECTS:
                    if word == "<":
                        stdin = EXAMPLE_KEY + "\n"
                    index += 2
                    continue
                if word.isdigit() and index + 1 < len(words) and words[index + 1] in _REDIRECTS:
                    index += 1  # a file descriptor: 2>/dev/null
                    continue
                argv.append(_expand(word, {**variables, **exported}))
                index += 1
            previous = words
            if not argv or Path(argv[0]).name != "wan" or any(a in _NOT_RUN for a in argv):
                continue
            if argv[1:3] == ["mock", "serve"]:
                continue  # serves until stopped: tests/test_mock.py runs it, and docs/mock.md's CI

            found.append(
                Example(
                    where=f"{path.relative_to(ROOT)}:{number}",
                    argv=argv[1:],
                    env={**exported, **env},
                    stdin=stdin,
                    expected=int(expected.group(1)) if expected else 0,
                )
            )
    return found


_IMAGE_MAKERS = {".jpg": jpeg_bytes, ".jpeg": jpeg_bytes, ".webp": webp_bytes, ".bmp": bmp_bytes}
# Input files an example may name, by extension: prompts one per line, or JSON lines.
_TEXT_INPUTS = {".txt": "a red fox in the snow\n", ".jsonl": '{"prompt": "a red fox"}\n'}
_OUTPUT_OPTIONS = {"-o", "--output", "--output-dir"}


def _prepare_files(argv: list[str], cwd: Path) -> None:
    """Create the local files an example reads (reference images, prompt and batch files,
    a folder of generated images for `wan gallery DIR`)."""
    if argv[:1] == ["gallery"] and len(argv) > 1 and not argv[1].startswith("-"):
        _generated_images(cwd / argv[1])
    for option, value in itertools.pairwise(["", *argv]):
        if value.startswith(("http://", "https://", "data:", "~", "-")):
            continue
        target = cwd / value
        if target.exists() or option in _OUTPUT_OPTIONS:
            continue
        if option in ("-r", "--ref"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_IMAGE_MAKERS.get(target.suffix.lower(), png_bytes)(320, 320))
        elif target.suffix.lower() in _TEXT_INPUTS:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_TEXT_INPUTS[target.suffix.lower()], encoding="utf-8")


def _generated_images(folder: Path) -> None:
    """One image with its provenance sidecar, as `wan generate` leaves them."""
    from wan_cli.files.provenance import build_metadata, write_sidecar

    folder.mkdir(parents=True, exist_ok=True)
    image = folder / "a-red-fox-20260101-120000-1.png"
    if not image.exists():
        image.write_bytes(png_bytes(320, 320))
        write_sidecar(image, build_metadata(prompt="a red fox", index=0, model="wan2.6-image"))


def _asks_for_the_key(argv: list[str]) -> bool:
    """`wan config set api-key` without a value (it prompts, or reads stdin)."""
    if argv[:3] != ["config", "set", "api-key"]:
        return False
    rest = argv[3:]
    positional = [
        w
        for i, w in enumerate(rest)
        if not w.startswith("-") and (i == 0 or rest[i - 1] not in ("-p", "--profile"))
    ]
    return not positional


def _command_for(argv: list[str]) -> Any:
    """The app's (sub)command that `wan ARGV` runs."""
    commands = {ctx.command_path: command for command, ctx in _app_commands()}
    path, found = "wan", commands["wan"]
    for word in argv:
        if f"{path} {word}" not in commands:
            break
        path += f" {word}"
        found = commands[path]
    return found


def _as_dry_run(argv: list[str]) -> list[str]:
    """Add `--dry-run` to every command that has it (those that would send a request)."""
    options = {name for param in _command_for(argv).params for name in param.opts}
    if "--dry-run" in options and not {"--dry-run", "--curl", "--help", "-h"} & set(argv):
        return [*argv, "--dry-run"]
    return argv


def _serve_tasks(fake_api: FakeAPI, task_ids: set[str]) -> None:
    """The fake service knows each task an example names: finished, with one image."""
    from wan_cli.mock import shapes

    for task_id in sorted(task_ids):
        document = shapes.task_document(
            task_id,
            "SUCCEEDED",
            request_id=f"req-{task_id}",
            images=[fake_api.image_url(f"{task_id}.png")],
            usage_now={"image_count": 1},
        )
        fake_api.add(f"/v1/tasks/{task_id}", Reply.json(document))
        # `wan task cancel ID` examples: the service accepts the cancel.
        fake_api.add(f"/v1/tasks/{task_id}/cancel", Reply.json({"request_id": f"req-{task_id}"}))


def _seed_history(run_cli: RunCli, fake_api: FakeAPI, database: Path, ids: set[int]) -> None:
    """Real runs against the fake server, so `wan history … ID` examples find run ID."""
    import sqlite3

    fake_api.add(
        "/v1/images/generations",
        Reply.sse(
            [sse_chunk(text="A red fox."), sse_chunk(image=fake_api.image_url(), finish="stop")]
        ),
    )
    env = {"WAN_API_KEY": EXAMPLE_KEY, "WAN_BASE_URL": f"{fake_api.url}/v1"}
    for run_id in sorted(ids):
        if database.exists():  # the next run gets id `run_id` (runs.id is AUTOINCREMENT)
            with sqlite3.connect(database) as conn:
                conn.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = 'runs'", (run_id - 1,)
                )
            conn.close()
        result = run_cli(["generate", "a red fox", "-o", "seeded"], env=env)
        assert result.exit_code == 0, result.stderr


def _stage(
    found: list[Example],
    cwd: Path,
    run_cli: RunCli,
    fake_api: FakeAPI,
    isolated_env: IsolatedEnv,
    monkeypatch: pytest.MonkeyPatch,
) -> int:
    """A reader's world for `found`: the files they name in `cwd` (the current directory from
    now on), the past runs and tasks they ask about, and the environment pointing `wan` at the
    fake server (inherited by subprocesses too). Returns the requests the seeding sent."""
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    run_ids = {
        int(e.argv[2])
        for e in found
        if e.argv[:1] == ["history"] and len(e.argv) > 2 and e.argv[2].isdigit()
    }
    if run_ids:
        _seed_history(run_cli, fake_api, isolated_env.history, run_ids | {1})
    task_ids = {e.argv[2] for e in found if e.argv[:1] == ["task"] and len(e.argv) > 2}
    _serve_tasks(fake_api, task_ids)
    monkeypatch.setenv("WAN_BASE_URL", f"{fake_api.url}/v1")
    monkeypatch.setenv("WAN_POLL_INTERVAL", "0")
    monkeypatch.setenv("BROWSER", "true")  # `wan gallery --open` opens nothing
    for example in found:
        _prepare_files(_as_dry_run(example.argv), cwd)
    return len(fake_api.requests_to("/v1/images/generations"))


def test_examples_are_found() -> None:
    readme = examples(ROOT / "README.md")
    assert len(readme) >= 8
    assert any(e.argv[:1] == ["edit"] for e in readme)
    for path in DOC_FILES:
        assert examples(path), f"{path.name} has no example command"
    output = examples(DOCS / "output.md")
    assert any(e.stdin == "a red fox\n" for e in output), "the `echo … | wan generate` example"
    assert any(e.where.endswith(tuple(f":{n}" for n in range(1, 999))) for e in output)


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_command_runs(
    path: Path,
    run_cli: RunCli,
    fake_api: FakeAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_env: IsolatedEnv,
) -> None:
    """Run the page's commands in order, like a reader would, in a fresh config directory.

    Examples about past runs (`wan history … 42`) get real runs with those ids first, made
    against the fake server. The examples themselves send nothing: `--dry-run` is added.
    """
    cwd = tmp_path / "work"
    found = examples(path)
    seeded = _stage(found, cwd, run_cli, fake_api, isolated_env, monkeypatch)
    for example in found:
        argv = _as_dry_run(example.argv)
        stdin = example.stdin
        if stdin is None and _asks_for_the_key(argv):
            stdin = EXAMPLE_KEY + "\n"  # the hidden prompt's answer
        env = dict(example.env)
        if argv[:1] == ["task"]:  # asks the (fake) DashScope service about a task
            env.setdefault("WAN_API_KEY", EXAMPLE_KEY)
            env.setdefault("WAN_PROVIDER", "dashscope")  # so WAN_BASE_URL is DashScope's
        result = run_cli(argv, input=stdin, env=env)
        assert result.exit_code == example.expected, (
            f"{example.where}: wan {shlex.join(argv)} exited {result.exit_code}, "
            f"expected {example.expected}\nstderr: {result.stderr}\nexception: {result.exception!r}"
        )
        assert EXAMPLE_KEY not in result.stdout + result.stderr or "--reveal" in argv
    sent = len(fake_api.requests_to("/v1/images/generations")) - seeded
    assert sent == 0, "an example sent a request despite --dry-run"


# -- zsh: a `*` in an unquoted word is a glob, and a glob that matches nothing is an error -------

_SIZE = re.compile(r"\d+\*\d+")
_BARE_SIZE = re.compile(r"\s*\d+\*\d+\s*")
_EXAMPLE_LINE = re.compile(r"^\s*(?:\$ )?wan\s")


def unquoted_sizes(command: str) -> list[str]:
    """The `W*H` words of a shell command line whose `*` is outside '…', "…" or a backslash:
    zsh would expand them as globs (`zsh: no matches found: 1280*720`)."""
    quoted = [False] * len(command)
    quote: str | None = None
    index = 0
    while index < len(command):
        char = command[index]
        if quote is None and char == "\\":
            quoted[index : index + 2] = [True] * len(quoted[index : index + 2])
            index += 2
            continue
        if quote is None and char in "'\"":
            quote = char
        elif quote is not None and char == quote:
            quote = None
        elif quote == '"' and char == "\\":
            index += 1
        quoted[index] = quote is not None
        index += 1
    return [
        m.group(0) for m in _SIZE.finditer(command) if not quoted[m.group(0).index("*") + m.start()]
    ]


def prose_sizes(line: str) -> list[str]:
    """`W*H` in prose must be code (`1280*720`, a value), and in code a quoted word when the
    code is a command (`--size '1280*720'`); markdown would also read a bare `*` as emphasis."""
    bad: list[str] = []
    for number, part in enumerate(line.split("`")):
        if number % 2 == 0:
            bad += _SIZE.findall(part)
        elif not _BARE_SIZE.fullmatch(part):
            bad += unquoted_sizes(part)
    return bad


def _markdown_sizes(text: str) -> Iterator[tuple[int, str, str]]:
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        for size in unquoted_sizes(line) if fenced else prose_sizes(line):
            yield number, size, line.strip()


def _help_sizes(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        example = _EXAMPLE_LINE.match(line)
        for size in unquoted_sizes(line) if example else prose_sizes(line):
            yield size, line.strip()


def test_the_size_scanner_finds_what_zsh_would_glob() -> None:
    assert unquoted_sizes("wan generate 'a fox' --size 1280*720") == ["1280*720"]
    assert unquoted_sizes('wan generate "the fox\'s den" -s 1280*720 --seed 1') == ["1280*720"]
    for fine in ("--size '1280*720'", '--size "1280*720"', "--size 1280\\*720", "--size 1280x720"):
        assert unquoted_sizes(fine) == [], fine
    assert unquoted_sizes('{"size": "1280*720"}') == []
    assert prose_sizes("else 1280*1280.") == ["1280*1280"]
    assert prose_sizes("sizes `1280*1280` (1:1), `720*1280`") == []
    assert prose_sizes("run `wan generate x --size 1280*720`") == ["1280*720"]
    assert prose_sizes("run `wan generate x --size '1280*720'`") == []
    assert list(_help_sizes("Examples:\n\n  wan generate x --size 1280*720\n")) == [
        ("1280*720", "wan generate x --size 1280*720")
    ]


@pytest.mark.regression("the README tour's `--size 1280*720` failed in zsh: no matches found")
def test_no_unquoted_size_in_the_docs_or_any_help() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{number}: {size} in: {line}"
        for path in DOC_FILES
        for number, size, line in _markdown_sizes(_read(path))
    ]
    for command, ctx in _app_commands():
        texts = [command.help or "", command.epilog or ""]
        texts += [getattr(param, "help", None) or "" for param in command.params]
        problems += [
            f"`{ctx.command_path} --help`: {size} in: {line}"
            for text in texts
            for size, line in _help_sizes(text)
        ]
    assert not problems, "quote W*H (--size '1280*720') or write 1280x720:\n" + "\n".join(problems)


_ZSH_WRAPPER = r"""
wan() {
    # Record the words zsh made of the line, then run the real `wan`, sending nothing.
    print -rn -- "${(pj:\x1f:)@}"$'\x1e' >> "$WAN_ARGV_LOG"
    local -a extra
    if (( ${dry_run[(Ie)$1]} || ${dry_run[(Ie)$1 $2]} )) \
        && (( ! ${@[(Ie)--dry-run]} && ! ${@[(Ie)--curl]} && ! ${@[(Ie)--help]} )); then
        extra=(--dry-run)
    fi
    local -a env_=()
    [[ $1 == task ]] && env_=(WAN_PROVIDER=dashscope WAN_API_KEY=${WAN_API_KEY:-$EXAMPLE_KEY})
    if [[ -p /dev/stdin ]]; then
        env $env_ wan "$@" $extra
    else
        env $env_ wan "$@" $extra < "$WAN_KEY_FILE"  # a hidden prompt's answer
    fi
}
"""
_READER_COMMANDS = {"wan", "echo", "printf", "export"}


def _reader_lines(path: Path) -> list[tuple[int, str]]:
    """The page's shell lines that a reader runs with `wan` alone (no pip, venv, cp…)."""
    chosen = []
    for number, line in _shell_lines(_read(path)):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[list[str]] = [[]]
        for token in lexer:
            if token in _OPERATORS:
                words.append([])
            else:
                words[-1].append(token)
        firsts = [
            next((w for w in group if not _ASSIGNMENT.match(w) and w not in _KEYWORDS), "")
            for group in words
            if group
        ]
        if "wan" in firsts and set(firsts) <= _READER_COMMANDS:
            chosen.append((number, line))
    return chosen


def test_the_readme_commands_run_in_zsh(
    run_cli: RunCli,
    fake_api: FakeAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_env: IsolatedEnv,
) -> None:
    """Each `wan` line of the README, pasted into zsh as it is (`--dry-run` added where the
    command sends a request): zsh parses it into the words our examples expect, and it runs."""
    import os
    import shutil

    from tests.conftest import WAN_BIN

    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed on this machine")
    readme = ROOT / "README.md"
    lines = _reader_lines(readme)
    numbers = {number for number, _ in lines}
    expected = [e for e in examples(readme) if int(e.where.rpartition(":")[2]) in numbers]
    assert len(expected) >= 15, "fewer README lines than expected were chosen"
    seeded = _stage(expected, tmp_path / "work", run_cli, fake_api, isolated_env, monkeypatch)

    dry_run = sorted(
        ctx.command_path.removeprefix("wan ")
        for command, ctx in _app_commands()
        if any("--dry-run" in param.opts for param in command.params)
    )
    script = [f"dry_run=({' '.join(shlex.quote(p) for p in dry_run)})", _ZSH_WRAPPER]
    for number, line in lines:
        script += [line, f'print -r -- "$? {number}" >> "$WAN_STATUS_LOG"']
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "key").write_text(EXAMPLE_KEY + "\n")
    env = {
        **os.environ,
        "PATH": f"{WAN_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "WAN_ARGV_LOG": str(logs / "argv"),
        "WAN_STATUS_LOG": str(logs / "status"),
        "WAN_KEY_FILE": str(logs / "key"),
        "EXAMPLE_KEY": EXAMPLE_KEY,
    }
    done = subprocess.run(
        [zsh, "-f", "-c", "\n".join(script)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "no matches found" not in done.stderr, done.stderr
    statuses = {
        int(number): int(code)
        for code, number in (row.split() for row in (logs / "status").read_text().splitlines())
    }
    assert sorted(statuses) == sorted(numbers), f"zsh stopped early:\n{done.stderr}"
    wanted = {int(e.where.rpartition(":")[2]): e.expected for e in expected}
    failed = {n: code for n, code in statuses.items() if code != wanted[n]}
    assert not failed, f"README lines exited {failed} in zsh:\n{done.stderr}"
    recorded = [
        record.split("\x1f") if record else []
        for record in (logs / "argv").read_text().split("\x1e")[:-1]
    ]
    assert recorded == [e.argv for e in expected]  # zsh's words are the documented ones
    assert len(fake_api.requests_to("/v1/images/generations")) == seeded, "a line sent a request"

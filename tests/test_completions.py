"""Shell completions: generated from the app, loaded by real shells, offering useful values.

- completions/wan.{bash,zsh,fish} are exactly what `scripts/gen_docs.py` makes (typer's own
  templates for `wan`), and what `wan --show-completion` / `--install-completion` produce;
- bash sources the script and its completion function completes commands, options and values
  by calling the installed `wan` (zsh and fish likewise when installed; skipped otherwise);
- the dynamic values (sizes per mode, profiles, settings keys, preview protocols, run and task
  ids from history, image files for --ref) come from the code and stay cheap.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import WAN_BIN, IsolatedEnv, RunCli
from tests.fakeapi import FakeAPI

ROOT = Path(__file__).resolve().parent.parent
SHELLS = ("bash", "zsh", "fish")
REGENERATE = "run `python scripts/gen_docs.py` and commit the result"


def load_gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(shell: str) -> Path:
    return ROOT / "completions" / f"wan.{shell}"


def _body(text: str) -> str:
    """A completion script without our header comments (typer's part only)."""
    lines = [line for line in text.splitlines() if not line.startswith("# ")]
    return "\n".join(lines).strip()


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's isolated environment with the venv's `wan` first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{WAN_BIN.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


# -- generated, deterministic, the same as typer's --------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_script_is_current(shell: str) -> None:
    gen = load_gen_docs()
    assert _script(shell).read_text(encoding="utf-8") == gen.completion_script(shell), (
        f"completions/wan.{shell} is stale: {REGENERATE}"
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_script_is_what_wan_show_completion_prints(
    shell: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without shell detection typer's --show-completion takes the shell's name (read when the
    # app is built, so it must be set before run_cli builds it).
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = run_cli(["--show-completion", shell])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == _body(_script(shell).read_text(encoding="utf-8"))


def test_zsh_script_starts_with_compdef() -> None:
    assert _script("zsh").read_text(encoding="utf-8").startswith("#compdef wan\n")


def test_install_completion_keeps_working(tmp_path: Path) -> None:
    """`wan --install-completion` from bash writes typer's bash script and sources it."""
    home = tmp_path / "home"
    home.mkdir()
    # `; true` keeps bash as wan's parent (no exec), so shell detection finds bash.
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", "wan --install-completion; true"],
        env=_env({"HOME": str(home)}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "bash completion installed" in done.stdout, done.stdout + done.stderr
    installed = home / ".bash_completions" / "wan.sh"
    assert installed.read_text() == _body(_script("bash").read_text(encoding="utf-8"))
    assert f"source '{installed}'" in (home / ".bashrc").read_text()


# -- bash, for real ---------------------------------------------------------------------------

_BASH_DRIVER = r"""
source "$1"
complete -p wan
complete_line() {  # complete_line CWORD WORD...
    local cword=$1; shift
    COMP_WORDS=("$@"); COMP_CWORD=$cword; COMPREPLY=()
    _wan_completion wan "${COMP_WORDS[$cword]}" "${COMP_WORDS[$((cword - 1))]}"
    printf '%s\n' "${COMPREPLY[@]}"
    echo "@@"
}
"""


def _bash_complete(
    lines: Sequence[Sequence[str]],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[str, list[list[str]]]:
    """Source completions/wan.bash in a clean bash and complete each line (its last word is the
    one being completed: "" for a new word). Returns `complete -p wan` and each line's replies."""
    import shlex

    calls = [
        f"complete_line {len(words) - 1} " + " ".join(shlex.quote(w) for w in words)
        for words in lines
    ]
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", _BASH_DRIVER + "\n".join(calls), "driver"]
        + [str(_script("bash"))],
        env=_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    spec, _, rest = done.stdout.partition("\n")
    replies = [[w for w in block.split("\n") if w] for block in rest.split("@@\n")[:-1]]
    assert len(replies) == len(lines)
    return spec, replies


def test_bash_loads_the_script_and_completes_commands_options_and_values(
    isolated_env: IsolatedEnv,
) -> None:
    from wan_cli.api.request import RECOMMENDED_SIZES
    from wan_cli.settings import KEYS

    isolated_env.config.write_text(
        '[default]\nmodel = "wan2.6-image"\n[profiles.work]\n[profiles.ds]\n'
    )
    spec, replies = _bash_complete(
        [
            ["wan", "ge"],
            ["wan", "generate", "--si"],
            ["wan", "generate", "--size", ""],
            ["wan", "edit", "--size", ""],
            ["wan", "edit", "--size", "1"],
            ["wan", "generate", "--profile", ""],
            ["wan", "config", ""],
            ["wan", "config", "set", ""],
            ["wan", "config", "set", "provider", ""],
            ["wan", "generate", "--provider", "d"],
        ]
    )
    assert spec == "complete -o default -F _wan_completion wan"
    (
        ge,
        si,
        generate_sizes,
        edit_sizes,
        edit_ones,
        profiles,
        config,
        keys,
        providers,
        provider_d,
    ) = replies
    assert ge == ["generate"]
    assert si == ["--size"]
    assert generate_sizes == list(RECOMMENDED_SIZES["generate"])
    assert edit_sizes == list(RECOMMENDED_SIZES["edit"])
    assert "1K" in edit_ones and "2K" not in edit_ones and "1280*1280" in edit_ones
    assert profiles == ["default", "ds", "work"]
    assert {"set", "get", "show", "profiles"} <= set(config)
    assert keys == list(KEYS)
    assert providers == ["gateway", "dashscope", "mock"]
    assert provider_d == ["dashscope"]


def test_bash_offers_every_option_of_a_command() -> None:
    from typer.main import get_command

    from wan_cli.cli.app import app

    _, [options] = _bash_complete([["wan", "generate", "--"]])
    command = get_command(app).commands["generate"]  # type: ignore[attr-defined]
    expected = {n for p in command.params for n in (*p.opts, *p.secondary_opts) if n[:2] == "--"}
    assert expected <= set(options)


def test_bash_falls_back_to_files_for_a_prompt_or_path(tmp_path: Path) -> None:
    # Nothing to offer: the script's `-o default` lets bash complete file names instead.
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    _, replies = _bash_complete(
        [["wan", "edit", "--ref", "./"], ["wan", "generate", ""]], cwd=tmp_path
    )
    assert replies == [[], []]


# -- zsh and fish, where installed ------------------------------------------------------------


def _require(shell: str) -> str:
    found = shutil.which(shell)
    if found is None:
        pytest.skip(f"{shell} is not installed on this machine")
    return found


def test_zsh_loads_the_script() -> None:
    zsh = _require("zsh")
    done = subprocess.run(
        [
            zsh,
            "-f",
            "-c",
            f"autoload -Uz compinit && compinit -u && source {_script('zsh')} && "
            'print -r -- "$_comps[wan]"',
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_wan_completion"


def test_fish_loads_the_script_and_completes() -> None:
    fish = _require("fish")
    done = subprocess.run(
        [fish, "--no-config", "-c", f"source {_script('fish')}; complete -C 'wan ge'"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\t")[0].strip() == "generate"


def test_zsh_and_fish_protocol_answers() -> None:
    """What the zsh and fish scripts ask `wan` for, asked directly (no shell needed)."""
    zsh = subprocess.run(
        [str(WAN_BIN)],
        env=_env({"_WAN_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "wan generate --size "}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert zsh.stdout.startswith("_arguments")
    assert '"1280*720":"16\\\\:9"' in zsh.stdout  # typer escapes zsh's `:`
    fish = subprocess.run(
        [str(WAN_BIN)],
        env=_env(
            {
                "_WAN_COMPLETE": "complete_fish",
                "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                "_TYPER_COMPLETE_ARGS": "wan config set ",
            }
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert fish.stdout.splitlines()[0] == "api-key\tenv WAN_API_KEY"


# -- the dynamic values -----------------------------------------------------------------------


def test_sizes_per_mode_come_from_the_request_rules() -> None:
    from wan_cli.api.request import RECOMMENDED_SIZES, parse_size
    from wan_cli.cli.completion_values import complete_edit_size, complete_generate_size

    for mode, complete in (("generate", complete_generate_size), ("edit", complete_edit_size)):
        offered = [value for value, _ in complete("")]
        assert offered == list(RECOMMENDED_SIZES[mode])
        for size in offered:
            assert parse_size(size, mode) == size  # every offer is accepted as it is
    assert dict(complete_generate_size("1280"))["1280*720"] == "16:9"
    assert dict(complete_generate_size(""))["1344*576"] == "21:9"
    assert [v for v, _ in complete_edit_size("2")] == ["2K"]


def test_profiles_come_from_the_config_file(isolated_env: IsolatedEnv) -> None:
    from wan_cli.cli.completion_values import complete_profile, profile_names

    assert profile_names() == ["default"]  # no file yet
    isolated_env.config.write_text("[profiles.zeta]\n[profiles.alpha]\n")
    assert profile_names() == ["default", "alpha", "zeta"]
    assert [v for v, _ in complete_profile("z")] == ["zeta"]


def test_a_broken_config_file_never_breaks_completion(isolated_env: IsolatedEnv) -> None:
    from wan_cli.cli.completion_values import profile_names

    isolated_env.config.write_text("this is [not toml")
    assert profile_names() == ["default"]
    _, [replies] = _bash_complete([["wan", "generate", "--profile", ""]])
    assert replies == ["default"]


def test_config_keys_and_values() -> None:
    from wan_cli.api.request import RECOMMENDED_SIZES, parse_size
    from wan_cli.cli.completion_values import complete_config_key, config_values
    from wan_cli.settings import KEYS, parse_value

    assert [v for v, _ in complete_config_key("")] == list(KEYS)
    assert [v for v, _ in complete_config_key("m")] == ["model", "max-image-mb", "metadata"]
    for key in KEYS:
        for value, _ in config_values(key):
            parse_value(key, value)  # every offered value is valid for its key
    sizes = [v for v, _ in config_values("size")]
    assert sizes and all(parse_size(s, m) for s in sizes for m in RECOMMENDED_SIZES)
    assert config_values("no-such-key") == []


@pytest.mark.regression("`wan config set preview <Tab>` offered nothing (added after the others)")
def test_every_boolean_setting_completes_true_and_false() -> None:
    from wan_cli.cli.completion_values import config_values

    for key in ("metadata", "history", "preview"):
        assert [value for value, _ in config_values(key)] == ["true", "false"], key


def test_completion_stays_cheap() -> None:
    """A Tab press must not import the network or terminal libraries, nor fail."""
    code = (
        "import os, sys\n"
        "os.environ.update(_WAN_COMPLETE='complete_bash', COMP_WORDS='wan generate --size ',"
        " COMP_CWORD='3')\n"
        "from wan_cli.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "from wan_cli.cli.completion_values import complete_config_key, complete_profile\n"
        "complete_profile(''); complete_config_key('')\n"
        "heavy = [m for m in ('httpx', 'rich', 'sqlite3', 'pydantic') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "1280*720" in done.stdout.split()
    assert "HEAVY []" in done.stderr, done.stderr


# -- preview protocols, history ids, reference images ---------------------------------------

DASHSCOPE = "/api/v1/services/aigc/image-generation/generation"


def _seed_history(run_cli: RunCli, fake_api: FakeAPI, out: Path) -> None:
    """Through the real CLI: runs 1 and 2 (gateway), then two async tasks (runs 3 and 4)."""
    from tests.fakeapi import Reply, sse_chunk

    fake_api.add(
        "/v1/images/generations",
        Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]),
    )
    env = {"WAN_API_KEY": "sk-completion-test", "WAN_BASE_URL": f"{fake_api.url}/v1"}
    for prompt in ("a red fox\nin the snow", "a blue whale"):
        done = run_cli(["generate", prompt, "-o", str(out)], env=env)
        assert done.exit_code == 0, done.stderr
    tasks = (("task-aaa-1", "make it snow"), ("task-bbb-2", "a lighthouse"))
    fake_api.add(
        DASHSCOPE,
        *(
            Reply.json({"request_id": "r", "output": {"task_id": task, "task_status": "PENDING"}})
            for task, _ in tasks
        ),
    )
    for _, prompt in tasks:
        argv = ["generate", prompt, "--async", "--provider", "dashscope", "-o", str(out)]
        done = run_cli([*argv, "--base-url", f"{fake_api.url}/api/v1"], env=env)
        assert done.exit_code == 0, done.stderr


def _protocol_answer(shell: str, line: str, cwd: Path | None = None) -> str:
    """What `wan` answers the zsh or fish script for the command line `line`."""
    extra = {"_WAN_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        extra["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    done = subprocess.run(
        [str(WAN_BIN)],
        env=_env(extra),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.regression("`--preview-protocol <Tab>` completed to nothing")
def test_preview_protocols_complete() -> None:
    from wan_cli.cli.completion_values import complete_preview_protocol
    from wan_cli.ui.preview import PROTOCOL_CHOICES, check_protocol

    offered = complete_preview_protocol("")
    assert [value for value, _ in offered] == list(PROTOCOL_CHOICES)
    for value, text in offered:
        check_protocol(value)  # every offer is accepted
        assert text and text != "protocol", f"{value} has no description"
    _, replies = _bash_complete(
        [
            ["wan", "generate", "--preview-protocol", ""],
            ["wan", "edit", "--preview-protocol", "s"],
            ["wan", "history", "show", "1", "--preview-protocol", "k"],
        ]
    )
    assert replies == [list(PROTOCOL_CHOICES), ["sixel"], ["kitty"]]


@pytest.mark.regression("history and task ids completed to nothing")
def test_history_and_task_ids_complete_from_history(
    run_cli: RunCli, fake_api: FakeAPI, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    _seed_history(run_cli, fake_api, tmp_path)
    before = isolated_env.history.stat()
    _, replies = _bash_complete(
        [
            ["wan", "history", "show", ""],
            ["wan", "history", "download", "2"],
            ["wan", "history", "rerun", ""],
            ["wan", "history", "show", "9"],
            ["wan", "task", "status", ""],
            ["wan", "task", "wait", "task-a"],
            ["wan", "task", "cancel", "task-"],
        ]
    )
    assert replies == [
        ["4", "3", "2", "1"],  # newest first
        ["2"],
        ["4", "3", "2", "1"],
        [],
        ["task-bbb-2", "task-aaa-1"],
        ["task-aaa-1"],
        ["task-bbb-2", "task-aaa-1"],
    ]
    # zsh and fish show the prompt (one line) beside each id; a task also its last state.
    zsh = _protocol_answer("zsh", "wan history show ")
    assert '"2":"a blue whale"' in zsh and '"1":"a red fox in the snow"' in zsh
    fish = _protocol_answer("fish", "wan task wait ").splitlines()
    assert fish == ["task-bbb-2\tPENDING · a lighthouse", "task-aaa-1\tPENDING · make it snow"]
    # Read only: a Tab press changes nothing in the database.
    after = isolated_env.history.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_ids_complete_to_nothing_without_a_readable_history(isolated_env: IsolatedEnv) -> None:
    lines = [["wan", "history", "show", ""], ["wan", "task", "wait", ""]]
    _, replies = _bash_complete(lines)
    assert replies == [[], []]
    assert not isolated_env.history.exists()  # completion never creates it
    isolated_env.history.write_bytes(b"this is not a database" * 100)
    _, replies = _bash_complete(lines)
    assert replies == [[], []]


def test_history_ids_stay_fast_with_many_runs(isolated_env: IsolatedEnv) -> None:
    """Only the newest 50 are offered, from the primary key (no scan of the prompts)."""
    from wan_cli.cli.completion_values import complete_run_id
    from wan_cli.history.schema import connect

    conn = connect(isolated_env.history)
    with conn:
        conn.executemany(
            "INSERT INTO runs (created, command, model, provider, host, prompt, parameters,"
            " refs, status) VALUES ('2026-01-01T00:00:00Z', 'generate', 'm', 'gateway', 'h',"
            " ?, '{}', '[]', 'ok')",
            [(f"prompt {i} " + "x" * 200,) for i in range(2000)],
        )
    conn.close()
    offered = complete_run_id("")
    assert [value for value, _ in offered] == [str(i) for i in range(2000, 1950, -1)]
    assert all(len(text) <= 60 for _, text in offered)
    assert [value for value, _ in complete_run_id("199")][:2] == ["1999", "1998"]


def _pictures(folder: Path) -> Path:
    for name in ("a.png", "b.JPG", "c.jpeg", "d.webp", "e.bmp", "notes.txt", ".hidden.png"):
        (folder / name).write_bytes(b"x")
    (folder / "two words.png").write_bytes(b"x")
    (folder / "pics").mkdir()
    (folder / "pics" / "x.webp").write_bytes(b"x")
    (folder / "docs").mkdir()
    (folder / "docs" / "readme.txt").write_bytes(b"x")
    return folder


@pytest.mark.regression("`--ref <Tab>` offered every file rather than images first")
def test_ref_offers_images_and_folders_first(tmp_path: Path) -> None:
    _pictures(tmp_path)
    images = ["a.png", "b.JPG", "c.jpeg", "d.webp", "e.bmp"]
    _, replies = _bash_complete(
        [
            ["wan", "edit", "--ref", ""],
            ["wan", "generate", "-r", "c"],
            ["wan", "batch", "x.txt", "--ref", "pics/"],
            ["wan", "history", "rerun", "1", "--ref", "./"],
            ["wan", "edit", "--ref", "."],
            ["wan", "edit", "--ref", "n"],  # no image: bash completes every file itself
            ["wan", "edit", "--ref", "docs/"],
            ["wan", "edit", "--ref", "two"],  # a name that needs quoting: left to bash
            ["wan", "edit", "--ref", "https://"],
        ],
        cwd=tmp_path,
    )
    assert replies == [
        [*images, "docs/", "pics/"],
        ["c.jpeg"],
        ["pics/x.webp"],
        [f"./{name}" for name in images] + ["./docs/", "./pics/"],
        [".hidden.png"],
        [],
        [],
        [],
        [],
    ]


def test_ref_completion_in_zsh_and_fish(tmp_path: Path) -> None:
    _pictures(tmp_path)
    zsh = _protocol_answer("zsh", "wan edit --ref pics/", cwd=tmp_path)
    assert zsh.strip() == '_arguments \'*: :(("pics/x.webp":"image"))\''
    assert _protocol_answer("zsh", "wan edit --ref n", cwd=tmp_path).strip() == "_files"
    fish = _require("fish")
    done = subprocess.run(
        [
            fish,
            "--no-config",
            "-c",
            f"source {_script('fish')}; complete -C 'wan edit --ref '; echo @@;"
            " complete -C 'wan edit --ref n'",
        ],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    images, others = (
        [line.split("\t")[0] for line in block.splitlines() if line]
        for block in done.stdout.split("@@")
    )
    # (fish sorts them itself)
    assert sorted(images) == sorted(
        ["a.png", "b.JPG", "c.jpeg", "d.webp", "e.bmp", "docs/", "pics/"]
    )
    assert others == ["notes.txt"]  # no image: fish's own file completion

"""Shell completions: generated from the app, loaded by real shells, offering useful values.

- completions/wan.{bash,zsh,fish} are exactly what `scripts/gen_docs.py` makes (typer's own
  templates for `wan`), and what `wan --show-completion` / `--install-completion` produce;
- bash sources the script and its completion function completes commands, options and values
  by calling the installed `wan` (zsh and fish likewise when installed; skipped otherwise);
- the dynamic values (sizes per mode, profiles, settings keys) come from the code and stay cheap.
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
    lines: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
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


def test_bash_falls_back_to_files_for_a_prompt_or_path() -> None:
    # Nothing to offer: the script's `-o default` lets bash complete file names instead.
    _, [replies] = _bash_complete([["wan", "edit", "--ref", "./"]])
    assert replies == []


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

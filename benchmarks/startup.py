"""Figure 1: start-up of `wan --help`, `wan generate --help` and `wan config show`.

Each command is compared with the floor, `python -c "import typer"` run by the same interpreter:
nothing built on typer can start faster. The runs alternate (floor, command, command, …, then
again) so that whatever else the machine is doing hits every command alike, and each figure is
the median over the rounds. Memory is the largest peak RSS of any run of the command.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks.measure import MB, ChildRun, Figure, mb, median, ms, run_child

SECTION = "start-up"
MAX_RATIO = 1.3
MAX_PEAK = 20 * MB
FLOOR = "python -c 'import typer'"
COMMANDS: dict[str, list[str]] = {
    "wan --help": ["--help"],
    "wan generate --help": ["generate", "--help"],
    "wan config show": ["config", "show"],
    "wan --help, on a terminal (styled)": ["--help"],
}
ON_A_TERMINAL = {"wan --help, on a terminal (styled)"}
# A config file like a user's: `config show` really reads and resolves it.
CONFIG = """default_profile = "work"

[default]
provider = "gateway"
timeout = 120

[profiles.work]
model = "wan2.6-image"
size = "1280*1280"
"""
# Variables that would make the runs differ from a plain shell (or leak a real key).
_CLEARED = ("WAN_API_KEY", "DASHSCOPE_API_KEY", "WAN_PROFILE", "WAN_BASE_URL", "WAN_MODEL")


def wan_command() -> list[str]:
    """The installed `wan` script next to this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "wan"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "wan_cli"]


def isolated_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    config = root / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    # Installed packages run from compiled bytecode; PYTHONDONTWRITEBYTECODE (set in some dev
    # shells) would make every run compile our modules again. The cache goes to the temp dir,
    # not the checkout, and the warm-up round fills it for the floor and the commands alike.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    env["WAN_CONFIG"] = str(config)
    env["WAN_HISTORY"] = str(root / "history.db")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(root / name.lower())
    return env


def measure(rounds: int) -> dict[str, list[ChildRun]]:
    """Every run of the floor and of each command, `rounds` alternating rounds (+1 warm-up)."""
    wan = wan_command()
    argvs = {FLOOR: [sys.executable, "-c", "import typer"]}
    argvs.update({name: [*wan, *args] for name, args in COMMANDS.items()})
    runs: dict[str, list[ChildRun]] = {name: [] for name in argvs}
    with tempfile.TemporaryDirectory(prefix="wan-bench-") as tmp:
        env = isolated_env(Path(tmp))
        for round_number in range(rounds + 1):
            for name, argv in argvs.items():
                run = run_child(argv, env=env, terminal=name in ON_A_TERMINAL)
                if run.returncode != 0:
                    raise RuntimeError(f"{name} exited {run.returncode}: {run.stderr.strip()}")
                if name in ON_A_TERMINAL and "\x1b[" not in run.stdout:
                    raise RuntimeError(f"{name}: the help is not styled on a terminal")
                if round_number:  # round 0 warms the page cache and the .pyc files
                    runs[name].append(run)
    return runs


def figures(runs: Mapping[str, list[ChildRun]]) -> list[Figure]:
    floor_time = median([run.seconds for run in runs[FLOOR]])
    floor_peak = max(run.peak_rss for run in runs[FLOOR])
    rows = [
        Figure(
            SECTION, f"{FLOOR}: time", ms(floor_time), f"the floor ({len(runs[FLOOR])} runs)", None
        ),
        Figure(SECTION, f"{FLOOR}: peak RSS", mb(floor_peak), "", None),
    ]
    for name in COMMANDS:
        seconds = median([run.seconds for run in runs[name]])
        peak = max(run.peak_rss for run in runs[name])
        ratio = seconds / floor_time
        rows.append(
            Figure(
                SECTION,
                f"{name}: time",
                f"{ms(seconds)} = {ratio:.2f}x floor",
                f"<= {MAX_RATIO}x floor",
                ratio <= MAX_RATIO,
            )
        )
        rows.append(
            Figure(SECTION, f"{name}: peak RSS", mb(peak), f"<= {mb(MAX_PEAK)}", peak <= MAX_PEAK)
        )
    return rows


def run(rounds: int = 15) -> list[Figure]:
    return figures(measure(rounds))

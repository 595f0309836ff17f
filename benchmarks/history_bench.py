"""Figure: history commands, small and at scale.

Two history databases, one with 10 runs and one with 100,000, both made of real runs (`wan
generate --provider mock`, so each row is what a run writes) multiplied in SQL. Each command is
compared with `wan --help` run in the same rounds (alternating, median), and the database's
size per run is reported.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from benchmarks.measure import Figure, median, ms, run_child
from benchmarks.startup import isolated_env, wan_command

SECTION = "history"
SIZES = (10, 100_000)
ROUNDS = 7
MAX_RATIO = 1.5
MAX_GALLERY_RATIO = 2.0
WORDS = ("fox", "lighthouse", "autumn", "snow", "harbour", "orchard", "violin", "comet")


def _make_history(root: Path, runs: int, env: dict[str, str]) -> Path:
    """A history of `runs` runs: three real mock runs, then copies with varied prompts."""
    database = root / f"history-{runs}.db"
    env = {**env, "WAN_HISTORY": str(database), "WAN_MOCK_DELAY": "0"}
    wan = wan_command()
    for number in range(3):
        result = run_child(
            [*wan, "generate", f"a {WORDS[number]} at dusk", "--provider", "mock", "-o", str(root)],
            env=env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"seeding history failed: {result.stderr}")
    with sqlite3.connect(database) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)") if row[1] != "id"]
        names = ", ".join(columns)
        picked = ", ".join(
            "? || ' ' || prompt" if column == "prompt" else column for column in columns
        )
        for number in range(runs - 3):
            source = 1 + number % 3
            word = f"{WORDS[number % len(WORDS)]}{number}"
            conn.execute(
                f"INSERT INTO runs ({names}) SELECT {picked} FROM runs WHERE id = ?",
                (word, source),
            )
            new_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            conn.execute(
                "INSERT INTO images (run_id, idx, url, inline, received, path, sha256, bytes,"
                " error, saved) SELECT ?, idx, url, inline, received, path, sha256, bytes, error,"
                " saved FROM images WHERE run_id = ?",
                (new_id, source),
            )
    return database


def run() -> list[Figure]:
    wan = wan_command()
    rows: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="wan-bench-history-") as tmp:
        root = Path(tmp)
        env = isolated_env(root)
        for size in SIZES:
            database = _make_history(root, size, env)
            sized = {**env, "WAN_HISTORY": str(database)}
            gallery = str(root / f"gallery-{size}.html")
            commands = {
                "wan --help": ["--help"],
                "wan history": ["history"],
                "wan history --search WORD": ["history", "--search", "lighthouse"],
                "wan history show N": ["history", "show", str(size // 2 or 1)],
                "wan gallery --history -n 100": [
                    "gallery",
                    "--history",
                    "-n",
                    "100",
                    "-o",
                    gallery,
                ],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for round_number in range(ROUNDS + 1):
                for name, args in commands.items():
                    result = run_child([*wan, *args], env=sized)
                    if result.returncode != 0:
                        raise RuntimeError(f"{name} exited {result.returncode}: {result.stderr}")
                    if round_number:
                        times[name].append(result.seconds)
            floor = median(times["wan --help"])
            rows.append(Figure(SECTION, f"{size} runs: wan --help", ms(floor), "the floor", None))
            for name in list(commands)[1:]:
                seconds = median(times[name])
                ratio = seconds / floor
                limit = MAX_GALLERY_RATIO if name.startswith("wan gallery") else MAX_RATIO
                rows.append(
                    Figure(
                        SECTION,
                        f"{size} runs: {name}",
                        f"{ms(seconds)} = {ratio:.2f}x --help",
                        f"<= {limit}x --help",
                        ratio <= limit,
                    )
                )
            per_run = database.stat().st_size / size
            rows.append(
                Figure(
                    SECTION, f"{size} runs: file size per run", f"{per_run / 1024:.1f} KB", "", None
                )
            )
    return rows


if __name__ == "__main__":
    for figure in run():
        print(f"{figure.name}: {figure.value} ({figure.goal})")

"""Run every benchmark and print one table: each figure, its goal, PASS/FAIL.

    .venv/bin/python -m benchmarks.run            # everything (~1.5 min)
    .venv/bin/python -m benchmarks.run --only startup,stream --markdown

The exit status is 0 when every goal holds, 1 otherwise. Figures are compared with a floor
measured in the same run (these machines are shared and noisy): see docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import Figure, result

SECTIONS = ("startup", "e2e", "stream", "download", "refs", "batch", "history", "hostile")


def _runners(rounds: int) -> dict[str, Callable[[], list[Figure]]]:
    from benchmarks import (
        batch_bench,
        download,
        e2e,
        history_bench,
        hostile,
        refs,
        startup,
        stream,
    )

    return {
        "startup": lambda: startup.run(rounds),
        "e2e": e2e.run,
        "stream": lambda: stream.run(),
        "download": download.run,
        "refs": refs.run,
        "batch": batch_bench.run,
        "history": history_bench.run,
        "hostile": hostile.run,
    }


def machine() -> str:
    """One line saying what the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            total = next(line for line in fh if line.startswith("MemTotal"))
        memory = f", {int(total.split()[1]) / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}){memory}{load}; "
        f"Python {platform.python_version()}"
    )


def table(figures: Sequence[Figure], *, markdown: bool) -> str:
    header = ("section", "figure", "value", "goal", "result")
    rows = [(f.section, f.name, f.value, f.goal, result(f)) for f in figures]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--rounds", type=int, default=15, help="start-up: alternating rounds (default 15)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    runners = _runners(args.rounds)
    started = time.monotonic()
    figures: list[Figure] = []
    for name in chosen:
        print(f"running {name}…", file=sys.stderr, flush=True)
        figures.extend(runners[name]())
    print(f"wan benchmarks on {machine()}")
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, {time.monotonic() - started:.0f} s)\n")
    print(table(figures, markdown=args.markdown))
    failed = [f for f in figures if f.passed is False]
    goals = sum(f.passed is not None for f in figures)
    print(f"\n{goals - len(failed)} of {goals} goals hold." + (" FAIL" if failed else " PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

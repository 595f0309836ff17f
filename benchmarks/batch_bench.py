"""Figure: `wan batch` throughput and memory — 200 requests at 1 s latency with `-j 16`.

The loopback fake API (tests/fakeapi.py) answers every request after a 1 s delay with one small
inline image (OpenAI `b64_json`: no download requests, so the fake's concurrency counts API
requests only). `wan batch` runs as a real child process with history on, as a user runs it
(`--yes`: more than 20 images without a terminal need it).

Requests come in whole rounds: 200 requests 16 at a time need at least ⌈200/16⌉ = 13 rounds
(13 s, the ideal). The figure is the child's wall time (spawn to exit: start-up, validation,
saving and history included, after a one-line batch that fills the bytecode cache and creates
the history database) against it. Memory must not grow with the number of lines: the same
batch of 50 lines is run too, and the peak RSS of the two compared.

    .venv/bin/python -m benchmarks.batch_bench
"""

from __future__ import annotations

import base64
import math
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/batch_bench.py` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import MB, Figure, mb, print_figures, run_child
from benchmarks.startup import isolated_env, wan_command

SECTION = "batch"
REQUESTS = 200
FEWER = 50  # the memory comparison's smaller batch
LATENCY_S = 1.0
CONCURRENCY = 16
# Goal: within 10% of the whole-rounds ideal (start-up, validation and saving included).
MAX_OVER_IDEAL = 1.1
MAX_GROWTH = 5 * MB  # peak RSS of REQUESTS lines over FEWER lines
API = "/v1/images/generations"


def _batch(lines: int) -> dict[str, float]:
    from tests.fakeapi import FakeAPI, Reply, png_bytes

    body = {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(png_bytes()).decode()}],
        "usage": {"total_tokens": 1},
        "request_id": "bench",
    }
    with FakeAPI() as fake, tempfile.TemporaryDirectory(prefix="wan-bench-batch-") as tmp:
        root = Path(tmp)
        fake.add(API, Reply.json(body, delay=LATENCY_S))
        source = root / "prompts.txt"
        source.write_text("".join(f"product shot {i}\n" for i in range(lines)))
        env = isolated_env(root)
        env["WAN_API_KEY"] = "sk-bench"
        env["NO_PROXY"] = "127.0.0.1,localhost"

        def batch(prompts: Path, out: Path) -> list[str]:
            return [
                *wan_command(),
                *("batch", str(prompts), "-j", str(CONCURRENCY), "--quiet", "--yes"),
                *("--base-url", f"{fake.url}/v1", "-o", str(out)),
            ]

        # Warm-up: the isolated environment starts with an empty bytecode cache and no history
        # database, and compiling every module or creating the database is a cost no user pays
        # twice. A batch of one line (its own output directory and manifest) pays them.
        first = root / "first.txt"
        first.write_text("warm-up\n")
        run_child(batch(first, root / "warm-up"), env=env)
        before = len(fake.requests_to(API))
        run = run_child(batch(source, root / "out"), env=env)
        if run.returncode != 0:
            raise RuntimeError(f"wan batch exited {run.returncode}: {run.stderr.strip()}")
        return {
            "seconds": run.seconds,
            "peak": float(run.peak_rss),
            "requests": float(len(fake.requests_to(API)) - before),
            "saved": float(len(run.stdout.splitlines())),
            "max_concurrency": float(fake.max_concurrency),
        }


def measure() -> dict[int, dict[str, float]]:
    return {lines: _batch(lines) for lines in (FEWER, REQUESTS)}


def figures(results: dict[int, dict[str, float]]) -> list[Figure]:
    result = results[REQUESTS]
    ideal = math.ceil(REQUESTS / CONCURRENCY) * LATENCY_S
    seconds = result["seconds"]
    name = f"{REQUESTS} requests at {LATENCY_S:.0f} s, -j {CONCURRENCY}"
    growth = result["peak"] - results[FEWER]["peak"]
    return [
        Figure(
            SECTION,
            f"{name}: wall time",
            f"{seconds:.2f} s = {seconds / ideal:.2f}x ideal",
            f"<= {MAX_OVER_IDEAL}x {ideal:.0f} s (whole rounds)",
            seconds <= MAX_OVER_IDEAL * ideal,
        ),
        Figure(
            SECTION,
            f"{name}: requests in flight",
            f"max {result['max_concurrency']:.0f}",
            f"== {CONCURRENCY}",
            result["max_concurrency"] == CONCURRENCY,
        ),
        Figure(
            SECTION,
            f"{name}: requests sent / images saved",
            f"{result['requests']:.0f} / {result['saved']:.0f}",
            f"== {REQUESTS} / {REQUESTS}",
            result["requests"] == REQUESTS and result["saved"] == REQUESTS,
        ),
        Figure(
            SECTION,
            f"{name}: peak RSS",
            f"{mb(result['peak'])} ({growth / MB:+.1f} MB over {FEWER} lines:"
            f" {mb(results[FEWER]['peak'])}, {results[FEWER]['seconds']:.2f} s)",
            f"<= {FEWER} lines + {mb(MAX_GROWTH)}",
            growth <= MAX_GROWTH,
        ),
    ]


def run() -> list[Figure]:
    return figures(measure())


def main() -> int:
    return print_figures(run())


if __name__ == "__main__":
    sys.exit(main())

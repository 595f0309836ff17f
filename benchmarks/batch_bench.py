"""Figure: `wan batch` throughput — 50 requests at 1 s latency with `-j 8`.

The loopback fake API (tests/fakeapi.py) answers every request after a 1 s delay with one small
inline image (OpenAI `b64_json`: no download requests, so the fake's concurrency counts API
requests only). `wan batch` runs as a real child process with history on, as a user runs it.

Ideal wall time is 50 × 1 s / 8 = 6.25 s; since requests come in whole rounds, 50 requests need
at least ⌈50/8⌉ = 7 rounds (7 s). The figure is the child's wall time (spawn to exit, start-up
included, after a warm-up dry run that fills the bytecode cache) against both.

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

from benchmarks.measure import Figure, run_child
from benchmarks.startup import isolated_env, wan_command

SECTION = "batch"
REQUESTS = 50
LATENCY_S = 1.0
CONCURRENCY = 8
# Goal: within 15% of the whole-rounds floor (start-up, validation and saving included).
MAX_OVER_ROUNDS = 1.15
API = "/v1/images/generations"


def measure() -> dict[str, float]:
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
        source.write_text("".join(f"product shot {i}\n" for i in range(REQUESTS)))
        env = isolated_env(root)
        env["WAN_API_KEY"] = "sk-bench"
        env["NO_PROXY"] = "127.0.0.1,localhost"
        argv = [
            *wan_command(),
            *("batch", str(source), "-j", str(CONCURRENCY), "--quiet", "--yes"),
            *("--base-url", f"{fake.url}/v1", "-o", str(root / "out")),
        ]
        # Warm-up: the isolated environment starts with an empty bytecode cache, and compiling
        # every module is start-up cost no user pays twice. A dry run sends nothing.
        run_child([*argv, "--dry-run"], env=env)
        run = run_child(argv, env=env)
        if run.returncode != 0:
            raise RuntimeError(f"wan batch exited {run.returncode}: {run.stderr.strip()}")
        saved = len(run.stdout.splitlines())
        return {
            "seconds": run.seconds,
            "requests": float(len(fake.requests_to(API))),
            "saved": float(saved),
            "max_concurrency": float(fake.max_concurrency),
        }


def figures(result: dict[str, float]) -> list[Figure]:
    ideal = REQUESTS * LATENCY_S / CONCURRENCY
    rounds = math.ceil(REQUESTS / CONCURRENCY) * LATENCY_S
    seconds = result["seconds"]
    name = f"{REQUESTS} requests at {LATENCY_S:.0f} s, -j {CONCURRENCY}"
    return [
        Figure(
            SECTION,
            f"{name}: wall time",
            f"{seconds:.2f} s = {seconds / ideal:.2f}x ideal {ideal:.2f} s",
            f"<= {MAX_OVER_ROUNDS}x {rounds:.0f} s (whole rounds)",
            seconds <= MAX_OVER_ROUNDS * rounds,
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
    ]


def run() -> list[Figure]:
    return figures(measure())


def main() -> int:
    rows = run()
    for row in rows:
        verdict = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        print(f"{row.name}: {row.value}  (goal {row.goal}) {verdict}")
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Figure: peak memory when the service misbehaves, next to a normal run.

`wan generate` runs as a real child process (history on, as a user runs it) against the loopback
fake service (tests/fakeapi.py), four times:

- normal: a stream with some text and one image, saved (exit 0): the reference;
- gzip bomb: a 200 JSON answer of about 1 MB gzip that inflates to 1 GiB (exit 6 at 32 MiB);
- gzip bomb in a stream: an image event, then one event that inflates to 1 GiB (exit 6 at
  32 MiB, the image saved);
- endless stream: an image event, then text events without end (exit 6 past 1,048,576
  characters of text, the image saved).

Goal: each misbehaving run ends with exit 6 and a peak RSS within 50 MB of the normal run's.

    .venv/bin/python -m benchmarks.hostile
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/hostile.py` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import MB, ChildRun, Figure, mb, print_figures, run_child
from benchmarks.startup import isolated_env, wan_command

SECTION = "hostile"
API = "/v1/images/generations"
BOMB = 1024 * MB  # decompressed size of each gzip bomb
MAX_OVER_NORMAL = 50 * MB
RUNS = ("gzip bomb (JSON answer)", "gzip bomb (in a stream)", "endless stream of text")


def measure() -> dict[str, ChildRun]:
    from tests.fakeapi import FakeAPI, Reply, gzip_bomb, png_bytes, sse_chunk

    gzip = {"Content-Encoding": "gzip"}
    results: dict[str, ChildRun] = {}
    with tempfile.TemporaryDirectory(prefix="wan-bench-hostile-") as tmp:
        root = Path(tmp)
        env = isolated_env(root)
        env["WAN_API_KEY"] = "sk-bench-hostile-0123456789"
        env["NO_PROXY"] = "127.0.0.1,localhost"
        for name in ("normal", *RUNS):
            with FakeAPI() as fake:
                image = fake.image_url("1.png", png_bytes(64, 64))
                opening = sse_chunk(text="A lighthouse at dusk. ", image=image)
                first = str(opening).encode()
                if name == "normal":
                    words = [sse_chunk(text=f"word {i} ") for i in range(200)]
                    reply = Reply.sse([opening, *words, sse_chunk(text="end.", finish="stop")])
                elif name == RUNS[0]:
                    bomb = gzip_bomb(b'{"output": {"pad": "', BOMB)
                    reply = Reply.bytes(bomb, "application/json", headers=gzip)
                elif name == RUNS[1]:
                    bomb = gzip_bomb(first + b"data:", BOMB)
                    reply = Reply.bytes(bomb, "text/event-stream", headers=gzip)
                else:
                    text = str(sse_chunk(text="la " * 1000)).encode()
                    reply = Reply.endless(first, text)
                fake.add(API, reply)
                argv = [
                    *wan_command(),
                    *("generate", "a lighthouse", "--base-url", f"{fake.url}/v1"),
                    *("-o", str(root / "out"), "--quiet"),
                ]
                if name == "normal":  # warm-up: fill the bytecode cache first
                    run_child([*argv, "--dry-run"], env=env)
                results[name] = run_child(argv, env=env)
    return results


def figures(results: dict[str, ChildRun]) -> list[Figure]:
    normal = results["normal"]
    if normal.returncode != 0:
        raise RuntimeError(f"the normal run exited {normal.returncode}: {normal.stderr.strip()}")
    rows = [Figure(SECTION, "normal run: peak RSS", mb(normal.peak_rss), "", None)]
    for name in RUNS:
        run = results[name]
        over = run.peak_rss - normal.peak_rss
        rows.append(
            Figure(
                SECTION,
                f"{name}: peak RSS, exit code",
                f"{mb(run.peak_rss)} ({over / MB:+.1f} MB), exit {run.returncode} "
                f"in {run.seconds:.2f} s",
                f"<= normal + {mb(MAX_OVER_NORMAL)}, exit 6",
                over <= MAX_OVER_NORMAL and run.returncode == 6,
            )
        )
    return rows


def run() -> list[Figure]:
    return figures(measure())


def main() -> int:
    return print_figures(run())


if __name__ == "__main__":
    sys.exit(main())

"""Figure: a whole `wan generate` against an instant server, next to `curl` doing the same work.

The loopback fake service (tests/fakeapi.py) answers the generation at once with a short
stream (a few text chunks and one image link) and serves that image: a well-formed 3 MB PNG.
`wan generate PROMPT -o DIR` runs as a user runs it (the installed script, history on, a fresh
output directory each time). The floor is two `curl` calls making the same two requests:
`curl -sN` POSTing the same body to the stream (its output kept), then `curl -so FILE` for the
image. Whatever `wan` does beyond that (start Python, parse flags, check the image, write the
PNG text chunks, the sidecar and the history row) is the overhead measured here.

Two import floors run in the same rounds, for scale:
- `python -c "import typer, httpx"`: what the issue that set the goal measured as "Python,
  typer and httpx alone" (2.8x curl on its machine, so its 4x left `wan` 1.43x that figure).
  Python's imports cost more here, relative to curl, so the same `wan` makes a larger multiple
  of curl; `wan generate` is also given as a multiple of this figure, the budget the issue
  meant (`4 / 2.8`), which carries from machine to machine.
- what `wan` itself cannot avoid importing: typer, httpx and httpcore, without httpx's own
  command line (click, rich, pygments) and trio, which `wan` never loads.

Rounds alternate (curl pair, the import floor, wan) so background load hits all alike; each
figure is a median.

    .venv/bin/python -m benchmarks.e2e
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/e2e.py` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import MB, ChildRun, Figure, mb, median, ms, print_figures, run_child
from benchmarks.startup import isolated_env, wan_command

SECTION = "end to end"
API = "/v1/images/generations"
IMAGE_BYTES = 3 * MB
ROUNDS = 11
MAX_RATIO = 4.0
PROMPT = "a lighthouse at dusk"
IMPORTS = "python -c 'import typer, httpx'"
NEEDED = "python: import typer, httpx, httpcore (as wan: no httpx CLI, no trio)"
# The issue measured IMPORTS at 2.8x curl and allowed 4x: `wan` may cost 4 / 2.8 of IMPORTS.
ISSUE_IMPORTS_RATIO = 2.8
MAX_IMPORTS_RATIO = MAX_RATIO / ISSUE_IMPORTS_RATIO
_NEEDED_CODE = (
    "import sys; sys.modules['httpx._main'] = None; sys.modules['trio'] = None; "
    "import typer, httpx, httpcore"
)


def _png(size: int) -> bytes:
    """A well-formed PNG of exactly `size` bytes (one IDAT of zeros)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data, zlib.crc32(kind))
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1280, 1280, 8, 2, 0, 0, 0))
    tail = chunk(b"IEND", b"")
    return head + chunk(b"IDAT", bytes(size - len(head) - len(tail) - 12)) + tail


def measure(rounds: int = ROUNDS) -> dict[str, list[ChildRun]] | None:
    """Every timed run: "wan", "curl stream", "curl image"; None when curl is not installed."""
    from tests.fakeapi import FakeAPI, Reply, sse_chunk

    curl = shutil.which("curl")
    if curl is None:
        return None
    runs: dict[str, list[ChildRun]] = {
        "wan": [], "curl stream": [], "curl image": [], IMPORTS: [], NEEDED: []
    }  # fmt: skip
    with FakeAPI() as fake, tempfile.TemporaryDirectory(prefix="wan-bench-e2e-") as tmp:
        root = Path(tmp)
        env = isolated_env(root)
        env["WAN_API_KEY"] = "sk-bench-e2e"
        env["NO_PROXY"] = "127.0.0.1,localhost"
        fake.add("/img/lighthouse.png", Reply.bytes(_png(IMAGE_BYTES), chunk_size=MB))
        image = f"{fake.url}/img/lighthouse.png"
        words = ["A lighthouse ", "stands on ", "the rocks ", "at dusk. "]
        events = [sse_chunk(text=word) for word in words]
        events += [sse_chunk(image=image), sse_chunk(text="Done.", finish="stop")]
        fake.add(API, Reply.sse(events))
        wan = [*wan_command(), "generate", PROMPT, "--base-url", f"{fake.url}/v1"]
        # The body `wan` sends, so curl sends the same bytes.
        dry = run_child([*wan, "--dry-run"], env=env)
        if dry.returncode != 0:
            raise RuntimeError(f"wan generate --dry-run exited {dry.returncode}: {dry.stderr}")
        import json

        request = json.loads(dry.stdout)
        body = root / "body.json"
        body.write_text(json.dumps(request["body"], separators=(",", ":")), encoding="utf-8")
        headers = [
            arg for name, value in request["headers"].items() for arg in ("-H", f"{name}: {value}")
        ]
        curl_stream = [
            curl, "-sN", "-X", "POST", f"{fake.url}{API}",
            "-H", "Authorization: Bearer sk-bench-e2e", *headers,
            "--data-binary", f"@{body}", "-o", str(root / "stream.txt"),
        ]  # fmt: skip
        curl_image = [curl, "-so", str(root / "curl.png"), image]
        for number in range(rounds + 1):  # round 0 warms the bytecode cache and the page cache
            timed = {
                "curl stream": run_child(curl_stream, env=env),
                "curl image": run_child(curl_image, env=env),
                IMPORTS: run_child([sys.executable, "-c", "import typer, httpx"], env=env),
                NEEDED: run_child([sys.executable, "-c", _NEEDED_CODE], env=env),
                "wan": run_child([*wan, "-o", str(root / f"out-{number}")], env=env),
            }
            for name, run in timed.items():
                if run.returncode != 0:
                    raise RuntimeError(f"{name} exited {run.returncode}: {run.stderr.strip()}")
            if number:
                for name, run in timed.items():
                    runs[name].append(run)
        saved = list((root / f"out-{rounds}").glob("*.png"))
        if len(saved) != 1 or saved[0].stat().st_size < IMAGE_BYTES:
            raise RuntimeError(f"wan generate saved {saved}")
    return runs


def figures(runs: dict[str, list[ChildRun]] | None) -> list[Figure]:
    if runs is None:
        return [Figure(SECTION, "wan generate vs two curl calls", "skipped: no curl", "", None)]
    pairs = [
        stream.seconds + image.seconds
        for stream, image in zip(runs["curl stream"], runs["curl image"], strict=True)
    ]
    floor = median(pairs)
    seconds = median([run.seconds for run in runs["wan"]])
    ratio = seconds / floor
    imports = median([run.seconds for run in runs[IMPORTS]])
    needed = median([run.seconds for run in runs[NEEDED]])
    peak = max(run.peak_rss for run in runs["wan"])
    name = f"text + one {IMAGE_BYTES // MB} MB PNG"
    return [
        Figure(
            SECTION, f"{name}: two curl calls", ms(floor), f"the floor ({len(pairs)} rounds)", None
        ),
        Figure(
            SECTION,
            f"{IMPORTS} (for scale)",
            f"{ms(imports)} = {imports / floor:.2f}x curl",
            "",
            None,
        ),
        Figure(
            SECTION,
            NEEDED,
            f"{ms(needed)} = {needed / floor:.2f}x curl",
            "",
            None,
        ),
        Figure(
            SECTION,
            f"{name}: wan generate -o DIR",
            f"{ms(seconds)} = {ratio:.2f}x curl, {seconds / needed:.2f}x what wan imports",
            f"<= {MAX_RATIO:.0f}x curl",
            ratio <= MAX_RATIO,
        ),
        Figure(
            SECTION,
            f"{name}: wan generate, in the issue's terms",
            f"{seconds / imports:.2f}x {IMPORTS}",
            f"<= {MAX_IMPORTS_RATIO:.2f}x (4x / 2.8x)",
            seconds / imports <= MAX_IMPORTS_RATIO,
        ),
        Figure(SECTION, f"{name}: wan generate peak RSS", mb(peak), "", None),
    ]


def run(rounds: int = ROUNDS) -> list[Figure]:
    return figures(measure(rounds))


def main() -> int:
    return print_figures(run())


if __name__ == "__main__":
    sys.exit(main())

"""Figure 4: an edit with four 10 MB local reference images (the service's largest request).

Four PNG files of exactly 10 MiB (the per-image limit; a valid header, then random bytes, so
base64 has no shortcut) go into one edit, whose JSON body is ~56 MB (53.3 MiB) of base64.

- memory: `wan edit` runs as a user runs it (the installed script, history on) against a
  loopback fake service, once with one small reference and once with the four big ones; the
  figure is the difference of their peak RSS, in units of the request body. The body is
  streamed: each reference's base64 is made from its file as it is sent, so nothing near the
  body's size is ever held (before: the data URIs and the body, 1.5x the body).
- time: a child process builds the request and sends it to the fake (`build_request` +
  `client.open_answer`), reading, checking, encoding and sending the 56 MB.

    .venv/bin/python -m benchmarks.refs
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/refs.py` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import (
    Figure,
    child_report,
    mb,
    median,
    ms,
    print_figures,
    run_child,
    run_python_child,
)
from benchmarks.startup import isolated_env, wan_command

SECTION = "references"
FILES = 4
ROUNDS = 3
MAX_OVER_SMALL = 0.5  # peak above a one-small-reference edit, in units of the request body
MAX_SEND_SECONDS = 1.0
API = "/v1/images/generations"


def write_reference(path: Path, size: int) -> None:
    """A PNG signature and IHDR (1280x1280), then random bytes up to `size`."""
    ihdr_data = struct.pack(">IIBBBBB", 1280, 1280, 8, 2, 0, 0, 0)
    crc = zlib.crc32(ihdr_data, zlib.crc32(b"IHDR"))
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr_data
    head += struct.pack(">I", crc)
    path.write_bytes(head + os.urandom(size - len(head)))


def measure() -> dict[str, object]:
    from tests.fakeapi import FakeAPI, Reply, png_bytes
    from wan_cli.files.refs import MAX_REF_BYTES

    answer = {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(png_bytes()).decode()}],
        "request_id": "bench",
    }
    with tempfile.TemporaryDirectory(prefix="wan-bench-refs-") as tmp, FakeAPI() as server:
        root = Path(tmp)
        server.add(API, Reply.json(answer))
        big = []
        for n in range(FILES):
            path = root / f"ref-{n + 1}.png"
            write_reference(path, MAX_REF_BYTES)
            big.append(str(path))
        small = root / "small.png"
        write_reference(small, 4096)
        env = isolated_env(root)
        env["WAN_API_KEY"] = "sk-bench-refs"
        env["NO_PROXY"] = "127.0.0.1,localhost"
        wan = [*wan_command(), "edit", "put the cat from image 2 on the sofa in image 1"]
        wan += ["--base-url", f"{server.url}/v1", "-o", str(root / "out"), "--quiet"]
        runs: dict[str, list[int]] = {"small": [], "big": []}
        for number in range(ROUNDS + 1):  # round 0 fills the bytecode cache
            for name, paths in (("small", [str(small)]), ("big", big)):
                run = run_child([*wan, *(arg for path in paths for arg in ("-r", path))], env=env)
                if run.returncode != 0:
                    raise RuntimeError(f"wan edit exited {run.returncode}: {run.stderr.strip()}")
                if number:
                    runs[name].append(run.peak_rss)
                body = len(server.requests_to(API)[-1].body)
                server._requests.clear()  # the fake keeps every body: 56 MB each
        send = child_report(run_python_child("refs", "child", server.url, *big))
    return {"small": runs["small"], "big": runs["big"], "body": body, "send": send}


def figures(results: dict[str, object]) -> list[Figure]:
    body = int(str(results["body"]))
    small = median(results["small"])  # type: ignore[arg-type]
    big = median(results["big"])  # type: ignore[arg-type]
    over = (big - small) / body
    send = results["send"]
    assert isinstance(send, dict)
    seconds = float(send["seconds"])
    return [
        Figure(SECTION, "wan edit, one small reference: peak RSS", mb(small), "", None),
        Figure(
            SECTION,
            f"wan edit, {FILES} x 10 MB references: peak RSS",
            f"{mb(big)} = +{mb(big - small)}, {over:.2f}x the {mb(body)} body",
            f"<= one small + {MAX_OVER_SMALL}x body",
            over <= MAX_OVER_SMALL,
        ),
        Figure(
            SECTION,
            f"{FILES} x 10 MB refs, build + encode + send: time",
            ms(seconds),
            f"<= {MAX_SEND_SECONDS * 1000:.0f} ms",
            seconds <= MAX_SEND_SECONDS,
        ),
    ]


def run() -> list[Figure]:
    return figures(measure())


def child(base_url: str, paths: list[str]) -> None:
    """Build the request and send it; print a JSON report."""
    from wan_cli.api.client import RetryPolicy, make_api_client, open_answer
    from wan_cli.api.request import GenerateInputs, build_request

    inputs = GenerateInputs(
        mode="edit",
        prompt="put the cat from image 2 on the sofa in image 1",
        refs=tuple(paths),
        base_url=f"{base_url}/v1",
        stream=False,
    )
    with make_api_client(60.0) as client:
        started = time.perf_counter()
        prepared = build_request(inputs)
        with open_answer(client, prepared, "sk-benchmark", RetryPolicy(retries=0)) as answer:
            answer.read()
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "body_bytes": prepared.content_length()}))


def main() -> int:
    return print_figures(run())


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())

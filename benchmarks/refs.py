"""Figure 4: an edit with four 10 MB local reference images (the service's largest request).

Four PNG files of exactly 10 MiB (the per-image limit; a valid header, then random bytes, so
base64 has no shortcut) go through what `wan edit` does before and while sending, each in a
fresh child process:

- build: `request.build_request` (read, check and base64-encode each file into a data URI) and
  `PreparedRequest.body_bytes` (the compact JSON body, ~56 MB);
- send: the same, then `client.open_answer` POSTs it to a loopback server, as a run does.

Memory is the child's peak RSS above its own baseline (after imports), compared with the
encoded body's size: the body itself must exist once as bytes, and the data URIs once as text
(they are the request's content); anything beyond a few copies is waste.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

from benchmarks.measure import Figure, child_report, mb, ms, run_python_child, self_peak_rss

SECTION = "references"
FILES = 4
MAX_COPIES = 4.0  # peak above baseline, in units of the encoded body
MAX_BUILD_SECONDS = 1.0


def write_reference(path: Path, size: int) -> None:
    """A PNG signature and IHDR (1280x1280), then random bytes up to `size`."""
    ihdr_data = struct.pack(">IIBBBBB", 1280, 1280, 8, 2, 0, 0, 0)
    crc = zlib.crc32(ihdr_data, zlib.crc32(b"IHDR"))
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr_data
    head += struct.pack(">I", crc)
    path.write_bytes(head + os.urandom(size - len(head)))


def measure() -> dict[str, dict[str, object]]:
    from tests.fakeapi import FakeAPI, Reply
    from wan_cli.files.refs import MAX_REF_BYTES

    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="wan-bench-") as tmp, FakeAPI() as server:
        paths = []
        for n in range(FILES):
            path = Path(tmp) / f"ref-{n + 1}.png"
            write_reference(path, MAX_REF_BYTES)
            paths.append(str(path))
        answer = {"output": {"choices": []}, "request_id": "bench"}
        server.add("/api/v1/services/aigc/multimodal-generation/generation", Reply.json(answer))
        for mode in ("build", "send"):
            run = run_python_child("refs", "child", mode, server.url, *paths)
            report = child_report(run)
            report["peak"] = run.peak_rss
            results[mode] = report
    return results


def figures(results: dict[str, dict[str, object]]) -> list[Figure]:
    rows = []
    for mode, label in (("build", "build + encode"), ("send", "build + encode + send")):
        report = results[mode]
        body = int(str(report["body_bytes"]))
        used = int(str(report["peak"])) - int(str(report["baseline"]))
        copies = used / body
        seconds = float(str(report["seconds"]))
        rows.append(
            Figure(
                SECTION,
                f"4 x 10 MB refs, {label}: time",
                ms(seconds),
                f"<= {MAX_BUILD_SECONDS * 1000:.0f} ms" if mode == "build" else "",
                seconds <= MAX_BUILD_SECONDS if mode == "build" else None,
            )
        )
        rows.append(
            Figure(
                SECTION,
                f"4 x 10 MB refs, {label}: peak RSS",
                f"+{mb(used)} = {copies:.1f}x the {mb(body)} body",
                f"<= {MAX_COPIES:.0f}x body",
                copies <= MAX_COPIES,
            )
        )
    return rows


def run() -> list[Figure]:
    return figures(measure())


def child(mode: str, base_url: str, paths: list[str]) -> None:
    """Build (and with mode "send", send) the request; print a JSON report."""
    from wan_cli.api.client import RetryPolicy, make_api_client, open_answer
    from wan_cli.api.request import GenerateInputs, build_request

    inputs = GenerateInputs(
        mode="edit",
        prompt="put the cat from image 2 on the sofa in image 1",
        refs=tuple(paths),
        provider="dashscope",
        base_url=f"{base_url}/api/v1",
        stream=False,
    )
    client = make_api_client(60.0) if mode == "send" else None
    baseline = self_peak_rss()
    started = time.perf_counter()
    prepared = build_request(inputs)
    if client is None:
        body_bytes = len(prepared.body_bytes())
        seconds = time.perf_counter() - started
    else:
        with client, open_answer(client, prepared, "sk-benchmark", RetryPolicy(retries=0)) as r:
            r.read()
        seconds = time.perf_counter() - started
        body_bytes = len(prepared.body_bytes())  # after the peak: the bytes just sent
    print(json.dumps({"seconds": seconds, "body_bytes": body_bytes, "baseline": baseline}))


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[1] != "child":
        raise SystemExit("usage: python -m benchmarks.refs child build|send BASE_URL PATH...")
    child(sys.argv[2], sys.argv[3], sys.argv[4:])

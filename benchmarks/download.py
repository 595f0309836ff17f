"""Figure 3: peak memory while saving a 500 MB image versus a 1 MB one.

A loopback server (tests/fakeapi.py, `Reply.file`) serves two well-formed PNGs: 1 MB and 500 MB
(signature, IHDR, one IDAT of zeros with a correct CRC, IEND; the big one is a sparse file).
Each is saved by a fresh child process the way `wan` saves an image: `download.download_image`
with the PNG metadata hook (`provenance.make_png_embedder`), so the bytes are streamed to a temp
file, hashed on the way, copied once more to embed the text chunks, and published. The figure
is each child's own peak RSS; streaming means they differ by no more than a few chunks.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

from benchmarks.measure import MB, Figure, child_report, mb, run_python_child, self_peak_rss

SECTION = "download"
SMALL = 1 * MB
LARGE = 500 * MB
MAX_DIFFERENCE = 20 * MB
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk_header(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png(path: Path, size: int) -> None:
    """A PNG of exactly `size` bytes whose IDAT is zeros (a hole in a sparse file)."""
    ihdr = _chunk_header(b"IHDR", struct.pack(">IIBBBBB", 1280, 1280, 8, 2, 0, 0, 0))
    iend = _chunk_header(b"IEND", b"")
    idat_length = size - len(_SIGNATURE) - len(ihdr) - len(iend) - 12
    crc = zlib.crc32(b"IDAT")
    zeros = bytes(MB)
    left = idat_length
    while left:
        step = min(left, MB)
        crc = zlib.crc32(zeros[:step] if step < MB else zeros, crc)
        left -= step
    with open(path, "wb") as fh:
        fh.write(_SIGNATURE + ihdr + struct.pack(">I", idat_length) + b"IDAT")
        fh.seek(idat_length, 1)  # leave the zeros as a hole: no 500 MB written here
        fh.write(struct.pack(">I", crc) + iend)
    if path.stat().st_size != size:
        raise RuntimeError(f"{path} is {path.stat().st_size} bytes, not {size}")


def measure() -> dict[str, dict[str, object]]:
    from tests.fakeapi import FakeAPI, Reply

    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="wan-bench-") as tmp, FakeAPI() as server:
        root = Path(tmp)
        for name, size in (("small", SMALL), ("large", LARGE)):
            source = root / f"{name}.png"
            write_png(source, size)
            server.add(f"/img/{name}.png", Reply.file(source, content_type="image/png"))
            target = root / f"out-{name}"
            run = run_python_child(
                "download", "child", f"{server.url}/img/{name}.png", str(size), str(target)
            )
            report = child_report(run)
            if not report.get("ok"):
                raise RuntimeError(f"the {name} download failed: {report.get('error')}")
            report["peak"] = run.peak_rss
            results[name] = report
            for saved in target.glob("*"):
                saved.unlink()  # 500 MB: do not keep it until the end
            source.unlink()
    return results


def figures(results: dict[str, dict[str, object]]) -> list[Figure]:
    small, large = results["small"], results["large"]
    small_peak, large_peak = int(str(small["peak"])), int(str(large["peak"]))
    difference = large_peak - small_peak
    seconds = float(str(large["seconds"]))
    return [
        Figure(SECTION, "save a 1 MB PNG: peak RSS", mb(small_peak), "", None),
        Figure(
            SECTION,
            "save a 500 MB PNG: peak RSS",
            f"{mb(large_peak)} ({difference / MB:+.1f} MB; {LARGE / MB / seconds:.0f} MB/s)",
            f"<= 1 MB case + {mb(MAX_DIFFERENCE)}",
            difference <= MAX_DIFFERENCE,
        ),
    ]


def run() -> list[Figure]:
    return figures(measure())


def child(url: str, size: int, directory: Path) -> None:
    """Save `url` as `wan` would and print a JSON report (run in a fresh process)."""
    from wan_cli.files.download import download_image, make_download_client
    from wan_cli.files.provenance import make_png_embedder

    client = make_download_client(timeout=120.0, proxy_env_ok=False)
    finalize = make_png_embedder({"prompt": "benchmark", "model": "wan2.6-image"})
    baseline = self_peak_rss()
    started = time.perf_counter()
    with client:
        saved = download_image(
            client,
            url,
            directory=directory,
            stem="benchmark",
            index=0,
            max_bytes=size + MB,
            finalize=finalize,
        )
    report = {
        "ok": saved.ok,
        "error": saved.error,
        "bytes": saved.bytes,
        "seconds": time.perf_counter() - started,
        "baseline": baseline,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "child":
        raise SystemExit("usage: python -m benchmarks.download child URL SIZE DIRECTORY")
    child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))

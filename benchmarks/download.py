"""Figure 3: peak memory while saving a 500 MB image versus a 1 MB one, and while a whole
`wan generate` saves a 100 MB image that came inline (`b64_json`).

A loopback server (tests/fakeapi.py, `Reply.file`) serves two well-formed PNGs: 1 MB and 500 MB
(signature, IHDR, one IDAT of zeros with a correct CRC, IEND; the big one is a sparse file).
Each is saved by a fresh child process the way `wan` saves an image: `download.download_image`
with the PNG text of a run (`sink.PngText`, here known from the start), so the bytes are streamed
to a temp file with the text chunks spliced in after IHDR (`png_stream.PngSplicer`), hashed as
they are written, synced and published. The figure
is each child's own peak RSS; streaming means they differ by no more than a few chunks.

Inline: a child holds a 100 MB PNG's base64 text (133 MB, as a parsed answer holds it; built
with one allocation) and saves it as `wan` does: `events_from_json` then `download.save_inline`
with the PNG text. The image is decoded slice by slice straight into its temp file, so the
figure is the text plus a few slices (before, the decoded bytes and an ASCII copy of the text
were held too: +233 MB). For context, a whole `wan generate` answered with a 20 MB inline image
(a whole JSON answer is refused over 32 MiB): reading and parsing the answer holds it about three
times over (bytes, the decoded body, the parsed string), which no saving can change.
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
INLINE = 100 * MB
# A whole `wan generate` refuses a JSON answer over 32 MiB (api/intake.ANSWER_LIMIT): its inline
# image is smaller.
INLINE_RUN = 20 * MB
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


def inline_text(size: int) -> str:
    """The base64 of a well-formed `size`-byte PNG (as `write_png` makes), built with one
    allocation: the zeros of its IDAT are one small base64 block repeated, joined once."""
    import base64

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
    head = _SIGNATURE + ihdr + struct.pack(">I", idat_length) + b"IDAT"
    lead = -len(head) % 3  # zeros that bring the head to a multiple of 3 bytes
    block = 3 * MB
    blocks, rest = divmod(idat_length - lead, block)
    tail = bytes(rest) + struct.pack(">I", crc) + iend
    parts = [base64.b64encode(head + bytes(lead)).decode("ascii")]
    parts += [base64.b64encode(bytes(block)).decode("ascii")] * blocks  # the same object
    parts.append(base64.b64encode(tail).decode("ascii"))
    return "".join(parts)


def write_inline_answer(path: Path, size: int) -> int:
    """An OpenAI images answer with a `size`-byte PNG inline (`b64_json`); returns its size."""
    text = inline_text(size)
    with open(path, "w", encoding="ascii") as out:
        out.write('{"created": 1, "request_id": "bench-inline", "data": [{"b64_json": "')
        out.write(text)
        out.write('"}]}')
    return path.stat().st_size


def measure_inline() -> dict[str, dict[str, object]]:
    from benchmarks.measure import run_child
    from benchmarks.startup import isolated_env, wan_command
    from tests.fakeapi import FakeAPI, Reply

    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="wan-bench-") as tmp, FakeAPI() as server:
        root = Path(tmp)
        # Saving alone: the text is in memory (as after parsing the answer), then saved.
        target = root / "out-save"
        run = run_python_child("download", "inline-child", str(INLINE), str(target))
        report = child_report(run)
        if not report.get("ok"):
            raise RuntimeError(f"the inline save failed: {report.get('error')}")
        report["peak"] = run.peak_rss
        results["save"] = report
        for saved in target.glob("*"):
            saved.unlink()
        # A whole `wan generate` answered with it.
        answer = root / "answer.json"
        answer_bytes = write_inline_answer(answer, INLINE_RUN)
        server.add("/v1/images/generations", Reply.file(answer, content_type="application/json"))
        env = isolated_env(root)
        env.update({"WAN_API_KEY": "sk-bench", "NO_PROXY": "127.0.0.1"})
        env["WAN_MAX_IMAGE_MB"] = str(INLINE_RUN // MB + 1)
        target = root / "out-generate"
        argv = [*wan_command(), "generate", "a benchmark", "-o", str(target), "--no-history"]
        run = run_child([*argv, "--base-url", f"{server.url}/v1"], env=env)
        if run.returncode != 0:
            raise RuntimeError(f"wan generate failed ({run.returncode}): {run.stderr.strip()}")
        results["generate"] = {"peak": run.peak_rss, "answer": answer_bytes}
        for saved in target.glob("*"):
            saved.unlink()
    return results


def inline_figures(results: dict[str, dict[str, object]]) -> list[Figure]:
    save, generate = results["save"], results["generate"]
    text = int(str(save["text"]))
    over = int(str(save["peak"])) - int(str(save["baseline"]))
    peak, answer = int(str(generate["peak"])), int(str(generate["answer"]))
    return [
        Figure(
            SECTION,
            "save a 100 MB inline (b64_json) PNG: peak RSS",
            f"its {mb(text)} base64 text + {over / MB:.1f} MB",
            f"<= text + {mb(MAX_DIFFERENCE)}",
            over <= MAX_DIFFERENCE,
        ),
        Figure(
            SECTION,
            f"wan generate, answered with a {INLINE_RUN // MB} MB one: peak RSS",
            f"{mb(peak)} = {peak / answer:.1f}x the {mb(answer)} answer (read + parsed)",
            "",
            None,
        ),
    ]


def run() -> list[Figure]:
    return figures(measure()) + inline_figures(measure_inline())


def child(url: str, size: int, directory: Path) -> None:
    """Save `url` as `wan` would and print a JSON report (run in a fresh process)."""
    from wan_cli.files.download import download_image, make_download_client
    from wan_cli.files.sink import PngText

    client = make_download_client(timeout=120.0, proxy_env_ok=False)
    png_text = PngText.known({"prompt": "benchmark", "model": "wan2.6-image"})
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
            png_text=png_text,
        )
    report = {
        "ok": saved.ok,
        "error": saved.error,
        "bytes": saved.bytes,
        "seconds": time.perf_counter() - started,
        "baseline": baseline,
    }
    print(json.dumps(report))


def inline_child(size: int, directory: Path) -> None:
    """Save a `size`-byte inline PNG as `wan` would (from an answer already parsed, with the
    PNG text) and print a JSON report (run in a fresh process)."""
    from wan_cli.api.events import ImageRef, events_from_json
    from wan_cli.files.download import save_inline
    from wan_cli.files.sink import PngText

    text = inline_text(size)
    baseline = self_peak_rss()  # the text, as the parsed answer holds it
    started = time.perf_counter()
    events = events_from_json({"data": [{"b64_json": text}]})
    [image] = [event for event in events if isinstance(event, ImageRef)]
    if image.data is None:
        raise RuntimeError("the answer's image is not inline")
    saved = save_inline(
        image.data,
        directory=directory,
        stem="benchmark",
        index=0,
        max_bytes=size + MB,
        png_text=PngText.known({"prompt": "benchmark", "model": "wan2.6-image"}),
    )
    report = {
        "ok": saved.ok,
        "error": saved.error,
        "bytes": saved.bytes,
        "text": len(text),
        "seconds": time.perf_counter() - started,
        "baseline": baseline,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "inline-child":
        inline_child(int(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "child":
        child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(
            "usage: python -m benchmarks.download child URL SIZE DIRECTORY"
            " | inline-child SIZE DIRECTORY"
        )

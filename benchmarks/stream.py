"""Figure 2: what a streamed answer costs beyond reading it.

The stream is 10,000 DashScope SSE events as the service frames them (`id:`, `event:result`,
`:HTTP_STATUS/200`, `data:{json}`), one network chunk per event: short text fragments with a
line break every ~20 fragments, a cumulative `usage` and the `request_id` in every chunk, three
image links spread through it, and `finish_reason: "stop"` on the last.

- parsing alone: `sse.iter_sse` frames the bytes into messages and `json.loads` decodes each
  message's data: the least any client must do with the stream.
- translation + plain view: `sse.iter_sse` → `events.events_from_sse` → each TextDelta and
  ImageRef handed to `PlainView`, which writes timestamped lines to /dev/null, as `wan` does
  when stderr is not a terminal. Image downloads are not part of it (figure 3).

Both run in this process, alternating, and each figure is the median of the rounds.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from benchmarks.measure import Figure, median, ms
from wan_cli.api.events import Event, ImageRef, TextDelta, events_from_sse
from wan_cli.api.sse import iter_sse

if TYPE_CHECKING:
    from wan_cli.ui.render import View

SECTION = "stream"
EVENTS = 10_000
MAX_RATIO = 1.1
IMAGE_EVERY = EVENTS // 4
LINE_EVERY = 20
_TEXT = (
    "the lighthouse stands on a rocky shore while autumn leaves drift over the water and "
    "gulls circle above the warm evening light 灯塔 秋天"
)
_WORDS = _TEXT.split(" ")


def sse_stream(events: int = EVENTS, line_every: int = LINE_EVERY) -> list[bytes]:
    """The stream's bytes, one chunk per event; a text fragment ends a line every
    `line_every` events (1: every fragment is a whole line)."""
    request_id = "7d2b6c3e-9f1a-4b8e-a5d2-3c1e0f9a8b71"
    chunks = []
    output_tokens = 0
    images = 0
    for n in range(1, events + 1):
        last = n == events
        if n % IMAGE_EVERY == 0 and not last:
            images += 1
            url = f"https://dashscope-result.example.com/{n}/image-{images}.png?Expires=1&Sig=x"
            content = [{"type": "image", "image": url}]
        else:
            words = [_WORDS[(n * 7 + i) % len(_WORDS)] for i in range(1 + n % 3)]
            text = " ".join(words) + (".\n" if n % line_every == 0 else " ")
            output_tokens += len(words)
            content = [{"type": "text", "text": text}]
        document = {
            "output": {
                "choices": [
                    {
                        "message": {"content": content, "role": "assistant"},
                        "finish_reason": "stop" if last else "null",
                    }
                ],
                "finished": last,
            },
            "usage": {
                "input_tokens": 28,
                "output_tokens": output_tokens,
                "total_tokens": 28 + output_tokens,
                "image_count": images,
                "size": "1280*1280" if images else "0*0",
            },
            "request_id": request_id,
        }
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        frame = f"id:{n}\nevent:result\n:HTTP_STATUS/200\ndata:{data}\n\n"
        chunks.append(frame.encode("utf-8"))
    return chunks


def parse_only(chunks: list[bytes]) -> int:
    loads = json.loads
    count = 0
    for message in iter_sse(chunks):
        loads(message.data)
        count += 1
    return count


def show(events: Iterable[Event], view: View) -> int:
    """Hand each event to the view as a run does (text, image links); the images found."""
    images = 0
    for event in events:
        kind = type(event)
        if kind is TextDelta:
            view.text(event.text)  # type: ignore[union-attr]
        elif kind is ImageRef:
            view.image_found(event.index, event.url)  # type: ignore[union-attr]
            images += 1
    return images


def translate_and_render(chunks: list[bytes]) -> int:
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import PlainView

    with open(os.devnull, "w", encoding="utf-8") as sink:
        view = PlainView(Output(stdout=sink, stderr=sink, fancy=False))
        images = show(events_from_sse(iter_sse(chunks)), view)
        view.close()
    if images != EVENTS // IMAGE_EVERY - 1:
        raise RuntimeError(f"the benchmark stream was not read as intended ({images} images)")
    return images


def _time(step: Callable[[list[bytes]], int], chunks: list[bytes]) -> float:
    gc.collect()
    started = time.perf_counter()
    step(chunks)
    return time.perf_counter() - started


def measure(rounds: int) -> tuple[list[float], list[float]]:
    chunks = sse_stream()
    translate_and_render(chunks)  # warm-up: imports, caches
    parse_only(chunks)
    parse_times, full_times = [], []
    for _ in range(rounds):
        parse_times.append(_time(parse_only, chunks))
        full_times.append(_time(translate_and_render, chunks))
    return parse_times, full_times


def figures(parse_times: list[float], full_times: list[float]) -> list[Figure]:
    parse = median(parse_times)
    full = median(full_times)
    ratio = full / parse
    per_event = full / EVENTS * 1e6
    return [
        Figure(
            SECTION,
            f"parse {EVENTS:,} SSE events (iter_sse + json.loads)",
            ms(parse),
            f"the floor ({len(parse_times)} runs)",
            None,
        ),
        Figure(
            SECTION,
            "translate + PlainView (events_from_sse -> view)",
            f"{ms(full)} = {ratio:.2f}x parse ({per_event:.0f} us/event)",
            f"<= {MAX_RATIO}x parse",
            ratio <= MAX_RATIO,
        ),
    ]


def live_view_refreshes() -> Figure:
    """LiveView over the same stream: terminal writes per second must stay bounded."""
    from benchmarks.liveview import count_live_writes

    writes, seconds, limit = count_live_writes(sse_stream())
    return Figure(
        SECTION,
        f"LiveView: terminal writes for {EVENTS:,} events",
        f"{writes} in {seconds:.2f} s",
        f"<= {limit} (8/s + structural)",
        writes <= limit,
    )


def run(rounds: int = 7) -> list[Figure]:
    return [*figures(*measure(rounds)), live_view_refreshes()]

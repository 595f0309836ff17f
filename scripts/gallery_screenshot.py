#!/usr/bin/env python3
"""Make docs/images/gallery.png: `wan gallery --history` of a few made-up runs, photographed
in headless Chromium.

    python scripts/gallery_screenshot.py                   # writes docs/images/gallery.png
    python scripts/gallery_screenshot.py -o /tmp/phone.png --width 390

Needs Pillow and selenium (`pip install -e '.[test]'`) and Debian's `chromium` and
`chromium-driver`. Nothing touches the network or your own history: the runs are recorded in a
throw-away history file and the page is written by the real `wan gallery` command. The pictures
are drawn here (sky, sea, hills), so the output is the same on every run.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DEFAULT_OUTPUT = ROOT / "docs" / "images" / "gallery.png"

RGB = tuple[int, int, int]


# -- pictures ------------------------------------------------------------------------------


def _blend(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _sky(size: tuple[int, int], top: RGB, bottom: RGB) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(size[1]):
        draw.line([(0, y), (size[0], y)], fill=_blend(top, bottom, y / max(1, size[1] - 1)))
    return image


def _hills(image: Any, seed: int, layers: list[tuple[float, RGB]]) -> None:
    """Layered ridges, far to near: (height as a fraction of the picture, colour)."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    width, height = image.size
    rng = random.Random(seed)
    for level, colour in layers:
        points = [(0, height)]
        y = height * (1 - level)
        for x in range(0, width + 32, 32):
            y = min(height - 4, max(height * 0.35, y + rng.uniform(-18, 18)))
            points.append((x, round(y)))
        points.append((width, height))
        draw.polygon(points, fill=colour)


def dusk_hills(seed: int, size: tuple[int, int] = (512, 512)) -> Any:
    from PIL import ImageDraw

    image = _sky(size, (52, 40, 110), (250, 160, 110))
    draw = ImageDraw.Draw(image)
    cx, cy, r = size[0] * 0.62, size[1] * 0.52, size[0] * 0.09
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 222, 160))
    _hills(image, seed, [(0.42, (120, 70, 120)), (0.3, (80, 45, 95)), (0.18, (40, 25, 60))])
    return image


def night_sky(seed: int, size: tuple[int, int] = (512, 512)) -> Any:
    from PIL import ImageDraw

    image = _sky(size, (8, 12, 40), (40, 60, 120))
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for _ in range(140):
        x, y = rng.randrange(size[0]), rng.randrange(round(size[1] * 0.7))
        shade = rng.randrange(150, 256)
        draw.point((x, y), fill=(shade, shade, min(255, shade + 20)))
    cx, cy, r = size[0] * 0.25, size[1] * 0.22, size[0] * 0.07
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(240, 236, 210))
    draw.ellipse([cx - r * 0.55, cy - r * 1.1, cx + r * 1.4, cy + r * 0.8], fill=(14, 20, 52))
    _hills(image, seed, [(0.25, (20, 30, 60)), (0.14, (10, 14, 30))])
    return image


def lighthouse(seed: int, size: tuple[int, int] = (512, 512)) -> Any:
    from PIL import ImageDraw

    image = _sky(size, (120, 170, 220), (235, 210, 190))
    draw = ImageDraw.Draw(image)
    width, height = size
    sea = round(height * 0.66)
    for y in range(sea, height):
        t = (y - sea) / max(1, height - sea)
        draw.line([(0, y), (width, y)], fill=_blend((70, 120, 160), (25, 55, 90), t))
    rng = random.Random(seed)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(sea + 6, height)
        draw.line([(x, y), (x + rng.randrange(8, 30), y)], fill=(150, 190, 215))
    base_x = width * (0.68 + 0.1 * rng.random())
    draw.polygon(
        [(base_x - 60, sea + 6), (base_x + 70, sea + 6), (base_x + 40, sea - 22)],
        fill=(60, 55, 50),
    )
    top, bottom = sea - 190, sea - 18
    draw.polygon(
        [(base_x - 18, top), (base_x + 18, top), (base_x + 26, bottom), (base_x - 26, bottom)],
        fill=(245, 242, 235),
    )
    for band in (0.25, 0.6):
        y0 = top + (bottom - top) * band
        draw.rectangle([base_x - 24, y0, base_x + 24, y0 + 22], fill=(200, 50, 50))
    draw.rectangle([base_x - 14, top - 26, base_x + 14, top], fill=(255, 230, 120))
    draw.polygon(
        [(base_x - 20, top - 26), (base_x + 20, top - 26), (base_x, top - 48)], fill=(40, 40, 45)
    )
    return image


def watercolour_fox(seed: int, size: tuple[int, int] = (512, 512)) -> Any:
    from PIL import ImageDraw, ImageFilter

    image = _sky(size, (238, 232, 220), (214, 226, 206))
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for _ in range(18):  # washes of colour
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(30, 110)
        colour = rng.choice([(230, 150, 90), (200, 210, 170), (245, 200, 150), (180, 200, 210)])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(18))
    draw = ImageDraw.Draw(image)
    cx, cy = size[0] / 2, size[1] * 0.55
    face = [(cx - 110, cy - 70), (cx + 110, cy - 70), (cx, cy + 110)]
    draw.polygon(face, fill=(215, 110, 50))
    draw.polygon([(cx - 110, cy - 70), (cx - 70, cy - 170), (cx - 30, cy - 70)], fill=(200, 95, 40))
    draw.polygon([(cx + 110, cy - 70), (cx + 70, cy - 170), (cx + 30, cy - 70)], fill=(200, 95, 40))
    draw.polygon([(cx - 60, cy + 10), (cx + 60, cy + 10), (cx, cy + 110)], fill=(250, 240, 228))
    for side in (-1, 1):
        draw.ellipse([cx + side * 45 - 9, cy - 30, cx + side * 45 + 9, cy - 12], fill=(40, 30, 30))
    draw.ellipse([cx - 12, cy + 92, cx + 12, cy + 112], fill=(40, 30, 30))
    return image.filter(ImageFilter.SMOOTH)


def _save(image: Any, path: Path) -> Path:
    image.save(path, optimize=True)
    return path


# -- the runs ------------------------------------------------------------------------------


def record_runs(history: Path, images: Path, refs: Path) -> None:
    """Four runs as `wan` records them: a generate with its text, an edit of two references,
    a one-image generate, and an edit whose download failed (its link kept for a rescue)."""
    from wan_cli.history import open_store

    store = open_store(history)
    assert store is not None, f"cannot open {history}"

    def run(
        when: datetime,
        command: str,
        prompt: str,
        parameters: dict[str, Any],
        pictures: list[Path | None],
        *,
        references: list[dict[str, Any]] | None = None,
        text: str = "",
        exit_code: int = 0,
        error: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        run_id = store.record_start(
            command=command,
            model="wan2.6-image",
            provider="dashscope",
            host="dashscope-intl.aliyuncs.com",
            prompt=prompt,
            parameters=parameters,
            references=references or [],
            output_dir=str(images),
            created=when,
        )
        store.record_request_id(run_id, f"4f1c2a9e-{when:%H%M}-4b7d-9a61-{command}")
        for index, picture in enumerate(pictures):
            store.record_image(run_id, index, f"https://results.example/{when:%H%M}/{index}.png")
            if picture is None:
                store.record_saved(run_id, index, None, None, None, "HTTP 403 (link expired?)")
            else:
                store.record_saved(run_id, index, str(picture), None, picture.stat().st_size, None)
        store.record_end(
            run_id,
            exit_code=exit_code,
            error=error,
            usage=usage or {"image_count": sum(1 for p in pictures if p)},
            text=text,
            request_id=None,
        )

    day = datetime(2025, 6, 14, tzinfo=UTC)
    stroll = [_save(dusk_hills(seed), images / f"dusk-hills-{seed}.png") for seed in (1, 2, 3)]
    run(
        day.replace(hour=9, minute=12),
        "generate",
        "A three-step picture story: a walk over the hills at dusk, warm light, soft colours",
        {
            "enable_interleave": True,
            "stream": True,
            "max_images": 3,
            "size": "1280*1280",
            "seed": 2718,
            "watermark": False,
        },
        stroll,
        text="1. The path climbs out of the valley as the sun sinks.\n"
        "2. Halfway up, the ridges turn violet.\n3. At the top, the last light.",
        usage={"input_tokens": 41, "output_tokens": 96, "image_count": 3},
    )
    fox_ref = _save(watercolour_fox(7, (320, 320)), refs / "fox-sketch.png")
    foxes = [_save(watercolour_fox(seed), images / f"fox-{seed}.png") for seed in (11, 12)]
    run(
        day.replace(hour=10, minute=3),
        "edit",
        "Turn the sketch into a watercolour of a fox, keep the pose, pale green background",
        {
            "enable_interleave": False,
            "stream": True,
            "n": 2,
            "size": "1K",
            "prompt_extend": True,
            "watermark": False,
            "negative_prompt": "text, frame, signature",
        },
        foxes,
        references=[
            {"kind": "file", "source": "fox-sketch.png", "path": str(fox_ref), "mime": "image/png"},
            {
                "kind": "url",
                "source": "https://example.com/palette.jpg",
                "url": "https://example.com/palette.jpg",
            },
        ],
    )
    run(
        day.replace(hour=11, minute=40),
        "generate",
        "A red and white lighthouse on a rock, calm sea, late afternoon",
        {"enable_interleave": True, "stream": True, "max_images": 1, "size": "1280*1280"},
        [_save(lighthouse(5), images / "lighthouse.png")],
    )
    run(
        day.replace(hour=12, minute=25),
        "edit",
        "The same hills under a starry sky, a crescent moon",
        {"enable_interleave": False, "stream": True, "n": 2, "size": "1K", "seed": 77},
        [_save(night_sky(3), images / "starry-hills-1.png"), None],
        references=[
            {
                "kind": "data",
                "source": "data:image/png;base64,…",
                "mime": "image/png",
                "bytes": 48213,
            }
        ],
        exit_code=7,
        error="1 of 2 image(s) could not be saved",
    )
    store.close()


def write_page(work: Path) -> Path:
    """The page, written by the real command against a history of made-up runs."""
    images, refs = work / "images", work / "refs"
    images.mkdir()
    refs.mkdir()
    history = work / "history.sqlite3"
    record_runs(history, images, refs)
    page = work / "gallery.html"
    env = {**os.environ, "WAN_HISTORY": str(history), "NO_COLOR": "1"}
    subprocess.run(
        [sys.executable, "-m", "wan_cli", "gallery", "--history", "-o", str(page)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        cwd=work,
    )
    return page


# -- the browser ---------------------------------------------------------------------------


@contextmanager
def chromium(width: int, height: int = 900) -> Iterator[Any]:
    """A headless Chromium driven by chromedriver (the system's: nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(page: Path, output: Path, width: int, colours: int) -> None:
    """The whole page (not just the window), palette-reduced to keep the PNG small."""
    from PIL import Image

    with chromium(width) as driver:
        driver.get(page.as_uri())
        broken = driver.execute_script(
            "return Array.from(document.images)"
            ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        if broken:
            raise SystemExit(f"images did not load: {broken}")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height)
        shot = driver.get_screenshot_as_png()
    with Image.open(io.BytesIO(shot)) as image:
        small = image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    small.save(output, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--width", type=int, default=1100, help="window width in CSS pixels")
    parser.add_argument("--colours", type=int, default=256, help="palette size of the PNG")
    parser.add_argument("--keep", type=Path, help="also copy the page and images here")
    args = parser.parse_args(argv)
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not needed.exists():
            parser.error(f"{needed} is missing: apt-get install chromium chromium-driver")
    with tempfile.TemporaryDirectory(prefix="wan-gallery-shot-") as tmp:
        page = write_page(Path(tmp))
        screenshot(page, args.output, args.width, args.colours)
        if args.keep is not None:
            import shutil

            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
    print(f"{args.output} ({args.output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`wan gallery` in a real browser: Debian's headless Chromium, driven by selenium through
chromedriver.

What only a browser can tell: every image on the page has loaded (nothing left as a grey box by
lazy loading, nothing blocked by the page's own Content Security Policy), every thumbnail is the
same size whatever the number of images in its card, the page fits a phone's width, and a PDF
of the page holds the images. Skipped where /usr/bin/chromium (apt: chromium chromium-driver)
or selenium is missing; .ci/run installs both.
"""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IsolatedEnv, RunCli
from tests.fakeapi import png_bytes
from wan_cli.files.provenance import build_metadata, write_sidecar

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)

# Every image that has not loaded (not complete, or nothing decoded): should be none.
BROKEN_IMAGES = (
    "return Array.from(document.images)"
    ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))"
)
# The rendered size of every thumbnail tile (an image's, or a placeholder's).
TILE_SIZES = (
    "return Array.from(document.querySelectorAll('.thumb, .placeholder'))"
    ".map(t => { const r = t.getBoundingClientRect(); return [r.width, r.height]; })"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (starting one takes a second or two)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--disable-gpu", "--no-sandbox", "--window-size=1100,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The system's chromedriver, given by path: selenium never looks for (downloads) one.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _image(path: Path, width: int, height: int, **meta: Any) -> Path:
    path.write_bytes(png_bytes(width, height))
    if meta:
        base: dict[str, Any] = {"index": 0, "created": datetime(2025, 3, 1, 10, tzinfo=UTC)}
        write_sidecar(path, build_metadata(**{**base, **meta}))
    return path


def _folder(root: Path) -> tuple[Path, int]:
    """A folder of runs of 3, 1 and 2 images (one an edit of a reference that is beside them),
    odd file names, and an image without provenance. Returns it and how many images it has."""
    folder = root / "out dir"
    folder.mkdir()
    generate = {"enable_interleave": True, "stream": True, "max_images": 3, "size": "1280*1280"}
    for index, (width, height) in enumerate([(64, 64), (96, 48), (48, 96)]):
        _image(
            folder / f"story-{index + 1}.png",
            width,
            height,
            prompt="a story in three pictures",
            index=index,
            request_id="req-story",
            parameters=generate,
        )
    _image(
        folder / "one #1 é.png",
        80,
        60,
        prompt="a single picture",
        request_id="req-one",
        parameters={**generate, "max_images": 1},
        created=datetime(2025, 3, 2, tzinfo=UTC),
    )
    _image(folder / "sketch.png", 40, 40)  # the edit's reference (and a card of its own)
    edit = {"enable_interleave": False, "stream": True, "n": 2, "size": "1K", "seed": 7}
    for index in range(2):
        _image(
            folder / f"edit-{index + 1}.png",
            72,
            72,
            prompt="the sketch as a painting",
            index=index,
            request_id="req-edit",
            parameters=edit,
            references=["/somewhere/else/sketch.png", "https://example.com/ref.png?sig=x"],
        )
    return folder, 3 + 1 + 1 + 2 + 1  # the reference's thumbnail is an image too


def _open(browser: Any, page: Path) -> None:
    browser.get_log("browser")  # forget the previous page's messages
    browser.get(page.as_uri())  # returns after the load event: eager images are in by then


def _problems(browser: Any) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser")]


def test_every_image_loads_and_every_thumbnail_has_one_size(
    browser: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    folder, expected = _folder(tmp_path)
    assert run_cli(["gallery", str(folder)]).exit_code == 0
    browser.set_window_size(1100, 900)
    _open(browser, folder / "index.html")
    assert browser.execute_script("return document.images.length") == expected
    assert browser.execute_script(BROKEN_IMAGES) == []
    assert _problems(browser) == []  # nothing refused by the CSP, nothing missing
    sizes = {tuple(size) for size in browser.execute_script(TILE_SIZES)}
    assert len(sizes) == 1, f"thumbnails of several sizes: {sizes}"  # 1-image cards too
    ((width, height),) = sizes
    assert width == height and 100 <= width <= 320
    assert browser.title.startswith("wan gallery — out dir — 4 runs, 7 images")
    modes = browser.execute_script(
        "return Array.from(document.querySelectorAll('article'))"
        ".map(a => [a.querySelector('h2').textContent, a.querySelector('.mode')?.textContent])"
    )
    assert sorted(map(tuple, modes)) == [
        ("a single picture", "generate"),
        ("a story in three pictures", "generate"),
        ("sketch.png", None),
        ("the sketch as a painting", "edit"),
    ]


@pytest.mark.regression("lazy, async images stayed grey boxes in a headless screenshot or PDF")
def test_images_far_below_the_fold_are_loaded_too(
    browser: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    # Far more page than window: a lazy image down there would wait for a scroll that a
    # screenshot, a PDF or a reader saving the page never makes.
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(40):
        created = datetime(2025, 1, 1, tzinfo=UTC).replace(day=1 + number % 28, hour=number % 24)
        _image(folder / f"{number:02}.png", 32, 32, prompt=f"run {number}", created=created)
    assert run_cli(["gallery", str(folder)]).exit_code == 0
    browser.set_window_size(1100, 500)
    try:
        _open(browser, folder / "index.html")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        assert height > 20 * 500
        assert browser.execute_script("return document.images.length") == 40
        assert browser.execute_script(BROKEN_IMAGES) == []
    finally:
        browser.set_window_size(1100, 900)


def test_the_page_fits_a_phone(browser: Any, run_cli: RunCli, tmp_path: Path) -> None:
    folder, _ = _folder(tmp_path)
    assert run_cli(["gallery", str(folder)]).exit_code == 0
    browser.set_window_size(390, 844)
    try:
        _open(browser, folder / "index.html")
        assert browser.execute_script(BROKEN_IMAGES) == []
        overflow = "return document.documentElement.scrollWidth - window.innerWidth"
        assert browser.execute_script(overflow) <= 0  # no sideways scrolling
        sizes = {tuple(size) for size in browser.execute_script(TILE_SIZES)}
        assert len(sizes) == 1, f"thumbnails of several sizes: {sizes}"
        per_row = "return getComputedStyle(document.querySelector('.images'))"
        per_row += ".gridTemplateColumns.split(' ').length"
        assert browser.execute_script(per_row) == 2
    finally:
        browser.set_window_size(1100, 900)


def test_a_page_elsewhere_and_an_embedded_page_load_too(
    browser: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    folder, expected = _folder(tmp_path)
    pages = tmp_path / "pages"
    pages.mkdir()
    page = pages / "g.html"
    assert run_cli(["gallery", str(folder), "-o", str(page)]).exit_code == 0
    _open(browser, page)  # every link is ../out%20dir/…
    assert browser.execute_script("return document.images.length") == expected
    assert browser.execute_script(BROKEN_IMAGES) == []
    assert _problems(browser) == []

    pytest.importorskip("PIL")
    embedded = tmp_path / "alone.html"
    assert run_cli(["gallery", str(folder), "--embed", "-o", str(embedded)]).exit_code == 0
    (tmp_path / "alone").mkdir()
    moved = embedded.rename(tmp_path / "alone" / "alone.html")  # away from every image
    _open(browser, moved)
    sources = browser.execute_script("return Array.from(document.images).map(i => i.src)")
    assert len(sources) == expected and all(s.startswith("data:image/jpeg") for s in sources)
    assert browser.execute_script(BROKEN_IMAGES) == []
    assert _problems(browser) == []  # data: images are allowed by the CSP


def test_a_pdf_of_the_history_page_holds_its_images(
    browser: Any, run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    from wan_cli.history import open_store

    images = [_image(tmp_path / f"h-{i}.png", 64 + 16 * i, 64) for i in range(3)]
    store = open_store(isolated_env.history)
    assert store is not None
    run_id = store.record_start(
        command="edit",
        model="wan2.6-image",
        provider="gateway",
        host="127.0.0.1",
        prompt="three, one lost",
        parameters={"n": 4, "enable_interleave": False},
        references=[{"kind": "file", "source": "h-0.png", "path": str(images[0])}],
        output_dir=str(tmp_path),
    )
    for index in range(4):
        store.record_image(run_id, index, f"http://127.0.0.1:9/{index}.png")
        saved = str(images[index]) if index < 3 else None
        store.record_saved(run_id, index, saved, None, 1, None if saved else "HTTP 403")
    store.record_end(run_id, exit_code=7, error="1 of 4", usage=None, text="", request_id="r")
    store.close()
    page = tmp_path / "history.html"
    assert run_cli(["gallery", "--history", "-o", str(page)]).exit_code == 0

    _open(browser, page)
    assert browser.execute_script("return document.images.length") == 4  # 3 + the reference
    assert browser.execute_script(BROKEN_IMAGES) == []
    rescue = browser.find_element("css selector", ".rescue").text
    assert f"wan history download {run_id}" in rescue
    pdf = base64.b64decode(browser.print_page())
    # Each distinct image is an image XObject in the PDF (a grey box would be none).
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Subtype /Image") >= 3


def test_the_docs_screenshot_script_works(tmp_path: Path) -> None:
    """scripts/gallery_screenshot.py (which made docs/images/gallery.png) still runs."""
    pytest.importorskip("PIL")
    pytest.importorskip("selenium")
    spec = importlib.util.spec_from_file_location(
        "gallery_screenshot", ROOT / "scripts" / "gallery_screenshot.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shot = tmp_path / "shot.png"
    assert script.main(["-o", str(shot), "--width", "700"]) == 0
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size < 300 * 1024
    committed = ROOT / "docs" / "images" / "gallery.png"
    assert committed.stat().st_size < 300 * 1024

"""`wan gallery`: the page for a folder of generated images (parsed and checked: every image,
each run's prompt, text and metadata, all escaped), relative links, thumbnails, overwriting
rules, `--open`, and `--history`."""

from __future__ import annotations

import base64
import io
import os
import stat
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IsolatedEnv, RunCli, RunWan
from wan_cli.files.provenance import build_metadata, embed_png_text, png_text_entries, write_sidecar
from wan_cli.ui.gallery import (
    GENERATOR_MARK,
    Picture,
    Run,
    group_runs,
    link_to,
    read_provenance,
    render_html,
    runs_from_directory,
)
from wan_cli.ui.preview import Pixels, encode_png

EVIL_PROMPT = "a \"cat\" <script>alert('x')</script> & <img src=x onerror=alert(1)> dog"
EVIL_TEXT = "Step 1: <b>mix</b> & stir\n</div><script>steal()</script>\nStep 2: bake at 180°C"
PARAMS = {"size": "1280*1280", "n": 2, "seed": 42, "watermark": False, "negative_prompt": "blur"}
USAGE = {"input_tokens": 28, "output_tokens": 3, "total_tokens": 31, "image_count": 2}


def png(
    path: Path, width: int = 6, height: int = 4, colour: tuple[int, int, int] = (200, 40, 90)
) -> Path:
    path.write_bytes(encode_png(Pixels(width, height, bytes(colour) * (width * height))))
    return path


def provenance(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "prompt": EVIL_PROMPT,
        "index": 0,
        "negative_prompt": "blur",
        "parameters": PARAMS,
        "model": "wan2.6-image",
        "provider": "gateway",
        "request_id": "req-A",
        "usage": USAGE,
        "text": EVIL_TEXT,
        "created": datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
    }
    base.update(kw)
    return build_metadata(**base)


@dataclass
class Gallery:
    folder: Path
    shown: list[Path]  # every image the page must show


@pytest.fixture
def generated(tmp_path: Path) -> Gallery:
    """A folder as `wan generate` leaves it, plus the odd stray file."""
    folder = tmp_path / "images"
    folder.mkdir()
    # Run A, two images: the first with sidecar and PNG chunk, the second with the chunk only.
    first = png(folder / "a-cat-1.png")
    meta = provenance()
    embed_png_text(first, png_text_entries(meta))
    write_sidecar(first, meta)
    second = png(folder / "a-cat-2.png", colour=(20, 160, 90))
    embed_png_text(second, png_text_entries(provenance(index=1)))
    # Run B, newer: a JPEG-named image whose provenance is only its sidecar; no text.
    newer = folder / "b run #1.jpg"
    newer.write_bytes(encode_png(Pixels(2, 2, bytes(12))))
    write_sidecar(
        newer,
        provenance(
            prompt="a lighthouse",
            request_id="req-B",
            text="",
            created=datetime(2025, 3, 2, 8, 30, tzinfo=UTC),
            parameters={"size": "1K"},
        ),
    )
    # An image without provenance, and one whose sidecar is damaged but whose chunk is fine.
    plain = png(folder / "plain.png")
    damaged = png(folder / "damaged.png")
    embed_png_text(damaged, png_text_entries(provenance(prompt="from the chunk", request_id="C")))
    (folder / "damaged.png.json").write_text("{not json", encoding="utf-8")
    # Not images, or not ours to show.
    png(folder / ".a-cat-3.png.tmp-x.png")
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    (folder / "sub").mkdir()
    png(folder / "sub" / "deeper.png")
    return Gallery(folder, [first, second, newer, plain, damaged])


# -- a small DOM, enough to check the page -------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and (
                    cls is None or cls in child.attrs.get("class", "").split()
                ):
                    found.append(child)
                found.extend(child.find_all(tag, cls))
        return found


_VOID = {"meta", "img", "br", "link", "input", "hr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def runs_by_prompt(dom: Node) -> dict[str, Node]:
    return {article.find_all("h2")[0].text(): article for article in dom.find_all("article")}


# -- reading provenance --------------------------------------------------------------------


def test_provenance_prefers_the_sidecar_then_the_png_chunk(generated: Gallery) -> None:
    folder = generated.folder
    with_sidecar = folder / "a-cat-1.png"
    write_sidecar(with_sidecar, provenance(prompt="the sidecar's"))  # chunk still says EVIL
    assert (read_provenance(with_sidecar) or {})["prompt"] == "the sidecar's"
    assert (read_provenance(folder / "a-cat-2.png") or {})["index"] == 1
    assert (read_provenance(folder / "damaged.png") or {})["prompt"] == "from the chunk"
    assert read_provenance(folder / "plain.png") is None
    assert read_provenance(folder / "missing.png") is None


def test_runs_are_grouped_by_request_id_newest_first(generated: Gallery) -> None:
    runs = runs_from_directory(generated.folder)
    assert [r.request_id for r in runs] == ["req-B", "req-A", "C", None]
    by_id = {r.request_id: r for r in runs}
    assert [p.path.name for p in by_id["req-A"].pictures] == ["a-cat-1.png", "a-cat-2.png"]
    assert [p.index for p in by_id["req-A"].pictures] == [0, 1]
    assert by_id["req-A"].text == EVIL_TEXT
    assert by_id["req-A"].pictures[0].width == 6 and by_id["req-A"].pictures[0].height == 4
    assert runs[-1].prompt is None and runs[-1].pictures[0].path.name == "plain.png"


def test_images_without_request_id_group_by_time_and_prompt(tmp_path: Path) -> None:
    same = provenance(request_id=None)
    other = provenance(request_id=None, prompt="another")
    found = [(tmp_path / "1.png", same), (tmp_path / "2.png", same), (tmp_path / "3.png", other)]
    assert sorted(len(run.pictures) for run in group_runs(found)) == [1, 2]


# -- the page ------------------------------------------------------------------------------


def test_page_shows_every_image_with_its_prompt_escaped(generated: Gallery) -> None:
    page = render_html(runs_from_directory(generated.folder), page_dir=generated.folder, title="t")
    # Nothing from a prompt or the service's text became markup.
    assert "<script" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    dom = parse(page)
    assert dom.find_all("script") == []
    sources = sorted(img.attrs["src"] for img in dom.find_all("img"))
    assert sources == sorted(
        ["a-cat-1.png", "a-cat-2.png", "b%20run%20%231.jpg", "plain.png", "damaged.png"]
    )
    assert all(
        link.attrs["href"] == link.find_all("img")[0].attrs["src"]
        for link in dom.find_all("a", "thumb")
    )
    assert "loading" not in page and "decoding" not in page  # eager: screenshots show them

    runs = runs_by_prompt(dom)
    assert set(runs) == {EVIL_PROMPT, "a lighthouse", "from the chunk", "plain.png"}
    evil = runs[EVIL_PROMPT]
    assert [img.attrs["alt"] for img in evil.find_all("img")] == [EVIL_PROMPT, EVIL_PROMPT]
    texts = evil.find_all("div", "text")
    assert [t.text() for t in texts] == [EVIL_TEXT.strip()]  # once per run, beside its images
    facts = {dt.text(): dd for dt, dd in zip(evil.find_all("dt"), evil.find_all("dd"), strict=True)}
    assert facts["model"].text() == "wan2.6-image · gateway"
    assert evil.find_all("time")[0].text() == "2025-03-01 10:00 UTC"
    assert facts["request id"].text() == "req-A"
    assert facts["negative prompt"].text() == "blur"
    # The parameters as a person reads them, one per line, in reading order.
    assert [dt.text() for dt in evil.find_all("dt")][:5] == [
        "size",
        "images",
        "seed",
        "negative prompt",
        "watermark",
    ]
    assert facts["size"].text() == "1280×1280" and facts["images"].text() == "2"
    assert facts["seed"].text() == "42" and facts["watermark"].text() == "off"
    assert "negative_prompt" not in evil.text()
    assert "total tokens 31" in facts["usage"].text()
    assert "No provenance" in runs["plain.png"].text()
    assert runs["a lighthouse"].find_all("div", "text") == []


def test_page_is_offline_and_script_free_by_policy(generated: Gallery) -> None:
    page = render_html(runs_from_directory(generated.folder), page_dir=generated.folder, title="t")
    dom = parse(page)
    metas = {
        m.attrs.get("http-equiv") or m.attrs.get("name"): m.attrs for m in dom.find_all("meta")
    }
    policy = metas["Content-Security-Policy"]["content"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "width=device-width" in metas["viewport"]["content"]
    assert GENERATOR_MARK in page
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")


def test_service_text_cannot_smuggle_control_characters(tmp_path: Path) -> None:
    run = Run(pictures=(Picture(tmp_path / "x.png"),), prompt="bell\x07 esc\x1b[31m", text="a\x00b")
    page = render_html([run], page_dir=tmp_path, title="t\x1b")
    assert "\x1b" not in page and "\x07" not in page and "\x00" not in page


@pytest.mark.regression("a sidecar whose `references` was not a list crashed the gallery")
def test_gallery_shows_an_image_whose_sidecar_has_odd_references(
    run_cli: RunCli, tmp_path: Path
) -> None:
    png(tmp_path / "a.png", 8, 8)
    (tmp_path / "a.png.json").write_text('{"prompt": "a <fox>", "references": 1}')
    result = run_cli(["gallery", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "index.html").read_text()
    assert "a &lt;fox&gt;" in page and 'src="a.png"' in page


def test_links_are_relative_to_the_page(tmp_path: Path) -> None:
    image = tmp_path / "imgs" / "a b.png"
    assert link_to(image, tmp_path / "imgs") == "a%20b.png"
    assert link_to(image, tmp_path / "pages") == "../imgs/a%20b.png"


# -- the command ---------------------------------------------------------------------------


def test_gallery_command_writes_index_html(generated: Gallery, run_cli: RunCli) -> None:
    result = run_cli(["gallery", str(generated.folder)])
    assert result.exit_code == 0, result.stderr
    target = generated.folder / "index.html"
    assert result.stdout == f"{target}\n"
    assert "5 image(s) from 4 run(s)" in result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    dom = parse(target.read_text(encoding="utf-8"))
    assert len(dom.find_all("img")) == len(generated.shown)
    # Written by wan: a second run replaces it.
    assert run_cli(["gallery", str(generated.folder)]).exit_code == 0


def test_gallery_defaults_to_the_current_folder(
    generated: Gallery, run_wan_subprocess: RunWan
) -> None:
    done = run_wan_subprocess(["gallery"], cwd=generated.folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "index.html\n"
    assert (generated.folder / "index.html").is_file()


def test_a_foreign_index_html_is_not_overwritten(generated: Gallery, run_cli: RunCli) -> None:
    mine = generated.folder / "index.html"
    mine.write_text("<h1>my own page</h1>", encoding="utf-8")
    result = run_cli(["gallery", str(generated.folder)])
    assert result.exit_code == 2 and "not written by wan gallery" in result.stderr
    assert mine.read_text(encoding="utf-8") == "<h1>my own page</h1>"
    assert run_cli(["gallery", str(generated.folder), "--force"]).exit_code == 0
    assert GENERATOR_MARK in mine.read_text(encoding="utf-8")


@pytest.mark.parametrize("make", ["empty", "file", "missing"])
def test_nothing_to_show_is_a_usage_error(tmp_path: Path, run_cli: RunCli, make: str) -> None:
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("x", encoding="utf-8")
    result = run_cli(["gallery", str(target)])
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert not (target / "index.html").exists() if target.is_dir() else True


def test_output_elsewhere_links_back_to_the_images(
    generated: Gallery, run_cli: RunCli, tmp_path: Path
) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    result = run_cli(["gallery", str(generated.folder), "-o", str(pages / "g.html")])
    assert result.exit_code == 0, result.stderr
    dom = parse((pages / "g.html").read_text(encoding="utf-8"))
    sources = {img.attrs["src"] for img in dom.find_all("img")}
    assert "../images/a-cat-1.png" in sources
    assert all((pages / s.replace("%20", " ").replace("%23", "#")).exists() for s in sources)


def test_embed_inlines_small_jpeg_thumbnails(tmp_path: Path, run_cli: RunCli) -> None:
    image_module = pytest.importorskip("PIL.Image")
    folder = tmp_path / "big"
    folder.mkdir()
    big = folder / "big.png"
    image_module.new("RGB", (1600, 800), (10, 120, 200)).save(big)
    write_sidecar(big, provenance())
    result = run_cli(["gallery", str(folder), "--embed"])
    assert result.exit_code == 0, result.stderr
    dom = parse((folder / "index.html").read_text(encoding="utf-8"))
    (img,) = dom.find_all("img")
    prefix = "data:image/jpeg;base64,"
    assert img.attrs["src"].startswith(prefix)
    with image_module.open(io.BytesIO(base64.b64decode(img.attrs["src"][len(prefix) :]))) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (640, 320)
    assert dom.find_all("a")[0].attrs["href"] == "big.png"  # the full image is still a click away


def test_without_pillow_the_gallery_works_and_embed_says_why(
    generated: Gallery, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)  # importing it now raises ImportError
    embed = run_cli(["gallery", str(generated.folder), "--embed"])
    assert embed.exit_code == 2 and "pip install 'wan-cli[preview]'" in embed.stderr
    assert not (generated.folder / "index.html").exists()
    assert run_cli(["gallery", str(generated.folder)]).exit_code == 0


def test_open_hands_the_page_to_the_browser(
    generated: Gallery, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > "{opened}"\n', encoding="utf-8")
    browser.chmod(0o755)
    done = run_wan_subprocess(
        ["gallery", str(generated.folder), "--open"],
        env={"BROWSER": str(browser), "DISPLAY": None, "WAYLAND_DISPLAY": None},
    )
    assert done.returncode == 0, done.stderr
    assert opened.read_text(encoding="utf-8") == (generated.folder / "index.html").as_uri()


# -- --history -----------------------------------------------------------------------------


def _record(
    store: Any,
    *,
    prompt: str,
    images: list[Path | None],
    exit_code: int = 0,
    error: str | None = None,
    text: str = "",
    relative_to: Path | None = None,
) -> None:
    run_id = store.record_start(
        command="generate",
        model="wan2.6-image",
        provider="gateway",
        host="127.0.0.1",
        prompt=prompt,
        parameters={"size": "1K", "negative_prompt": "noise"},
        references=[{"kind": "file", "name": "ref.png"}],
        output_dir=str(relative_to) if relative_to else None,
    )
    store.record_request_id(run_id, f"req-{prompt}")
    for index, image in enumerate(images):
        store.record_image(run_id, index, f"https://img.example/{index}.png")
        shown = None
        if image is not None:
            shown = image.name if relative_to else str(image)
        store.record_saved(run_id, index, shown, None, 10, None if image else "HTTP 403")
    store.record_end(
        run_id,
        exit_code=exit_code,
        error=error,
        usage={"image_count": 1},
        text=text,
        request_id=None,
    )


def test_history_gallery_shows_recent_runs(
    isolated_env: IsolatedEnv, run_cli: RunCli, tmp_path: Path
) -> None:
    from wan_cli.history import open_store

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    first, second = png(out_dir / "one.png"), png(out_dir / "two.png")
    store = open_store(isolated_env.history)
    assert store is not None
    _record(store, prompt="oldest <b>", images=[first], text="old text")
    _record(store, prompt="relative", images=[second], relative_to=out_dir)
    _record(
        store,
        prompt="gone",
        images=[out_dir / "deleted.png", None],
        exit_code=7,
        error="1 of 2 image(s) could not be saved",
    )
    store.close()

    page = tmp_path / "pages" / "h.html"
    page.parent.mkdir()
    result = run_cli(["gallery", "--history", "-o", str(page)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{page}\n"
    dom = parse(page.read_text(encoding="utf-8"))
    assert [a.find_all("h2")[0].text() for a in dom.find_all("article")] == [
        "gone",
        "relative",
        "oldest <b>",
    ]
    runs = runs_by_prompt(dom)
    assert [i.attrs["src"] for i in runs["oldest <b>"].find_all("img")] == ["../out/one.png"]
    assert [i.attrs["src"] for i in runs["relative"].find_all("img")] == ["../out/two.png"]
    assert runs["oldest <b>"].find_all("div", "text")[0].text() == "old text"
    gone = runs["gone"]
    assert gone.find_all("img") == []
    placeholders = [p.text() for p in gone.find_all("div", "placeholder")]
    assert placeholders == ["the file is no longer there", "HTTP 403"]
    assert "unsaved: 1 of 2 image(s) could not be saved" in gone.text()
    (rescue,) = gone.find_all("p", "rescue")  # the one link left can still be fetched
    assert rescue.find_all("code")[0].text() == "wan history download 3"
    assert "1 image was not saved" in rescue.text()
    assert runs["relative"].find_all("p", "rescue") == []
    assert [b.text() for b in gone.find_all("span", "badge")] == ["generate", "unsaved"]
    assert "run 3" in gone.find_all("p", "meta")[0].text()
    facts = {
        dt.text(): dd.text()
        for dt, dd in zip(gone.find_all("dt"), gone.find_all("dd"), strict=True)
    }
    assert facts["references"] == "ref.png (file not found)"
    assert facts["negative prompt"] == "noise" and facts["request id"] == "req-gone"

    limited = run_cli(["gallery", "--history", "--limit", "1", "-o", str(page)])
    assert limited.exit_code == 0, limited.stderr
    assert len(parse(page.read_text(encoding="utf-8")).find_all("article")) == 1


def test_history_gallery_without_history(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(["gallery", "--history", "-o", str(tmp_path / "h.html")])
    assert result.exit_code == 2 and "no history yet" in result.stderr
    both = run_cli(["gallery", str(tmp_path), "--history"])
    assert both.exit_code == 2


def test_history_gallery_default_file(
    isolated_env: IsolatedEnv, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    from wan_cli.history import open_store

    store = open_store(isolated_env.history)
    assert store is not None
    _record(store, prompt="p", images=[png(tmp_path / "p.png")])
    store.close()
    done = run_wan_subprocess(["gallery", "--history"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wan-history.html\n"
    assert os.path.isfile(tmp_path / "wan-history.html")

"""What a gallery card says about its run: the mode in words, the parameters as a person reads
them, the reference images of an edit, the rescue command of a run with unsaved images, and
the page's title."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IsolatedEnv, RunCli
from tests.test_gallery import parse, png
from wan_cli.files.provenance import build_metadata, write_sidecar
from wan_cli.ui.gallery import (
    Picture,
    Reference,
    Run,
    mode_of,
    readable_parameters,
    render_html,
    resolve_reference,
    runs_from_directory,
)


def test_the_mode_in_words() -> None:
    assert mode_of("edit", {"enable_interleave": True}) == "edit"  # history's command wins
    assert mode_of(None, {"enable_interleave": True}) == "generate"
    assert mode_of(None, {"enable_interleave": False}) == "edit"
    assert mode_of(None, {"enable_interleave": "yes"}) is None  # a foreign sidecar
    assert mode_of("task", None) is None


def test_parameters_as_a_person_reads_them() -> None:
    generate = Run(
        pictures=(),
        negative_prompt="blur",
        parameters={
            "enable_interleave": True,
            "stream": True,
            "max_images": 3,
            "size": "1280*720",
            "seed": 5,
            "watermark": True,
            "negative_prompt": "blur",
            "style_strength": 0.5,  # unknown to this version: shown as it is
        },
    )
    assert readable_parameters(generate) == [
        ("size", "1280×720"),
        ("images", "up to 3"),
        ("seed", "5"),
        ("negative prompt", "blur"),
        ("watermark", "on"),
        ("style strength", "0.5"),
    ]
    edit = Run(pictures=(), parameters={"n": 2, "size": "2K", "prompt_extend": False})
    assert readable_parameters(edit) == [
        ("size", "2K"),
        ("images", "2"),
        ("prompt extend", "off"),
    ]


def test_references_from_provenance_and_history(tmp_path: Path) -> None:
    beside = png(tmp_path / "sketch.png")
    (tmp_path / "other").mkdir()
    secret = png(tmp_path / "other" / "secret.png")

    # Provenance keeps a name, looked for beside the images.
    assert resolve_reference({"kind": "file", "name": "sketch.png"}, beside=tmp_path) == (
        Reference("file", "sketch.png", beside)
    )
    # A foreign sidecar's path is reduced to its name: no other file of the reader's is shown.
    foreign = resolve_reference({"kind": "file", "path": str(secret)}, beside=tmp_path)
    assert foreign == Reference("file", "secret.png", None)
    # History's absolute path is used as it is.
    assert resolve_reference({"kind": "file", "source": "s.png", "path": str(secret)}) == (
        Reference("file", "secret.png", secret)
    )
    assert resolve_reference({"kind": "file", "source": "gone.png"}).path is None

    url = resolve_reference({"kind": "url", "source": "https://u:p@example.com/a.png?sig=1#x"})
    assert url == Reference("url", "https://example.com/a.png", url="https://example.com/a.png")
    assert resolve_reference({"kind": "url", "url": "javascript:alert(1)"}).url is None

    data = resolve_reference({"kind": "data", "source": "data:image/png;base64,…", "bytes": 2048})
    assert data == Reference("data", "inline image (2.0 KB)")
    inline = resolve_reference({"kind": "inline", "mime": "image/png", "width": 4, "height": 3})
    assert inline.label == "inline image (image/png, 4×3)" and inline.path is None


def test_an_edit_card_shows_its_references(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    png(folder / "sketch.png")
    result = png(folder / "painted.png")
    meta = build_metadata(
        prompt="paint it",
        index=0,
        parameters={"enable_interleave": False, "stream": False, "n": 1},
        references=[
            "/home/someone/sketch.png",
            "https://example.com/style.png?token=abc",
            "data:image/png;base64,iVBORw0KGgo=",
            "missing.png",
        ],
        created=datetime(2025, 1, 1, tzinfo=UTC),
    )
    write_sidecar(result, meta)
    dom = parse(render_html(runs_from_directory(folder), page_dir=folder, title="out"))
    (card,) = [a for a in dom.find_all("article") if a.find_all("h2")[0].text() == "paint it"]
    assert card.find_all("span", "mode")[0].text() == "edit"
    (refs,) = card.find_all("span", "refs")
    (thumb,) = refs.find_all("a", "ref")
    assert thumb.attrs["href"] == "sketch.png" and thumb.find_all("img")[0].attrs["src"] == (
        "sketch.png"
    )
    (link,) = refs.find_all("a", "ref-url")
    assert link.attrs["href"] == "https://example.com/style.png" and "token" not in card.text()
    notes = [n.text() for n in refs.find_all("span", "ref-note")]
    assert notes == ["inline image (image/png, 8 B)", "missing.png (file not found)"]
    assert "enable_interleave" not in card.text() and "stream" not in card.text()


def test_file_names_are_captions_not_headings(tmp_path: Path) -> None:
    run = Run(pictures=(Picture(tmp_path / "a-long-name.png", 0, None, 4, 4),), prompt="a fox")
    dom = parse(render_html([run], page_dir=tmp_path, title="t"))
    assert dom.find_all("h2")[0].text() == "a fox"
    (caption,) = dom.find_all("figcaption")
    assert caption.text() == "a-long-name.png · 4×4" and caption.attrs["title"] == caption.text()


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (0, "wan gallery — out — 0 runs, 0 images"),
        (1, "wan gallery — out — 1 run, 1 image"),
        (2, "wan gallery — out — 2 runs, 2 images"),
    ],
)
def test_the_title_counts_runs_and_images(tmp_path: Path, runs: int, expected: str) -> None:
    shown = [Run(pictures=(Picture(tmp_path / f"{i}.png"),)) for i in range(runs)]
    dom = parse(render_html(shown, page_dir=tmp_path, title="out"))
    assert dom.find_all("title")[0].text() == expected
    assert dom.find_all("h1")[0].text() == "out"


def test_the_command_titles_the_page_with_the_folder(tmp_path: Path, run_cli: RunCli) -> None:
    folder = tmp_path / "my <pics>"
    folder.mkdir()
    png(folder / "a.png")
    assert run_cli(["gallery", str(folder)]).exit_code == 0
    dom = parse((folder / "index.html").read_text(encoding="utf-8"))
    assert dom.find_all("title")[0].text() == "wan gallery — my <pics> — 1 run, 1 image"


def _history_run(store: Any, tmp_path: Path, *, urls: list[str | None], end: bool) -> int:
    run_id: int = store.record_start(
        command="edit",
        model="m",
        provider="gateway",
        host="127.0.0.1",
        prompt=f"run with {len(urls)}",
        parameters={"n": len(urls)},
        references=[],
        output_dir=str(tmp_path),
    )
    for index, url in enumerate(urls):
        store.record_image(run_id, index, url)
        store.record_saved(run_id, index, None, None, None, "HTTP 403")
    if end:
        store.record_end(run_id, exit_code=7, error="x", usage=None, text="", request_id=None)
    return run_id


def test_the_rescue_command_only_where_a_link_is_left(
    isolated_env: IsolatedEnv, run_cli: RunCli, tmp_path: Path
) -> None:
    from wan_cli.history import open_store

    store = open_store(isolated_env.history)
    assert store is not None
    linked = _history_run(
        store, tmp_path, urls=["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"], end=True
    )
    inline = _history_run(store, tmp_path, urls=[None], end=True)  # nothing to fetch again
    # Still running (this process): it is saving its own images.
    _history_run(store, tmp_path, urls=["http://127.0.0.1:9/c"] * 3, end=False)
    store.close()
    page = tmp_path / "h.html"
    assert run_cli(["gallery", "--history", "-o", str(page)]).exit_code == 0
    cards = {a.find_all("h2")[0].text(): a for a in parse(page.read_text()).find_all("article")}
    (rescue,) = cards["run with 2"].find_all("p", "rescue")
    assert f"wan history download {linked}" in rescue.text()
    assert "2 images were not saved" in rescue.text()
    assert cards["run with 1"].find_all("p", "rescue") == [] and inline != linked
    assert cards["run with 3"].find_all("p", "rescue") == []

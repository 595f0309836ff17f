"""File names: slugs, stems, extensions, and publishing without ever overwriting."""

from __future__ import annotations

import errno
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from wan_cli.files.naming import (
    SLUG_BYTES,
    SLUG_CHARS,
    STALE_TEMP_AGE_S,
    check_stem,
    claim_path,
    create_temp,
    ext_for_mime,
    image_stem,
    remove_stale_temps,
    slugify,
    temp_prefix,
)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A cat on a skateboard", "a-cat-on-a-skateboard"),
        ("  Hello,   WORLD!!  ", "hello-world"),
        ("Café crème brûlée", "café-crème-brûlée"),
        ("Straße in Łódź", "straße-in-łódź"),
        ("Smørrebrød", "smørrebrød"),
        ("Cafe\u0301", "café"),  # NFKC: the decomposed é is composed
        ("一只红狐狸在雪地里", "一只红狐狸在雪地里"),
        ("赤いキツネが雪の中に", "赤いキツネが雪の中に"),
        ("ｷﾂﾈ", "キツネ"),  # halfwidth katakana → fullwidth
        ("Красная Лиса", "красная-лиса"),
        ("ΟΔΟΣ", "οδος"),  # with the final sigma
        ("ثعلب أحمر", "ثعلب-أحمر"),
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # vowel signs and virama are kept with their letters
        ("一只猫 cat 🐱", "一只猫-cat"),
        ("🐱🐶", "image"),
        ("\u0301\u0301x", "x"),  # marks without a letter
        ("a\u202egnp.exe", "a-gnp-exe"),  # a bidi override cannot disguise the extension
        ("a\u200bb\x00c\nd", "a-b-c-d"),
        ("", "image"),
        ("!!!", "image"),
        ("../../etc/passwd", "etc-passwd"),
        ("x/y\\z:w*?", "x-y-z-w"),
        ("ﬁne ｆｕｌｌｗｉｄｔｈ", "fine-fullwidth"),
    ],
)
def test_slugify(prompt: str, expected: str) -> None:
    assert slugify(prompt) == expected


def test_slugify_cuts_at_a_word_boundary() -> None:
    slug = slugify("the quick brown fox jumps over the lazy dog again and again")
    assert slug == "the-quick-brown-fox-jumps-over-the-lazy"
    assert len(slug) <= 40
    assert slugify("one two three", max_len=7) == "one-two"
    assert slugify("one two three", max_len=8) == "one-two"


def test_slugify_cuts_a_single_long_word() -> None:
    assert slugify("a" * 100) == "a" * 40
    assert slugify("abcdefghij klm", max_len=5) == "abcde"


def test_slugify_bounds_characters_and_utf8_bytes() -> None:
    assert slugify("一" * 100) == "一" * 26  # 3 bytes each: 78 of the 80 bytes
    assert slugify("я" * 100) == "я" * 40  # 2 bytes each: both limits at once
    assert slugify("a" * 100) == "a" * 40
    assert slugify("ab cd ef", max_bytes=6) == "ab-cd"  # at a word boundary
    assert slugify("ñañ ñ", max_bytes=4) == "ña"  # between characters, never inside one
    assert slugify("狐狸" * 30, max_len=5) == "狐狸狐狸狐"
    for prompt in ("一只红狐狸在雪地里" * 9, "Красная лиса " * 9, "नमस्ते " * 20, "ñ" * 99):
        slug = slugify(prompt)
        assert len(slug) <= SLUG_CHARS and len(slug.encode()) <= SLUG_BYTES, prompt
        stem = image_stem(prompt, datetime(2025, 1, 2, 3, 4, 5), 99)
        # The longest file we make from it: the sidecar's temp file, with a collision suffix.
        assert len(f".{stem}-9999.webp.json.tmp-0123abcd".encode()) < 143  # eCryptfs' limit


def test_slugify_never_separates_a_letter_from_its_marks() -> None:
    # नि is न + the vowel sign ि: a cut between them would leave a different letter.
    assert slugify("नि" * 30, max_len=7) == "निनिनि"
    assert slugify("नि" * 30, max_len=8) == "निनिनिनि"


def test_slugify_is_a_safe_stem() -> None:
    for prompt in ("..", ".env", "-rf", "--x", "CON", "a/../b", "\\server\\x", "…", "ｰ"):
        slug = slugify(prompt)
        check_stem(slug)
        assert not slug.startswith(("-", ".")), prompt


def test_image_stem() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5)
    assert image_stem("A red fox", when, 1) == "a-red-fox-20250102-030405-1"
    assert image_stem("", when, 3) == "image-20250102-030405-3"
    assert image_stem("一只红狐狸在雪地里", when, 1) == "一只红狐狸在雪地里-20250102-030405-1"
    with pytest.raises(ValueError):
        image_stem("x", when, 0)


@pytest.mark.parametrize(
    ("mime", "ext"),
    [
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("IMAGE/JPEG; charset=binary", "jpg"),
        ("image/webp", "webp"),
        ("image/bmp", "bmp"),
        ("image/x-ms-bmp", "bmp"),
        ("image/gif", "gif"),
        ("text/html", None),
        ("image/svg+xml", None),
        ("", None),
    ],
)
def test_ext_for_mime(mime: str, ext: str | None) -> None:
    assert ext_for_mime(mime) == ext


@pytest.mark.parametrize("stem", ["", ".", "..", ".hidden", "a/b", "..\\x", "a\x00b"])
def test_unsafe_stems_are_refused(stem: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        check_stem(stem)
    source = tmp_path / "src"
    source.write_bytes(b"x")
    with pytest.raises(ValueError):
        claim_path(tmp_path, stem, "png", source)


def _temp(directory: Path, content: bytes) -> Path:
    path = directory / f".part-{content.hex()}"
    path.write_bytes(content)
    return path


def test_claim_publishes_and_removes_the_temp_file(tmp_path: Path) -> None:
    source = _temp(tmp_path, b"one")
    final = claim_path(tmp_path, "cat-1", "png", source)
    assert final == tmp_path / "cat-1.png"
    assert final.read_bytes() == b"one"
    assert sorted(os.listdir(tmp_path)) == ["cat-1.png"]


def test_claim_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "cat-1.png").write_bytes(b"old")
    (tmp_path / "cat-1-2.png").write_bytes(b"older")
    final = claim_path(tmp_path, "cat-1", "png", _temp(tmp_path, b"new"))
    assert final.name == "cat-1-3.png"
    assert (tmp_path / "cat-1.png").read_bytes() == b"old"
    assert (tmp_path / "cat-1-2.png").read_bytes() == b"older"
    assert final.read_bytes() == b"new"
    # Another extension is another name.
    assert claim_path(tmp_path, "cat-1", "jpg", _temp(tmp_path, b"j")).name == "cat-1.jpg"


def test_concurrent_claims_get_distinct_names(tmp_path: Path) -> None:
    count = 16
    barrier = threading.Barrier(count)
    results: dict[int, Path] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            source = _temp(tmp_path, f"content-{i}".encode())
            barrier.wait()
            results[i] = claim_path(tmp_path, "same", "png", source)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({p.name for p in results.values()}) == count
    for i, path in results.items():
        assert path.read_bytes() == f"content-{i}".encode()
    expected = {"same.png"} | {f"same-{n}.png" for n in range(2, count + 1)}
    assert set(os.listdir(tmp_path)) == expected


def test_fallback_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate a filesystem (FAT, some shares) that refuses hard links.
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    (tmp_path / "dog-1.png").write_bytes(b"old")
    final = claim_path(tmp_path, "dog-1", "png", _temp(tmp_path, b"new"))
    assert final.name == "dog-1-2.png"
    assert final.read_bytes() == b"new"
    assert (tmp_path / "dog-1.png").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["dog-1-2.png", "dog-1.png"]


def test_other_link_errors_propagate(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        claim_path(tmp_path, "x", "png", tmp_path / "missing")
    assert os.listdir(tmp_path) == []


# -- temp files killed runs leave behind -----------------------------------------------------

# Above Linux's largest possible pid (2^22): never a live process.
DEAD_PID = 4_194_305


def _named(directory: Path, name: str, age_s: float = 0.0) -> Path:
    path = directory / name
    path.write_bytes(b"partial")
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_temp_names_say_whose_they_are(tmp_path: Path) -> None:
    prefix = temp_prefix("a-cat-1")
    assert prefix.startswith(".a-cat-1.part-") and f"-{os.getpid()}-" in prefix
    fd, path = create_temp(tmp_path, prefix)
    os.close(fd)
    assert remove_stale_temps(tmp_path) == [] and path.exists()  # our own: alive


def test_stale_temps_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    ours = temp_prefix("a-cat-1")
    owner = ours.split(".part-", 1)[1].split("-", 1)[0]
    dead = _named(tmp_path, f".a-cat-1.part-{owner}-{DEAD_PID}-0123abcd")
    dead_embed = _named(tmp_path, f"..a-cat-1.part-{owner}-{DEAD_PID}-0123abcd.embed-89abcdef")
    live = _named(tmp_path, f"{ours}deadbeef")
    elsewhere = _named(tmp_path, f".a-cat-1.part-ffffff-{DEAD_PID}-0123abcd")  # another host
    old_style = _named(tmp_path, ".a-cat-1.part-0123abcd")  # before owners were named
    old = _named(tmp_path, ".a-cat-2.part-0123abcd", age_s=STALE_TEMP_AGE_S + 60)
    old_elsewhere = _named(
        tmp_path, f".a-cat-2.part-ffffff-{DEAD_PID}-0123abcd", age_s=STALE_TEMP_AGE_S + 60
    )
    others = [
        _named(tmp_path, name, age_s=STALE_TEMP_AGE_S + 60)
        for name in (
            "a-cat-1.png",
            ".a-cat-1.png.json.tmp-0123abcd",
            ".hidden",
            "x-1.part-0123abcd",  # not hidden: not ours
            ".notes.part-0123abcd",  # no image index: not ours
        )
    ]
    removed = remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([dead, dead_embed, old, old_elsewhere])
    for kept in (live, elsewhere, old_style, *others):
        assert kept.exists(), kept.name
    assert not any(path.exists() for path in removed)


def test_stale_temps_in_a_missing_directory(tmp_path: Path) -> None:
    assert remove_stale_temps(tmp_path / "missing") == []

"""File names for saved images: chosen by us, never taken from a URL, and never overwriting.

The names are pure functions of the prompt, the time and the image's position. `claim_path`
publishes a finished temp file under the first free name, atomically, so two runs saving into the
same directory at the same second never clobber each other. A temp file's name says which process
writes it (`temp_prefix`), so `remove_stale_temps` can clear what a killed run left behind.
"""

from __future__ import annotations

import errno
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path

from wan_cli.files.fs import pid_alive, remove_quietly

_EXT_BY_MIME = {
    "image/png": "png",
    "image/apng": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/x-bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/gif": "gif",
}

# Enough for any sane number of runs in one second; beyond it something is wrong.
_MAX_SUFFIX = 10_000

# An image's temp file, `.{stem}.part-{owner}-{pid}-{random}` (`temp_prefix` + `create_temp`;
# every stem ends with `-{index}`), or the PNG embedder's copy of one
# (`..{stem}.part-….embed-{random}`); earlier versions wrote `.{stem}.part-{random}`.
_TEMP_NAME = re.compile(
    r"\..+-[0-9]+\.part-(?:(?P<owner>[0-9a-f]{6})-(?P<pid>[0-9]{1,10})-)?[0-9a-f]{8}"
    r"(?:\.embed-[0-9a-f]{8})?"
)
# A temp file untouched this long is a leftover whoever wrote it (downloads write continuously).
STALE_TEMP_AGE_S = 24 * 3600

# errno values meaning "this filesystem cannot make hard links" (FAT, some network shares).
_NO_HARDLINKS = frozenset(
    code
    for code in (
        errno.EPERM,
        errno.EACCES,
        errno.EXDEV,
        errno.EMLINK,
        errno.ENOSYS,
        getattr(errno, "EOPNOTSUPP", None),
        getattr(errno, "ENOTSUP", None),
    )
    if code is not None
)


# A slug's length in characters (what people read) and in UTF-8 bytes (what filesystems count:
# 40 CJK characters are 120 bytes). 80 bytes keeps the longest name we make from it, the sidecar's
# temp file `.{slug}-{time}-{i}-{n}.webp.json.tmp-{hex}`, under 130 bytes: inside eCryptfs's 143
# and far inside the usual 255.
SLUG_CHARS = 40
SLUG_BYTES = 80


def _kept(char: str) -> bool:
    """Letters, digits and combining marks of any script (so Devanagari or Thai words keep
    their vowel signs); everything else (punctuation, symbols, emoji, controls, bidi marks that
    could disguise an extension) separates words."""
    return unicodedata.category(char)[0] in "LNM"


def slugify(prompt: str, max_len: int = SLUG_CHARS, max_bytes: int = SLUG_BYTES) -> str:
    """The prompt's words, lowercased, joined by '-': at most `max_len` characters and
    `max_bytes` UTF-8 bytes.

    Every script keeps its letters and digits (一只红狐狸 stays 一只红狐狸, Café stays café):
    the text is NFKC-normalised first (ﬁ → fi, fullwidth ｆ → f, halfwidth ｶ → カ), anything
    else becomes a separator. A prompt with nothing left becomes "image". Cuts at a word
    boundary when it can, else between characters (never inside one, nor between a letter and
    its combining marks). The slug never starts with '.' or '-'; it is always followed by
    `-{time}-{i}` (`image_stem`), so it can never be a reserved name such as `CON` on Windows.
    """
    words: list[str] = []
    word: list[str] = []
    for char in unicodedata.normalize("NFKC", prompt).lower():
        if _kept(char) and (word or not unicodedata.category(char).startswith("M")):
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    slug = "-".join(words)
    limit = _fitting(slug, max_len, max_bytes)
    if limit < len(slug):
        cut = slug[: limit + 1]
        # Keep whole words when the cut lands mid-word and an earlier boundary exists.
        end = cut.rindex("-") if "-" in cut else _before_marks(slug, limit)
        slug = slug[:end]
        slug = slug.strip("-")
    return slug or "image"


def _fitting(text: str, max_chars: int, max_bytes: int) -> int:
    """How many leading characters of `text` fit both limits."""
    used = 0
    for count, char in enumerate(text[:max_chars]):
        used += len(char.encode("utf-8"))
        if used > max_bytes:
            return count
    return min(len(text), max_chars)


def _before_marks(text: str, cut: int) -> int:
    """`cut`, moved back before the letter when it would separate the letter from its marks."""
    end = cut
    while 0 < end < len(text) and unicodedata.category(text[end]).startswith("M"):
        end -= 1
    return end if end > 0 else cut


def image_stem(prompt: str, when: datetime, index: int) -> str:
    """`{slug}-{YYYYmmdd-HHMMSS}-{index}`; `index` is 1-based (pass ImageRef.index + 1).

    An aware `when` is shown in local time, as people read file names; a naive one as given.
    """
    if index < 1:
        raise ValueError(f"image index is 1-based, got {index}")
    if when.tzinfo is not None:
        when = when.astimezone()
    return f"{slugify(prompt)}-{when:%Y%m%d-%H%M%S}-{index}"


def ext_for_mime(mime: str) -> str | None:
    """The file extension (no dot) for an image MIME type, or None if it is not one we save."""
    base = mime.split(";", 1)[0].strip().lower()
    return _EXT_BY_MIME.get(base)


def writable_directory(directory: Path) -> Path:
    """`directory`, created if missing, once it is known that files can be made in it.

    Checked before a request is sent: a generation is billed, and a destination that cannot
    take its images should be refused while refusing is free (UsageError, exit 2).
    """
    from wan_cli.errors import UsageError

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"output directory {directory} is a file, not a folder") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"cannot create output directory {directory}: {reason}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to output directory {directory}: permission denied")
    return directory


def candidate_names(stem: str, ext: str) -> Iterator[str]:
    """The names `claim_path` tries, in order: stem.ext, stem-2.ext, stem-3.ext, …"""
    yield f"{stem}.{ext}"
    for n in range(2, _MAX_SUFFIX):
        yield f"{stem}-{n}.{ext}"


def check_stem(stem: str) -> None:
    """Refuse a stem that could leave the directory or hide the file (a programming error)."""
    if not stem or stem in (".", "..") or stem.startswith(".") or "/" in stem or "\\" in stem:
        raise ValueError(f"unsafe file name stem: {stem!r}")
    if "\x00" in stem:
        raise ValueError("file name stem contains a NUL byte")


def claim_path(directory: Path, stem: str, ext: str, source: Path) -> Path:
    """Publish the finished file `source` as the first free `stem[-N].ext` in `directory`.

    Why hard links: `os.link(source, final)` fails if `final` exists, so checking for a free
    name and taking it is one atomic step, and `final` appears only complete (there is never
    an empty or half-written file under a real name, even if we are killed). Two processes or
    threads racing for the same stem simply get different numbers. `source` is removed on
    success and must be in the same directory (same filesystem).

    Filesystems without hard links (FAT, some network shares) fall back to reserving the name
    with `O_CREAT|O_EXCL` and moving the file over the placeholder with `os.replace`; the
    placeholder lives only for that instant and is removed if the move fails.
    """
    check_stem(stem)
    use_links = True
    for name in candidate_names(stem, ext):
        final = directory / name
        if use_links:
            try:
                os.link(source, final)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_HARDLINKS:
                    raise
                use_links = False
            else:
                remove_quietly(source)
                return final
        if _publish_by_replace(source, final):
            return final
    raise FileExistsError(f"no free file name for {stem}.{ext} in {directory}")


def create_temp(directory: Path, prefix: str) -> tuple[int, Path]:
    """Create `{prefix}{random hex}` in `directory` exclusively; returns (fd, path).

    Unlike `tempfile.mkstemp` (always 0600), the file gets the umask's usual permissions, so a
    published image is as readable as any file the user creates.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        candidate = directory / f"{prefix}{os.urandom(4).hex()}"
        try:
            return os.open(candidate, flags, 0o666), candidate
        except FileExistsError:
            continue


def temp_prefix(stem: str) -> str:
    """The prefix of an image's temp file (`create_temp` adds random hex). It names the writing
    process, `{owner}-{pid}`, so a later run can tell a killed run's leftover from a live one."""
    return f".{stem}.part-{_owner()}-{os.getpid()}-"


@cache
def _owner() -> str:
    """Six hex digits for this machine and pid namespace: a pid means something only where the
    two match (another host, or a container, may share the output directory)."""
    import hashlib
    import socket

    try:
        namespace = os.readlink("/proc/self/ns/pid")  # Linux: e.g. "pid:[4026531836]"
    except OSError:
        namespace = ""
    identity = f"{socket.gethostname()}\0{namespace}".encode("utf-8", "replace")
    return hashlib.sha256(identity).hexdigest()[:6]


def remove_stale_temps(directory: Path, *, now: float | None = None) -> list[Path]:
    """Remove the image temp files in `directory` whose writer is gone: ours by name (the same
    machine and pid namespace) whose process no longer exists, and any untouched for a day.
    Returns what was removed; never raises (a leftover is clutter, not a reason to fail)."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid = match.group("pid")
        if age > STALE_TEMP_AGE_S or (match.group("owner") == _owner() and not pid_alive(int(pid))):
            path = Path(entry.path)
            remove_quietly(path)
            removed.append(path)
    return removed


def _publish_by_replace(source: Path, final: Path) -> bool:
    """Fallback publish: reserve `final` exclusively, then move `source` onto it."""
    try:
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    os.close(fd)
    try:
        os.replace(source, final)
    except BaseException:
        remove_quietly(final)
        raise
    return True

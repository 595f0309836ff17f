"""The end of a download: the saved image's record, the checks of a complete temp file (a
whole image of a known format), and publishing it under its final name."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wan_cli.files.naming import claim_path, ext_for_mime
from wan_cli.files.sniff import image_dimensions, sniff_mime, truncation
from wan_cli.units import human_bytes

CHUNK_SIZE = 64 * 1024
# JPEG dimensions sit after EXIF/ICC segments: look this far into the file for them.
_DIMENSION_BYTES = 256 * 1024

# `finalize(temp_path, mime)` may rewrite the complete file (PNG metadata). It returns the
# rewritten file's (sha256, size), measured as it wrote, or None when it left the file alone.
# A hook that rewrites and returns None still works: the file is then read again to hash it.
FinalizeHook = Callable[[Path, str], "tuple[str, int] | None"]


@dataclass(frozen=True)
class SavedImage:
    """The outcome of saving one image. `error` set means it was not saved (path is None)."""

    index: int
    url: str | None
    path: Path | None
    bytes: int
    sha256: str | None
    mime: str | None
    width: int | None
    height: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.path is not None

    @classmethod
    def failed(cls, index: int, url: str | None, message: str) -> SavedImage:
        """An image that was not saved, and why."""
        return cls(index, url, None, 0, None, None, None, None, message)


@dataclass(frozen=True)
class VerifiedBody:
    """A complete, verified temp file's facts."""

    mime: str
    sha256: str
    size: int


class DownloadFailed(Exception):
    """This attempt failed for good."""


class RetryableFailure(DownloadFailed):
    """This attempt failed in a way worth trying again (network, timeout, 408/429/5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def publish(
    tmp: Path,
    directory: Path,
    stem: str,
    index: int,
    url: str | None,
    body: VerifiedBody,
    finalize: FinalizeHook | None,
) -> SavedImage:
    """Check the complete temp file (written, not yet synced) holds a whole image, finalize it
    (metadata), make it durable, measure it, then claim a final name.

    The temp file is synced once: by a finalize hook that rewrites it (its copy is the file
    published), else here. Syncing the download too would write the image to disk twice.
    """
    with open(tmp, "rb") as fh:
        cut = truncation(fh, body.size, body.mime)
    if cut is not None:
        raise DownloadFailed(cut)
    rewritten = None
    if finalize is not None:
        before = _identity(tmp)
        try:
            rewritten = finalize(tmp, body.mime)
        except OSError:
            raise
        except Exception as error:
            raise DownloadFailed(f"could not add metadata: {error}") from None
        if rewritten is None and _identity(tmp) != before:  # rewritten, but not measured
            rewritten = _hash_file(tmp)
            _sync_path(tmp)
    if rewritten is None:
        _sync_path(tmp)
    else:  # the hash of what is actually published, measured as it was written
        body = VerifiedBody(body.mime, *rewritten)
    with open(tmp, "rb") as fh:
        width, height = image_dimensions(fh.read(_DIMENSION_BYTES), body.mime)
    final = claim_path(directory, stem, ext_for_mime(body.mime) or "bin", tmp)
    return SavedImage(
        index=index,
        url=url,
        path=final,
        bytes=body.size,
        sha256=body.sha256,
        mime=body.mime,
        width=width,
        height=height,
        error=None,
    )


def require_image(head: bytes) -> str:
    mime = sniff_mime(head)
    if mime is None:
        raise DownloadFailed(_not_an_image(head))
    return mime


def _not_an_image(head: bytes) -> str:
    if not head:
        return "not an image: the body is empty"
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return "not an image: the body looks like HTML/XML"
    if start.startswith((b"{", b"[")):
        return "not an image: the body looks like JSON"
    return "not an image: unrecognised data (expected PNG, JPEG, WEBP, BMP or GIF)"


def too_large(size: int, limit: int) -> str:
    return f"too large: {human_bytes(size)} (limit {human_bytes(limit)})"


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_SIZE * 4):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _identity(path: Path) -> tuple[int, int, int]:
    """Changes whenever a finalize hook rewrites or replaces the file."""
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _sync_path(path: Path) -> None:
    # The file gets its real name right after: make sure a crash cannot leave it empty.
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())

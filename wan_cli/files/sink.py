"""Where a saved image's bytes go: its temp file, hashed and counted as they are written, with a
PNG's text chunks spliced in on the way (`png_stream.PngSplicer`), so the common case writes the
image once and never reads it back."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from wan_cli.files.png_stream import PngSplicer
from wan_cli.files.publish import DownloadFailed, FinalizeHook, VerifiedBody

if TYPE_CHECKING:
    from pathlib import Path

_T = TypeVar("_T")


@dataclass(frozen=True)
class PngText:
    """The text chunks wanted in a saved PNG (keyword → text), which may be known only after
    the image arrived (a run's metadata holds its whole text and usage).

    `ready()` returns them once known, else None, and never blocks: the download asks as its
    bytes arrive. `wait()` blocks until they are known: the download asks once it is complete.
    Any image waits for them before it is published (the sidecar wants the whole run too).
    """

    ready: Callable[[], Mapping[str, str] | None]
    wait: Callable[[], Mapping[str, str]]

    @classmethod
    def known(cls, entries: Mapping[str, str]) -> PngText:
        frozen = dict(entries)
        return cls(lambda: frozen, lambda: frozen)


class ImageSink:
    """An image's temp file being written: every byte written is hashed and counted; with
    `png_text`, a PNG gets its text chunks after IHDR as it passes."""

    def __init__(self, fh: BinaryIO, png_text: PngText | None = None) -> None:
        self._fh = fh
        self._digest = hashlib.sha256()
        self._size = 0
        self._png_text = png_text
        self._splicer = PngSplicer() if png_text is not None else None

    def write(self, data: bytes) -> None:
        splicer = self._splicer
        if splicer is None:
            self._put(data)
            return
        for piece in splicer.feed(data):
            self._put(piece)
        if splicer.waiting and self._png_text is not None:
            entries = _asking(self._png_text.ready)
            if entries is not None:
                for piece in splicer.provide(entries):
                    self._put(piece)

    def finish(self, mime: str) -> VerifiedBody:
        """The body is complete: the last bytes (waiting for the text of a PNG that only lacks
        it), and the facts of what was written."""
        splicer = self._splicer
        if splicer is not None and self._png_text is not None:
            if splicer.waiting and splicer.whole:
                for piece in splicer.provide(_asking(self._png_text.wait)):
                    self._put(piece)
            for piece in splicer.finish():
                self._put(piece)
        return VerifiedBody(mime, self._digest.hexdigest(), self._size)

    def finalize_hook(self, finalize: FinalizeHook | None) -> FinalizeHook | None:
        """What `publish` runs on the complete file: the caller's own hook, or with PNG text, a
        wait for the text and, when the stream could not tag a PNG, the copy that does
        (`embed_png_text`, which leaves a malformed one alone)."""
        png_text, splicer = self._png_text, self._splicer
        if png_text is None or splicer is None:
            return finalize
        tagged = splicer.spliced

        def after_stream(path: Path, mime: str) -> tuple[str, int] | None:
            from wan_cli.files.provenance import make_png_embedder

            entries = png_text.wait()
            if tagged or mime != "image/png":
                return None
            return make_png_embedder(entries)(path, mime)

        return after_stream

    def _put(self, data: bytes) -> None:
        self._digest.update(data)
        self._size += len(data)
        self._fh.write(data)


def _asking(source: Callable[[], _T]) -> _T:
    """Ask the caller's PNG text source; its failure fails the image as a failing finalize
    hook does (a disk error stays one)."""
    try:
        return source()
    except OSError:
        raise
    except Exception as error:
        raise DownloadFailed(f"could not add metadata: {error}") from None

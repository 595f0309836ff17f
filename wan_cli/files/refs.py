"""Reference images: an http(s) URL or data URI passed through, or a local file turned into a
data URI after checking what the service would reject (format, size, dimensions).

The format is decided by magic bytes, never by the file name: a `.png` that is really a GIF
fails here, with the path in the message, instead of as an opaque 400 from the service.
Nothing here touches the network.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from wan_cli.errors import UsageError
from wan_cli.files.sniff import sniff_image

MAX_REF_BYTES = 10 * 1024 * 1024
# A local file is base64-encoded from disk as it is sent, this many bytes at a time (a multiple
# of 3, so the slices' base64 joins into the file's: 1 MiB of text each).
ENCODE_SLICE = 3 * 256 * 1024
MIN_SIDE = 240
MAX_SIDE = 8000
ACCEPTED_FORMATS = "JPEG, PNG, BMP, WEBP"
SUPPORTED_MIMES = ("image/jpeg", "image/png", "image/bmp", "image/webp")

RefKind = Literal["url", "file", "data"]

_DATA_URI = re.compile(
    r"data:(image/(?:jpeg|png|bmp|webp));base64,([A-Za-z0-9+/]*={0,2})", re.ASCII
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# JPEG start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG), CC (DAC) do not.


@dataclass(frozen=True, repr=False)
class RefImage:
    """One reference image, ready to send, plus what history and provenance need to know."""

    source: str  # as the user gave it (for a data URI: the whole URI)
    kind: RefKind
    # The URL or data URI that goes into the request body; for a regular file only the data
    # URI's head ("data:image/png;base64,"): its base64 is made from the file as the request is
    # sent (`chunks`), so four 10 MB references never sit in memory as 56 MB of text.
    value: str
    mime: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    path: str | None = None  # absolute path of a local file
    # True (a local file): `value` is only the data URI's head, the base64 is made from `path`
    # as it is sent. False (a URL, a data URI): `value` is what is sent.
    from_path: bool = False

    def __repr__(self) -> str:
        # Never dump megabytes of base64 into a traceback or log line.
        fields = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"RefImage({fields})"

    def encoded_length(self) -> int:
        """Length of the URL or data URI in the body (a data URI is ASCII: bytes too)."""
        if not self.from_path:
            return len(self.value)
        return len(self.value) + 4 * -(-(self.size_bytes or 0) // 3)

    def data_uri(self) -> str:
        """The whole URL or data URI (a file's is read and encoded now)."""
        if not self.from_path:
            return self.value
        return b"".join(self.chunks()).decode("ascii")

    def chunks(self) -> Iterator[bytes]:
        """The URL (UTF-8, whole) or data URI (ASCII, ~1 MiB slices) as it goes into the body.

        A file's is read and encoded slice by slice. If the file changed since it was checked,
        UsageError: its size and SHA-256 are verified before the last slice is handed out, so
        a changed file is never sent whole."""
        if self.kind == "url":
            yield self.value.encode("utf-8")
            return
        if self.from_path:
            yield self.value.encode("ascii")
            yield from self._encoded_file()
            return
        step = 4 * ENCODE_SLICE // 3
        for start in range(0, len(self.value), step):
            yield self.value[start : start + step].encode("ascii")

    def _encoded_file(self) -> Iterator[bytes]:
        import base64
        import hashlib

        expected = self.size_bytes or 0
        digest = hashlib.sha256()
        done = 0
        pending = b""  # read, not yet encoded: the last slice waits for the checks
        try:
            with open(self.path or self.source, "rb") as fh:
                while done < expected:
                    block = fh.read(min(ENCODE_SLICE, expected - done))
                    if not block:
                        break
                    done += len(block)
                    digest.update(block)
                    pending += block  # no copy while pending is empty
                    if done < expected and len(pending) >= ENCODE_SLICE:
                        whole = len(pending) - len(pending) % 3  # base64 joins at 3-byte edges
                        yield base64.b64encode(pending[:whole])
                        pending = pending[whole:]
                grown = bool(fh.read(1))
        except OSError as exc:
            raise UsageError(
                f"cannot read reference image {self.source}: {exc.strerror or exc}"
            ) from None
        if grown or done != expected or digest.hexdigest() != self.sha256:
            raise UsageError(
                f"reference image {self.source} changed while the request was being sent",
                hint="nothing was generated: run the command again",
            )
        yield base64.b64encode(pending)

    def describe(self) -> dict[str, object]:
        """A small JSON-ready descriptor for history and provenance (never the base64)."""
        info: dict[str, object] = {"kind": self.kind, "source": self.source}
        if self.kind == "data":
            # The source IS the base64: keep only its header.
            info["source"] = self.value.split(",", 1)[0] + ",…"
        if self.kind == "url":
            info["url"] = self.value
        for key, value in (
            ("path", self.path),
            ("mime", self.mime),
            ("bytes", self.size_bytes),
            ("sha256", self.sha256),
            ("width", self.width),
            ("height", self.height),
        ):
            if value is not None:
                info[key] = value
        return info


def _name_unsupported(head: bytes) -> str | None:
    """Name a common format we refuse, so the message says what the file actually is."""
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heif", b"mif1", b"msf1"):
            return "HEIC/HEIF"
        if brand in (b"avif", b"avis"):
            return "AVIF"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "SVG/XML"
    return None


def load_ref(source: str) -> RefImage:
    """Turn one `--image` argument into a `RefImage`; raises UsageError naming the input."""
    if source.strip() == "":
        raise UsageError("empty reference image argument")
    lowered = source[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return _load_url(source)
    if lowered.startswith("data:"):
        return _load_data_uri(source)
    return _load_file(source)


def _load_url(source: str) -> RefImage:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(source).hostname
        if any(ch.isspace() for ch in source):
            raise ValueError("whitespace")
    except ValueError:
        host = None
    if not host:
        raise UsageError(f"invalid reference image URL: {source}")
    return RefImage(source=source, kind="url", value=source)


def _load_data_uri(source: str) -> RefImage:
    import base64
    import binascii
    import hashlib

    label = source[:40] + ("…" if len(source) > 40 else "")
    match = _DATA_URI.fullmatch(source)
    if match is None:
        raise UsageError(
            f"malformed data URI: {label}",
            hint=f"expected data:image/(jpeg|png|bmp|webp);base64,… ({ACCEPTED_FORMATS})",
        )
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"malformed base64 in data URI: {label}") from exc
    declared = match.group(1)
    info = _check_bytes(data, f"data URI {label}")
    if info[0] != declared:
        raise UsageError(f"data URI says {declared} but holds {info[0]}: {label}")
    return RefImage(
        source=source,
        kind="data",
        value=source,
        mime=declared,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=info[1],
        height=info[2],
    )


def _load_file(source: str) -> RefImage:
    import hashlib

    path = os.path.abspath(os.path.expanduser(source))
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        scheme = _SCHEME.match(source)
        if scheme:
            raise UsageError(
                f"unsupported reference image URL scheme '{scheme.group(1)}': {source}",
                hint="use an http(s) URL, a data URI, or a local file",
            ) from None
        raise UsageError(f"reference image not found: {source}") from None
    except OSError as exc:
        raise UsageError(f"cannot read reference image {source}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"reference image is a directory: {source}")
    _check_regular(st.st_mode, source)
    if st.st_size > MAX_REF_BYTES:
        raise _too_big(source, st.st_size)
    data = _read_regular(path, source)
    if len(data) > MAX_REF_BYTES:
        raise _too_big(source, len(data))
    mime, width, height = _check_bytes(data, source)
    head = f"data:{mime};base64,"
    # Only regular files get here (`_read_regular`): encoded again from disk as it is sent, and
    # checked then to be the same file.
    return RefImage(
        source=source,
        kind="file",
        value=head,
        mime=mime,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        path=path,
        from_path=True,
    )


def _check_regular(mode: int, source: str) -> None:
    """Only regular files are references: a FIFO with no writer would block the run forever
    (and a device such as /dev/zero never ends)."""
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"reference image is not a regular file: {source}",
            hint="save it to a file first (pipes, FIFOs and devices are not read)",
        )


def _read_regular(path: str, source: str) -> bytes:
    """The file's bytes, at most `MAX_REF_BYTES` + 1. Opened without blocking and checked again
    once open: the path may have been swapped for a FIFO since it was looked at."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UsageError(f"cannot read reference image {source}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        try:
            _check_regular(os.fstat(fd).st_mode, source)
            return fh.read(MAX_REF_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read reference image {source}: {exc.strerror}") from None


def _too_big(source: str, size: int) -> UsageError:
    return UsageError(
        f"reference image too large: {source} is {size / (1024 * 1024):.1f} MB"
        f" ({size} bytes); the limit is 10 MB",
        hint="downscale or re-compress it (e.g. to JPEG)",
    )


def _check_bytes(data: bytes, label: str) -> tuple[str, int | None, int | None]:
    """Format and dimension checks shared by files and data URIs."""
    if not data:
        raise UsageError(f"reference image is empty: {label}")
    if len(data) > MAX_REF_BYTES:
        raise _too_big(label, len(data))
    sniffed = sniff_image(data)
    if sniffed is None:
        found = _name_unsupported(data[:64])
        what = f" ({found})" if found else ""
        raise UsageError(
            f"unsupported image format{what}: {label} (accepted: {ACCEPTED_FORMATS})",
            hint="convert it to PNG or JPEG first",
        )
    _, width, height = sniffed
    for side in (width, height):
        if side is not None and not MIN_SIDE <= side <= MAX_SIDE:
            raise UsageError(
                f"reference image {label} is {width}x{height} px;"
                f" each side must be {MIN_SIDE}..{MAX_SIDE} px",
            )
    return sniffed

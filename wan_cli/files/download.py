"""Saving generated images: fetch each link to a temp file, verify it, publish it under our name.

Rules this module owns:
- the API key never reaches an image host: the download client has no auth at all, and a
  request hook strips any Authorization header and refuses non-http(s) redirect targets;
- only http(s) links are fetched; the file name and directory are ours, never the URL's;
- bytes are streamed to `.{stem}.part-{owner}-{pid}-XXXX` in the target directory (constant
  memory, sha256 on the fly) and published with `naming.claim_path` only once complete and
  verified (status 200, full length, image magic bytes, the image's own end
  (`sniff.truncation`), size cap), so no half file ever has a real name; a killed run's temp
  file is removed by a later run (`naming.remove_stale_temps`);
- on any failure or interruption the temp file is removed; ordinary failures come back as a
  `SavedImage` with `error` set, never as an exception (KeyboardInterrupt is re-raised).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from wan_cli.api.client import (
    CONNECT_TIMEOUT,
    MAX_RETRY_AFTER,
    USER_AGENT,
    RetryPolicy,
    backoff_delay,
    parse_retry_after,
)
from wan_cli.files.fs import remove_quietly
from wan_cli.files.naming import check_stem, claim_path, create_temp, ext_for_mime, temp_prefix
from wan_cli.files.sniff import image_dimensions, sniff_mime, truncation
from wan_cli.units import human_bytes

if TYPE_CHECKING:
    import socket

    import httpx

    from wan_cli.api.events.inline import InlineImage

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
# Enough leading bytes to recognise every format we save (WEBP needs 12, BMP 26).
_SNIFF_BYTES = 32
# JPEG dimensions sit after EXIF/ICC segments: look this far into the file for them.
_DIMENSION_BYTES = 256 * 1024
# Types that say "this is not an image"; generic binary types are allowed (CDNs use them).
_NEUTRAL_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_RETRY_STATUSES = frozenset({408, 429})

ProgressHook = Callable[[int, int | None], None]
FinalizeHook = Callable[[Path, str], None]


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
class _Body:
    """A complete, verified temp file's facts."""

    mime: str
    sha256: str
    size: int


class _Failed(Exception):
    """This attempt failed for good."""


class _Retryable(_Failed):
    """This attempt failed in a way worth trying again (network, timeout, 408/429/5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RefusedURL(Exception):
    """A link or redirect target that is not http(s): never fetched."""


# -- the client ----------------------------------------------------------------------------


def make_download_client(timeout: float, proxy_env_ok: bool = True) -> httpx.Client:
    """An httpx client for image hosts: no credentials of any kind, our User-Agent, redirects
    followed (at most 5) only to http(s). `timeout` bounds each read; connecting takes ≤ 10 s.

    `proxy_env_ok=False` ignores HTTP(S)_PROXY and friends (httpx's `trust_env`).
    """
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "image/*,*/*;q=0.8",
            # Compressed transfer would make Content-Length differ from the bytes we count.
            "Accept-Encoding": "identity",
        },
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        trust_env=proxy_env_ok,
        event_hooks={"request": [_guard_request]},
    )


def abortable(client: httpx.Client) -> Callable[[], None]:
    """Make the reads of `client` abortable from another thread; returns the abort.

    Ctrl-C reaches only the main thread, and a download thread blocked on a silent image host
    would otherwise wait out the read timeout (minutes). The abort shuts down the socket of
    every connection the client opened (the blocked read then fails at once), and of any it
    opens afterwards.
    """
    import weakref

    lock = threading.Lock()
    sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
    aborted = False

    def track(name: str, info: Mapping[str, Any]) -> None:
        # TCP, then TLS (wrapping a socket for TLS detaches the plain one); direct or through
        # a proxy ("connection.…", "proxy.…", "socks.…").
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with lock:
                    sockets.add(sock)
                    if not aborted:
                        return
                _shutdown(sock)

    def add_trace(request: httpx.Request) -> None:
        request.extensions = {**request.extensions, "trace": track}

    def abort() -> None:
        nonlocal aborted
        with lock:
            aborted = True
            opened = list(sockets)
        for sock in opened:
            _shutdown(sock)

    hooks = client.event_hooks
    hooks["request"] = [*hooks.get("request", []), add_trace]
    client.event_hooks = hooks
    return abort


def _shutdown(sock: socket.socket) -> None:
    import socket as socket_module

    with contextlib.suppress(OSError):  # already closed (or detached): nothing to abort
        sock.shutdown(socket_module.SHUT_RDWR)


def _guard_request(request: httpx.Request) -> None:
    """Runs before every request, redirects included: http(s) only, never an Authorization."""
    if request.url.scheme not in ("http", "https"):
        raise RefusedURL(f"refused a redirect to a {request.url.scheme}: link")
    request.headers.pop("Authorization", None)


def url_problem(url: str) -> str | None:
    """Why `url` must not be fetched, or None when it is an http(s) link with a host."""
    scheme, sep, rest = url.partition(":")
    scheme = scheme.strip().lower()
    if not sep or scheme not in ("http", "https"):
        label = f"{scheme}:" if sep and scheme.isascii() and scheme.isalnum() else "this"
        return f"refused to download a {label} link: only http(s) links are fetched"
    if not rest.startswith("//") or not rest[2:].split("/", 1)[0]:
        return "refused to download a link without a host"
    return None


# -- downloading ---------------------------------------------------------------------------


def download_image(
    client: httpx.Client,
    url: str,
    *,
    directory: Path,
    stem: str,
    index: int,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    retries: int = 2,
    on_progress: ProgressHook | None = None,
    finalize: FinalizeHook | None = None,
    cancel: threading.Event | None = None,
) -> SavedImage:
    """Download `url` into `directory` as `{stem}.{ext from magic bytes}` (or `{stem}-N.ext`).

    `on_progress(received, total or None)` is called as bytes arrive (and with 0 when an
    attempt starts). `finalize(temp_path, mime)` may rewrite the complete file before it is
    published. Failed attempts are retried `retries` times from zero: connection errors,
    timeouts, 408/429/5xx (honouring Retry-After). Setting `cancel` stops between chunks.
    """
    check_stem(stem)
    problem = url_problem(url)
    if problem is not None:
        return SavedImage.failed(index, url, problem)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return SavedImage.failed(
            index, url, f"cannot create {directory}: {error.strerror or error}"
        )
    waiter = cancel or threading.Event()
    attempt = 0
    while True:
        if waiter.is_set():
            return SavedImage.failed(index, url, "cancelled")
        try:
            return _attempt(
                client, url, directory, stem, index, max_bytes, on_progress, finalize, waiter
            )
        except _Retryable as error:
            if attempt >= retries:
                return SavedImage.failed(index, url, str(error))
            attempt += 1
            delay = error.retry_after
            if delay is None:
                delay = backoff_delay(attempt, RetryPolicy(retries=retries))
            elif delay > MAX_RETRY_AFTER:
                return SavedImage.failed(index, url, f"{error} (asked to wait {delay:.0f} s)")
            if waiter.wait(delay):
                return SavedImage.failed(index, url, "cancelled")
        except _Failed as error:
            return SavedImage.failed(index, url, str(error))


def save_inline(
    data: InlineImage,
    *,
    directory: Path,
    stem: str,
    index: int,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    finalize: FinalizeHook | None = None,
    cancel: threading.Event | None = None,
) -> SavedImage:
    """Save an image that came inside the answer (base64) with a download's checks and naming.

    Its size, told by the base64's length, is checked against `max_bytes` before anything is
    decoded; then it is decoded slice by slice straight into the temp file (never held whole
    as bytes next to its text)."""
    check_stem(stem)
    size = data.decoded_size()
    if size > max_bytes:
        return SavedImage.failed(index, None, _too_large(size, max_bytes))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temp(directory, temp_prefix(stem))
    except OSError as error:
        return SavedImage.failed(
            index, None, f"cannot write in {directory}: {error.strerror or error}"
        )
    try:
        with os.fdopen(fd, "wb") as fh:
            body = _decode_into(data, fh, max_bytes, cancel or threading.Event())
            _sync(fh)
        return _publish(tmp, directory, stem, index, None, body, finalize)
    except _Failed as error:
        remove_quietly(tmp)
        return SavedImage.failed(index, None, str(error))
    except OSError as error:
        remove_quietly(tmp)
        return SavedImage.failed(index, None, f"could not save: {error.strerror or error}")
    except BaseException:
        remove_quietly(tmp)
        raise


def _decode_into(data: InlineImage, fh: BinaryIO, max_bytes: int, cancel: threading.Event) -> _Body:
    """Decode the base64 into `fh` slice by slice, verifying and hashing as it goes."""
    digest = hashlib.sha256()
    written = 0
    head = b""
    mime: str | None = None
    try:
        for chunk in data.chunks():
            if cancel.is_set():
                raise _Failed("cancelled")
            written += len(chunk)
            if written > max_bytes:
                raise _Failed(f"too large: more than {human_bytes(max_bytes)}")
            if mime is None:
                head += chunk[: _SNIFF_BYTES - len(head)]
                if len(head) >= _SNIFF_BYTES:
                    mime = _require_image(head)
            digest.update(chunk)
            fh.write(chunk)
    except ValueError:  # binascii.Error too
        raise _Failed("the image's base64 data is unreadable") from None
    if mime is None:
        mime = _require_image(head)
    return _Body(mime, digest.hexdigest(), written)


def _attempt(
    client: httpx.Client,
    url: str,
    directory: Path,
    stem: str,
    index: int,
    max_bytes: int,
    on_progress: ProgressHook | None,
    finalize: FinalizeHook | None,
    cancel: threading.Event,
) -> SavedImage:
    """One try from zero, with a fresh temp file that is gone afterwards unless published."""
    try:
        fd, tmp = create_temp(directory, temp_prefix(stem))
    except OSError as error:
        raise _Failed(f"cannot write in {directory}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            body = _fetch(client, url, fh, max_bytes, on_progress, cancel)
            _sync(fh)
        return _publish(tmp, directory, stem, index, url, body, finalize)
    except OSError as error:
        remove_quietly(tmp)
        raise _Failed(f"could not save: {error.strerror or error}") from None
    except BaseException:
        remove_quietly(tmp)
        raise


def _fetch(
    client: httpx.Client,
    url: str,
    fh: BinaryIO,
    max_bytes: int,
    on_progress: ProgressHook | None,
    cancel: threading.Event,
) -> _Body:
    """Stream the body into `fh`, verifying and hashing as it goes."""
    import httpx

    digest = hashlib.sha256()
    received = 0
    total: int | None = None
    current: httpx.Response | None = None
    try:
        with client.stream("GET", url) as response:
            current = response
            total = _check_response(response, max_bytes)
            if on_progress is not None:
                on_progress(0, total)
            head = b""
            mime: str | None = None
            # Chunks as they arrive (at most httpcore's 64 KiB reads): memory stays flat.
            for chunk in response.iter_bytes():
                if cancel.is_set():
                    raise _Failed("cancelled")
                received += len(chunk)
                if received > max_bytes:
                    raise _Failed(f"too large: more than {human_bytes(max_bytes)}")
                if mime is None:
                    head += chunk
                    if len(head) >= _SNIFF_BYTES:
                        mime = _require_image(head)
                digest.update(chunk)
                fh.write(chunk)
                if on_progress is not None:
                    on_progress(received, total)
            if cancel.is_set():
                raise _Failed("cancelled")
            if mime is None:
                mime = _require_image(head)
            if total is not None and response.num_bytes_downloaded != total:
                raise _Retryable(_cut_short(response.num_bytes_downloaded, total))
            return _Body(mime, digest.hexdigest(), received)
    except RefusedURL as error:
        raise _Failed(str(error)) from None
    except httpx.TooManyRedirects:
        raise _Failed(f"too many redirects (more than {MAX_REDIRECTS})") from None
    except httpx.TimeoutException:
        raise _Retryable("timed out (raise --timeout?)") from None
    except httpx.RemoteProtocolError as error:
        if total is not None:
            got = current.num_bytes_downloaded if current is not None else received
            raise _Retryable(_cut_short(got, total)) from None
        raise _Retryable(f"the connection broke: {error}") from None
    except httpx.UnsupportedProtocol as error:
        raise _Failed(f"unsupported link: {error}") from None
    except httpx.TransportError as error:
        raise _Retryable(f"connection failed: {error or type(error).__name__}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise _Failed(f"download failed: {error}") from None


def _check_response(response: httpx.Response, max_bytes: int) -> int | None:
    """Status, Content-Type and Content-Length checks before any body is read."""
    status = response.status_code
    if status != 200:
        message = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status in _RETRY_STATUSES or status >= 500:
            raise _Retryable(message, parse_retry_after(response.headers.get("retry-after")))
        raise _Failed(message)
    content_type = response.headers.get("content-type", "")
    base_type = content_type.split(";", 1)[0].strip().lower()
    if base_type and not base_type.startswith("image/") and base_type not in _NEUTRAL_TYPES:
        raise _Failed(f"not an image: {base_type}")
    total = _content_length(response)
    if total is not None and total > max_bytes:
        raise _Failed(_too_large(total, max_bytes))
    return total


def _publish(
    tmp: Path,
    directory: Path,
    stem: str,
    index: int,
    url: str | None,
    body: _Body,
    finalize: FinalizeHook | None,
) -> SavedImage:
    """Check the complete temp file holds a whole image, finalize it (metadata), measure it,
    then claim a final name."""
    with open(tmp, "rb") as fh:
        cut = truncation(fh, body.size, body.mime)
    if cut is not None:
        raise _Failed(cut)
    if finalize is not None:
        before = _identity(tmp)
        try:
            finalize(tmp, body.mime)
        except OSError:
            raise
        except Exception as error:
            raise _Failed(f"could not add metadata: {error}") from None
        if _identity(tmp) != before:  # rewritten: hash what is actually published
            body = _Body(body.mime, *_hash_file(tmp))
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


# -- image formats -------------------------------------------------------------------------


def _require_image(head: bytes) -> str:
    mime = sniff_mime(head)
    if mime is None:
        raise _Failed(_not_an_image(head))
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


# -- small helpers -------------------------------------------------------------------------


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _too_large(size: int, limit: int) -> str:
    return f"too large: {human_bytes(size)} (limit {human_bytes(limit)})"


def _cut_short(received: int, total: int) -> str:
    return f"download cut short: received {received} of {total} bytes"


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


def _sync(fh: BinaryIO) -> None:
    # The file gets its real name right after: make sure a crash cannot leave it empty.
    fh.flush()
    os.fsync(fh.fileno())

"""Saving generated images: fetch each link to a temp file, verify it, publish it under our name.

Rules this module owns:
- the API key never reaches an image host: the download client has no auth at all, and a
  request hook strips any Authorization header and refuses non-http(s) redirect targets;
- only http(s) links are fetched; the file name and directory are ours, never the URL's;
- bytes are streamed to `.{stem}.part-{owner}-{pid}-XXXX` in the target directory (constant
  memory, sha256 of what is written on the fly; a PNG's text chunks spliced in on the way when
  `png_text` is given: `files/sink`) and published with `naming.claim_path` only once complete and
  verified (status 200, full length, image magic bytes, the image's own end
  (`sniff.truncation`), size cap), so no half file ever has a real name; a killed run's temp
  file is removed by a later run (`naming.remove_stale_temps`);
- on any failure or interruption the temp file is removed; ordinary failures come back as a
  `SavedImage` with `error` set, never as an exception (KeyboardInterrupt is re-raised).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wan_cli.api.client import (
    MAX_RETRY_AFTER,
    RetryPolicy,
    backoff_delay,
    parse_retry_after,
)
from wan_cli.files.fs import remove_quietly
from wan_cli.files.image_client import MAX_REDIRECTS
from wan_cli.files.image_client import RefusedURL as RefusedURL
from wan_cli.files.image_client import abortable as abortable
from wan_cli.files.image_client import make_download_client as make_download_client
from wan_cli.files.image_client import url_problem as url_problem
from wan_cli.files.naming import check_stem, create_temp, temp_prefix
from wan_cli.files.publish import (
    DownloadFailed,
    FinalizeHook,
    RetryableFailure,
    publish,
    require_image,
    too_large,
)
from wan_cli.files.publish import SavedImage as SavedImage
from wan_cli.files.sink import ImageSink
from wan_cli.files.sink import PngText as PngText
from wan_cli.units import human_bytes

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.events.inline import InlineImage

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
# Enough leading bytes to recognise every format we save (WEBP needs 12, BMP 26).
_SNIFF_BYTES = 32
# Types that say "this is not an image"; generic binary types are allowed (CDNs use them).
_NEUTRAL_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_RETRY_STATUSES = frozenset({408, 429})

ProgressHook = Callable[[int, int | None], None]


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
    png_text: PngText | None = None,
    cancel: threading.Event | None = None,
) -> SavedImage:
    """Download `url` into `directory` as `{stem}.{ext from magic bytes}` (or `{stem}-N.ext`).

    `on_progress(received, total or None)` is called as bytes arrive (and with 0 when an
    attempt starts). `finalize(temp_path, mime)` may rewrite the complete file before it is
    published. `png_text` (instead of `finalize`) writes text chunks into a PNG as it arrives,
    waiting for them at the end if they are not known yet. Failed attempts are retried
    `retries` times from zero: connection errors, timeouts, 408/429/5xx (honouring
    Retry-After). Setting `cancel` stops between chunks.
    """
    check_stem(stem)
    _one_hook(finalize, png_text)
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
    hooks = (finalize, png_text)
    attempt = 0
    while True:
        if waiter.is_set():
            return SavedImage.failed(index, url, "cancelled")
        try:
            return _attempt(
                client, url, directory, stem, index, max_bytes, on_progress, hooks, waiter
            )
        except RetryableFailure as error:
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
        except DownloadFailed as error:
            return SavedImage.failed(index, url, str(error))


def save_inline(
    data: InlineImage,
    *,
    directory: Path,
    stem: str,
    index: int,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    finalize: FinalizeHook | None = None,
    png_text: PngText | None = None,
    cancel: threading.Event | None = None,
) -> SavedImage:
    """Save an image that came inside the answer (base64) with a download's checks and naming.

    Its size, told by the base64's length, is checked against `max_bytes` before anything is
    decoded; then it is decoded slice by slice straight into the temp file (never held whole
    as bytes next to its text). `finalize` and `png_text` as for `download_image`."""
    check_stem(stem)
    _one_hook(finalize, png_text)
    size = data.decoded_size()
    if size > max_bytes:
        return SavedImage.failed(index, None, too_large(size, max_bytes))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temp(directory, temp_prefix(stem))
    except OSError as error:
        return SavedImage.failed(
            index, None, f"cannot write in {directory}: {error.strerror or error}"
        )
    try:
        with os.fdopen(fd, "wb") as fh:
            sink = ImageSink(fh, png_text)
            arriving = _Arriving(sink, max_bytes, cancel or threading.Event())
            body = sink.finish(_decode_into(data, arriving))
        return publish(tmp, directory, stem, index, None, body, sink.finalize_hook(finalize))
    except DownloadFailed as error:
        remove_quietly(tmp)
        return SavedImage.failed(index, None, str(error))
    except OSError as error:
        remove_quietly(tmp)
        return SavedImage.failed(index, None, f"could not save: {error.strerror or error}")
    except BaseException:
        remove_quietly(tmp)
        raise


class _Arriving:
    """An image body as it arrives, downloaded or decoded: each chunk is checked (cancelled?
    past the size cap? an image, by its first bytes?) before it goes to the sink."""

    def __init__(self, sink: ImageSink, max_bytes: int, cancel: threading.Event) -> None:
        self.sink = sink
        self.max_bytes = max_bytes
        self.cancel = cancel
        self.received = 0
        self._head = b""
        self._mime: str | None = None

    def take(self, chunk: bytes) -> None:
        if self.cancel.is_set():
            raise DownloadFailed("cancelled")
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise DownloadFailed(f"too large: more than {human_bytes(self.max_bytes)}")
        if self._mime is None:  # the whole first chunk: what an error shows may start later
            self._head += chunk
            if len(self._head) >= _SNIFF_BYTES:
                self._mime = require_image(self._head)
        self.sink.write(chunk)

    def mime(self) -> str:
        """The image's type, once the whole body came (a body shorter than the sniffed bytes
        is judged on what there is)."""
        return self._mime if self._mime is not None else require_image(self._head)


def _decode_into(data: InlineImage, arriving: _Arriving) -> str:
    """Decode the base64 into the sink slice by slice, verifying as it goes; returns the mime."""
    try:
        for chunk in data.chunks():
            arriving.take(chunk)
    except ValueError:  # binascii.Error too
        raise DownloadFailed("the image's base64 data is unreadable") from None
    return arriving.mime()


def _attempt(
    client: httpx.Client,
    url: str,
    directory: Path,
    stem: str,
    index: int,
    max_bytes: int,
    on_progress: ProgressHook | None,
    hooks: tuple[FinalizeHook | None, PngText | None],
    cancel: threading.Event,
) -> SavedImage:
    """One try from zero, with a fresh temp file (and PNG splicer) that is gone afterwards
    unless published."""
    try:
        fd, tmp = create_temp(directory, temp_prefix(stem))
    except OSError as error:
        raise DownloadFailed(f"cannot write in {directory}: {error.strerror or error}") from None
    try:
        finalize, png_text = hooks
        with os.fdopen(fd, "wb") as fh:
            sink = ImageSink(fh, png_text)
            # The connection is closed before the sink may wait for the PNG text.
            arriving = _Arriving(sink, max_bytes, cancel)
            body = sink.finish(_fetch(client, url, arriving, on_progress))
        return publish(tmp, directory, stem, index, url, body, sink.finalize_hook(finalize))
    except OSError as error:
        remove_quietly(tmp)
        raise DownloadFailed(f"could not save: {error.strerror or error}") from None
    except BaseException:
        remove_quietly(tmp)
        raise


def _fetch(
    client: httpx.Client,
    url: str,
    arriving: _Arriving,
    on_progress: ProgressHook | None,
) -> str:
    """Stream the body into the sink, verifying as it goes; returns the mime."""
    import httpx

    total: int | None = None
    current: httpx.Response | None = None
    try:
        with client.stream("GET", url) as response:
            current = response
            total = _check_response(response, arriving.max_bytes)
            if on_progress is not None:
                on_progress(0, total)
            # Chunks as they arrive (at most httpcore's 64 KiB reads): memory stays flat.
            for chunk in response.iter_bytes():
                arriving.take(chunk)
                if on_progress is not None:
                    on_progress(arriving.received, total)
            if arriving.cancel.is_set():
                raise DownloadFailed("cancelled")
            mime = arriving.mime()
            if total is not None and response.num_bytes_downloaded != total:
                raise RetryableFailure(_cut_short(response.num_bytes_downloaded, total))
            return mime
    except RefusedURL as error:
        raise DownloadFailed(str(error)) from None
    except httpx.TooManyRedirects:
        raise DownloadFailed(f"too many redirects (more than {MAX_REDIRECTS})") from None
    except httpx.TimeoutException:
        raise RetryableFailure("timed out (raise --timeout?)") from None
    except httpx.RemoteProtocolError as error:
        if total is not None:
            got = current.num_bytes_downloaded if current is not None else arriving.received
            raise RetryableFailure(_cut_short(got, total)) from None
        raise RetryableFailure(f"the connection broke: {error}") from None
    except httpx.UnsupportedProtocol as error:
        raise DownloadFailed(f"unsupported link: {error}") from None
    except httpx.TransportError as error:
        raise RetryableFailure(f"connection failed: {error or type(error).__name__}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise DownloadFailed(f"download failed: {error}") from None


def _check_response(response: httpx.Response, max_bytes: int) -> int | None:
    """Status, Content-Type and Content-Length checks before any body is read."""
    status = response.status_code
    if status != 200:
        message = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status in _RETRY_STATUSES or status >= 500:
            raise RetryableFailure(message, parse_retry_after(response.headers.get("retry-after")))
        raise DownloadFailed(message)
    content_type = response.headers.get("content-type", "")
    base_type = content_type.split(";", 1)[0].strip().lower()
    if base_type and not base_type.startswith("image/") and base_type not in _NEUTRAL_TYPES:
        raise DownloadFailed(f"not an image: {base_type}")
    total = _content_length(response)
    if total is not None and total > max_bytes:
        raise DownloadFailed(too_large(total, max_bytes))
    return total


# -- small helpers -------------------------------------------------------------------------


def _one_hook(finalize: FinalizeHook | None, png_text: PngText | None) -> None:
    if finalize is not None and png_text is not None:
        raise ValueError("give a finalize hook or PNG text, not both")


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _cut_short(received: int, total: int) -> str:
    return f"download cut short: received {received} of {total} bytes"

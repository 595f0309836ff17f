"""The resumable manifest: one JSON line per finished request, appended (flushed and fsynced)
the moment it ends; read back, the last record of each key says what is already done."""

from __future__ import annotations

import errno
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wan_cli.errors import UsageError

MANIFEST_NAME = "wan-batch-manifest.jsonl"
# The manifest is opened without following a final symbolic link (where the OS can), and
# without blocking on a FIFO planted in its place.
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NON_BLOCKING = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class ManifestRecord:
    """One line's outcome, as one JSON line of the manifest."""

    key: str
    line: int
    status: str  # "done" | "failed" | "interrupted"
    exit_code: int
    request_id: str | None = None
    images: tuple[str, ...] = ()  # saved files
    urls: tuple[str, ...] = ()  # every image link the service gave (valid ~24 h)
    error: str | None = None
    history_id: int | None = None
    prompt: str = ""
    finished: str = ""  # ISO 8601 UTC

    def to_json(self) -> str:
        document = {
            "key": self.key,
            "line": self.line,
            "status": self.status,
            "exit_code": self.exit_code,
            "request_id": self.request_id,
            "images": list(self.images),
            "urls": list(self.urls),
            "error": self.error,
            "history_id": self.history_id,
            "prompt": self.prompt,
            "finished": self.finished,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, document: object) -> ManifestRecord | None:
        """The record, or None when `document` is not one (a foreign or damaged line)."""
        if not isinstance(document, dict):
            return None
        key, status = document.get("key"), document.get("status")
        line, code = document.get("line"), document.get("exit_code")
        if not (isinstance(key, str) and isinstance(status, str)):
            return None
        if not (isinstance(line, int) and isinstance(code, int)):
            return None

        def strings(name: str) -> tuple[str, ...]:
            value = document.get(name)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        def optional(name: str, kind: type) -> Any:
            value = document.get(name)
            return value if isinstance(value, kind) else None

        return cls(
            key=key,
            line=line,
            status=status,
            exit_code=code,
            request_id=optional("request_id", str),
            images=strings("images"),
            urls=strings("urls"),
            error=optional("error", str),
            history_id=optional("history_id", int),
            prompt=optional("prompt", str) or "",
            finished=optional("finished", str) or "",
        )


def read_manifest(path: Path) -> dict[str, ManifestRecord]:
    """The last record of every key (later lines win). Lines that are not records (a torn last
    line after a crash, a stray edit) are skipped: at worst their line is sent again."""
    try:
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW | _NON_BLOCKING)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise _refused(path, error, "read") from None
    with os.fdopen(fd, "rb") as fh:
        try:
            _check_regular(path, os.fstat(fd).st_mode)
            data = fh.read()
        except OSError as error:
            raise _refused(path, error, "read") from None
    records: dict[str, ManifestRecord] = {}
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = ManifestRecord.from_json(json.loads(raw.decode("utf-8")))
        except ValueError:  # includes UnicodeDecodeError
            continue
        if record is not None:
            records[record.key] = record
    return records


def check_manifest_path(path: Path) -> None:
    """Refuse (exit 2) a manifest that is a symbolic link or not a regular file, before anything
    is sent: records appended through a planted link would land in the file it points to."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise _refused(path, error, "read") from None
    if stat.S_ISLNK(mode):
        raise _refused(path, OSError(errno.ELOOP, "is a symbolic link"))
    _check_regular(path, mode)


def _check_regular(path: Path, mode: int) -> None:
    import stat

    if not stat.S_ISREG(mode):
        raise UsageError(
            f"the manifest {path} is not a regular file: refused, nothing was sent",
            hint="remove it, or choose another place with --manifest",
        )


def _refused(path: Path, error: OSError, verb: str = "write") -> UsageError:
    if error.errno == errno.ELOOP or (not _NO_FOLLOW and path.is_symlink()):
        return UsageError(
            f"the manifest {path} is a symbolic link: refused, nothing was sent",
            hint="records appended through it would land in the file it points to;"
            " remove the link, or choose another place with --manifest",
        )
    return UsageError(
        f"cannot {verb} the manifest {path}: {error.strerror or error}",
        hint="choose another place with --manifest or --output-dir",
    )


class ManifestWriter:
    """Appends records: one write per line under a lock, flushed and fsynced, so a crash loses
    at most the line being written (which `read_manifest` then skips)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        check_manifest_path(path)  # without O_NOFOLLOW (Windows), the link is seen here
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Read-write: the last byte is read back below (to mend a torn last line).
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | _NO_FOLLOW | _NON_BLOCKING
            self._fd = os.open(path, flags, 0o644)
        except OSError as error:
            raise _refused(path, error) from None
        try:
            status = os.fstat(self._fd)
            _check_regular(path, status.st_mode)
            # A torn last line (killed mid-write) must not swallow the next record.
            size = status.st_size
            if size and _last_byte(self._fd, size) != b"\n":
                self._write_all(b"\n")
        except OSError as error:
            os.close(self._fd)
            raise _refused(path, error) from None
        except UsageError:
            os.close(self._fd)
            raise

    def append(self, record: ManifestRecord) -> None:
        data = (record.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._closed:  # never write to a closed descriptor: its number may be reused
                raise OSError(f"the manifest {self.path} is already closed")
            self._write_all(data)
            os.fsync(self._fd)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)


def _last_byte(fd: int, size: int) -> bytes:
    return os.pread(fd, 1, size - 1) if hasattr(os, "pread") else _seek_read(fd, size - 1)


def _seek_read(fd: int, offset: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, 1)

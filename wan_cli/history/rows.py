"""History's rows as the rest of `wan` sees them: `RunRow`, `ImageRow`, run statuses, and the
conversions between them and the database's columns (times as fixed-width UTC text, JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.errors import ExitCode, UsageError
from wan_cli.files.fs import pid_alive as pid_alive
from wan_cli.tasks.states import PENDING

if TYPE_CHECKING:
    import sqlite3

# Status of a run: "running" until it ends (a run killed mid-way stays "running": shown as
# "unfinished" once its process is gone), then one of the others, chosen by its exit code.
# An async task's row is "task" from its submission until `wan task wait` collects its images
# (then "running" again) or the task ends without any: shown as `task STATE` meanwhile.
RUNNING = "running"
TASK = "task"
STATUSES = (RUNNING, TASK, "ok", "failed", "unsaved", "interrupted")
UNFINISHED = "unfinished"
# A run's status by its exit code; any other code is "failed".
_STATUS_BY_EXIT_CODE: dict[int, str] = {
    ExitCode.OK: "ok",
    ExitCode.SAVE_FAILED: "unsaved",
    ExitCode.INTERRUPTED: "interrupted",
}

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order


def status_for(exit_code: int) -> str:
    """The status recorded for a run that ended with `exit_code`."""
    return _STATUS_BY_EXIT_CODE.get(exit_code, "failed")


def format_time(when: datetime) -> str:
    # isoformat, not strftime: strftime writes year 999 as "999", which sorts after "2025".
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def parse_before(text: str, now: datetime | None = None) -> datetime:
    """`--before`: an ISO date or date-time (local time unless it says otherwise), or an age
    such as `30d` or `12h` (that long ago). Raises UsageError."""
    raw = text.strip()
    number, unit = raw[:-1], raw[-1:].lower()
    try:
        if number.isdigit() and unit in ("d", "h"):
            hours = int(number) * (24 if unit == "d" else 1)
            return (now or datetime.now(UTC)) - timedelta(hours=hours)
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise UsageError(
                f"invalid date '{text}'", hint="e.g. 2025-01-31, 2025-01-31T12:00 or 30d"
            ) from None
        if when.tzinfo is None:
            when = when.astimezone()  # naive: the user's local time
        return when.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 1000000d, or year 1 in a zone east of UTC
        raise UsageError(f"date out of range: '{text}'") from None


@dataclass(frozen=True)
class ImageRow:
    """One image of a run: its link (None for inline bytes) and, once saved, where and what."""

    index: int
    url: str | None
    inline: bool
    received: datetime
    path: str | None
    sha256: str | None
    bytes: int | None
    error: str | None
    saved: datetime | None

    @property
    def is_saved(self) -> bool:
        return self.path is not None and self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "url": self.url,
            "inline": self.inline,
            "received": format_time(self.received),
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "error": self.error,
            "saved": format_time(self.saved) if self.saved else None,
        }


def resolve_image_path(recorded: str, output_dir: str | None) -> Path:
    """A recorded image path as it is now: a relative one was relative to the run's working
    directory, whose output_dir is recorded absolute."""
    path = Path(recorded)
    if path.is_absolute() or output_dir is None:
        return path
    return Path(output_dir) / path.name


@dataclass(frozen=True)
class RunRow:
    """One recorded request and everything learned about it."""

    id: int
    created: datetime
    finished: datetime | None
    command: str
    model: str
    provider: str
    host: str
    prompt: str
    parameters: dict[str, Any]
    references: list[dict[str, Any]]
    output_dir: str | None
    request_id: str | None
    status: str  # as shown: "unfinished" when a "running" run's process is gone
    exit_code: int | None
    error: str | None
    usage: dict[str, Any] | None
    text: str
    rerun_of: int | None
    images: tuple[ImageRow, ...]
    task_id: str | None = None  # an async task's id (`wan task …`)
    task_status: str | None = None  # its state as last seen (PENDING, RUNNING, SUCCEEDED…)
    pid: int | None = None  # the process that ran it (not in `to_json`)

    @property
    def awaiting_task(self) -> bool:
        """An async task whose images have not been collected yet (it is on the service)."""
        return self.task_id is not None and self.status.startswith(f"{TASK} ")

    @property
    def saved_count(self) -> int:
        return sum(1 for image in self.images if image.is_saved)

    def saved_paths(self) -> list[Path]:
        """Where this run's saved images are."""
        return [
            resolve_image_path(image.path, self.output_dir)
            for image in self.images
            if image.is_saved and image.path is not None
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": format_time(self.created),
            "finished": format_time(self.finished) if self.finished else None,
            "command": self.command,
            "model": self.model,
            "provider": self.provider,
            "host": self.host,
            "prompt": self.prompt,
            "parameters": self.parameters,
            "references": self.references,
            "output_dir": self.output_dir,
            "request_id": self.request_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "usage": self.usage,
            "text": self.text,
            "rerun_of": self.rerun_of,
            "task_id": self.task_id,
            "task_status": self.task_status,
            "images": [image.to_json() for image in self.images],
        }


# -- from and to the database's columns ----------------------------------------------------


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def load_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def image_row(row: sqlite3.Row) -> ImageRow:
    return ImageRow(
        index=row["idx"],
        url=row["url"],
        inline=bool(row["inline"]),
        received=parse_time(row["received"]),
        path=row["path"],
        sha256=row["sha256"],
        bytes=row["bytes"],
        error=row["error"],
        saved=parse_time(row["saved"]) if row["saved"] else None,
    )


def run_row(row: sqlite3.Row, images: tuple[ImageRow, ...]) -> RunRow:
    status = row["status"]
    if status == RUNNING and not pid_alive(row["pid"]):
        status = UNFINISHED
    elif status == TASK:  # on the service, whatever became of the process that submitted it
        status = f"{TASK} {row['task_status'] or PENDING}"
    return RunRow(
        id=row["id"],
        created=parse_time(row["created"]),
        finished=parse_time(row["finished"]) if row["finished"] else None,
        command=row["command"],
        model=row["model"],
        provider=row["provider"],
        host=row["host"],
        prompt=row["prompt"],
        parameters=load_json(row["parameters"]) or {},
        references=load_json(row["refs"]) or [],
        output_dir=row["output_dir"],
        request_id=row["request_id"],
        status=status,
        exit_code=row["exit_code"],
        error=row["error"],
        usage=load_json(row["usage"]),
        text=row["text"] or "",
        rerun_of=row["rerun_of"],
        images=images,
        task_id=row["task_id"],
        task_status=row["task_status"],
        pid=row["pid"],
    )

"""History: every request `wan` sends and what came back, in one SQLite database.

Rules this module owns:
- a run's row is written when its request is sent and updated as events arrive; image URLs are
  recorded before their downloads start, so a crash or `kill -9` never loses a paid result;
- it never blocks a run: when the database is locked, corrupt or newer than this `wan`, a run
  warns once on stderr and goes on without history (`Store` write methods never raise);
- several processes write at once (WAL, busy timeout, one short statement per write), and the
  downloads' worker threads share one connection behind a lock;
- never the API key, never base64: references are small descriptors (`RefImage.describe`);
- the schema is versioned with `PRAGMA user_version` and the `MIGRATIONS` list (append only).

`sqlite3` is imported where it is used: `wan --help` must not pay for it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wan_cli.errors import UsageError

if TYPE_CHECKING:
    import sqlite3

    from wan_cli.run.options import RequestOptions

ENV_HISTORY = "WAN_HISTORY"
# How long a write waits for another process's write before history gives up for this run.
BUSY_TIMEOUT_S = 5.0
# Result URLs are signed for about this long (the service's documentation says ~24 h).
URL_LIFETIME = timedelta(hours=24)

# Each entry moves the schema one version up; never edit a released entry, append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            finished TEXT,
            command TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            host TEXT NOT NULL,
            prompt TEXT NOT NULL,
            parameters TEXT NOT NULL,
            refs TEXT NOT NULL,
            output_dir TEXT,
            request_id TEXT,
            status TEXT NOT NULL,
            exit_code INTEGER,
            error TEXT,
            usage TEXT,
            text TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            rerun_of INTEGER
        )""",
        """CREATE TABLE images (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            url TEXT,
            inline INTEGER NOT NULL DEFAULT 0,
            received TEXT NOT NULL,
            path TEXT,
            sha256 TEXT,
            bytes INTEGER,
            error TEXT,
            saved TEXT,
            PRIMARY KEY (run_id, idx)
        )""",
        "CREATE INDEX runs_status ON runs (status)",
    ),
    (
        # Async tasks (`--async`, `wan task …`): the service's task id and its last known state.
        "ALTER TABLE runs ADD COLUMN task_id TEXT",
        "ALTER TABLE runs ADD COLUMN task_status TEXT",
        "CREATE INDEX runs_task_id ON runs (task_id)",
        # Tasks recorded before these columns: a `"async":true` parameter (always the last key)
        # and the task id as request id; their state was kept as `task STATE…` in the error.
        """UPDATE runs SET
            task_id = request_id,
            task_status = CASE
                WHEN status = 'running' THEN 'PENDING'
                WHEN status = 'ok' THEN 'SUCCEEDED'
                WHEN error LIKE 'task CANCELED%' THEN 'CANCELED'
                WHEN error LIKE 'task UNKNOWN%' THEN 'UNKNOWN'
                ELSE 'FAILED' END,
            status = CASE WHEN status = 'running' THEN 'task' ELSE status END,
            parameters = replace(replace(parameters, ',"async":true}', '}'),
                                 '{"async":true}', '{}')
        WHERE request_id IS NOT NULL AND parameters LIKE '%"async":true}'""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# Status of a run: "running" until it ends (a run killed mid-way stays "running": shown as
# "unfinished" once its process is gone), then one of the others, chosen by its exit code.
# An async task's row is "task" from its submission until `wan task wait` collects its images
# (then "running" again) or the task ends without any: shown as `task STATE` meanwhile.
RUNNING = "running"
TASK = "task"
STATUSES = (RUNNING, TASK, "ok", "failed", "unsaved", "interrupted")
UNFINISHED = "unfinished"
# The service's final task states that leave no images: such a task counts as failed.
TASK_FAILURES = ("FAILED", "CANCELED", "UNKNOWN")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order
# SQLite integers are 64-bit: a larger id cannot exist, a larger limit is no limit.
_MAX_INTEGER = 2**63 - 1
_T = TypeVar("_T")


def history_path(env: Mapping[str, str] | None = None) -> Path:
    """`WAN_HISTORY`, else `history.db` in the platform's user data directory for `wan`."""
    env = os.environ if env is None else env
    override = env.get(ENV_HISTORY, "").strip()
    if override:
        return Path(os.path.expanduser(override))
    from platformdirs import user_data_dir

    return Path(user_data_dir("wan")) / "history.db"


def status_for(exit_code: int) -> str:
    """The status recorded for a run that ended with `exit_code`."""
    if exit_code == 0:
        return "ok"
    if exit_code == 7:
        return "unsaved"
    if exit_code == 130:
        return "interrupted"
    return "failed"


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


def pid_alive(pid: int | None) -> bool:
    """Whether a run's process still exists (on this machine). Unknown counts as alive."""
    if pid is None or pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


# -- rows -----------------------------------------------------------------------------------


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


# -- the store ------------------------------------------------------------------------------


class Store:
    """One open history database.

    The `record_*` methods are for runs: they never raise; the first failure warns once (via
    `warn`) and turns history off for the rest of the process. Queries and `delete_runs` are
    for the `wan history` commands and raise `sqlite3.Error`.
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, warn: Callable[[str], None] | None
    ) -> None:
        self.path = path
        self._conn = conn
        self._warn = warn
        self._lock = threading.Lock()  # download threads share the connection
        self.disabled = False

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self.disabled = True

    # -- writes for runs (never raise) --------------------------------------------------------

    def _write(self, what: str, action: Callable[[sqlite3.Connection], _T]) -> _T | None:
        import sqlite3

        if self.disabled:
            return None
        with self._lock:
            if self.disabled:
                return None
            try:
                return action(self._conn)
            except sqlite3.Error as error:
                self.disabled = True
                if self._warn is not None:
                    self._warn(
                        f"history is off for this run: could not {what} in {self.path}: {error}"
                    )
                return None

    def record_start(
        self,
        *,
        command: str,
        model: str,
        provider: str,
        host: str,
        prompt: str,
        parameters: Mapping[str, Any],
        references: Sequence[Mapping[str, Any]],
        output_dir: str | None,
        created: datetime | None = None,
        rerun_of: int | None = None,
    ) -> int | None:
        """A new run, in status "running"; its id, or None when history is off."""
        values = (
            format_time(created or datetime.now(UTC)),
            command,
            model,
            provider,
            host,
            prompt,
            _dump(dict(parameters)),
            _dump([dict(ref) for ref in references]),
            output_dir,
            RUNNING,
            os.getpid(),
            rerun_of,
        )

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO runs (created, command, model, provider, host, prompt, parameters,"
                " refs, output_dir, status, pid, rerun_of)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return int(cursor.lastrowid or 0)

        return self._write("record the run", insert)

    def record_request_id(self, run_id: int | None, request_id: str) -> None:
        self._update(run_id, "record the request id", "request_id = ?", (request_id,))

    def record_task(self, run_id: int | None, task_id: str, status: str) -> None:
        """An async task's id and its state as just seen. The first call (the submission's
        answer) hands the row to the service: status "task" until it is collected or ended."""
        self._update(
            run_id,
            "record the task",
            f"status = CASE WHEN status = '{RUNNING}' AND task_id IS NULL THEN '{TASK}'"
            " ELSE status END, task_id = ?, task_status = ?",
            (task_id, status),
        )

    def record_resume(self, run_id: int | None, *, output_dir: str | None) -> int | None:
        """An existing row (a task's) about to be filled by this process's run: "running" again
        in `output_dir`, its previous end cleared. Its id, or None when history is off or the
        row is gone (cleared meanwhile)."""
        if run_id is None:
            return None
        values = (RUNNING, os.getpid(), output_dir, run_id)
        changed = self._write(
            "record the run",
            lambda conn: (
                conn.execute(
                    "UPDATE runs SET status = ?, pid = ?, output_dir = ?, finished = NULL,"
                    " exit_code = NULL, error = NULL WHERE id = ?",
                    values,
                ).rowcount
            ),
        )
        return run_id if changed else None

    def record_progress(
        self, run_id: int | None, text: str, usage: Mapping[str, Any] | None
    ) -> None:
        """The text so far and the latest (cumulative) usage."""
        self._update(
            run_id,
            "record the answer",
            "text = ?, usage = ?",
            (text, _dump(dict(usage)) if usage is not None else None),
        )

    def record_image(self, run_id: int | None, index: int, url: str | None) -> None:
        """An image arrived (url None: inline bytes). Called before its download starts."""
        if run_id is None:
            return
        values = (run_id, index, url, int(url is None), format_time(datetime.now(UTC)), run_id)
        self._write(
            "record an image URL",
            lambda conn: conn.execute(
                # WHERE EXISTS: a run cleared meanwhile by `wan history clear` stays cleared.
                "INSERT INTO images (run_id, idx, url, inline, received)"
                " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?)"
                " ON CONFLICT (run_id, idx) DO UPDATE SET url = excluded.url,"
                " inline = excluded.inline",
                values,
            ),
        )

    def record_saved(
        self,
        run_id: int | None,
        index: int,
        path: str | None,
        sha256: str | None,
        size: int | None,
        error: str | None,
    ) -> None:
        """The outcome of saving image `index`: its path and hash, or why it was not saved."""
        if run_id is None:
            return
        values = (path, sha256, size, error, format_time(datetime.now(UTC)), run_id, index)
        self._write(
            "record a saved image",
            lambda conn: conn.execute(
                "UPDATE images SET path = ?, sha256 = ?, bytes = ?, error = ?, saved = ?"
                " WHERE run_id = ? AND idx = ?",
                values,
            ),
        )

    def record_end(
        self,
        run_id: int | None,
        *,
        exit_code: int,
        error: str | None,
        usage: Mapping[str, Any] | None,
        text: str,
        request_id: str | None,
    ) -> None:
        self._update(
            run_id,
            "record the end of the run",
            "status = ?, exit_code = ?, error = ?, usage = ?, text = ?,"
            " request_id = COALESCE(?, request_id), finished = ?",
            (
                status_for(exit_code),
                exit_code,
                error,
                _dump(dict(usage)) if usage is not None else None,
                text,
                request_id,
                format_time(datetime.now(UTC)),
            ),
        )

    def _update(
        self, run_id: int | None, what: str, assignments: str, values: tuple[Any, ...]
    ) -> None:
        if run_id is None:
            return
        self._write(
            what,
            lambda conn: conn.execute(
                f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id)
            ),
        )

    # -- queries for `wan history` (raise sqlite3.Error) --------------------------------------

    def list_runs(
        self, *, limit: int | None = 20, search: str | None = None, failed: bool = False
    ) -> list[RunRow]:
        """Newest first. `search` matches the prompt, the text (any case), or the request or
        task id; `failed`: every run that did not end well, unfinished ones included, and tasks
        the service ended without images (not those still pending there)."""
        clauses: list[str] = []
        values: list[Any] = []
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern += "%"
            clauses.append(
                "(prompt LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\' OR request_id = ?"
                " OR task_id = ?)"
            )
            values += [pattern, pattern, search, search]
        if failed:
            failures = ", ".join(f"'{state}'" for state in TASK_FAILURES)
            clauses.append(
                f"status != 'ok' AND NOT (status = '{RUNNING}' AND pid_alive(pid))"
                f" AND (status != '{TASK}' OR task_status IN ({failures}))"
            )
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = " LIMIT ?" if limit is not None else ""
        if limit is not None:
            values.append(min(limit, _MAX_INTEGER))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM runs{where} ORDER BY id DESC{tail}", values
            ).fetchall()
            return self._with_images(rows)

    def get_run(self, run_id: int) -> RunRow | None:
        if abs(run_id) > _MAX_INTEGER:
            return None
        with self._lock:
            rows = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
            found = self._with_images(rows)
        return found[0] if found else None

    def find_task(self, task_id: str) -> RunRow | None:
        """The (newest) row of the async task `task_id`, or None."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM runs WHERE task_id = ? ORDER BY id DESC LIMIT 1", (task_id,)
            ).fetchall()
            found = self._with_images(rows)
        return found[0] if found else None

    def list_tasks(self, limit: int | None = 20) -> list[RunRow]:
        """The rows of async tasks, newest first."""
        tail, values = (" LIMIT ?", (min(limit, _MAX_INTEGER),)) if limit is not None else ("", ())
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM runs WHERE task_id IS NOT NULL ORDER BY id DESC{tail}", values
            ).fetchall()
            return self._with_images(rows)

    def count_runs(self, *, before: datetime | None = None) -> int:
        where, values = _before_clause(before)
        with self._lock:
            row = self._conn.execute(f"SELECT count(*) FROM runs{where}", values).fetchone()
        return int(row[0])

    def delete_runs(self, *, before: datetime | None = None) -> int:
        """Delete runs (and their image rows; never the image files) created before `before`,
        or all. Deleted text is overwritten, not left in free pages. Returns how many."""
        import contextlib
        import sqlite3

        where, values = _before_clause(before)
        with self._lock:
            conn = self._conn
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    f"DELETE FROM images WHERE run_id IN (SELECT id FROM runs{where})", values
                )
                deleted = conn.execute(f"DELETE FROM runs{where}", values).rowcount
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            # Best effort: fold the WAL (which still holds the old pages) into the cleared file.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    def _with_images(self, rows: list[sqlite3.Row]) -> list[RunRow]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        marks = ",".join("?" * len(ids))
        images: dict[int, list[ImageRow]] = {run_id: [] for run_id in ids}
        for image in self._conn.execute(
            f"SELECT * FROM images WHERE run_id IN ({marks}) ORDER BY run_id, idx", ids
        ):
            images[image["run_id"]].append(_image_row(image))
        return [_run_row(row, tuple(images[row["id"]])) for row in rows]


def _before_clause(before: datetime | None) -> tuple[str, tuple[Any, ...]]:
    if before is None:
        return "", ()
    return " WHERE created < ?", (format_time(before),)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _image_row(row: sqlite3.Row) -> ImageRow:
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


def _run_row(row: sqlite3.Row, images: tuple[ImageRow, ...]) -> RunRow:
    status = row["status"]
    if status == RUNNING and not pid_alive(row["pid"]):
        status = UNFINISHED
    elif status == TASK:  # on the service, whatever became of the process that submitted it
        status = f"{TASK} {row['task_status'] or 'PENDING'}"
    return RunRow(
        id=row["id"],
        created=parse_time(row["created"]),
        finished=parse_time(row["finished"]) if row["finished"] else None,
        command=row["command"],
        model=row["model"],
        provider=row["provider"],
        host=row["host"],
        prompt=row["prompt"],
        parameters=_load(row["parameters"]) or {},
        references=_load(row["refs"]) or [],
        output_dir=row["output_dir"],
        request_id=row["request_id"],
        status=status,
        exit_code=row["exit_code"],
        error=row["error"],
        usage=_load(row["usage"]),
        text=row["text"] or "",
        rerun_of=row["rerun_of"],
        images=images,
        task_id=row["task_id"],
        task_status=row["task_status"],
    )


# -- opening --------------------------------------------------------------------------------


class NewerSchema(Exception):
    """The database was written by a newer `wan` (a schema version this one does not know)."""


def _connect(path: Path) -> sqlite3.Connection:
    """Open (creating it 0600 if needed), switch to WAL and bring the schema up to date."""
    import contextlib
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        # Prompts are private: create the file owner-only (SQLite gives -wal/-shm the same mode).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit survives the process being killed; no fsync per write.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.create_function("pid_alive", 1, pid_alive)
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks (one transaction, safe against a concurrent
    `wan` doing the same). Returns the schema version. Raises NewerSchema."""
    import contextlib
    import sqlite3

    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise NewerSchema(
            f"schema version {version} is newer than this wan knows ({SCHEMA_VERSION})"
        )
    if version == SCHEMA_VERSION:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])  # another may have won
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {max(version, SCHEMA_VERSION)}")
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def open_store(path: Path, *, warn: Callable[[str], None] | None = None) -> Store | None:
    """The history for a run, or None (after one warning) when it cannot be used."""
    import sqlite3

    try:
        return Store(_connect(path), path, warn)
    except (sqlite3.Error, OSError, NewerSchema) as error:
        if warn is not None:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            warn(f"history is off for this run: cannot use {path}: {reason}")
        return None


def open_existing(path: Path, *, warn: Callable[[str], None] | None = None) -> Store | None:
    """The history for `wan history` commands: None when there is none yet; UsageError (one
    line, with what to do) when it cannot be read."""
    import sqlite3

    if not path.exists():
        return None
    try:
        return Store(_connect(path), path, warn)
    except NewerSchema as error:
        raise UsageError(
            f"cannot read history {path}: {error}", hint="upgrade wan to read it"
        ) from None
    except (sqlite3.Error, OSError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise UsageError(
            f"cannot read history {path}: {reason}",
            hint=f"if it is damaged, move it aside (mv '{path}' '{path}.bad'): "
            "a new one is started on the next run",
        ) from None


# -- using a recorded run again ---------------------------------------------------------------


def recorded_request(run: RunRow, *, with_refs: bool = True) -> RequestOptions:
    """The request options that send `run`'s request again (prompt, references, parameters);
    the model is the run's own `run.model`. Raises UsageError for a reference history cannot
    replay; `with_refs=False` leaves the references out (the user gives new ones)."""
    from wan_cli.run.options import RequestOptions, check_mode

    params = run.parameters
    mode = check_mode(run.command, "the recorded command")
    refs = enumerate(run.references, 1) if with_refs else ()
    return RequestOptions(
        mode=mode,
        prompt=run.prompt,
        refs=tuple(ref_source(ref, number) for number, ref in refs),
        size=params.get("size"),
        max_images=params.get("max_images") if mode == "generate" else None,
        n=params.get("n") if mode == "edit" else None,
        negative_prompt=params.get("negative_prompt"),
        seed=params.get("seed"),
        watermark=params.get("watermark"),
        prompt_extend=params.get("prompt_extend") if mode == "edit" else None,
    )


def ref_source(ref: Mapping[str, Any], number: int) -> str:
    """What to pass as `--ref` again for a recorded reference descriptor."""
    kind = ref.get("kind")
    if kind == "url" and isinstance(ref.get("url") or ref.get("source"), str):
        return str(ref.get("url") or ref.get("source"))
    if kind == "file" and isinstance(ref.get("path") or ref.get("source"), str):
        return str(ref.get("path") or ref.get("source"))
    raise UsageError(
        f"reference {number} was given inline (a data URI): history keeps only its hash",
        hint="give the references again with --ref",
    )


def changed_file_refs(references: Sequence[Mapping[str, Any]]) -> list[str]:
    """Local reference files that are gone or whose content differs from the recorded hash."""
    import hashlib

    changed = []
    for ref in references:
        path, digest = ref.get("path"), ref.get("sha256")
        if ref.get("kind") != "file" or not isinstance(path, str) or not digest:
            continue
        try:
            with open(path, "rb") as fh:
                if hashlib.sha256(fh.read()).hexdigest() != digest:
                    changed.append(f"{path} has changed since the run")
        except OSError as error:
            changed.append(f"{path}: {error.strerror or error}")
    return changed


def expired_reason(error: str, received: datetime, now: datetime | None = None) -> str | None:
    """Why a failed download most likely failed for good because its link expired, or None.

    Image hosts answer 403 (stale signature), 404 or 410 once a signed link is past its life."""
    import re

    age = (now or datetime.now(UTC)) - received
    status = re.match(r"HTTP (403|404|410)\b", error)
    if status is None and age <= URL_LIFETIME:
        return None
    why = [f"HTTP {status.group(1)} from the image host"] if status else [error]
    if age > URL_LIFETIME:
        why.insert(0, f"{age.total_seconds() / 3600:.0f} h old")
    return f"the link has expired ({'; '.join(why)}): result URLs are valid for about 24 hours"

"""History's writes during a run: the `StoreWrites` half of `Store`.

A run's row is written when its request is sent and updated as events arrive; image URLs are
recorded before their downloads start, so a crash or `kill -9` never loses a paid result.
These methods never raise: the first failure warns once (via `warn`) and turns history off
for the rest of the process, so a locked, corrupt or full database never blocks a run.
Several processes write at once (WAL, busy timeout, one short statement per write), and the
downloads' worker threads share one connection behind a lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wan_cli.history.rows import RUNNING, TASK, dump_json, format_time, status_for

if TYPE_CHECKING:
    import sqlite3

_T = TypeVar("_T")


class StoreWrites:
    """The writes of one open history database (see `Store`, which adds the queries)."""

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
            dump_json(dict(parameters)),
            dump_json([dict(ref) for ref in references]),
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

    def record_batch_key(self, run_id: int | None, key: str) -> None:
        """The `wan batch` line this run is for (its request key), before it is sent."""
        self._update(run_id, "record the batch line", "batch_key = ?", (key,))

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
            (text, dump_json(dict(usage)) if usage is not None else None),
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
                dump_json(dict(usage)) if usage is not None else None,
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

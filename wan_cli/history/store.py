"""One open history database (`Store`: a run's writes plus the `wan history` queries), where it
lives, and opening it for a run (`open_store`, never fails) or for a command (`open_existing`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.errors import UsageError
from wan_cli.history.rows import RUNNING, TASK, ImageRow, RunRow, format_time, image_row, run_row
from wan_cli.history.schema import NewerSchema, connect
from wan_cli.history.writes import StoreWrites
from wan_cli.tasks.states import FAILURE_STATES

if TYPE_CHECKING:
    import sqlite3

ENV_HISTORY = "WAN_HISTORY"
# SQLite integers are 64-bit: a larger id cannot exist, a larger limit is no limit.
_MAX_INTEGER = 2**63 - 1
# Keys looked up per query (SQLite's default bound on parameters was 999 before 3.32).
_KEYS_PER_QUERY = 400


def history_path(env: Mapping[str, str] | None = None) -> Path:
    """`WAN_HISTORY`, else `history.db` in the platform's user data directory for `wan`."""
    env = os.environ if env is None else env
    override = env.get(ENV_HISTORY, "").strip()
    if override:
        return Path(os.path.expanduser(override))
    from platformdirs import user_data_dir

    return Path(user_data_dir("wan")) / "history.db"


class Store(StoreWrites):
    """One open history database.

    The `record_*` methods (from `StoreWrites`) are for runs: they never raise; the first failure
    warns once (via `warn`) and turns history off for the rest of the process. Queries and
    `delete_runs` are for the `wan history` commands and raise `sqlite3.Error`; `reading` turns
    that into one line for them.
    """

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Use the store for one command (or one tool call), then close it; a database error
        becomes `UsageError` (one line, exit 2)."""
        import sqlite3

        try:
            yield
        except sqlite3.Error as error:
            raise UsageError(f"cannot use history {self.path}: {error}") from None
        finally:
            self.close()

    def list_runs(
        self, *, limit: int | None = 20, search: str | None = None, failed: bool = False
    ) -> list[RunRow]:
        """Newest first. `search` matches the prompt, the text (any case), or the request or
        task id; `failed`: every run that did not end well, unfinished ones included, and tasks
        the service ended without images (not those still pending there)."""
        clauses: list[str] = []
        values: list[Any] = []
        if search:
            # The newest matches only, when nothing else filters them: a common word matches
            # a third of 100,000 runs, which would all be sorted to show 20.
            clause, found = _search_clause(search, None if failed else limit)
            clauses.append(clause)
            values += found
        if failed:
            failures = ", ".join(f"'{state}'" for state in sorted(FAILURE_STATES))
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

    def batch_runs(self, keys: Iterable[str]) -> dict[tuple[str, str | None], RunRow]:
        """The newest row of each `wan batch` line among `keys`, by (key, output directory):
        what an earlier run of the batch sent for it, even if that run was killed before its
        manifest said so."""
        unique = sorted(set(keys))
        found: dict[tuple[str, str | None], RunRow] = {}
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            chunk = unique[start : start + _KEYS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(
                    "SELECT * FROM runs WHERE id IN (SELECT max(id) FROM runs"
                    f" WHERE batch_key IN ({marks}) GROUP BY batch_key, output_dir)",
                    chunk,
                ).fetchall()
                keyed = [(row["batch_key"], row["output_dir"]) for row in rows]
                runs = self._with_images(rows)
            found.update(zip(keyed, runs, strict=True))
        return found

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
            images[image["run_id"]].append(image_row(image))
        return [run_row(row, tuple(images[row["id"]])) for row in rows]


def _search_clause(search: str, newest: int | None = None) -> tuple[str, list[Any]]:
    """Runs whose prompt or text holds `search` (any case), or whose request or task id it is.
    Three characters or more go through the trigram index; shorter ones are too common to
    gain from it and are matched by a scan. `newest`: only that many of the index's matches,
    newest first, are wanted."""
    if len(search) >= 3:
        phrase = '"' + search.replace('"', '""') + '"'
        tail, found = "", list[Any]([phrase])
        if newest is not None:
            tail, found = " ORDER BY rowid DESC LIMIT ?", [phrase, min(newest, _MAX_INTEGER)]
        return (
            f"(id IN (SELECT rowid FROM runs_search WHERE runs_search MATCH ?{tail})"
            " OR request_id = ? OR task_id = ?)",
            [*found, search, search],
        )
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return (
        "(prompt LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\' OR request_id = ? OR task_id = ?)",
        [pattern, pattern, search, search],
    )


def _before_clause(before: datetime | None) -> tuple[str, tuple[Any, ...]]:
    if before is None:
        return "", ()
    return " WHERE created < ?", (format_time(before),)


def open_store(path: Path, *, warn: Callable[[str], None] | None = None) -> Store | None:
    """The history for a run, or None (after one warning) when it cannot be used."""
    import sqlite3

    try:
        return Store(connect(path), path, warn)
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
        return Store(connect(path), path, warn)
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

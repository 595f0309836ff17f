"""History's database file: the schema, its migrations, and opening a connection.

The schema is versioned with `PRAGMA user_version` and the `MIGRATIONS` list (append only);
`connect` opens the file (created owner-only), switches it to WAL and brings it up to date.
`sqlite3` is imported where it is used: `wan --help` must not pay for it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.history.rows import pid_alive

if TYPE_CHECKING:
    import sqlite3

# How long a write waits for another process's write before history gives up for this run.
BUSY_TIMEOUT_S = 5.0
# SQLite waits for a lock inside C, where Python cannot run a signal handler: a Ctrl-C used to
# wait out the whole busy timeout, silently. So SQLite waits in short steps, and the statement
# is repeated from Python until BUSY_TIMEOUT_S has passed; between two steps Ctrl-C acts.
BUSY_STEP_S = 0.05

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
    (
        # Search that does not scan: a trigram full-text index of the prompt and the text (any
        # substring of 3+ characters, any case), kept in step by triggers; it stores no second
        # copy of the text (external content). Request ids are looked up by index too.
        """CREATE VIRTUAL TABLE runs_search USING fts5(
            prompt, text, content='runs', content_rowid='id', tokenize='trigram')""",
        """CREATE TRIGGER runs_search_insert AFTER INSERT ON runs BEGIN
            INSERT INTO runs_search (rowid, prompt, text) VALUES (new.id, new.prompt, new.text);
        END""",
        """CREATE TRIGGER runs_search_delete AFTER DELETE ON runs BEGIN
            INSERT INTO runs_search (runs_search, rowid, prompt, text)
                VALUES ('delete', old.id, old.prompt, old.text);
        END""",
        """CREATE TRIGGER runs_search_update AFTER UPDATE OF prompt, text ON runs BEGIN
            INSERT INTO runs_search (runs_search, rowid, prompt, text)
                VALUES ('delete', old.id, old.prompt, old.text);
            INSERT INTO runs_search (rowid, prompt, text) VALUES (new.id, new.prompt, new.text);
        END""",
        "INSERT INTO runs_search (runs_search) VALUES ('rebuild')",
        "CREATE INDEX runs_request_id ON runs (request_id)",
    ),
    (
        # `wan batch`: the line a row was sent for (its request key), written before the request
        # is sent, so a batch resumed after `kill -9` finds the links its killed run received.
        # Cheap on any database: a new column is NULL without rewriting rows, and the partial
        # index holds only batch rows.
        "ALTER TABLE runs ADD COLUMN batch_key TEXT",
        "CREATE INDEX runs_batch_key ON runs (batch_key, output_dir) WHERE batch_key IS NOT NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchema(Exception):
    """The database was written by a newer `wan` (a schema version this one does not know)."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating it 0600 if needed), switch to WAL and bring the schema up to date."""
    import contextlib
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        # Prompts are private: create the file owner-only (SQLite gives -wal/-shm the same mode).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(
        path,
        timeout=BUSY_STEP_S,
        isolation_level=None,
        check_same_thread=False,
        factory=_patient_connection(),
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_STEP_S * 1000)}")
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


@functools.cache
def _patient_connection() -> type[sqlite3.Connection]:
    """A connection whose statements wait for a lock up to BUSY_TIMEOUT_S, in BUSY_STEP_S
    steps (made on first use: `sqlite3` is imported only when history is opened)."""
    import sqlite3
    import time

    class PatientConnection(sqlite3.Connection):
        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            give_up = time.monotonic() + BUSY_TIMEOUT_S
            while True:
                try:
                    return super().execute(sql, parameters)
                except sqlite3.OperationalError as error:
                    # Only a lock held elsewhere is waited for; a pending Ctrl-C is raised
                    # here, between two tries.
                    if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    if time.monotonic() >= give_up:
                        raise

    return PatientConnection


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

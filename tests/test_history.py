"""The history store: schema and migrations, every recorded field, filters, concurrent writers,
and a locked, corrupt or newer database that warns once instead of breaking a run."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wan_cli.errors import UsageError
from wan_cli.history import replay, rows, schema
from wan_cli.history.store import Store, history_path, open_existing, open_store


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def store_at(path: Path, warnings: Warnings | None = None) -> Store:
    store = open_store(path, warn=warnings)
    assert store is not None
    return store


def start(store: Store, prompt: str = "a lighthouse", **extra: object) -> int:
    values: dict[str, object] = {
        "command": "generate",
        "model": "wan2.6-image",
        "provider": "gateway",
        "host": "api.example:443",
        "prompt": prompt,
        "parameters": {"seed": 7, "max_images": 2},
        "references": [{"kind": "file", "path": "/x/ref.png", "sha256": "ab" * 32}],
        "output_dir": "/tmp/out",
    }
    values.update(extra)
    run_id = store.record_start(**values)  # type: ignore[arg-type]
    assert isinstance(run_id, int)
    return run_id


# -- schema --------------------------------------------------------------------------------


def test_new_database_is_wal_current_schema_and_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "history.db"
    store_at(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "images"} <= tables
    conn.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_new_migration_upgrades_an_old_database_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.db"
    store = store_at(path)
    old = start(store)
    store.close()
    extra = ("ALTER TABLE runs ADD COLUMN label TEXT", "UPDATE runs SET label = 'migrated'")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, extra))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    store = store_at(path)
    assert store.get_run(old) is not None
    store.close()
    store_at(path).close()  # already current: nothing applied twice
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert conn.execute("SELECT label FROM runs").fetchall() == [("migrated",)]


def test_version_1_database_gains_task_columns_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.db"
    with monkeypatch.context() as patch:  # a database written by the `wan` before tasks
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        patch.setattr(schema, "SCHEMA_VERSION", 1)
        store = store_at(path)
        normal = start(store, "a normal run")
        store.record_request_id(normal, "req-1")
        store.record_image(normal, 0, "https://x/0.png")
        store.record_end(normal, exit_code=0, error=None, usage=None, text="", request_id=None)
        # `--async` submissions as they were recorded then: marker parameter, task id as
        # request id, and their state in the error.
        pending = start(store, "pending", parameters={"size": "1K", "async": True})
        store.record_request_id(pending, "task-p")
        failed = start(store, "failed", parameters={"async": True})
        store.record_request_id(failed, "task-f")
        store.record_end(
            failed, exit_code=4, error="task CANCELED", usage=None, text="", request_id=None
        )
        done = start(store, "done", parameters={"async": True})
        store.record_request_id(done, "task-d")
        store.record_end(done, exit_code=0, error=None, usage=None, text="", request_id=None)
        store.close()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        conn.close()

    store = store_at(path)
    assert [run.id for run in store.list_runs()] == [done, failed, pending, normal]
    kept = store.get_run(normal)
    assert kept is not None and kept.status == "ok" and kept.request_id == "req-1"
    assert kept.task_id is None and kept.task_status is None and len(kept.images) == 1
    assert kept.parameters == {"seed": 7, "max_images": 2}
    tasks = {run.task_id: run for run in store.list_tasks(None)}
    assert set(tasks) == {"task-p", "task-f", "task-d"}
    assert (tasks["task-p"].status, tasks["task-p"].task_status) == ("task PENDING", "PENDING")
    assert tasks["task-p"].parameters == {"size": "1K"} and tasks["task-p"].awaiting_task
    assert (tasks["task-f"].status, tasks["task-f"].task_status) == ("failed", "CANCELED")
    assert (tasks["task-d"].status, tasks["task-d"].task_status) == ("ok", "SUCCEEDED")
    assert all(run.parameters == {} for run in (tasks["task-f"], tasks["task-d"]))
    assert [run.id for run in store.list_runs(failed=True)] == [failed]
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 4
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"runs_task_id", "runs_request_id"} <= indexes
    conn.close()


def test_search_uses_the_full_text_index_and_keeps_it_in_step(tmp_path: Path) -> None:
    """Search finds any 3+ character substring of the prompt or text, in any case, through the
    trigram index (no scan), including runs recorded before the index existed (the migration
    rebuilds it) and text written after the run started; cleared runs leave it."""
    path = tmp_path / "history.db"
    store = store_at(path)
    fox = start(store, "A Red FOX in the snow")
    whale = start(store, "a blue whale")
    store.record_end(
        whale, exit_code=0, error=None, usage=None, text="Under the Aurora.", request_id="req-w"
    )
    assert [run.id for run in store.list_runs(search="red fox")] == [fox]
    assert [run.id for run in store.list_runs(search="aurora")] == [whale]  # text, later
    assert [run.id for run in store.list_runs(search="req-w")] == [whale]  # a request id
    assert [run.id for run in store.list_runs(search='"')] == []  # quotes are not syntax
    assert [run.id for run in store.list_runs(search="x")] == [fox]  # short: a scan
    plan = store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE"
        " (id IN (SELECT rowid FROM runs_search WHERE runs_search MATCH ?)"
        " OR request_id = ? OR task_id = ?) ORDER BY id DESC",
        ('"fox"', "fox", "fox"),
    ).fetchall()
    details = [str(row[-1]) for row in plan]
    assert not any(detail.split()[:2] == ["SCAN", "runs"] for detail in details), details
    assert any("runs_search" in detail for detail in details), details
    store.delete_runs()
    assert store.list_runs(search="whale") == []
    store.close()


def test_newer_schema_warns_once_for_a_run_and_is_an_error_for_commands(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    warnings = Warnings()
    assert open_store(path, warn=warnings) is None
    assert len(warnings) == 1 and "newer" in warnings[0]
    with pytest.raises(UsageError, match="newer"):
        open_existing(path)


def test_corrupt_database_warns_once_for_a_run_and_is_an_error_for_commands(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database" * 100)
    warnings = Warnings()
    assert open_store(path, warn=warnings) is None
    assert len(warnings) == 1 and str(path) in warnings[0]
    with pytest.raises(UsageError) as raised:
        open_existing(path)
    assert raised.value.hint is not None and "move it aside" in raised.value.hint


def test_open_existing_creates_nothing(tmp_path: Path) -> None:
    assert open_existing(tmp_path / "none.db") is None
    assert not (tmp_path / "none.db").exists()


# -- recording ------------------------------------------------------------------------------


def test_every_field_round_trips(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    created = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    run_id = start(store, created=created, rerun_of=3)
    running = store.get_run(run_id)
    assert running is not None and running.status == "running"  # our own process is alive
    store.record_request_id(run_id, "req-9")
    store.record_image(run_id, 0, "https://img.example/0.png?sig=1")
    store.record_image(run_id, 1, None)  # inline bytes
    store.record_progress(run_id, "Here is", {"total_tokens": 3})
    store.record_saved(run_id, 0, "/tmp/out/a.png", "cd" * 32, 1234, None)
    store.record_saved(run_id, 1, None, None, None, "disk full")
    store.record_end(
        run_id,
        exit_code=7,
        error="1 of 2 image(s) could not be saved",
        usage={"total_tokens": 30},
        text="Here is a lighthouse.",
        request_id=None,  # keeps the one recorded earlier
    )
    run = store.get_run(run_id)
    assert run is not None
    assert run.created == created and run.finished is not None
    assert (run.command, run.model, run.provider, run.host) == (
        "generate",
        "wan2.6-image",
        "gateway",
        "api.example:443",
    )
    assert run.prompt == "a lighthouse"
    assert run.parameters == {"seed": 7, "max_images": 2}
    assert run.references == [{"kind": "file", "path": "/x/ref.png", "sha256": "ab" * 32}]
    assert run.output_dir == "/tmp/out" and run.rerun_of == 3
    assert run.request_id == "req-9"
    assert (run.status, run.exit_code) == ("unsaved", 7)
    assert run.error == "1 of 2 image(s) could not be saved"
    assert run.usage == {"total_tokens": 30} and run.text == "Here is a lighthouse."
    first, second = run.images
    assert first.url == "https://img.example/0.png?sig=1" and not first.inline
    assert (first.path, first.sha256, first.bytes, first.error) == (
        "/tmp/out/a.png",
        "cd" * 32,
        1234,
        None,
    )
    assert first.is_saved and first.saved is not None
    assert second.inline and second.url is None and not second.is_saved
    assert second.error == "disk full"
    assert run.saved_count == 1
    document = run.to_json()
    assert document["images"][0]["sha256"] == "cd" * 32 and document["status"] == "unsaved"


def test_disabled_ids_are_ignored(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    store.record_image(None, 0, "https://x/y.png")
    store.record_end(None, exit_code=0, error=None, usage=None, text="", request_id=None)
    assert store.count_runs() == 0


def test_an_image_of_a_cleared_run_is_not_resurrected(tmp_path: Path) -> None:
    warnings = Warnings()
    store = store_at(tmp_path / "history.db", warnings)
    run_id = start(store)
    assert store.delete_runs() == 1
    store.record_image(run_id, 0, "https://x/y.png")
    store.record_end(run_id, exit_code=0, error=None, usage=None, text="", request_id=None)
    assert store.count_runs() == 0 and warnings == []


def test_a_locked_database_warns_once_and_turns_history_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "history.db"
    store_at(path).close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        warnings = Warnings()
        store = store_at(path, warnings)
        assert (
            store.record_start(
                command="generate",
                model="m",
                provider="gateway",
                host="h",
                prompt="p",
                parameters={},
                references=[],
                output_dir=None,
            )
            is None
        )
        store.record_image(1, 0, "https://x/y.png")
        store.record_end(1, exit_code=0, error=None, usage=None, text="", request_id=None)
        assert len(warnings) == 1 and "locked" in warnings[0]
        assert store.disabled
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def test_download_threads_share_one_store(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    run_id = start(store)
    for index in range(32):
        store.record_image(run_id, index, f"https://x/{index}.png")

    def save(index: int) -> None:
        store.record_saved(run_id, index, f"/out/{index}.png", f"{index:064x}", index, None)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run = store.get_run(run_id)
    assert run is not None and run.saved_count == 32 and not store.disabled


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from wan_cli.history.store import open_store

    sys.stdin.readline()  # start together: every writer races, creation included
    warnings = []
    store = open_store(Path(sys.argv[1]), warn=warnings.append)
    assert store is not None, warnings
    for n in range(int(sys.argv[2])):
        run_id = store.record_start(
            command="generate", model="m", provider="gateway", host="h",
            prompt=f"writer {sys.argv[3]} run {n}", parameters={}, references=[],
            output_dir=None,
        )
        store.record_request_id(run_id, f"{sys.argv[3]}-{n}")
        store.record_image(run_id, 0, f"https://x/{sys.argv[3]}/{n}.png")
        store.record_saved(run_id, 0, "/out/x.png", "0" * 64, 1, None)
        store.record_end(run_id, exit_code=0, error=None, usage=None, text="t", request_id=None)
    store.close()
    print("\\n".join(warnings), file=sys.stderr)
    """
)


def test_eight_concurrent_writer_processes_lose_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.db"  # created by the racing writers themselves
    runs_each = 40
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(runs_each), str(number)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(8)
    ]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors
        assert errors.strip() == ""
    store = store_at(path)
    runs = store.list_runs(limit=None)
    assert len(runs) == 8 * runs_each
    assert all(run.status == "ok" and run.saved_count == 1 for run in runs)
    assert len({run.request_id for run in runs}) == 8 * runs_each


# -- queries ----------------------------------------------------------------------------------


def test_list_is_newest_first_and_filters(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    ok = start(store, "a red 100% lighthouse")
    store.record_end(ok, exit_code=0, error=None, usage=None, text="", request_id="req-ok")
    failed = start(store, "a blue boat")
    store.record_end(failed, exit_code=4, error="rejected", usage=None, text="", request_id=None)
    alive = start(store, "still running here")  # this process: alive
    dead = start(store, "killed mid-way")
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (_dead_pid(), dead))
    conn.commit()
    conn.close()

    assert [run.id for run in store.list_runs()] == [dead, alive, failed, ok]
    assert [run.id for run in store.list_runs(limit=2)] == [dead, alive]
    assert [run.id for run in store.list_runs(failed=True)] == [dead, failed]
    assert store.get_run(dead).status == "unfinished"  # type: ignore[union-attr]
    assert [run.id for run in store.list_runs(search="LIGHTHOUSE")] == [ok]
    assert [run.id for run in store.list_runs(search="100%")] == [ok]
    assert store.list_runs(search="1_0") == []  # LIKE wildcards are literal
    assert [run.id for run in store.list_runs(search="req-ok")] == [ok]


def test_a_task_row_from_submission_to_collected_images(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    run_id = start(store, "a task", parameters={"size": "1K"})
    store.record_task(run_id, "task-1", "PENDING")  # the submission's answer
    other = start(store, "a normal run")
    store.record_end(other, exit_code=0, error=None, usage=None, text="", request_id=None)

    row = store.find_task("task-1")
    assert row is not None and row.id == run_id
    assert (row.status, row.task_id, row.task_status) == ("task PENDING", "task-1", "PENDING")
    assert row.awaiting_task and row.finished is None
    assert store.find_task("task-2") is None
    assert [run.id for run in store.list_tasks()] == [run_id]

    # Pending on the service is not a failure, even once the submitting process is gone.
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (_dead_pid(), run_id))
    conn.commit()
    conn.close()
    store.record_task(run_id, "task-1", "RUNNING")
    row = store.get_run(run_id)
    assert row is not None and row.status == "task RUNNING" and row.task_status == "RUNNING"
    assert store.list_runs(failed=True) == []
    assert [run.id for run in store.list_runs(search="task-1")] == [run_id]

    # `wan task wait` fills the same row: running under this process, then ended.
    store.record_task(run_id, "task-1", "SUCCEEDED")
    assert store.get_run(run_id).status == "task SUCCEEDED"  # type: ignore[union-attr]
    assert store.record_resume(run_id, output_dir="/tmp/elsewhere") == run_id
    row = store.get_run(run_id)
    assert row is not None and row.status == "running" and not row.awaiting_task
    store.record_task(run_id, "task-1", "SUCCEEDED")  # a query meanwhile changes nothing
    assert store.get_run(run_id).status == "running"  # type: ignore[union-attr]
    store.record_image(run_id, 0, "https://x/0.png")
    store.record_saved(run_id, 0, "/tmp/elsewhere/a.png", "ab" * 32, 10, None)
    store.record_end(run_id, exit_code=0, error=None, usage=None, text="", request_id="req-2")
    row = store.get_run(run_id)
    assert row is not None
    assert (row.status, row.task_status, row.output_dir) == ("ok", "SUCCEEDED", "/tmp/elsewhere")
    assert row.saved_count == 1 and row.request_id == "req-2"
    assert row.to_json()["task_id"] == "task-1" and row.to_json()["task_status"] == "SUCCEEDED"
    assert store.count_runs() == 2 and store.list_runs(failed=True) == []


def test_tasks_that_ended_without_images_count_as_failed(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    ended = start(store, "moderated")
    store.record_task(ended, "task-f", "PENDING")
    store.record_task(ended, "task-f", "FAILED")
    store.record_end(ended, exit_code=4, error="task FAILED", usage=None, text="", request_id=None)
    unended = start(store, "canceled")  # a state seen, its row not ended (yet)
    store.record_task(unended, "task-c", "CANCELED")
    waiting = start(store, "waiting")
    store.record_task(waiting, "task-w", "PENDING")
    assert [run.id for run in store.list_runs(failed=True)] == [unended, ended]
    assert store.get_run(ended).status == "failed"  # type: ignore[union-attr]
    assert store.get_run(unended).status == "task CANCELED"  # type: ignore[union-attr]
    assert [run.id for run in store.list_tasks(2)] == [waiting, unended]


def test_resuming_a_cleared_row_or_without_history_gives_none(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    run_id = start(store)
    store.delete_runs()
    assert store.record_resume(run_id, output_dir=None) is None
    assert store.record_resume(None, output_dir=None) is None
    store.record_task(run_id, "task-1", "PENDING")
    assert store.count_runs() == 0


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_delete_before_a_date(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    now = datetime.now(UTC)
    old = start(store, created=now - timedelta(days=40))
    new = start(store, created=now)
    store.record_image(old, 0, "https://x/old.png")
    cutoff = now - timedelta(days=30)
    assert store.count_runs(before=cutoff) == 1
    assert store.delete_runs(before=cutoff) == 1
    assert [run.id for run in store.list_runs()] == [new]
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0
    assert store.delete_runs() == 1 and store.count_runs() == 0


# -- pure helpers -----------------------------------------------------------------------------


def test_history_path_follows_wan_history(tmp_path: Path) -> None:
    assert history_path({"WAN_HISTORY": str(tmp_path / "h.db")}) == tmp_path / "h.db"
    assert history_path({}).name == "history.db"


@pytest.mark.parametrize(
    ("code", "status"), [(0, "ok"), (7, "unsaved"), (130, "interrupted"), (4, "failed")]
)
def test_status_for(code: int, status: str) -> None:
    assert rows.status_for(code) == status


def test_parse_before() -> None:
    now = datetime(2025, 6, 10, tzinfo=UTC)
    assert rows.parse_before("30d", now) == now - timedelta(days=30)
    assert rows.parse_before("12h", now) == now - timedelta(hours=12)
    assert rows.parse_before("2025-01-31T12:00+00:00") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    local = rows.parse_before("2025-01-31")
    assert local == datetime(2025, 1, 31).astimezone().astimezone(UTC)
    with pytest.raises(UsageError):
        rows.parse_before("last tuesday")


def test_expired_reason() -> None:
    now = datetime(2025, 6, 10, tzinfo=UTC)
    fresh, stale = now - timedelta(hours=1), now - timedelta(hours=30)
    assert replay.expired_reason("HTTP 500 Internal Server Error", fresh, now) is None
    assert replay.expired_reason("timed out", fresh, now) is None
    forbidden = replay.expired_reason("HTTP 403 Forbidden", fresh, now)
    assert forbidden is not None and "expired" in forbidden and "403" in forbidden
    old = replay.expired_reason("connection failed", stale, now)
    assert old is not None and "30 h old" in old and "24 hours" in old


def test_recorded_request_replays_a_run(tmp_path: Path) -> None:
    store = store_at(tmp_path / "history.db")
    run_id = start(
        store,
        command="edit",
        parameters={"n": 2, "size": "1K", "seed": 3, "prompt_extend": False, "stream": True},
        references=[
            {"kind": "file", "source": "a.png", "path": "/abs/a.png"},
            {"kind": "url", "source": "https://x/b.png", "url": "https://x/b.png"},
        ],
    )
    run = store.get_run(run_id)
    assert run is not None
    request = replay.recorded_request(run)
    assert request.mode == "edit" and request.prompt == run.prompt
    assert request.refs == ("/abs/a.png", "https://x/b.png")
    assert (request.n, request.size, request.seed, request.prompt_extend) == (2, "1K", 3, False)
    assert request.max_images is None
    assert replay.recorded_request(run, with_refs=False).refs == ()
    with pytest.raises(UsageError, match="inline"):
        replay.ref_source({"kind": "data", "source": "data:image/png;base64,…"}, 1)


def test_changed_file_refs(tmp_path: Path) -> None:
    import hashlib

    ref = tmp_path / "ref.png"
    ref.write_bytes(b"one")
    digest = hashlib.sha256(b"one").hexdigest()
    described = [{"kind": "file", "path": str(ref), "sha256": digest}]
    assert replay.changed_file_refs(described) == []
    ref.write_bytes(b"two")
    assert replay.changed_file_refs(described) == [f"{ref} has changed since the run"]
    os.unlink(ref)
    assert len(replay.changed_file_refs(described)) == 1

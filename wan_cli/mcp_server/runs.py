"""The history tools: `list_runs`, `get_run` and `save_run_images` (the rescue of a run's
unsaved images, `history.recover` as `wan history download` uses it). Synchronous; the
database is opened and closed by each call, in its worker thread."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_cli.errors import ExitCode, SaveFailed, UsageError, WanError
from wan_cli.mcp_server.results import Answer, error_answer, previews
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.history import RunRow, Store
    from wan_cli.mcp_server.calls import Session

MAX_LIST = 100


def list_runs(session: Session, search: str | None, limit: int) -> Answer:
    from wan_cli.ui.history_view import columns

    try:
        store = _existing(session)
        runs = []
        if store is not None:
            with store.reading():
                runs = store.list_runs(limit=limit, search=search or None)
    except WanError as error:
        return error_answer(error)
    rows = [_summary(run) for run in runs]
    if not runs:
        text = "no runs recorded yet" if search is None else "no matching runs"
    else:
        text = "\n".join("  ".join(columns(run)) for run in runs)
        text = "ID  CREATED  COMMAND  STATUS  SAVED/IMAGES  PROMPT\n" + text
    return Answer(text, {"runs": rows})


def get_run(session: Session, run_id: int) -> Answer:
    from wan_cli.ui.history_view import describe_run

    try:
        store = _required(session)
        with store.reading():
            run = _found(store, run_id)
    except WanError as error:
        return error_answer(error)
    shown, notes = previews(path for path in run.saved_paths() if path.exists())
    text = "\n".join([*describe_run(run), *notes])
    return Answer(text, {"run": run.to_json()}, shown)


def save_run_images(session: Session, run_id: int) -> Answer:
    """Save a recorded run's images that are not on disk, into the run's own directory."""
    from wan_cli.history.recover import save_recorded_images
    from wan_cli.ui.output import Output

    # recover prints paths on stdout and failures on stderr: both kept for the answer.
    results, messages = io.StringIO(), io.StringIO()
    captured = Output(stdout=results, stderr=messages, fancy=False)
    try:
        store = _required(session)
        with store.reading():
            run = _found(store, run_id)
            code = save_recorded_images(captured, store, run, None, no_metadata=False)
            run = _found(store, run_id)
    except WanError as error:
        return error_answer(error, {"run_id": run_id})
    finally:
        session.out.stderr.write(messages.getvalue())  # the log shows what happened
    paths = results.getvalue().splitlines()
    failures = [line for line in messages.getvalue().splitlines() if line.startswith("error:")]
    structured: dict[str, Any] = {"ok": code == ExitCode.OK, "run_id": run_id, "paths": paths}
    structured["run"] = run.to_json()
    if code != ExitCode.OK:
        unsaved = SaveFailed(
            f"{len(failures) or 'some'} image(s) of run {run_id} could not be saved",
            hint="expired links cannot be renewed: generating again is billed again",
        )
        return error_answer(unsaved, structured, [*failures, *paths])
    shown, notes = previews(Path(path) for path in paths)
    text = "\n".join([f"run {run_id}: {plural(len(paths), 'image')} on disk:", *paths, *notes])
    return Answer(text, structured, shown)


def _summary(run: RunRow) -> dict[str, Any]:
    from wan_cli.history import format_time

    return {
        "id": run.id,
        "created": format_time(run.created),
        "command": run.command,
        "provider": run.provider,
        "status": run.status,
        "prompt": run.prompt,
        "images": len(run.images),
        "saved": run.saved_count,
        "paths": [str(path) for path in run.saved_paths()],
        "request_id": run.request_id,
        "error": run.error,
    }


def _found(store: Store, run_id: int) -> RunRow:
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in history", hint="list_runs shows the runs")
    return run


def _existing(session: Session) -> Store | None:
    """The history database, or None when nothing was recorded yet (UsageError: unreadable)."""
    from wan_cli.history import history_path, open_existing

    return open_existing(history_path(), warn=session.out.warn)


def _required(session: Session) -> Store:
    from wan_cli.history import history_path

    store = _existing(session)
    if store is None:
        raise UsageError(f"no history yet ({history_path()} does not exist)")
    return store

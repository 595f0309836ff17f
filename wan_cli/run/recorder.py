"""One run's history, as one object: its row is opened before the request is sent, then each
request id, image URL, saved file, task state and the end are written through it.

With history off (or unusable) the run gets `NULL_RECORDER`, which records nothing, so the
run's code never asks whether history is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from wan_cli.files.download import SavedImage
    from wan_cli.history import Store
    from wan_cli.run.model import Job


class Recorder(Protocol):
    """What a run writes to history (the row `id`; None when nothing is recorded)."""

    @property
    def id(self) -> int | None: ...

    def request_id(self, request_id: str) -> None: ...

    def image(
        self, index: int, url: str | None, text: str, usage: Mapping[str, Any] | None
    ) -> None:
        """An image arrived: the answer so far, then its URL, before its download starts."""

    def saved(self, saved: SavedImage) -> None: ...

    def task(self, task_id: str, state: str) -> None: ...

    def end(
        self,
        code: int,
        error: str | None,
        *,
        usage: Mapping[str, Any] | None = None,
        text: str = "",
        request_id: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class NullRecorder:
    """History is off: every call does nothing."""

    @property
    def id(self) -> int | None:
        return None

    def request_id(self, request_id: str) -> None:
        pass

    def image(
        self, index: int, url: str | None, text: str, usage: Mapping[str, Any] | None
    ) -> None:
        pass

    def saved(self, saved: SavedImage) -> None:
        pass

    def task(self, task_id: str, state: str) -> None:
        pass

    def end(
        self,
        code: int,
        error: str | None,
        *,
        usage: Mapping[str, Any] | None = None,
        text: str = "",
        request_id: str | None = None,
    ) -> None:
        pass


NULL_RECORDER = NullRecorder()


@dataclass(frozen=True)
class HistoryRecorder:
    """A run's row in the history store."""

    store: Store
    row_id: int

    @property
    def id(self) -> int | None:
        return self.row_id

    def request_id(self, request_id: str) -> None:
        self.store.record_request_id(self.row_id, request_id)

    def image(
        self, index: int, url: str | None, text: str, usage: Mapping[str, Any] | None
    ) -> None:
        self.store.record_progress(self.row_id, text, usage)
        self.store.record_image(self.row_id, index, url)

    def saved(self, saved: SavedImage) -> None:
        ok = saved.error is None and saved.path is not None
        self.store.record_saved(
            self.row_id,
            saved.index,
            # Absolute: `history download -o rel/` from one folder, found again from any other.
            str(saved.path.absolute()) if saved.path is not None else None,
            saved.sha256,
            saved.bytes if ok else None,
            saved.error,
        )

    def task(self, task_id: str, state: str) -> None:
        self.store.record_task(self.row_id, task_id, state)

    def end(
        self,
        code: int,
        error: str | None,
        *,
        usage: Mapping[str, Any] | None = None,
        text: str = "",
        request_id: str | None = None,
    ) -> None:
        self.store.record_end(
            self.row_id,
            exit_code=int(code),
            error=error,
            usage=usage,
            text=text,
            request_id=request_id,
        )


def existing_row(store: Store | None, row_id: int | None) -> Recorder:
    """The recorder of a row already in history (`history download`, a task's row)."""
    if store is None or row_id is None:
        return NULL_RECORDER
    return HistoryRecorder(store, row_id)


def start_run(
    store: Store | None,
    job: Job,
    *,
    model: str,
    provider: str,
    output_dir: Path,
    created: datetime | None = None,
) -> Recorder:
    """Open the run's row before anything is sent: a new row, or the job's existing row (a
    task collected by `wan task wait`) made "running" again here."""
    if store is None:
        return NULL_RECORDER
    directory = str(output_dir.absolute())
    if job.history_id is not None:
        resumed = store.record_resume(job.history_id, output_dir=directory)
        if resumed is not None:
            return HistoryRecorder(store, resumed)
    row_id = store.record_start(
        command=job.command,
        model=model,
        provider=provider,
        host=job.host,
        prompt=job.prompt,
        parameters=job.parameters,
        references=job.references,
        output_dir=directory,
        created=created,
        rerun_of=job.rerun_of,
    )
    return NULL_RECORDER if row_id is None else HistoryRecorder(store, row_id)

"""The data of a run: what it is configured with (`RunConfig`), what was asked (`Job`), what it
has learned so far (`RunRecord`), and the two seams a caller plugs in: where the events come from
(`EventSource`) and how many runs share one pace (`Pacer`, `wan batch`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wan_cli.api.events import Event, ImageRef, Usage
from wan_cli.api.request import url_host
from wan_cli.errors import WanError
from wan_cli.run.recorder import NULL_RECORDER, Recorder

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.request import PreparedRequest
    from wan_cli.files.download import SavedImage
    from wan_cli.history import Store
    from wan_cli.ui.render import View


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs besides the request itself."""

    api_key: str
    model: str
    provider: str
    timeout: float
    retries: int
    output_dir: Path
    deadline: float | None = None  # seconds for the whole run (answer and downloads); None: none
    json_output: bool = False
    metadata: bool = True
    max_download_bytes: int = 200 * 1024 * 1024
    history: Store | None = field(default=None, compare=False)  # None: not recorded
    preview: str | None = None  # draw saved images on a TTY: a protocol name or "auto"


@dataclass(frozen=True)
class Job:
    """What was asked for: the facts every saved image's provenance repeats."""

    prompt: str
    parameters: dict[str, Any]
    references: tuple[dict[str, object], ...] = ()
    command: str = "generate"
    host: str = ""  # where the request goes (host[:port]), for history
    rerun_of: int | None = None  # the history id this run repeats
    name: str | None = None  # file-name stem chosen by the user: `{name}-{i}.ext`
    history_id: int | None = None  # an existing row to fill (a task's, `wan task wait`)

    @property
    def images_asked(self) -> int | None:
        """How many images the request asked for: edit's `n`, generate's `max_images` (always
        sent by `wan`); None when the parameters do not say (a task submitted elsewhere)."""
        value = self.parameters.get("n" if self.command == "edit" else "max_images")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        return None


def job_for(
    prepared: PreparedRequest,
    prompt: str,
    *,
    rerun_of: int | None = None,
    name: str | None = None,
) -> Job:
    """The Job of a request about to be sent (its parameters are the request body's)."""
    return Job(
        prompt=prompt,
        parameters=dict(prepared.body.get("parameters", {})),
        references=tuple(ref.describe() for ref in prepared.refs),
        command=prepared.mode,
        host=url_host(prepared.url),
        rerun_of=rerun_of,
        name=name,
    )


class Pacer(Protocol):
    """One pace shared by many requests in flight (`wan batch`): one API client (connections
    reused), wait before sending, slow everyone down when one is told to retry, and a cancel
    that can abort blocking network I/O."""

    def before_send(self) -> None:
        """Block until sending is allowed; raise `Interrupted` if the batch was cancelled."""

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        """The client will send again after `delay` seconds (Retry-After or backoff)."""

    def sleep(self, seconds: float) -> None:
        """Wait before a retry (at least `seconds`); raise `Interrupted` when cancelled."""

    def api_client(self) -> httpx.Client:
        """The API client every request sharing this pace uses (its owner closes it)."""


# Opens the answer and yields its events; given the view so it can report retries.
EventSource = Callable[["View"], AbstractContextManager[Iterator[Event]]]


def _already_set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class RunRecord:
    """What the run has learned so far (mutated only by the main thread)."""

    started: float = field(default_factory=time.monotonic)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_id: str | None = None
    text: list[str] = field(default_factory=list)
    text_size: int = 0  # characters in `text`, to bound it (consume.TEXT_LIMIT)
    usage: Usage | None = None
    images: list[ImageRef] = field(default_factory=list)
    # Images beyond the number asked for: recorded (history, --json), never downloaded.
    extra: list[ImageRef] = field(default_factory=list)
    saved: dict[int, SavedImage] = field(default_factory=dict)
    error: WanError | None = None
    task_id: str | None = None
    recorder: Recorder = NULL_RECORDER  # the run's history row (opened by `consume_events`)
    # Set once the answer is over (ended, failed or cut): provenance waits for it, so each
    # image records the run's whole text and final usage. Set from the start for a record
    # that is not fed by a live answer (history download, a finished task).
    answer_over: threading.Event = field(default_factory=_already_set, repr=False)

    @property
    def full_text(self) -> str:
        return "".join(self.text)

    @property
    def history_id(self) -> int | None:
        return self.recorder.id

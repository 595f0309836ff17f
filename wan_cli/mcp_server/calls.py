"""The work behind `generate_image` and `edit_image`, synchronous (the server runs each call in
a worker thread): typed options → `run.assemble.run_for_document`, the CLI's own path (the
same request, downloads, names, provenance and history as `wan generate --json`).

The session's budget is checked with the exact request, after it is built and before it is
sent; the images the run delivered are then charged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wan_cli.errors import WanError
from wan_cli.mcp_server.budget import DEFAULT_SESSION_IMAGES, Budget
from wan_cli.mcp_server.progress import ProgressView
from wan_cli.mcp_server.results import Answer, Spent, error_answer, run_answer
from wan_cli.run.options import RequestOptions, SettingFlags
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.api.request import PreparedRequest
    from wan_cli.settings import Settings
    from wan_cli.ui.output import Output


@dataclass(frozen=True)
class ServerOptions:
    """What `wan mcp` was told: the settings layer of its flags and the session's limits."""

    settings: SettingFlags = field(default_factory=SettingFlags)
    max_images: int = DEFAULT_SESSION_IMAGES
    verbose: bool = False


class Session:
    """What every call of one server shares: its options, the image budget and the log."""

    def __init__(self, options: ServerOptions, out: Output) -> None:
        self.options = options
        self.out = out
        self.budget = Budget(options.max_images)
        self.secrets: tuple[str, ...] = ()
        self.timeout = 60.0

    def check_settings(self) -> Settings:
        """The settings as they are now (an unknown profile fails here, at start-up); the key
        is remembered so that no answer can ever carry it."""
        from wan_cli.run.assemble import command_settings

        settings = command_settings(self.options.settings, self.out)
        if settings.api_key:
            self.secrets = (settings.api_key,)
        self.timeout = settings.timeout
        return settings


class CallCancel:
    """A call's cancel: set by the server (the client cancelled, or the server stops); a run
    registers how to stop at once (`on_cancel`), e.g. shutting the sockets it reads from."""

    def __init__(self) -> None:
        from wan_cli.run.stopping import Cancel

        self.event = Cancel()  # the run's cancel (a batch line's kind)
        self._lock = threading.Lock()
        self._aborts: list[Callable[[], None]] = []

    def on_cancel(self, abort: Callable[[], None]) -> None:
        with self._lock:
            if not self.event.is_set():
                self._aborts.append(abort)
                return
        abort()

    def set(self) -> None:
        with self._lock:
            self.event.set()
            aborts, self._aborts = self._aborts, []
        for abort in aborts:
            abort()


def make_images(
    session: Session,
    request: RequestOptions,
    report: Callable[[str], None],
    cancel: CallCancel,
) -> Answer:
    """One generate or edit run; every failure comes back as an error answer."""
    from wan_cli.batch.pacing import BatchPacer
    from wan_cli.run.assemble import run_for_document
    from wan_cli.run.options import GenerateOptions, OutputFlags
    from wan_cli.ui.render import PlainView

    reserved = 0

    def before_send(prepared: PreparedRequest) -> None:
        nonlocal reserved
        count = images_asked(prepared.body)
        session.budget.reserve(count)
        reserved = count

    options = GenerateOptions(
        request=request,
        settings=session.options.settings,
        output=OutputFlags(verbose=session.options.verbose),
    )
    view = ProgressView(PlainView(session.out), report)
    # A batch's pacer, for its cancel: it shuts the sockets a run is blocked reading from.
    pacer = BatchPacer(cancel.event, timeout=session.timeout)
    cancel.on_cancel(pacer.abort)
    try:
        result = run_for_document(
            options,
            session.out,
            view,
            before_send=before_send,
            pacer=pacer,
            cancel=cancel.event,
        )
    except WanError as error:  # before anything was sent
        session.budget.settle(reserved, 0)
        return error_answer(error, Spent(0, session.budget.state()).to_json())
    except BaseException:
        session.budget.settle(reserved, reserved)  # a bug mid-run: count what may be billed
        raise
    finally:
        view.close()
        pacer.close()
    delivered = images_delivered(result.document)
    session.budget.settle(reserved, delivered)
    run_id = result.document.get("history_id")
    session.out.info(f"run {run_id}: exit {int(result.code)}, {plural(delivered, 'image')}")
    return run_answer(result.document, result.error, Spent(delivered, session.budget.state()))


def images_asked(body: Mapping[str, Any]) -> int:
    """The most images a request can bring: its `max_images` (generate) or `n` (edit)."""
    parameters = body.get("parameters") or {}
    value = parameters.get("max_images", parameters.get("n", 1))
    return value if isinstance(value, int) and value > 0 else 1


def images_delivered(document: Mapping[str, Any]) -> int:
    """Images the service delivered (each billed, saved or not)."""
    count = len(document.get("images") or [])
    usage = document.get("usage") or {}
    reported = usage.get("image_count") if isinstance(usage, dict) else None
    return max(count, reported) if isinstance(reported, int) else count

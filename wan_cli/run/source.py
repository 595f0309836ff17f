"""Where a run's events come from: the API's answer (POST, retries, then the answer's content
type picks the translation), or, for `wan task wait`, a finished task's answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from wan_cli.api.events import Event, StreamCut
from wan_cli.api.request import url_without_password
from wan_cli.errors import ServiceUnavailable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import httpx

    from wan_cli.api.abort import ReadScope
    from wan_cli.api.intake import ServiceAnswer
    from wan_cli.api.request import PreparedRequest
    from wan_cli.run.model import EventSource, Pacer, RunConfig
    from wan_cli.ui.output import Output
    from wan_cli.ui.render import View


def answer_events(answer: ServiceAnswer) -> Iterator[Event]:
    """Pick the translation for the answer's content type (a gateway may not stream). The body
    comes bounded and redacted from `intake`; JSON too deep to read is a StreamCut (exit 6)."""
    from wan_cli.api import events, jsontext, sse

    content_type = answer.content_type
    if "text/event-stream" in content_type.lower():
        yield from events.events_from_sse(sse.iter_sse(answer.stream()))
        return
    raw = answer.read()
    try:
        document = jsontext.loads(raw)
    except jsontext.TooDeep as error:
        yield StreamCut(f"the answer is unreadable: {error}")
        return
    except ValueError:
        if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"data:", b"event:", b"id:", b":")):
            # A stream under another (or no) content type, e.g. relabelled by a proxy.
            yield from events.events_from_sse(sse.iter_sse([raw]))
            return
        snippet = raw[:80].decode("utf-8", "replace")
        yield StreamCut(
            f"the answer is not JSON ({content_type or 'no content type'}): {snippet!r}"
        )
        return
    yield from events.events_from_json(document, status=answer.status_code)


def api_answer(
    prepared: PreparedRequest, config: RunConfig, out: Output, pacer: Pacer | None = None
) -> EventSource:
    """The event source of a normal run: POST the request, then translate the answer.

    With a `pacer` (batch), the request goes through its client, sending waits for it, and
    retries slow every request sharing it.
    """

    @contextmanager
    def source(view: View) -> Iterator[Iterator[Event]]:
        from contextlib import nullcontext

        from wan_cli.api.abort import abortable, current_scope
        from wan_cli.api.client import RetryPolicy, make_api_client, open_answer

        on_retry: Callable[[int, float, str], None] = view.retrying
        sleep: Callable[[float], None] = time.sleep
        if pacer is not None:
            pacer.before_send()
            on_retry = _both(pacer.retrying, view.retrying)
            sleep = pacer.sleep
        scope = current_scope()  # the run's (`consume_events`): stopped, it sends no retry
        if scope is not None:
            sleep = _unless_stopped(sleep, scope)
        view.waiting(_sending_to(prepared, config))
        client: AbstractContextManager[httpx.Client]
        if pacer is not None:
            client = nullcontext(pacer.api_client())  # the pacer's: abortable already
        else:
            own = make_api_client(config.timeout)
            abortable(own)  # its reads join the run's ReadScope: its deadline can end them
            client = own
        with (
            client as api,
            open_answer(
                api,
                prepared,
                config.api_key,
                RetryPolicy(retries=config.retries),
                on_retry=on_retry,
                sleep=sleep,
                log=out.detail if out.verbose else None,
            ) as answer,
        ):
            view.waiting(f"waiting for the first words or image from {config.model}")
            yield answer_events(answer)

    return source


def _unless_stopped(sleep: Callable[[float], None], scope: ReadScope) -> Callable[[float], None]:
    """The wait before a retry, cut short when the run is stopped (its deadline passed): then
    nothing is sent again."""

    def wait(seconds: float) -> None:
        if sleep is time.sleep:
            stopped = scope.wait(seconds)
        else:
            sleep(seconds)
            stopped = scope.aborted
        if stopped:
            raise ServiceUnavailable("the run was stopped before sending again")

    return wait


def _both(
    first: Callable[[int, float, str], None], second: Callable[[int, float, str], None]
) -> Callable[[int, float, str], None]:
    def call(attempt: int, delay: float, why: str) -> None:
        first(attempt, delay, why)
        second(attempt, delay, why)

    return call


def _sending_to(prepared: PreparedRequest, config: RunConfig) -> str:
    from wan_cli.providers import MOCK

    if config.provider == MOCK:
        return f"sending to the offline mock (nothing is billed): {config.model}"
    # The full URL (a password masked), so a wrong base URL shows before the service answers.
    return f"sending to {url_without_password(prepared.url)}: {config.model}"

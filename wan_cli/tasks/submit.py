"""Submitting an async task (`wan generate|edit --async`): recorded in history before the
request is sent, like every run; the task id (or, with --json, the service's answer) printed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_cli.api.request import url_host
from wan_cli.errors import ExitCode, Interrupted, WanError
from wan_cli.run.recorder import start_run
from wan_cli.tasks.protocol import create_task, task_error
from wan_cli.tasks.rows import row_error
from wan_cli.tasks.session import warn_retry

if TYPE_CHECKING:
    from wan_cli.api.request import PreparedRequest
    from wan_cli.run.model import Job, RunConfig
    from wan_cli.ui.output import Output


def submit_task(prepared: PreparedRequest, config: RunConfig, out: Output, job: Job) -> ExitCode:
    """Send an async request; print the task id (or, with --json, the service's answer).

    The task is recorded in history before the request is sent, like every run. Errors are
    raised (the CLI prints them); the history row is ended with their exit code first.
    """
    from wan_cli.api.client import make_api_client

    recorder = start_run(
        config.history,
        job,
        model=config.model,
        provider=config.provider,
        output_dir=config.output_dir,
    )
    out.info(f"submitting an async task to {url_host(prepared.url)}: {config.model}")
    try:
        with make_api_client(config.timeout) as client:
            status = create_task(
                client,
                prepared,
                config.api_key,
                config.retries,
                on_retry=warn_retry(out),
                log=out.detail if out.verbose else None,
            )
    except KeyboardInterrupt:
        recorder.end(ExitCode.INTERRUPTED, "interrupted while submitting")
        raise Interrupted(
            "interrupted while submitting",
            hint="the task may have been created on the service, but its id never arrived",
        ) from None
    except WanError as error:
        recorder.end(error.exit_code, error.message)
        raise
    ended = task_error(status)
    if status.request_id:
        recorder.request_id(status.request_id)
    recorder.task(status.task_id, status.state)
    if ended is not None:
        recorder.end(ended.exit_code, row_error(status))
    if ended is not None:  # the task exists but has already ended without images
        raise ended
    if config.json_output:
        out.result_json(dict(status.document))
    else:
        out.result(status.task_id)
    out.info(
        f"task {status.task_id} submitted ({status.state}); collect the images with "
        f"`wan task wait {status.task_id}` within 24 hours"
    )
    return ExitCode.OK

"""`wan task …`: status, wait, cancel and list DashScope async tasks. Wiring only (see tasks/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wan_cli.cli.completion_values import complete_task_id
from wan_cli.cli.options import ApiKey, Profile, Quiet, Verbose

if TYPE_CHECKING:
    from wan_cli.tasks.session import TaskFlags

task_app = typer.Typer(
    help="Async tasks (DashScope): check, wait for and download, cancel, or list tasks "
    "submitted with `wan generate|edit --async`.\n\n"
    "Exit codes of a task's end: SUCCEEDED as a normal run · FAILED by the service's code "
    "(moderation 4, service error 6…) · CANCELED 4 · UNKNOWN (expired or not found) 4 · "
    "wait --timeout elapsed 6 · Ctrl-C 130."
    "\n\nExamples:\n\n\b\n  wan task list"
    "\n  wan task wait 0385dc79-5ff8-4d82-bcb6-3b07a5c2a1e9 -o out/",
    no_args_is_help=True,
)

TaskId = Annotated[
    str,
    typer.Argument(
        metavar="TASK_ID",
        help="The id printed by `wan generate --async`.",
        autocompletion=complete_task_id,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help="DashScope API base URL (the region the task was submitted to).",
        show_default=False,
    ),
]
Retries = Annotated[
    int | None,
    typer.Option(
        "--retries",
        metavar="N",
        help="Retries of each request on 429/5xx/network errors (default 2).",
        show_default=False,
    ),
]
NoHistory = Annotated[
    bool, typer.Option("--no-history", help="Neither read nor update history for this command.")
]


def _flags(
    profile: str | None,
    base_url: str | None,
    api_key: str | None,
    retries: int | None,
    json_output: bool,
    quiet: bool,
    verbose: bool,
    no_history: bool,
) -> TaskFlags:
    from wan_cli.tasks.session import TaskFlags

    return TaskFlags(
        profile=profile,
        base_url=base_url,
        api_key=api_key,
        retries=retries,
        json_output=json_output,
        quiet=quiet,
        verbose=verbose,
        no_history=no_history,
    )


def _exit(code: int) -> None:
    if code:
        raise typer.Exit(int(code))


@task_app.command("status")
def status(
    task_id: TaskId,
    json_output: JsonOut = False,
    profile: Profile = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    retries: Retries = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    no_history: NoHistory = False,
) -> None:
    """Ask once: prints the task's state (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED,
    UNKNOWN); exits 0 whenever the question was answered.

    Example:

      wan task status 0385dc79-5ff8-4d82-bcb6-3b07a5c2a1e9 --json

    Examples:

    \b
      wan task status 0385dc79-5ff8-4d82-bcb6-3b07a5c2a1e9
    """
    from wan_cli.tasks.commands import task_status

    flags = _flags(profile, base_url, api_key, retries, json_output, quiet, verbose, no_history)
    _exit(task_status(flags, task_id))


@task_app.command("wait")
def wait(
    task_id: TaskId,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Give up waiting after this long (exit 6; the task keeps running).",
            show_default=False,
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            metavar="DIR",
            help="Where to save images (default: where the task was submitted from).",
            show_default=False,
        ),
    ] = None,
    no_metadata: Annotated[
        bool,
        typer.Option(
            "--no-metadata", help="Do not write provenance (sidecar JSON, PNG text chunks)."
        ),
    ] = False,
    json_output: JsonOut = False,
    profile: Profile = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    retries: Retries = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    no_history: NoHistory = False,
) -> None:
    """Wait for a task to finish, then download its images exactly like a normal run.

    Polls every 2 s, slowing to every 10 s. Ctrl-C stops waiting, not the task: run the same
    command again to resume.

    Example:

      wan task wait 0385dc79-5ff8-4d82-bcb6-3b07a5c2a1e9 --timeout 600 -o out/

    Examples:

    \b
      wan task wait 0385dc79-5ff8-4d82-bcb6-3b07a5c2a1e9 -o out/
    """
    from wan_cli.tasks.wait import task_wait

    flags = _flags(profile, base_url, api_key, retries, json_output, quiet, verbose, no_history)
    _exit(
        task_wait(flags, task_id, timeout=timeout, output_dir=output_dir, metadata=not no_metadata)
    )


@task_app.command("cancel")
def cancel(
    task_id: TaskId,
    json_output: JsonOut = False,
    profile: Profile = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    retries: Retries = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    no_history: NoHistory = False,
) -> None:
    """Cancel a task that has not started (PENDING). A RUNNING task cannot be cancelled
    (exit 4): it finishes and is billed.

    Examples:

    \b
      wan task cancel 0385dc79-5ff8-4d82-bcb6-3b07a5c2a1e9
    """
    from wan_cli.tasks.commands import task_cancel

    flags = _flags(profile, base_url, api_key, retries, json_output, quiet, verbose, no_history)
    _exit(task_cancel(flags, task_id))


@task_app.command("list")
def list_tasks(
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="Show at most N tasks (0: all).")
    ] = 20,
    json_output: JsonOut = False,
    quiet: Quiet = False,
) -> None:
    """Tasks submitted from this machine (from history), newest first, with their last known
    state (as last seen by submit, status or wait). Sends nothing.

    Examples:

    \b
      wan task list
      wan task list --json
    """
    from wan_cli.tasks.commands import task_list
    from wan_cli.tasks.session import TaskFlags

    if limit < 0:
        from wan_cli.errors import UsageError

        raise UsageError(f"--limit must be 0 or more, got {limit}")
    _exit(task_list(TaskFlags(json_output=json_output, quiet=quiet), limit=limit or None))

"""How `wan history` shows recorded runs: the list (a table on a terminal, plain columns
otherwise) and one run's full account. Service text is sanitized: it reaches a terminal."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wan_cli.providers import MOCK
from wan_cli.tasks.states import FAILURE_STATES
from wan_cli.ui.output import is_terminal, sanitize

if TYPE_CHECKING:
    from wan_cli.history.rows import ImageRow, RunRow
    from wan_cli.ui.output import Output

PROMPT_WIDTH = 60
HEADERS = ("ID", "CREATED", "COMMAND", "STATUS", "IMAGES", "PROMPT")


def local_time(when: datetime, *, seconds: bool = False) -> str:
    """A recorded (UTC) time in the user's local time, to the minute or to the second."""
    return str(when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"))


# -- the list -------------------------------------------------------------------------------


def print_runs(out: Output, runs: list[RunRow]) -> None:
    """One row per run on stdout: a table on a terminal, plain columns otherwise."""
    rows = [columns(run) for run in runs]
    if is_terminal(out.stdout):
        print_table(out, rows)
    else:
        print_plain(out, rows)


def columns(run: RunRow) -> tuple[str, ...]:
    prompt = " ".join(sanitize(run.prompt).split())
    if len(prompt) > PROMPT_WIDTH:
        prompt = prompt[: PROMPT_WIDTH - 1] + "…"
    images = f"{run.saved_count}/{len(run.images)}"
    status = sanitize(run.status)  # a task's state is the service's word
    # A mock run is never to be mistaken for a paid one.
    command = f"{run.command} (mock)" if run.provider == MOCK else run.command
    return (str(run.id), local_time(run.created), command, status, images, prompt)


def print_plain(out: Output, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS) - 1)]
    for row in [HEADERS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.result("  ".join([*cells, row[-1]]).rstrip())


def print_table(out: Output, rows: list[tuple[str, ...]]) -> None:
    import os

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from wan_cli.ui.output import color_allowed

    colour = color_allowed(out.stdout, os.environ)
    table = Table(box=None, header_style="bold" if colour else "", pad_edge=False)
    for header in HEADERS:
        table.add_column(header, no_wrap=header != "PROMPT", overflow="ellipsis")
    styles = {"ok": "green", "running": "cyan"}
    task_failures = tuple(FAILURE_STATES)
    for row in rows:
        status = row[3]
        waiting = status.startswith("task") and not status.endswith(task_failures)
        style = ("cyan" if waiting else styles.get(status, "red")) if colour else ""
        # Cells are plain text: rich must not read `[...]` in a prompt as markup.
        table.add_row(*(Text(cell, style=style if i == 3 else "") for i, cell in enumerate(row)))
    Console(file=out.stdout, no_color=not colour, highlight=False).print(table)


# -- one run --------------------------------------------------------------------------------


def describe_run(run: RunRow) -> list[str]:
    """The human-readable account of a run (service text sanitized: it reaches a terminal)."""

    def field(label: str, value: object) -> str:
        return f"{label:<11}{sanitize(str(value))}"

    code = f" (exit {run.exit_code})" if run.exit_code is not None else ""
    mock = " · offline mock (not billed)" if run.provider == MOCK else ""
    lines = [f"run {run.id} · {run.command} · {sanitize(run.status)}{code}{mock}"]
    if run.rerun_of is not None:
        lines.append(field("rerun of", run.rerun_of))
    lines.append(field("created", local_time(run.created, seconds=True)))
    if run.finished is not None:
        seconds = (run.finished - run.created).total_seconds()
        finished = local_time(run.finished, seconds=True)
        lines.append(field("finished", f"{finished} ({seconds:.1f} s)"))
    lines.append(field("model", f"{run.model} via {run.provider} ({run.host})"))
    if run.request_id:
        lines.append(field("request id", run.request_id))
    if run.task_id:
        lines.append(field("task", f"{run.task_id} ({run.task_status or 'unknown'})"))
    lines.append(field("prompt", run.prompt))
    params = {k: v for k, v in run.parameters.items() if k != "negative_prompt"}
    if "negative_prompt" in run.parameters:
        lines.append(field("negative", run.parameters["negative_prompt"]))
    lines.append(field("parameters", json.dumps(params, ensure_ascii=False)))
    for number, ref in enumerate(run.references, 1):
        lines.append(field(f"ref {number}", describe_ref(ref)))
    if run.output_dir:
        lines.append(field("output dir", run.output_dir))
    if run.usage:
        lines.append(field("usage", json.dumps(run.usage, ensure_ascii=False)))
    if run.error:
        lines.append(field("error", run.error))
    if run.images:
        lines.append("images")
        for image in run.images:
            lines.extend(describe_image(image))
    if run.text:
        lines.append("text")
        lines.extend(f"  {line}" for line in sanitize(run.text).splitlines())
    return lines


def describe_ref(ref: dict[str, Any]) -> str:
    where = ref.get("path") or ref.get("url") or ref.get("source") or "?"
    facts = [str(ref.get("kind", "?")), str(where)]
    if ref.get("bytes") is not None:
        facts.append(f"{ref['bytes']} bytes")
    if ref.get("sha256"):
        facts.append(f"sha256 {ref['sha256']}")
    return " · ".join(facts)


def describe_image(image: ImageRow) -> list[str]:
    number = f"  {image.index + 1}. "
    if image.is_saved:
        head = f"saved {image.path} ({image.bytes} bytes, sha256 {image.sha256})"
    elif image.error:
        head = f"not saved: {image.error}"
    elif image.saved is None:
        head = "not saved yet"
    else:
        head = "not saved"
    lines = [number + sanitize(head)]
    pad = " " * len(number)
    if image.url:
        lines.append(pad + "url " + sanitize(image.url))
    elif image.inline:
        lines.append(pad + "(sent inline, no URL)")
    return lines

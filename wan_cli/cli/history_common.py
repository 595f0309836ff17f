"""What the `wan history` commands share: their arguments, and opening and reading history.

The database is opened by `history.open_existing`: nothing is created by merely looking, and a
database error becomes one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wan_cli.cli.completion_values import complete_run_id

if TYPE_CHECKING:
    from wan_cli.history import RunRow, Store
    from wan_cli.ui.output import Output

RunId = Annotated[
    int,
    typer.Argument(
        metavar="ID", help="The run's id (see `wan history`).", autocompletion=complete_run_id
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        "-o",
        metavar="DIR",
        help="Where to save images.",
        show_default=False,
    ),
]


def output() -> Output:
    from wan_cli.ui.output import get_output

    return get_output()


def existing_store(out: Output) -> Store | None:
    from wan_cli.history import history_path, open_existing

    return open_existing(history_path(), warn=out.warn)


def require_store(out: Output) -> Store:
    from wan_cli.errors import UsageError
    from wan_cli.history import history_path

    store = existing_store(out)
    if store is None:
        raise UsageError(f"no history yet ({history_path()} does not exist)")
    return store


def get_run(out: Output, run_id: int) -> RunRow:
    store = require_store(out)
    with store.reading():
        return found(store.get_run(run_id), run_id)


def found(run: RunRow | None, run_id: int) -> RunRow:
    from wan_cli.errors import UsageError

    if run is None:
        raise UsageError(f"no run {run_id} in history", hint="`wan history` lists the runs")
    return run

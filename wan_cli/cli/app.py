"""The `wan` application: registers commands, turns errors into messages and exit codes.

Only typer is imported here; each command imports what it needs when it runs, so `wan --help`
stays fast.
"""

from __future__ import annotations

import gc

# Start-up: importing typer and building the commands allocates ~100k objects that all live until
# exit; collecting while they are made only walks them again and again. Collection is paused
# until the end of this module, which freezes them (see there).
_GC_WAS_ENABLED = gc.isenabled()
gc.disable()

import os  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402

from wan_cli import __version__  # noqa: E402
from wan_cli.cli.fast_start import LightGroup, WanTyper  # noqa: E402
from wan_cli.errors import ExitCode, WanError  # noqa: E402

EXIT_CODES_HELP = (
    "Exit codes: 0 success · 1 internal error · 2 usage/invalid input · 3 auth · "
    "4 rejected by the API · 5 rate limited/quota · 6 service/network unavailable · "
    "7 generated but not saved · 130 interrupted."
)


class WanGroup(LightGroup):
    """Turns every expected failure into one line on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WanError as error:
            from wan_cli.ui.output import get_output

            get_output().error(error.describe(), hint=error.hint)
            raise typer.Exit(int(error.exit_code)) from None
        except KeyboardInterrupt:
            # Ctrl-C (or SIGTERM) outside a run, e.g. while history waits for a lock: the same
            # message and exit code as inside one, never a silent 130.
            from wan_cli.ui.output import get_output

            get_output().error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except (typer.Exit, typer.Abort, BrokenPipeError):
            # BrokenPipeError: the reader of stdout went away (`wan … | head -1`); click ends
            # quietly (exit 1) instead of reporting a bug.
            raise
        except Exception as error:
            from wan_cli.compat import is_click_exception

            if is_click_exception(error):
                raise
            if os.environ.get("WAN_DEBUG"):
                raise
            from wan_cli.ui.output import get_output

            get_output().error(
                f"internal error: {type(error).__name__}: {error}",
                hint="this is a bug: please report it with the traceback (rerun with "
                "WAN_DEBUG=1) and the output of `wan doctor`",
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None


app = WanTyper(
    cls=WanGroup,
    name="wan",
    help="Generate and edit images with wan2.6-image.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wan {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Generate and edit images with wan2.6-image."""


# -- commands -----------------------------------------------------------------------------
# Each module below imports only typer at the top; the work is imported when a command runs.
from wan_cli.cli import (  # noqa: E402
    batch_cmd,
    config_cmd,
    doctor,
    gallery_cmd,
    generate,
    history_cmd,
    mcp_cmd,
    mock_cmd,
    task_cmd,
)

app.command("generate")(generate.generate)
app.command("edit")(generate.edit)
app.command("batch")(batch_cmd.batch)
app.add_typer(history_cmd.history_app, name="history")
app.add_typer(task_cmd.task_app, name="task")
app.command("gallery")(gallery_cmd.gallery)
app.add_typer(config_cmd.config_app, name="config")
app.command("doctor")(doctor.doctor)
app.add_typer(mock_cmd.mock_app, name="mock")
app.command("mcp")(mcp_cmd.mcp)

# Keep this last (register commands above it). Start-up: everything made so far lives until
# exit; frozen, it is skipped by every later collection, the one at exit included
# (~8 ms of a ~55 ms `wan --help`; docs/performance.md).
gc.freeze()
if _GC_WAS_ENABLED:
    gc.enable()

"""`wan mcp`: image generation as tools for AI agents, a Model Context Protocol server on stdio.

Every tool is a thin layer over what the CLI does: `generate_image` and `edit_image` build the
typed options of `wan generate`/`wan edit` and run them through `run.assemble.run_for_document`
(one request, download, naming, provenance and history code for both); `list_runs`, `get_run`
and `save_run_images` are `wan history`, `history show` and `history download`.

stdout carries protocol frames only: runs get an `Output` whose stdout goes nowhere, every log
line goes to stderr, and while serving the SDK points fd 1 at stderr for anything else.

Read in this order: `budget` (the session's image limit, checked before sending), `progress`
(a View that reports to the client), `images` (previews), `results` (answers and error
classes), `calls` and `runs` (each tool's work, synchronous), `server` (the SDK; the only
module that uses `mcp`, loaded by `serve`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_cli.errors import Interrupted, UsageError
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.mcp_server.calls import ServerOptions

INSTALL = "pip install 'wan-cli[mcp]'"


def require_sdk() -> None:
    """UsageError (exit 2, one line with the install command) without the `mcp` extra."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise UsageError(
            f"`wan mcp` needs the MCP Python SDK (mcp 2.x), which is not installed: {INSTALL}"
        ) from None


def serve(options: ServerOptions) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin (or Ctrl-C / SIGTERM)."""
    require_sdk()
    import os
    import sys

    import anyio

    from wan_cli.mcp_server.calls import Session
    from wan_cli.mcp_server.server import build_server
    from wan_cli.run.assemble import output_dir_of
    from wan_cli.ui.output import Output, set_output

    nowhere = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (open for the process)
    out = set_output(
        Output(stdout=nowhere, stderr=sys.stderr, verbose=options.verbose, fancy=False)
    )
    session = Session(options, out)
    settings = session.check_settings()
    out.info(
        f"wan mcp {_version()}: serving on stdio · provider {settings.provider} · images saved"
        f" in {output_dir_of(settings)} · at most {plural(options.max_images, 'image')}"
        " this session"
    )
    try:
        anyio.run(build_server(session).run_stdio_async)
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None


def _version() -> str:
    from wan_cli import __version__

    return __version__

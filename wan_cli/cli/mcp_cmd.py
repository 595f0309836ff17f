"""`wan mcp`: serve image generation to AI agents over MCP (stdio). Wiring only (see
mcp_server/); the SDK is an optional extra, imported only when this command runs."""

from __future__ import annotations

from typing import Annotated

import typer

from wan_cli.cli.options import OutputDir, Profile, Provider, Verbose


def mcp(
    max_images: Annotated[
        int,
        typer.Option(
            "--max-images",
            metavar="N",
            help="The most images this session may make, over all calls (each is billed); "
            "a call that would pass it is refused before anything is sent.",
        ),
    ] = 10,
    output_dir: OutputDir = None,
    profile: Profile = None,
    provider: Provider = None,
    verbose: Verbose = False,
) -> None:
    """Serve image generation as tools for AI agents: an MCP server on stdin/stdout.

    Tools: generate_image, edit_image, list_runs, get_run, save_run_images. Logs go to
    stderr; stdout carries protocol messages only. Needs the extra:
    pip install 'wan-cli[mcp]'. Set-up for Claude Desktop, Claude Code and Cursor:
    docs/agents.md.

    Examples:

    \b
      claude mcp add wan -- wan mcp -o ~/Pictures/wan
      wan mcp --provider mock        # try it without a key
    """
    from wan_cli.mcp_server import serve
    from wan_cli.mcp_server.calls import ServerOptions
    from wan_cli.run.options import SettingFlags

    serve(
        ServerOptions(
            settings=SettingFlags(profile=profile, provider=provider, output_dir=output_dir),
            max_images=max_images,
            verbose=verbose,
        )
    )

"""`wan config …`: read and write settings (filled in by the settings work)."""

from __future__ import annotations

import typer

config_app = typer.Typer(help="Show and change settings (API key, base URL, model, profiles).")

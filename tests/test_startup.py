"""Start-up stays cheap: the CLI module must not import what `wan --help` does not use."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_importing_the_cli_does_not_import_heavy_modules() -> None:
    loaded = _modules_after("import wan_cli.cli.app")
    for heavy in ("httpx", "httpx_sse", "sqlite3", "base64", "rich.live", "rich.progress"):
        assert heavy not in loaded, f"{heavy} is imported at start-up"

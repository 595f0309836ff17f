"""`python -m wan_cli` and the `wan` console script."""

from __future__ import annotations


def main() -> None:
    from wan_cli.cli.app import app

    app(prog_name="wan")


if __name__ == "__main__":
    main()

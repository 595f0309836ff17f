"""The entry point's error boundary: an unexpected exception (a bug) is one line and exit 1,
and WAN_DEBUG=1 lets its traceback through."""

from __future__ import annotations

import pytest

from tests.conftest import RunCli


def _explode(*_: object, **__: object) -> str:
    raise RuntimeError("boom")


def test_a_bug_is_one_line_and_exit_1(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    # The boundary is what is under test, so the bug is planted in the code it guards.
    monkeypatch.setattr("wan_cli.run.assemble.read_prompt", _explode)
    result = run_cli(["generate", "cat", "--dry-run"])
    assert result.exit_code == 1
    assert "internal error: RuntimeError: boom" in result.stderr
    assert "WAN_DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_wan_debug_lets_the_traceback_through(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wan_cli.run.assemble.read_prompt", _explode)
    result = run_cli(["generate", "cat", "--dry-run"], env={"WAN_DEBUG": "1"})
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)


def test_usage_errors_from_click_keep_exit_2(run_cli: RunCli) -> None:
    result = run_cli(["generate", "cat", "--no-such-flag"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr

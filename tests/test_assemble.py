"""The one assembler (`run.assemble.run_inputs`) and the typed options: every entry point takes
its defaults from the settings the same way (no network)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import RunCli
from wan_cli.batch.items import LineDefaults, builtin_settings, line_inputs
from wan_cli.batch.parse import LineSpec
from wan_cli.errors import UsageError
from wan_cli.run.assemble import run_inputs
from wan_cli.run.options import RequestOptions, SettingFlags, check_mode


def test_mode_specific_options_are_kept_only_for_their_mode() -> None:
    settings = builtin_settings()
    both = RequestOptions(max_images=3, n=2, prompt_extend=False, seed=4)
    generate = run_inputs(both, "p", settings)
    assert (generate.max_images, generate.n, generate.prompt_extend) == (3, None, None)
    edit = run_inputs(replace(both, mode="edit"), "p", settings)
    assert (edit.max_images, edit.n, edit.prompt_extend) == (None, 2, False)
    assert generate.seed == edit.seed == 4
    assert (generate.model, generate.provider) == (settings.model, settings.provider)


@pytest.mark.parametrize(
    ("configured", "mode", "expected"),
    [
        ("2K", "generate", None),  # 1K/2K are edit-only: generate leaves it to the service
        ("2K", "edit", "2K"),
        ("1280*720", "generate", "1280*720"),
        (None, "edit", None),
    ],
)
def test_a_configured_size_applies_by_mode(
    configured: str | None, mode: str, expected: str | None
) -> None:
    settings = replace(builtin_settings(), size=configured)
    request = RequestOptions(mode=check_mode(mode))
    assert run_inputs(request, "p", settings).size == expected
    # A flag (or a batch line's own size) always wins over the setting.
    assert run_inputs(replace(request, size="1024*1024"), "p", settings).size == "1024*1024"


def test_batch_lines_use_the_same_assembler_as_a_single_run(tmp_path: Path) -> None:
    settings = replace(builtin_settings(), size="2K", model="wan-test")
    defaults = LineDefaults(request=RequestOptions(seed=1), settings=settings)
    generate, _ = line_inputs(LineSpec(1, "a"), defaults)
    edit, _ = line_inputs(LineSpec(2, "b", mode="edit", refs=("https://h.test/x.png",)), defaults)
    assert generate == run_inputs(RequestOptions(seed=1), "a", settings)
    assert (generate.size, edit.size) == (None, "2K")
    assert generate.model == edit.model == "wan-test"


def test_check_mode() -> None:
    assert check_mode("edit") == "edit"
    with pytest.raises(UsageError, match="--mode must be generate or edit"):
        check_mode("paint")


def test_setting_flags_are_the_command_line_layer() -> None:
    layer = SettingFlags(timeout=5.0, output_dir=Path("out")).layer()
    assert layer["timeout"] == 5.0 and layer["output_dir"] == "out"
    assert layer["api_key"] is None and "api_key" not in repr(SettingFlags(api_key="sk-x"))


def test_configured_2k_works_for_batch_as_for_generate(run_cli: RunCli, tmp_path: Path) -> None:
    """`wan config set size 2K`, then a mixed batch: generate lines leave the size to the
    service, edit lines send 2K (it used to fail every line with "invalid size '2K'")."""
    assert run_cli(["config", "set", "size", "2K"]).exit_code == 0
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        json.dumps({"prompt": "a fox"})
        + "\n"
        + json.dumps({"prompt": "snow", "mode": "edit", "refs": ["https://h.test/a.png"]})
        + "\n",
        encoding="utf-8",
    )
    result = run_cli(["batch", str(lines), "--dry-run", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    bodies = [json.loads(line)["request"]["body"] for line in result.stdout.splitlines()]
    assert "size" not in bodies[0]["parameters"]
    assert bodies[1]["parameters"]["size"] == "2K"
    single = run_cli(["generate", "a fox", "--dry-run"])
    assert single.exit_code == 0, single.stderr
    assert "size" not in json.loads(single.stdout)["body"]["parameters"]

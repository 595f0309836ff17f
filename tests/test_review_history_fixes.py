"""Regression tests for bugs found in review of history, recovery, tasks, gallery and preview."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import IsolatedEnv, RunCli, RunWan, SpawnWan, run_on_a_terminal
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876", "WAN_RETRIES": "0"}


def test_history_download_from_elsewhere_does_not_fetch_images_saved_under_a_relative_dir(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    ok = fake_api.image_url("ok.png")
    bad = f"{fake_api.url}/img/bad.png"
    fake_api.add("/img/bad.png", Reply.status(500), Reply.bytes(png_bytes(8, 8)))
    fake_api.add(API, Reply.sse([sse_chunk(image=ok), sse_chunk(image=bad, finish="stop")]))
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    base = ["--base-url", f"{fake_api.url}/v1"]
    first = run_wan_subprocess(
        ["generate", "a fox", "-m", "2", "-o", "out", *base], env=ENV, cwd=work
    )
    assert first.returncode == 7, first.stderr

    rescue = run_wan_subprocess(["history", "download", "1"], env=ENV, cwd=elsewhere)
    assert rescue.returncode == 0, rescue.stderr
    assert len(fake_api.requests_to("/img/ok.png")) == 1  # image 1 was saved: not fetched again
    assert len(list((work / "out").glob("*.png"))) == 2

    again = run_wan_subprocess(["history", "download", "1"], env=ENV, cwd=elsewhere)
    assert again.returncode == 0 and "already saved" in again.stderr
    paths = [Path(line) for line in again.stdout.splitlines()]
    assert len(paths) == 2 and all(path.is_file() for path in paths)
    assert all(path.is_relative_to(work / "out") for path in paths)


def test_gallery_shows_an_image_whose_sidecar_has_odd_references(
    run_cli: RunCli, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(8, 8))
    (tmp_path / "a.png.json").write_text('{"prompt": "a <fox>", "references": 1}')
    result = run_cli(["gallery", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "index.html").read_text()
    assert "a &lt;fox&gt;" in page and 'src="a.png"' in page


def test_a_task_state_with_terminal_escapes_is_printed_without_them(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    evil = "PEND\x1b]0;pwned\x07ING\x1b[2J\x9b31m"
    answer = {"request_id": "r", "output": {"task_id": "t-1\x1b[1m", "task_status": evil}}
    fake_api.add("/api/v1/services/aigc/image-generation/generation", Reply.json(answer))
    fake_api.add("/api/v1/tasks/t-1", Reply.json(answer))
    base = ["--base-url", f"{fake_api.url}/api/v1"]
    commands = [
        ["generate", "x", "--async", "--provider", "dashscope", "-o", str(tmp_path), *base],
        ["task", "status", "t-1", *base],
        ["task", "list"],
        ["history"],
        ["history", "show", "1"],
    ]
    for argv in commands:
        result = run_cli(argv, env=ENV)
        assert result.exit_code == 0, (argv, result.output)
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown, argv
        assert "PEND]0;PWNEDING[2J" in shown or argv[0] == "generate", argv


def _record_one_run(history: Path) -> None:
    from wan_cli.history import open_store

    store = open_store(history)
    assert store is not None
    store.record_start(
        command="generate",
        model="m",
        provider="gateway",
        host="h",
        prompt="kept",
        parameters={},
        references=[],
        output_dir=None,
    )
    store.close()


def test_clear_before_a_date_in_the_first_millennium_deletes_nothing(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    _record_one_run(isolated_env.history)
    for before in ("0999-06-01", "500000d"):
        result = run_cli(["history", "clear", "--before", before, "--yes"])
        assert result.exit_code == 0, result.output
        assert "nothing to clear" in result.stderr
    listed = run_cli(["history", "--json"])
    assert [run["prompt"] for run in json.loads(listed.stdout)] == ["kept"]


def test_clear_before_a_date_out_of_range_is_a_usage_error(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    _record_one_run(isolated_env.history)
    for before in ("10000000d", "0001-01-01T00:00+05:00"):
        result = run_cli(["history", "clear", "--before", before, "--yes"])
        assert result.exit_code == 2, result.output
        assert "out of range" in result.stderr and "internal error" not in result.stderr


def test_numbers_beyond_sqlite_integers_are_no_run_or_no_limit(
    run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    _record_one_run(isolated_env.history)
    huge = str(2**70)
    for argv in (["show", huge], ["download", huge], ["rerun", huge]):
        result = run_cli(["history", *argv])
        assert result.exit_code == 2 and f"no run {huge} in history" in result.stderr, argv
    listed = run_cli(["history", "-n", huge, "--json"])
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 1
    tasks = run_cli(["task", "list", "-n", huge])
    assert tasks.exit_code == 0, tasks.output
    page = run_cli(["gallery", "--history", "-n", huge, "-o", str(tmp_path / "g.html")])
    assert page.exit_code == 0, page.output


def test_clear_asks_on_the_terminal_and_end_of_input_means_no(isolated_env: IsolatedEnv) -> None:
    _record_one_run(isolated_env.history)
    kept = run_on_a_terminal(["history", "clear"], typed="\x04")  # Ctrl-D
    assert kept.returncode == 0 and kept.stdout == "", kept
    assert "Delete 1 run(s) from history? [y/N]" in kept.shown and "nothing deleted" in kept.shown
    refused = run_on_a_terminal(["history", "clear"], typed="n\n")
    assert refused.returncode == 0 and "nothing deleted" in refused.shown
    deleted = run_on_a_terminal(["history", "clear"], typed="y\n")
    assert deleted.returncode == 0 and deleted.stdout == "", deleted
    assert "deleted 1 run(s)" in deleted.shown


def test_ctrl_c_at_the_clear_question_is_130_and_deletes_nothing(
    spawn_wan: SpawnWan, isolated_env: IsolatedEnv
) -> None:
    import os
    import signal

    _record_one_run(isolated_env.history)
    master, slave = os.openpty()
    try:
        process = spawn_wan(["history", "clear"], stdin=slave)
        shown = ""
        while "[y/N]" not in shown:
            chunk = process.stderr.read(1) if process.stderr else ""
            assert chunk, shown
            shown += chunk
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        os.close(slave)
        os.close(master)
    assert process.returncode == 130, stderr
    assert "nothing deleted" in stderr
    assert _count_runs(isolated_env.history) == 1


def _count_runs(history: Path) -> int:
    from wan_cli.history import open_existing

    store = open_existing(history)
    assert store is not None
    try:
        return store.count_runs()
    finally:
        store.close()


def test_history_download_into_a_file_is_refused_before_fetching(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    bad = f"{fake_api.url}/img/bad.png"
    fake_api.add("/img/bad.png", Reply.status(500), Reply.bytes(png_bytes(8, 8)))
    fake_api.add(API, Reply.sse([sse_chunk(image=bad, finish="stop")]))
    base = ["--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)]
    assert run_cli(["generate", "a fox", *base], env=ENV).exit_code == 7
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    result = run_cli(["history", "download", "1", "-o", str(a_file)], env=ENV)
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.stderr and "expired" not in result.stderr
    assert len(fake_api.requests_to("/img/bad.png")) == 1  # only the original run's attempt


def test_task_wait_into_a_file_is_refused_before_waiting(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    pending = {"request_id": "r", "output": {"task_id": "t-1", "task_status": "PENDING"}}
    fake_api.add("/api/v1/tasks/t-1", Reply.json(pending))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    base = ["--base-url", f"{fake_api.url}/api/v1"]
    result = run_cli(
        ["task", "wait", "t-1", "-o", str(a_file), "--timeout", "0", *base],
        env={**ENV, "WAN_POLL_INTERVAL": "0.01"},
    )
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.stderr
    assert fake_api.requests_to("/api/v1/tasks/t-1") == []  # nothing polled

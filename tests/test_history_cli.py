"""End to end: runs are recorded as they happen, and `wan history` lists, shows, downloads,
reruns and clears them — against the loopback fake API, with real processes for SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import (
    IsolatedEnv,
    RunCli,
    RunWan,
    SpawnWan,
    run_on_a_terminal,
    wait_for_output,
)
from tests.fakeapi import FakeAPI, Reply, png_bytes, sse_chunk
from wan_cli.history import RunRow, format_time, open_existing

API = "/v1/images/generations"
KEY = "sk-test-secret-key-9876"
ENV = {"WAN_API_KEY": KEY}
NO_RETRIES = {**ENV, "WAN_RETRIES": "0"}


def args(fake: FakeAPI, out: Path, *extra: str, prompt: str = "a lighthouse") -> list[str]:
    return ["generate", prompt, "--base-url", f"{fake.url}/v1", "-o", str(out), *extra]


def runs(env: IsolatedEnv) -> list[RunRow]:
    store = open_existing(env.history)
    if store is None:
        return []
    try:
        return store.list_runs(limit=None)
    finally:
        store.close()


def ok_stream(fake: FakeAPI, name: str = "ok.png", text: str = "A lighthouse.") -> Reply:
    return Reply.sse([sse_chunk(text=text), sse_chunk(image=fake.image_url(name), finish="stop")])


def database_bytes(env: IsolatedEnv) -> bytes:
    files = [env.history, *(env.history.with_name(env.history.name + s) for s in ("-wal", "-shm"))]
    return b"".join(path.read_bytes() for path in files if path.exists())


def schema(env: IsolatedEnv) -> tuple[int, list[tuple[str, str]]]:
    """The database's version and every table and index in it."""
    conn = sqlite3.connect(env.history)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return version, conn.execute(
            "SELECT type, name FROM sqlite_master ORDER BY name"
        ).fetchall()
    finally:
        conn.close()


# -- recording -------------------------------------------------------------------------------


def test_a_run_records_every_field_and_never_the_key(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 300))
    url = fake_api.image_url("a.png")
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="Here is "),
                sse_chunk(text="a lighthouse."),
                sse_chunk(image=url, finish="stop"),
            ]
        ),
    )
    out = tmp_path / "out"
    result = run_cli(
        [
            *args(fake_api, out, "--seed", "7", "--negative-prompt", "fog", "--json"),
            *("--ref", str(ref)),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    [run] = runs(isolated_env)
    assert document["history_id"] == run.id
    assert (run.command, run.model, run.provider) == ("generate", "wan2.6-image", "gateway")
    assert run.host == f"127.0.0.1:{fake_api.port}"
    assert run.prompt == "a lighthouse"
    assert run.parameters["seed"] == 7 and run.parameters["negative_prompt"] == "fog"
    [described] = run.references
    assert described["kind"] == "file" and described["path"] == str(ref)
    assert len(str(described["sha256"])) == 64 and "base64" not in json.dumps(described)
    assert run.request_id == "req-1"
    assert (run.status, run.exit_code, run.error) == ("ok", 0, None)
    assert run.usage is not None and run.usage["total_tokens"] >= 28
    assert run.text == "Here is a lighthouse."
    assert run.output_dir == str(out)
    [image] = run.images
    saved = document["images"][0]
    assert image.url == url and image.path == saved["path"]
    assert image.sha256 == saved["sha256"] and image.bytes == saved["bytes"]
    assert run.created <= run.finished  # type: ignore[operator]
    assert KEY.encode() not in database_bytes(isolated_env)


def test_the_key_given_as_a_flag_is_not_recorded_either(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(API, ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path, "--api-key", KEY))
    assert result.exit_code == 0, result.stderr
    assert len(runs(isolated_env)) == 1
    assert KEY.encode() not in database_bytes(isolated_env)


def test_a_password_in_the_base_url_reaches_neither_history_nor_stderr(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    # A gateway behind basic auth: the URL's user:password is a secret like the key.
    fake_api.add(API, Reply.status(500), ok_stream(fake_api))
    base = f"http://alice:s3cret-pass@127.0.0.1:{fake_api.port}/v1"
    runs_made = [
        ["generate", "a fox", "--base-url", base, "-o", str(tmp_path), "-v", "--retries", "1"],
        ["generate", "a fox", "--base-url", base, "-o", str(tmp_path), "--retries", "0"],
    ]
    shown = ""
    for argv in runs_made:
        result = run_cli(argv, env=ENV)
        shown += result.stderr
    assert "POST http://***@127.0.0.1" in shown  # -v still says where it went
    for argv in (["history", "show", "1"], ["history", "show", "2", "--json"], ["history"]):
        result = run_cli(argv, env=ENV)
        assert result.exit_code == 0, (argv, result.stderr)
        shown += result.stdout + result.stderr
    assert [run.host for run in runs(isolated_env)][-2:] == [f"127.0.0.1:{fake_api.port}"] * 2
    assert "s3cret-pass" not in shown
    assert b"s3cret-pass" not in database_bytes(isolated_env)


def test_no_history_flag_and_setting_write_nothing(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(API, ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path, "--no-history", "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["history_id"] is None
    assert not isolated_env.history.exists()

    assert run_cli(["config", "set", "history", "false"]).exit_code == 0
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert not isolated_env.history.exists()


def test_dry_run_is_not_recorded(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    result = run_cli(args(fake_api, tmp_path, "--dry-run"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert not isolated_env.history.exists()


def test_failures_are_recorded_with_their_exit_code(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(
        API,
        Reply.json({"code": "DataInspectionFailed", "message": "inappropriate"}, status=400),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 4
    [run] = runs(isolated_env)
    assert (run.status, run.exit_code) == ("failed", 4)
    assert run.error is not None and "DataInspectionFailed" in run.error


@pytest.mark.parametrize("cut", [None, 2], ids=["no final chunk", "connection broken"])
def test_a_cut_answer_points_to_its_history_entry(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv, cut: int | None
) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(text="one "), sse_chunk(text="two"), sse_chunk(text="!")],
            cut_after_events=cut,
        ),
    )
    result = run_cli(args(fake_api, tmp_path), env=ENV)
    assert result.exit_code == 6
    [run] = runs(isolated_env)
    assert f"may have been billed: check `wan history show {run.id}`" in result.stderr
    assert run.text.startswith("one two") and run.exit_code == 6


def test_a_corrupt_database_warns_once_and_the_run_succeeds(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    isolated_env.history.write_bytes(b"garbage" * 1000)
    fake_api.add(API, ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path / "out", "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning:") == 1 and "history" in result.stderr
    assert json.loads(result.stdout)["history_id"] is None
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
    listed = run_cli(["history"])
    assert listed.exit_code == 2 and "move it aside" in listed.stderr


# -- SIGKILL mid-download, then `wan history download` --------------------------------------------


def test_a_newer_history_is_left_alone_the_run_goes_on_and_commands_refuse_it(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    # Written by a later `wan` (schema 99): this one must neither write into it nor migrate it.
    conn = sqlite3.connect(isolated_env.history)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = schema(isolated_env)
    fake_api.add(API, ok_stream(fake_api))
    result = run_cli(args(fake_api, tmp_path / "out", "--json"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning:") == 1 and "newer" in result.stderr
    assert json.loads(result.stdout)["history_id"] is None
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
    assert schema(isolated_env) == before  # no table created, no migration run
    for argv in (["history"], ["history", "show", "1"], ["history", "clear", "--yes"]):
        refused = run_cli(argv)
        assert refused.exit_code == 2, (argv, refused.stderr)
        assert "newer" in refused.stderr and "Traceback" not in refused.stderr
    assert schema(isolated_env) == before


def test_a_run_killed_mid_download_keeps_its_url_and_history_download_saves_it(
    fake_api: FakeAPI,
    spawn_wan: SpawnWan,
    run_cli: RunCli,
    tmp_path: Path,
    isolated_env: IsolatedEnv,
) -> None:
    big = png_bytes(64, 64) + b"\0" * 400_000
    fake_api.add(
        "/img/big.png",
        Reply.bytes(big, chunk_size=4096, chunk_delay=0.05),  # the killed run's download
        Reply.bytes(big),  # the rescue
    )
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(
        API, Reply.sse([sse_chunk(text="A big one."), sse_chunk(image=url, finish="stop")])
    )
    out = tmp_path / "out"
    process = spawn_wan(args(fake_api, out), env=ENV)
    fake_api.wait_bytes_sent("/img/big.png", 8192, timeout=20)
    process.kill()
    process.communicate(timeout=20)
    assert list(out.glob("*.png")) == []

    [run] = runs(isolated_env)
    assert run.status == "unfinished" and run.exit_code is None
    assert [image.url for image in run.images] == [url]
    assert run.request_id == "req-1" and run.text == "A big one."
    listed = run_cli(["history", "--failed"])
    assert listed.exit_code == 0 and "unfinished" in listed.stdout

    result = run_cli(["history", "download", str(run.id)])
    assert result.exit_code == 0, result.stderr
    [saved] = [Path(line) for line in result.stdout.splitlines()]
    assert saved.parent == out and saved.read_bytes()[:8] == big[:8]
    sidecar = json.loads(Path(f"{saved}.json").read_text())
    assert sidecar["prompt"] == "a lighthouse" and sidecar["request_id"] == "req-1"
    assert sidecar["text"] == "A big one."
    [image] = runs(isolated_env)[0].images
    assert image.path == str(saved) and image.sha256 == sidecar["sha256"]

    again = run_cli(["history", "download", str(run.id)])
    assert again.exit_code == 0 and again.stdout.strip() == str(saved)
    assert "already saved" in again.stderr
    assert len(fake_api.requests_to("/img/big.png")) == 2  # nothing fetched twice


def test_ctrl_c_mid_download_is_recorded_as_interrupted(
    fake_api: FakeAPI, spawn_wan: SpawnWan, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    import signal

    big = png_bytes(64, 64) + b"\0" * 400_000
    fake_api.add("/img/big.png", Reply.bytes(big, chunk_size=4096, chunk_delay=0.05))
    url = f"{fake_api.url}/img/big.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    process = spawn_wan(args(fake_api, tmp_path), env=ENV)
    fake_api.wait_bytes_sent("/img/big.png", 8192, timeout=20)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    [run] = runs(isolated_env)
    assert (run.status, run.exit_code) == ("interrupted", 130)
    [image] = run.images
    assert image.url == url and not image.is_saved
    assert f"wan history download {run.id}" in stderr


def test_history_download_leaves_a_running_run_alone(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    from wan_cli.history import open_store

    store = open_store(isolated_env.history)
    assert store is not None
    run_id = store.record_start(  # this test's own process: alive, so "running"
        command="generate",
        model="m",
        provider="gateway",
        host="h",
        prompt="p",
        parameters={},
        references=[],
        output_dir=None,
    )
    store.record_image(run_id, 0, "https://img.example/1.png")
    store.close()
    result = run_cli(["history", "download", str(run_id)])
    assert result.exit_code == 2 and "still running" in result.stderr


def test_history_download_says_when_links_have_expired(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    gone = f"{fake_api.url}/img/gone.png"
    old = f"{fake_api.url}/img/old.png"
    fake_api.add("/img/gone.png", Reply.status(403))
    fake_api.add("/img/old.png", Reply.status(500))
    fake_api.add(API, Reply.sse([sse_chunk(image=gone), sse_chunk(image=old, finish="stop")]))
    first = run_cli(args(fake_api, tmp_path, "-m", "2", "--retries", "0"), env=ENV)
    assert first.exit_code == 7
    [run] = runs(isolated_env)
    assert f"wan history download {run.id}" in first.stderr
    # Make the second link 30 hours old.
    conn = sqlite3.connect(isolated_env.history)
    stale = format_time(datetime.now(UTC) - timedelta(hours=30))
    conn.execute("UPDATE images SET received = ? WHERE idx = 1", (stale,))
    conn.commit()
    conn.close()

    result = run_cli(
        ["history", "download", str(run.id), "-o", str(tmp_path / "x")], env={"WAN_RETRIES": "0"}
    )
    assert result.exit_code == 7
    assert "image 1 not saved: the link has expired (HTTP 403" in result.stderr
    assert "image 2 not saved: the link has expired (30 h old" in result.stderr
    assert "24 hours" in result.stderr and result.stdout == ""


def test_history_download_of_an_unknown_run(run_cli: RunCli, fake_api: FakeAPI) -> None:
    result = run_cli(["history", "download", "5"])
    assert result.exit_code == 2 and "no history yet" in result.stderr


@pytest.mark.regression("history download from another folder fetched images saved under -o out")
def test_history_download_from_elsewhere_does_not_fetch_images_saved_under_a_relative_dir(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
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
        ["generate", "a fox", "-m", "2", "-o", "out", *base], env=NO_RETRIES, cwd=work
    )
    assert first.returncode == 7, first.stderr

    rescue = run_wan_subprocess(["history", "download", "1"], env=NO_RETRIES, cwd=elsewhere)
    assert rescue.returncode == 0, rescue.stderr
    assert len(fake_api.requests_to("/img/ok.png")) == 1  # image 1 was saved: not fetched again
    assert len(list((work / "out").glob("*.png"))) == 2

    again = run_wan_subprocess(["history", "download", "1"], env=NO_RETRIES, cwd=elsewhere)
    assert again.returncode == 0 and "already saved" in again.stderr
    paths = [Path(line) for line in again.stdout.splitlines()]
    assert len(paths) == 2 and all(path.is_file() for path in paths)
    assert all(path.is_relative_to(work / "out") for path in paths)


@pytest.mark.regression("history download -o FILE said the links had expired, after fetching")
def test_history_download_into_a_file_is_refused_before_fetching(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    bad = f"{fake_api.url}/img/bad.png"
    fake_api.add("/img/bad.png", Reply.status(500), Reply.bytes(png_bytes(8, 8)))
    fake_api.add(API, Reply.sse([sse_chunk(image=bad, finish="stop")]))
    assert run_cli(args(fake_api, tmp_path), env=NO_RETRIES).exit_code == 7
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    result = run_cli(["history", "download", "1", "-o", str(a_file)], env=NO_RETRIES)
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.stderr and "expired" not in result.stderr
    assert len(fake_api.requests_to("/img/bad.png")) == 1  # only the original run's attempt


@pytest.mark.regression("ids beyond SQLite's 64-bit integers were an internal error")
def test_numbers_beyond_sqlite_integers_are_no_run_or_no_limit(
    run_cli: RunCli, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    record_one_run(isolated_env.history)
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


# -- listing and showing --------------------------------------------------------------------------


def _three_runs(fake: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    rejected = Reply.json({"code": "DataInspectionFailed", "message": "no"}, status=400)
    fake.add(API, ok_stream(fake, text="calm sea"), ok_stream(fake, text="calm sea"), rejected)
    assert run_cli(args(fake, tmp_path, prompt="a red lighthouse"), env=ENV).exit_code == 0
    assert run_cli(args(fake, tmp_path, prompt="a blue [boat]"), env=ENV).exit_code == 0
    assert run_cli(args(fake, tmp_path, prompt="a green tree"), env=ENV).exit_code == 4


def test_history_lists_newest_first_with_filters(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    _three_runs(fake_api, run_cli, tmp_path)
    listed = run_cli(["history"])
    assert listed.exit_code == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["ID", "CREATED", "COMMAND", "STATUS", "IMAGES", "PROMPT"]
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert lines[0].split()[4:6] == ["failed", "0/0"] and lines[0].endswith("a green tree")
    assert "ok" in lines[1] and "1/1" in lines[1] and lines[1].endswith("a blue [boat]")
    assert "\x1b[" not in listed.stdout

    limited = run_cli(["history", "--limit", "1"])
    assert len(limited.stdout.splitlines()) == 2
    found = run_cli(["history", "--search", "RED"])
    assert [line.split()[0] for line in found.stdout.splitlines()[1:]] == ["1"]
    by_text = run_cli(["history", "--search", "calm sea", "--json"])
    assert [run["id"] for run in json.loads(by_text.stdout)] == [2, 1]
    failed = run_cli(["history", "--failed", "--json"])
    [only] = json.loads(failed.stdout)
    assert only["id"] == 3 and only["exit_code"] == 4


def test_history_on_a_terminal_is_a_table(
    fake_api: FakeAPI, run_cli: RunCli, spawn_wan: SpawnWan, tmp_path: Path
) -> None:
    import os
    import pty

    _three_runs(fake_api, run_cli, tmp_path)
    controller, terminal = pty.openpty()
    process = spawn_wan(["history"], stdout=terminal, env={"COLUMNS": "100", "TERM": "xterm"})
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=20) == 0
    text = shown.decode()
    assert "PROMPT" in text and "a blue [boat]" in text  # markup in a prompt stays literal
    assert "\x1b[" in text  # styled: a terminal gets the rich table


def test_history_when_empty(run_cli: RunCli, isolated_env: IsolatedEnv) -> None:
    listed = run_cli(["history"])
    assert listed.exit_code == 0 and listed.stdout == ""
    assert "no runs recorded yet" in listed.stderr
    assert run_cli(["history", "--json"]).stdout.strip() == "[]"
    shown = run_cli(["history", "show", "1"])
    assert shown.exit_code == 2
    assert not isolated_env.history.exists()


def test_history_show_everything(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [
                sse_chunk(text="First line.\nSecond \x1b[31mline."),
                sse_chunk(image=fake_api.image_url("s.png"), finish="stop"),
            ]
        ),
    )
    assert run_cli(args(fake_api, tmp_path, "--seed", "3"), env=ENV).exit_code == 0
    shown = run_cli(["history", "show", "1"])
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout
    assert text.startswith("run 1 · generate · ok (exit 0)")
    assert "a lighthouse" in text and '"seed": 3' in text and "req-1" in text
    assert "  First line.\n  Second [31mline." in text and "\x1b" not in text
    [image] = runs(isolated_env)[0].images
    assert f"saved {image.path}" in text and str(image.sha256) in text
    document = json.loads(run_cli(["history", "show", "1", "--json"]).stdout)
    assert document["text"] == "First line.\nSecond \x1b[31mline."
    assert document["images"][0]["path"] == image.path
    missing = run_cli(["history", "show", "9"])
    assert missing.exit_code == 2 and "no run 9" in missing.stderr


# -- rerun --------------------------------------------------------------------------------------


def test_rerun_sends_the_same_request_with_overrides(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 300))
    fake_api.add(API, ok_stream(fake_api))
    first = run_cli(
        [
            *("edit", "make it snow", "--ref", str(ref), "-n", "2", "--seed", "5"),
            *("--size", "1K", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path / "a")),
        ],
        env=ENV,
    )
    assert first.exit_code == 0, first.stderr

    dry = run_cli(["history", "rerun", "1", "--dry-run", "--base-url", f"{fake_api.url}/v1"])
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["body"] == fake_api.requests_to(API)[0].json
    assert len(runs(isolated_env)) == 1  # a dry run sends and records nothing

    again = run_cli(
        [
            *("history", "rerun", "1", "--seed", "9", "--json"),
            *("--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path / "b")),
        ],
        env=ENV,
    )
    assert again.exit_code == 0, again.stderr
    original, repeated = (request.json for request in fake_api.requests_to(API))
    assert repeated["parameters"] == {**original["parameters"], "seed": 9}
    assert repeated["input"] == original["input"] and repeated["model"] == original["model"]
    newest = runs(isolated_env)[0]
    assert newest.id == json.loads(again.stdout)["history_id"] == 2
    assert newest.rerun_of == 1 and newest.command == "edit"
    assert len(list((tmp_path / "b").glob("*.png"))) == 1


def test_rerun_warns_when_a_reference_file_changed(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 300))
    fake_api.add(API, ok_stream(fake_api))
    base = ["--base-url", f"{fake_api.url}/v1"]
    assert run_cli(["edit", "snow", "--ref", str(ref), *base, "-o", str(tmp_path)], env=ENV)
    ref.write_bytes(png_bytes(320, 320))
    result = run_cli(["history", "rerun", "1", "--dry-run", *base])
    assert result.exit_code == 0, result.stderr
    assert "has changed since the run" in result.stderr
    ref.unlink()
    gone = run_cli(["history", "rerun", "1", "--dry-run", *base])
    assert gone.exit_code == 2 and "not found" in gone.stderr
    other = tmp_path / "other.png"
    other.write_bytes(png_bytes(256, 256))
    replaced = run_cli(["history", "rerun", "1", "--dry-run", "--ref", str(other), *base])
    assert replaced.exit_code == 0, replaced.stderr


# -- clear --------------------------------------------------------------------------------------


def test_clear_needs_confirmation_without_a_terminal(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(API, ok_stream(fake_api))
    assert run_cli(args(fake_api, tmp_path), env=ENV).exit_code == 0
    assert run_cli(args(fake_api, tmp_path), env=ENV).exit_code == 0
    conn = sqlite3.connect(isolated_env.history)
    conn.execute(
        "UPDATE runs SET created = ? WHERE id = 1",
        (format_time(datetime.now(UTC) - timedelta(days=40)),),
    )
    conn.commit()
    conn.close()

    refused = run_cli(["history", "clear"])
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert len(runs(isolated_env)) == 2

    older = run_cli(["history", "clear", "--before", "30d", "--yes"])
    assert older.exit_code == 0, older.stderr
    assert "deleted 1 run(s)" in older.stderr
    assert [run.id for run in runs(isolated_env)] == [2]

    bad = run_cli(["history", "clear", "--before", "yesterday-ish", "--yes"])
    assert bad.exit_code == 2
    assert run_cli(["history", "clear", "--yes"]).exit_code == 0
    assert runs(isolated_env) == []
    assert len(list(tmp_path.glob("*.png"))) == 2  # images are never deleted


def record_one_run(history: Path, prompt: str = "kept") -> None:
    """One run in the history database, written directly (no request needed)."""
    from wan_cli.history import open_store

    store = open_store(history)
    assert store is not None
    store.record_start(
        command="generate",
        model="m",
        provider="gateway",
        host="h",
        prompt=prompt,
        parameters={},
        references=[],
        output_dir=None,
    )
    store.close()


@pytest.mark.regression("--before a first-millennium date deleted every run")
def test_clear_before_a_date_in_the_first_millennium_deletes_nothing(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    record_one_run(isolated_env.history)
    for before in ("0999-06-01", "500000d"):
        result = run_cli(["history", "clear", "--before", before, "--yes"])
        assert result.exit_code == 0, result.output
        assert "nothing to clear" in result.stderr
    listed = run_cli(["history", "--json"])
    assert [run["prompt"] for run in json.loads(listed.stdout)] == ["kept"]


@pytest.mark.regression("--before a date out of datetime's range was an internal error")
def test_clear_before_a_date_out_of_range_is_a_usage_error(
    run_cli: RunCli, isolated_env: IsolatedEnv
) -> None:
    record_one_run(isolated_env.history)
    for before in ("10000000d", "0001-01-01T00:00+05:00"):
        result = run_cli(["history", "clear", "--before", before, "--yes"])
        assert result.exit_code == 2, result.output
        assert "out of range" in result.stderr and "internal error" not in result.stderr


@pytest.mark.regression("the clear question went to stdout and Ctrl-D was exit 1 (typer.confirm)")
def test_clear_asks_on_the_terminal_and_end_of_input_means_no(isolated_env: IsolatedEnv) -> None:
    record_one_run(isolated_env.history)
    kept = run_on_a_terminal(["history", "clear"], typed="\x04")  # Ctrl-D
    assert kept.returncode == 0 and kept.stdout == "", kept
    assert "Delete 1 run(s) from history? [y/N]" in kept.shown and "nothing deleted" in kept.shown
    refused = run_on_a_terminal(["history", "clear"], typed="n\n")
    assert refused.returncode == 0 and "nothing deleted" in refused.shown
    deleted = run_on_a_terminal(["history", "clear"], typed="y\n")
    assert deleted.returncode == 0 and deleted.stdout == "", deleted
    assert "deleted 1 run(s)" in deleted.shown


@pytest.mark.regression("Ctrl-C just after the [y/N] prompt was written exited 130 silently")
def test_ctrl_c_at_the_clear_question_is_130_and_deletes_nothing(
    spawn_wan: SpawnWan, isolated_env: IsolatedEnv
) -> None:
    record_one_run(isolated_env.history)
    master, slave = os.openpty()  # stdin a terminal: the question is asked
    try:
        process = spawn_wan(["history", "clear"], stdin=slave)
        # Ctrl-C the moment the question shows: it must be answered, whatever the timing.
        wait_for_output(process.stderr, "[y/N]")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        os.close(slave)
        os.close(master)
    assert process.returncode == 130, stderr
    assert "interrupted: nothing deleted" in stderr
    assert len(runs(isolated_env)) == 1


def test_cleared_runs_leave_no_image_rows_behind(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    fake_api.add(API, ok_stream(fake_api, "old.png"), ok_stream(fake_api, "new.png"))
    assert run_cli(args(fake_api, tmp_path, prompt="old"), env=ENV).exit_code == 0
    assert run_cli(["history", "clear", "--yes"]).exit_code == 0
    conn = sqlite3.connect(isolated_env.history)
    try:
        assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0
    finally:
        conn.close()
    # A later run shows its own images only, never the cleared run's.
    assert run_cli(args(fake_api, tmp_path, prompt="new"), env=ENV).exit_code == 0
    [run] = runs(isolated_env)
    assert run.prompt == "new" and [image.url.rsplit("/", 1)[1] for image in run.images] == [
        "new.png"
    ]


def test_a_rescued_unsaved_run_becomes_ok(
    run_cli: RunCli, fake_api: FakeAPI, tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    url = f"{fake_api.url}/img/late.png"
    fake_api.add("/img/late.png", Reply.status(503), Reply.bytes(png_bytes()))
    fake_api.add(API, Reply.sse([sse_chunk(text="t"), sse_chunk(image=url, finish="stop")]))
    first = run_cli(args(fake_api, tmp_path, "--retries", "0"), env=ENV)
    assert first.exit_code == 7
    [run] = runs(isolated_env)
    assert run.status == "unsaved"
    rescued = run_cli(["history", "download", str(run.id)], env=ENV)
    assert rescued.exit_code == 0, rescued.stderr
    [run] = runs(isolated_env)
    assert (run.status, run.exit_code, run.error) == ("ok", 0, None)
    assert run.saved_count == 1 and run.text == "t"
    assert run_cli(["history", "--failed", "--json"], env=ENV).stdout.strip() == "[]"


def test_history_download_into_a_relative_dir_finds_what_it_saved_from_anywhere(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    """`history download N -o rescued/` twice, then a plain `history download N` from another
    folder: the image is fetched once and saved once."""
    bad = f"{fake_api.url}/img/bad.png"
    fake_api.add("/img/bad.png", Reply.status(500), Reply.bytes(png_bytes(8, 8)))
    fake_api.add(API, Reply.sse([sse_chunk(image=bad, finish="stop")]))
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    first = run_wan_subprocess(
        ["generate", "a fox", "-o", "out", "--base-url", f"{fake_api.url}/v1"],
        env=NO_RETRIES,
        cwd=work,
    )
    assert first.returncode == 7, first.stderr

    for _ in range(2):
        rescue = run_wan_subprocess(
            ["history", "download", "1", "-o", "rescued/"], env=NO_RETRIES, cwd=work
        )
        assert rescue.returncode == 0, rescue.stderr
    plain = run_wan_subprocess(["history", "download", "1"], env=NO_RETRIES, cwd=elsewhere)
    assert plain.returncode == 0 and "already saved" in plain.stderr, plain.stderr
    assert len(fake_api.requests_to("/img/bad.png")) == 2  # the failed try, then one rescue
    assert [p.name for p in (work / "rescued").glob("*.png")] == [Path(plain.stdout.strip()).name]
    assert not list((work / "out").glob("*.png"))

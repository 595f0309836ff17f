"""Review of the output sink: results reach stdout whatever its encoding."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunWan
from tests.fakeapi import FakeAPI, Reply, sse_chunk

API = "/v1/images/generations"
# A stdout that cannot encode CJK text: a Windows pipe (ANSI code page), a legacy locale.
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876", "PYTHONIOENCODING": "ascii"}


def test_json_result_on_a_stdout_that_cannot_encode_the_prompt(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(
        API,
        Reply.sse(
            [sse_chunk(text="一只猫 😺"), sse_chunk(image=fake_api.image_url(), finish="stop")]
        ),
    )
    args = ["generate", "一只猫", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path), "--json"]
    done = run_wan_subprocess(args, env=ENV)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # the exact JSON, escaped to ASCII
    assert document["prompt"] == "一只猫" and document["text"] == "一只猫 😺"
    assert Path(document["images"][0]["path"]).exists()


def test_saved_path_on_a_stdout_that_cannot_encode_it(
    fake_api: FakeAPI, run_wan_subprocess: RunWan, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    out = tmp_path / "猫"
    args = ["generate", "a cat", "--base-url", f"{fake_api.url}/v1", "-o", str(out)]
    done = run_wan_subprocess(args, env=ENV)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    [saved] = [p for p in out.iterdir() if p.suffix == ".png"]
    assert line.endswith(saved.name) and "\\u732b" in line  # escaped, not a crash

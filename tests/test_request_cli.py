"""`wan generate`/`wan edit` from the command line: bad input is refused before anything is sent,
and `--dry-run`/`--curl` show the exact request without a key."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WAN_BIN, RunCli
from tests.fakeapi import FakeAPI, Reply, jpeg_bytes, png_bytes, sse_chunk, webp_bytes

KEY = "sk-test-secret-key-9876"
API = "/v1/images/generations"


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "ref.png"
    path.write_bytes(png_bytes(300, 300))
    return path


def _bad_inputs(tmp: Path, png: Path) -> list[tuple[list[str], str]]:
    small = tmp / "small.png"
    small.write_bytes(png_bytes(100, 100))
    gif = tmp / "anim.gif"
    gif.write_bytes(b"GIF89a" + b"\0" * 64)
    text = tmp / "notes.png"
    text.write_text("not an image at all")
    huge = tmp / "huge.png"
    with huge.open("wb") as handle:
        handle.write(png_bytes(300, 300))
        handle.truncate(10 * 1024 * 1024 + 1)
    return [
        (["generate", ""], "prompt"),
        (["generate", "   "], "prompt"),
        (["generate", "x" * 2001], "2000"),
        (["generate", "cat", "--size", "big"], "size"),
        (["generate", "cat", "--size", "4096*4096"], "size"),
        (["generate", "cat", "--size", "2000*300"], "aspect"),
        (["edit", "cat", "--ref", str(png), "--size", "4096*4096"], "size"),
        (["generate", "cat", "--ref", str(png), "--ref", str(png)], "reference"),
        (["edit", "cat"], "reference"),
        (["edit", "cat", *[a for _ in range(5) for a in ("--ref", str(png))]], "reference"),
        (["generate", "cat", "--ref", str(tmp / "missing.png")], "missing.png"),
        (["generate", "cat", "--ref", str(tmp)], "director"),
        (["generate", "cat", "--ref", str(gif)], "GIF"),
        (["generate", "cat", "--ref", str(text)], "notes.png"),
        (["generate", "cat", "--ref", str(huge)], "10 MB"),
        (["generate", "cat", "--ref", str(small)], "240"),
        (["generate", "cat", "--max-images", "6"], "max"),
        (["generate", "cat", "--max-images", "0"], "max"),
        (["edit", "cat", "--ref", str(png), "-n", "5"], "n"),
        (["edit", "cat", "--ref", str(png), "-n", "0"], "n"),
        (["generate", "cat", "--negative-prompt", "x" * 501], "500"),
        (["generate", "cat", "--seed", "-1"], "seed"),
        (["generate", "cat", "--seed", "2147483648"], "seed"),
        (["generate", "cat", "--provider", "openai"], "provider"),
    ]


def test_every_bad_input_is_exit_2_and_sends_nothing(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, png: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    for argv, needle in _bad_inputs(tmp_path, png):
        full = [*argv, "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path / "out")]
        result = run_cli(full, env={"WAN_API_KEY": KEY})
        assert result.exit_code == 2, (argv[:4], result.stderr)
        assert needle.lower() in result.stderr.lower(), (argv[:4], result.stderr)
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
        assert len(errors) == 1, result.stderr  # one clear line (a hint may follow)
    assert fake_api.requests == []
    assert not (tmp_path / "out").exists()


def _distinct_refs(directory: Path, count: int) -> list[tuple[Path, str]]:
    """`count` different local images over 4 KiB each (the size `body_bytes` copies in
    without escaping), with their MIME types; padding after the image data keeps each unique."""
    made = [
        ("a.png", "image/png", png_bytes(300, 260)),
        ("b.jpg", "image/jpeg", jpeg_bytes(320, 300)),
        ("c.webp", "image/webp", webp_bytes(300, 340)),
        ("d.png", "image/png", png_bytes(260, 300)),
    ][:count]
    refs = []
    for number, (name, mime, data) in enumerate(made):
        path = directory / name
        path.write_bytes(data + bytes([number + 1]) * (5000 + 997 * number))
        refs.append((path, mime))
    return refs


@pytest.mark.parametrize("count", [2, 3, 4])
def test_different_local_references_each_land_in_their_own_slot_in_order(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, count: int
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    refs = _distinct_refs(tmp_path, count)
    flags = [arg for path, _ in refs for arg in ("-r", str(path))]
    result = run_cli(
        ["edit", "blend them", *flags, "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)],
        env={"WAN_API_KEY": KEY},
    )
    assert result.exit_code == 0, result.stderr
    [sent] = fake_api.requests_to(API)
    content = sent.json["input"]["messages"][0]["content"]
    assert content[0] == {"text": "blend them"}
    assert len(content) == 1 + count
    for (path, mime), slot in zip(refs, content[1:], strict=True):
        prefix = f"data:{mime};base64,"
        assert set(slot) == {"image"} and slot["image"].startswith(prefix), path.name
        assert base64.b64decode(slot["image"][len(prefix) :]) == path.read_bytes(), path.name


def test_no_api_key_is_exit_3_and_sends_nothing(fake_api: FakeAPI, run_cli: RunCli) -> None:
    result = run_cli(["generate", "cat", "--base-url", f"{fake_api.url}/v1"])
    assert result.exit_code == 3
    assert "api-key" in result.stderr
    assert fake_api.requests == []


def test_dry_run_needs_no_key_and_prints_the_exact_body(run_cli: RunCli, png: Path) -> None:
    result = run_cli(
        ["generate", "autumn painting", "--size", "1024x1024", "--ref", str(png), "--dry-run"]
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["method"] == "POST"
    assert document["url"] == "https://api.tokenhot.ai/v1/images/generations"
    assert "authorization" not in {k.lower() for k in document["headers"]}
    body = document["body"]
    assert body["model"] == "wan2.6-image"
    [message] = body["input"]["messages"]
    assert message["content"][0] == {"text": "autumn painting"}
    assert message["content"][1]["image"].startswith("data:image/png;base64,")
    assert body["parameters"] == {
        "enable_interleave": True,
        "stream": True,
        "max_images": 1,
        "size": "1024*1024",
    }


def test_dry_run_for_dashscope_edit(run_cli: RunCli, png: Path) -> None:
    url = "https://example.com/cat.jpg"
    result = run_cli(
        ["edit", "make it snow", "--ref", str(png), "--ref", url, "--provider", "dashscope"]
        + ["--size", "2k", "--no-prompt-extend", "--seed", "42", "--dry-run"]
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["url"] == (
        "https://dashscope.aliyuncs.com/api/v1/services/aigc/multimodal-generation/generation"
    )
    assert document["headers"]["X-DashScope-SSE"] == "enable"
    content = document["body"]["input"]["messages"][0]["content"]
    assert content[2] == {"image": url}
    assert document["body"]["parameters"] == {
        "enable_interleave": False,
        "stream": True,
        "n": 1,
        "size": "2K",
        "prompt_extend": False,
        "seed": 42,
    }


def test_prompt_from_stdin(run_cli: RunCli) -> None:
    piped = run_cli(["generate", "--dry-run"], input="a fox in the snow\n")
    dash = run_cli(["generate", "-", "--dry-run"], input="a fox in the snow\n")
    for result in (piped, dash):
        assert result.exit_code == 0, result.stderr
        body = json.loads(result.stdout)["body"]
        assert body["input"]["messages"][0]["content"][0] == {"text": "a fox in the snow"}


def test_prompt_file(run_cli: RunCli, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("a lighthouse at dusk\n", encoding="utf-8")
    result = run_cli(["generate", "--prompt-file", str(prompt), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    text = json.loads(result.stdout)["body"]["input"]["messages"][0]["content"][0]["text"]
    assert text.strip() == "a lighthouse at dusk"


def test_a_given_prompt_never_reads_an_open_stdin() -> None:
    # stdin is a pipe that never closes (as some CI runners leave it): must not block.
    with subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE) as writer:
        assert writer.stdout is not None
        done = subprocess.run(
            [str(WAN_BIN), "generate", "cat", "--dry-run"],
            stdin=writer.stdout,
            capture_output=True,
            text=True,
            timeout=30,
        )
        writer.kill()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["body"]["model"] == "wan2.6-image"


def test_curl_is_runnable_and_never_holds_the_key(
    fake_api: FakeAPI, run_cli: RunCli, png: Path
) -> None:
    fake_api.add(API, Reply.json({"ok": True}))
    result = run_cli(
        ["generate", "it's $HOME", "--ref", str(png), "--base-url", f"{fake_api.url}/v1", "--curl"],
        env={"WAN_API_KEY": KEY},
    )
    assert result.exit_code == 0, result.stderr
    assert KEY not in result.stdout
    assert '"$WAN_API_KEY"' in result.stdout or "$WAN_API_KEY" in result.stdout
    assert fake_api.requests == []  # printing curl sends nothing
    if not _have("curl"):
        pytest.skip("curl is not installed")
    done = subprocess.run(
        ["bash", "-c", result.stdout],
        env={"WAN_API_KEY": KEY, "PATH": "/usr/bin:/bin", "NO_PROXY": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    [sent] = fake_api.requests_to(API)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["input"]["messages"][0]["content"][0] == {"text": "it's $HOME"}


def _have(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None


def test_api_key_flag_works_but_warns(fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    result = run_cli(
        ["generate", "cat", "--api-key", KEY, "--base-url", f"{fake_api.url}/v1"]
        + ["-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stderr
    assert "shell history" in result.stderr
    assert KEY not in result.stderr + result.stdout


@pytest.mark.parametrize("where", ["a-file/sub", "a-file"])
def test_unwritable_output_directory_is_refused_before_sending(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    result = run_cli(
        ["generate", "cat", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path / where)],
        env={"WAN_API_KEY": KEY},
    )
    assert result.exit_code == 2
    assert "output directory" in result.stderr
    assert fake_api.requests == []


def test_missing_output_directory_is_created(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    fake_api.add(API, Reply.sse([sse_chunk(image=fake_api.image_url(), finish="stop")]))
    out = tmp_path / "new" / "deeper"
    result = run_cli(
        ["generate", "cat", "--base-url", f"{fake_api.url}/v1", "-o", str(out)],
        env={"WAN_API_KEY": KEY},
    )
    assert result.exit_code == 0, result.stderr
    assert Path(result.stdout.strip()).parent == out


def test_a_configured_edit_only_size_does_not_break_generate(run_cli: RunCli) -> None:
    assert run_cli(["config", "set", "size", "2K"]).exit_code == 0
    generated = run_cli(["generate", "a fox", "--dry-run"])
    assert generated.exit_code == 0, generated.stderr
    assert "size" not in json.loads(generated.stdout)["body"]["parameters"]
    explicit = run_cli(["generate", "a fox", "--size", "2K", "--dry-run"])
    assert explicit.exit_code == 2  # given on the command line, it is still refused


def test_prompt_file_loses_its_bom_and_final_newline(run_cli: RunCli, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_bytes("\ufeffa lighthouse\nat dusk\n".encode())
    result = run_cli(["generate", "--prompt-file", str(prompt), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    text = json.loads(result.stdout)["body"]["input"]["messages"][0]["content"][0]["text"]
    assert text == "a lighthouse\nat dusk"


def test_a_base_url_with_a_query_is_refused(run_cli: RunCli) -> None:
    result = run_cli(["generate", "cat", "--base-url", "https://h.example/v1?x=1", "--dry-run"])
    assert result.exit_code == 2
    assert "query" in result.stderr


@pytest.mark.regression("a bad port passed validation and failed in httpx: exit 1, internal error")
@pytest.mark.parametrize("url", ["http://127.0.0.1:abc/v1", "https://127.0.0.1:99999/v1"])
def test_a_base_url_with_a_bad_port_is_refused_before_sending(url: str, run_cli: RunCli) -> None:
    from wan_cli.settings import parse_value

    with pytest.raises(ValueError, match=r"(?i)port"):
        parse_value("base-url", url)
    result = run_cli(["generate", "a fox", "--base-url", url], env={"WAN_API_KEY": KEY})
    assert result.exit_code == 2, result.stderr
    assert "--base-url" in result.stderr and "internal error" not in result.stderr
    stored = run_cli(["config", "set", "base-url", url])
    assert stored.exit_code == 2, stored.stderr

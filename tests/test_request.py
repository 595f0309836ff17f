"""Unit tests for wan_cli.api.request: exact bodies, URLs, headers; validation; dry-run, curl."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wan_cli.api.request import (
    RECOMMENDED_SIZES,
    GenerateInputs,
    PreparedRequest,
    build_request,
    parse_size,
    render_curl,
    render_dry_run,
    validate_inputs,
)
from wan_cli.errors import ExitCode, UsageError

GATEWAY = "https://api.tokenhot.ai/v1/images/generations"
DASHSCOPE = "https://dashscope.aliyuncs.com/api/v1/services/aigc/multimodal-generation/generation"
URL_REF = "https://example.com/ref.jpg?sig=abc&x=1"

# --- tiny images (same shapes as in test_refs; kept local so each file stands alone) -------


def png(width: int = 256, height: int = 256) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = (b"\x00" + b"\x00" * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))


def jpeg(width: int = 320, height: int = 240) -> bytes:
    frame = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    sof = b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame
    return b"\xff\xd8\xff\xe0\x00\x04\x00\x00" + sof + b"\xff\xda\x00\x02\xff\xd9"


def webp(width: int = 400, height: int = 300) -> bytes:
    payload = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.fixture
def images(tmp_path: Path) -> dict[str, tuple[str, bytes]]:
    """name → (path, bytes) for one PNG, one JPEG and one WEBP file."""
    out = {}
    for name, data in (("a.png", png()), ("b.jpg", jpeg()), ("c.webp", webp())):
        (tmp_path / name).write_bytes(data)
        out[name] = (str(tmp_path / name), data)
    return out


def gen(prompt: str = "a red fox", **kw: Any) -> GenerateInputs:
    return GenerateInputs(mode="generate", prompt=prompt, **kw)


def edit(
    refs: tuple[str, ...] = (URL_REF,), prompt: str = "make it blue", **kw: Any
) -> GenerateInputs:
    return GenerateInputs(mode="edit", prompt=prompt, refs=refs, **kw)


def body(content: list[dict[str, str]], parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "wan2.6-image",
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": parameters,
    }


GEN_PARAMS = {"enable_interleave": True, "stream": True, "max_images": 1}
EDIT_PARAMS = {"enable_interleave": False, "stream": True, "n": 1}
STREAM_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}

# --- exact bodies ---------------------------------------------------------------------------


def test_text_only_generate() -> None:
    req = build_request(gen())
    assert req.method == "POST"
    assert req.url == GATEWAY
    assert dict(req.headers) == STREAM_HEADERS
    assert req.json_body() == body([{"text": "a red fox"}], GEN_PARAMS)
    assert (req.provider, req.mode, req.stream, req.refs) == ("gateway", "generate", True, ())


def test_generate_with_local_png(images: dict[str, tuple[str, bytes]]) -> None:
    path, data = images["a.png"]
    req = build_request(gen(refs=(path,)))
    assert req.json_body() == body(
        [{"text": "a red fox"}, {"image": uri("image/png", data)}], GEN_PARAMS
    )
    assert [ref.path for ref in req.refs] == [path]


def test_generate_with_url_ref() -> None:
    req = build_request(gen(refs=(URL_REF,)))
    assert req.json_body() == body([{"text": "a red fox"}, {"image": URL_REF}], GEN_PARAMS)


def test_edit_with_four_mixed_refs_keeps_order(images: dict[str, tuple[str, bytes]]) -> None:
    (p1, d1), (p2, d2), (p4, d4) = images["a.png"], images["b.jpg"], images["c.webp"]
    req = build_request(edit(refs=(p1, p2, URL_REF, p4), prompt="image 1 wearing image 2's hat"))
    assert req.json_body() == body(
        [
            {"text": "image 1 wearing image 2's hat"},
            {"image": uri("image/png", d1)},
            {"image": uri("image/jpeg", d2)},
            {"image": URL_REF},
            {"image": uri("image/webp", d4)},
        ],
        EDIT_PARAMS,
    )
    assert [ref.kind for ref in req.refs] == ["file", "file", "url", "file"]
    assert req.url == GATEWAY
    assert req.mode == "edit"


def test_generate_every_parameter() -> None:
    req = build_request(
        gen(size="960 x 1280", max_images=5, negative_prompt="blurry", seed=42, watermark=False)
    )
    assert req.body["parameters"] == {
        "enable_interleave": True,
        "stream": True,
        "max_images": 5,
        "size": "960*1280",
        "negative_prompt": "blurry",
        "seed": 42,
        "watermark": False,
    }


def test_edit_every_parameter() -> None:
    req = build_request(
        edit(
            size="2k",
            n=4,
            negative_prompt="text",
            seed=0,
            watermark=True,
            prompt_extend=False,
            model="wan2.6-image-preview",
        )
    )
    assert req.json_body() == body(
        [{"text": "make it blue"}, {"image": URL_REF}],
        {
            "enable_interleave": False,
            "stream": True,
            "n": 4,
            "size": "2K",
            "prompt_extend": False,
            "negative_prompt": "text",
            "seed": 0,
            "watermark": True,
        },
    ) | {"model": "wan2.6-image-preview"}


@pytest.mark.parametrize(
    ("inputs", "key", "value"),
    [
        (gen(size="1280*720"), "size", "1280*720"),
        (gen(max_images=3), "max_images", 3),
        (gen(negative_prompt="low quality"), "negative_prompt", "low quality"),
        (gen(seed=2147483647), "seed", 2147483647),
        (gen(watermark=True), "watermark", True),
        (edit(n=2), "n", 2),
        (edit(size="1k"), "size", "1K"),
        (edit(size="2048×1024"), "size", "2048*1024"),
        (edit(prompt_extend=True), "prompt_extend", True),
    ],
)
def test_each_parameter_only_when_given(inputs: GenerateInputs, key: str, value: object) -> None:
    params = build_request(inputs).body["parameters"]
    base = GEN_PARAMS if inputs.mode == "generate" else EDIT_PARAMS
    assert params == base | {key: value}


def test_generate_never_sends_n() -> None:
    assert "n" not in build_request(gen(n=1)).body["parameters"]


def test_edit_without_stream() -> None:
    req = build_request(edit(stream=False))
    assert req.body["parameters"] == EDIT_PARAMS | {"stream": False}
    assert dict(req.headers) == {"Content-Type": "application/json"}
    assert req.stream is False


def test_dashscope_url_and_headers() -> None:
    req = build_request(gen(provider="dashscope"))
    assert req.url == DASHSCOPE
    assert dict(req.headers) == STREAM_HEADERS | {"X-DashScope-SSE": "enable"}
    assert req.json_body() == body([{"text": "a red fox"}], GEN_PARAMS)
    assert req.provider == "dashscope"


def test_dashscope_edit_without_stream_has_no_sse_header() -> None:
    req = build_request(edit(provider="dashscope", stream=False))
    assert dict(req.headers) == {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("provider", "base", "url"),
    [
        ("gateway", "http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1/images/generations"),
        (
            "dashscope",
            "https://dashscope-intl.aliyuncs.com/api/v1",
            "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/multimodal-generation/generation",
        ),
    ],
)
def test_custom_base_url(provider: str, base: str, url: str) -> None:
    assert build_request(gen(provider=provider, base_url=base)).url == url


def test_authorization_is_never_in_headers() -> None:
    for req in (build_request(gen()), build_request(edit(provider="dashscope"))):
        assert all(name.lower() != "authorization" for name in req.headers)


def test_body_bytes_is_compact_utf8_json() -> None:
    req = build_request(gen(prompt='一只狐狸 "quoted"\nnext line'))
    raw = req.body_bytes()
    assert json.loads(raw) == req.json_body()
    assert "一只狐狸".encode() in raw
    assert b", " not in raw and b": " not in raw and b"\n" not in raw


# --- sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("1280*1280", "generate", "1280*1280"),
        ("1280x720", "generate", "1280*720"),
        ("1280X720", "generate", "1280*720"),
        ("1280×720", "generate", "1280*720"),
        (" 800 * 1200 ", "generate", "800*1200"),
        ("768*768", "generate", "768*768"),
        ("2048*2048", "edit", "2048*2048"),
        ("1k", "edit", "1K"),
        (" 2K ", "edit", "2K"),
    ],
)
def test_parse_size_normalises(text: str, mode: str, expected: str) -> None:
    assert parse_size(text, mode) == expected


@pytest.mark.parametrize("mode", ["generate", "edit"])
def test_recommended_sizes_are_valid(mode: str) -> None:
    assert len(RECOMMENDED_SIZES[mode]) == len(set(RECOMMENDED_SIZES[mode]))
    for size in RECOMMENDED_SIZES[mode]:
        assert parse_size(size, mode) == size
    assert ("1K" in RECOMMENDED_SIZES[mode]) == (mode == "edit")


@pytest.mark.parametrize("text", ["big", "1280", "1280*", "1280**720", "-1280*720", "1.5K"])
def test_bad_size_string(text: str) -> None:
    with pytest.raises(UsageError, match=re.escape(f"invalid size '{text}': use W*H")):
        validate_inputs(gen(size=text))


def test_size_preset_is_edit_only() -> None:
    with pytest.raises(UsageError, match="invalid size '1K': use W\\*H"):
        validate_inputs(gen(size="1K"))


def test_size_out_of_range_generate() -> None:
    with pytest.raises(
        UsageError, match=r"2048\*2048 is out of range for generate.*768\*768..1280\*1280"
    ) as info:
        validate_inputs(gen(size="2048*2048"))
    assert info.value.hint is not None and "1280*1280, 800*1200" in info.value.hint


def test_size_out_of_range_edit() -> None:
    with pytest.raises(UsageError, match=r"out of range for edit.*768\*768..2048\*2048"):
        validate_inputs(edit(size="4096*4096"))
    with pytest.raises(UsageError, match=r"out of range for edit"):
        validate_inputs(edit(size="512*512"))


def test_extreme_aspect_ratio() -> None:
    with pytest.raises(UsageError, match=r"4000\*600 has an extreme aspect ratio.*1:4 and 4:1"):
        validate_inputs(edit(size="4000*600"))
    with pytest.raises(UsageError, match="extreme aspect"):
        validate_inputs(gen(size="400*1700"))


@pytest.mark.parametrize(
    ("mode", "size", "past"),
    [
        ("generate", "2048*512", "2048*511"),  # exactly 4:1
        ("generate", "512*2048", "511*2048"),  # exactly 1:4
        ("edit", "4096*1024", "4096*1023"),  # 4:1 at exactly the most pixels (2048*2048)
        ("edit", "1536*384", "1537*384"),  # 4:1 at exactly the fewest pixels (768*768)
    ],
)
def test_the_extreme_allowed_ratio_is_accepted(mode: str, size: str, past: str) -> None:
    assert parse_size(size, mode) == size
    validate_inputs(gen(size=size) if mode == "generate" else edit(size=size))
    with pytest.raises(UsageError, match="extreme aspect"):
        parse_size(past, mode)  # one pixel further is refused, for its ratio alone


# --- one test per bad input ------------------------------------------------------------------


def test_empty_prompt() -> None:
    with pytest.raises(UsageError, match="prompt is empty") as info:
        validate_inputs(gen(prompt=" \n\t"))
    assert info.value.exit_code == ExitCode.USAGE


def test_too_long_prompt() -> None:
    validate_inputs(gen(prompt="x" * 2000))
    with pytest.raises(UsageError, match="2001 characters; the limit is 2000"):
        validate_inputs(gen(prompt="x" * 2001))


def test_too_many_refs_for_generate() -> None:
    with pytest.raises(UsageError, match="at most 1 reference image, got 2"):
        validate_inputs(gen(refs=(URL_REF, URL_REF)))


def test_too_few_refs_for_edit() -> None:
    with pytest.raises(UsageError, match="edit needs 1 to 4 reference images, got 0"):
        validate_inputs(edit(refs=()))


def test_too_many_refs_for_edit() -> None:
    with pytest.raises(UsageError, match="edit needs 1 to 4 reference images, got 5"):
        validate_inputs(edit(refs=(URL_REF,) * 5))


@pytest.mark.parametrize("n", [0, 5, -1])
def test_n_out_of_range(n: int) -> None:
    with pytest.raises(UsageError, match=f"n must be 1..4, got {n}"):
        validate_inputs(edit(n=n))


@pytest.mark.parametrize("max_images", [0, 6])
def test_max_images_out_of_range(max_images: int) -> None:
    with pytest.raises(UsageError, match=f"max_images must be 1..5, got {max_images}"):
        validate_inputs(gen(max_images=max_images))


def test_n_is_for_edit_only() -> None:
    with pytest.raises(UsageError, match="n applies to edit"):
        validate_inputs(gen(n=2))


def test_max_images_is_for_generate_only() -> None:
    with pytest.raises(UsageError, match="max_images applies to generate only"):
        validate_inputs(edit(max_images=2))


def test_prompt_extend_is_for_edit_only() -> None:
    with pytest.raises(UsageError, match="prompt_extend applies to edit only"):
        validate_inputs(gen(prompt_extend=True))


def test_negative_prompt_too_long() -> None:
    validate_inputs(gen(negative_prompt="n" * 500))
    with pytest.raises(UsageError, match="negative prompt is 501 characters; the limit is 500"):
        validate_inputs(gen(negative_prompt="n" * 501))


@pytest.mark.parametrize("seed", [-1, 2147483648])
def test_seed_out_of_range(seed: int) -> None:
    with pytest.raises(UsageError, match=f"seed must be 0..2147483647, got {seed}"):
        validate_inputs(gen(seed=seed))


def test_unknown_provider() -> None:
    with pytest.raises(UsageError, match=r"unknown provider 'openai' \(gateway, dashscope, mock\)"):
        validate_inputs(gen(provider="openai"))


def test_generate_must_stream_on_dashscope() -> None:
    with pytest.raises(UsageError, match="needs streaming on DashScope"):
        validate_inputs(gen(provider="dashscope", stream=False))


@pytest.mark.parametrize("base", ["ftp://host/v1", "not a url", "https://"])
def test_bad_base_url(base: str) -> None:
    with pytest.raises(UsageError, match="invalid base URL"):
        validate_inputs(gen(base_url=base))


def test_missing_ref_file_fails_build(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not found: .*gone\.png"):
        build_request(edit(refs=(URL_REF, str(tmp_path / "gone.png"))))


def test_checks_without_io_come_before_refs(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.png")
    with pytest.raises(UsageError, match="prompt is empty"):
        build_request(edit(refs=(missing,), prompt=""))
    with pytest.raises(UsageError, match="out of range"):
        build_request(edit(refs=(missing,), size="100*100"))
    with pytest.raises(UsageError, match="seed"):
        build_request(edit(refs=(missing,), seed=-5))


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_exact(images: dict[str, tuple[str, bytes]]) -> None:
    path, data = images["a.png"]
    req = build_request(gen(refs=(path,)))
    for pretty in (True, False):
        text = render_dry_run(req, pretty=pretty, abbreviate_data=False)
        assert json.loads(text) == {
            "method": "POST",
            "url": GATEWAY,
            "headers": STREAM_HEADERS,
            "body": req.json_body(),
        }
        assert ("\n" in text) == pretty
    assert uri("image/png", data) in text


def test_dry_run_abbreviates_data_uris(images: dict[str, tuple[str, bytes]]) -> None:
    path, data = images["b.jpg"]
    inline = png(300, 300)
    req = build_request(edit(refs=(path, URL_REF, uri("image/png", inline))))
    doc = json.loads(render_dry_run(req, pretty=True, abbreviate_data=True))
    content = doc["body"]["input"]["messages"][0]["content"]
    digest, inline_digest = hashlib.sha256(data).hexdigest(), hashlib.sha256(inline).hexdigest()
    assert content == [
        {"text": "make it blue"},
        {"image": f"data:image/jpeg;base64,…({len(data)} bytes, sha256 {digest[:12]}…)"},
        {"image": URL_REF},
        {"image": f"data:image/png;base64,…({len(inline)} bytes, sha256 {inline_digest[:12]}…)"},
    ]
    assert doc["body"]["parameters"] == EDIT_PARAMS
    # The request itself is untouched.
    assert req.json_body()["input"]["messages"][0]["content"][1]["image"] == uri("image/jpeg", data)


# --- curl -----------------------------------------------------------------------------------


def test_curl_references_the_env_var_and_no_key() -> None:
    script = render_curl(build_request(gen()))
    assert '-H "Authorization: Bearer $WAN_API_KEY"' in script
    assert script.count("Bearer") == 1
    assert " -N " in script
    assert "--data-binary @- <<'JSON'\n" in script
    assert script.endswith("\nJSON\n")


def test_curl_without_stream_has_no_N() -> None:
    script = render_curl(build_request(edit(stream=False)))
    assert " -N" not in script
    assert "Accept" not in script


def test_curl_is_valid_bash(images: dict[str, tuple[str, bytes]]) -> None:
    req = build_request(edit(refs=(images["a.png"][0], URL_REF), prompt="it's $HOME `id` 'JSON'"))
    subprocess.run(["bash", "-n"], input=render_curl(req), text=True, check=True)


class _Capture(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str], bytes]] = []  # noqa: RUF012 - test-only sink

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.seen.append((self.path, dict(self.headers), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def capture_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Handler", (_Capture,), {"seen": seen})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_sends_the_exact_request(
    capture_server: tuple[str, list[tuple[str, dict[str, str], bytes]]],
    images: dict[str, tuple[str, bytes]],
) -> None:
    base, seen = capture_server
    tricky = "fox $HOME `id` $(id) 'JSON'\nJSON\n\"quoted\" 一只"
    req = build_request(gen(prompt=tricky, refs=(images["c.webp"][0],), base_url=base))
    env = {"PATH": os.environ["PATH"], "WAN_API_KEY": "sk-test-123", "NO_PROXY": "*"}
    done = subprocess.run(
        ["bash", "-c", render_curl(req)], env=env, capture_output=True, timeout=20, check=True
    )
    assert done.stdout == b"{}"
    ((path, headers, raw),) = seen
    assert path == "/v1/images/generations"
    assert headers["Authorization"] == "Bearer sk-test-123"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "text/event-stream"
    assert raw == req.body_bytes() + b"\n"  # the heredoc's final newline; JSON ignores it
    assert json.loads(raw) == req.json_body()


# --- misc -----------------------------------------------------------------------------------


def test_prepared_request_repr_has_no_base64(images: dict[str, tuple[str, bytes]]) -> None:
    path, data = images["a.png"]
    req = build_request(gen(refs=(path,)))
    assert isinstance(req, PreparedRequest)
    assert base64.b64encode(data).decode()[:40] not in repr(req)


def test_import_does_not_pull_httpx() -> None:
    code = "import sys, wan_cli.api.request; assert 'httpx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_body_bytes_with_large_inline_images_is_exactly_the_json(tmp_path: Path) -> None:
    import json

    big = tmp_path / "big.png"
    big.write_bytes(png(300, 300) + b"\0" * 200_000)  # trailing bytes: still a PNG
    inputs = GenerateInputs(mode="edit", prompt='say "hi" — 秋天\n', refs=(str(big), str(big)))
    req = build_request(inputs)
    expected = json.dumps(req.json_body(), ensure_ascii=False, separators=(",", ":")).encode()
    assert req.body_bytes() == expected
    assert req.content_length() == len(expected)
    assert b"".join(req.body_chunks()) == expected

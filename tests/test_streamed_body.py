"""The request body is streamed: a local reference image's base64 is made from its file as the
body is sent, slice by slice, checked to be the file that was validated, and made again for
every attempt. The bytes sent are exactly the compact JSON of the whole body."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.fakeapi import FakeAPI, Reply, png_bytes
from wan_cli.api.client import RetryPolicy, make_api_client, open_answer
from wan_cli.api.request import GenerateInputs, PreparedRequest, build_request, render_dry_run
from wan_cli.errors import UsageError
from wan_cli.files.refs import ENCODE_SLICE, load_ref

API = "/v1/images/generations"


def _image(path: Path, size: int, fill: int = 7) -> bytes:
    """A PNG header padded to exactly `size` bytes (a reference only needs its header)."""
    data = png_bytes(300, 300)
    data += bytes([fill]) * (size - len(data))
    path.write_bytes(data)
    return data


def _edit(*refs: str, base_url: str | None = None) -> PreparedRequest:
    inputs = GenerateInputs(mode="edit", prompt='blend "them" — 秋天', refs=refs, base_url=base_url)
    return build_request(inputs)


def _expected(req: PreparedRequest) -> bytes:
    return json.dumps(req.json_body(), ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "size",
    [ENCODE_SLICE - 1, ENCODE_SLICE, ENCODE_SLICE + 1, 2 * ENCODE_SLICE + 2, 3 * ENCODE_SLICE],
)
def test_a_file_is_encoded_in_slices_that_join_into_its_data_uri(tmp_path: Path, size: int) -> None:
    data = _image(tmp_path / "a.png", size)
    ref = load_ref(str(tmp_path / "a.png"))
    assert ref.from_path and ref.value == "data:image/png;base64,"
    chunks = list(ref.chunks())
    assert b"".join(chunks) == b"data:image/png;base64," + base64.b64encode(data)
    assert ref.encoded_length() == sum(len(chunk) for chunk in chunks)
    assert max(len(chunk) for chunk in chunks) <= 4 * ENCODE_SLICE // 3 * 2  # never whole


def test_the_body_streams_exactly_its_json(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", ENCODE_SLICE + 5)
    _image(tmp_path / "b.png", 100, fill=1)
    inline = (
        "data:image/png;base64," + base64.b64encode(png_bytes(300, 300) + b"\0" * 9000).decode()
    )
    req = _edit(
        str(tmp_path / "a.png"), "https://example.com/x.png", inline, str(tmp_path / "b.png")
    )
    expected = _expected(req)
    assert b"".join(req.body_chunks()) == expected == req.body_bytes()
    assert req.content_length() == len(expected)
    # Nothing of a file's base64 is held by the request before it is sent.
    assert base64.b64encode((tmp_path / "a.png").read_bytes()[:3000]).decode() not in repr(req.body)


def test_dry_run_is_the_same_document_as_before(tmp_path: Path) -> None:
    data = _image(tmp_path / "a.png", 5000)
    req = _edit(str(tmp_path / "a.png"))
    full = json.loads(render_dry_run(req, pretty=False, abbreviate_data=False))
    content = full["body"]["input"]["messages"][0]["content"]
    assert content[1] == {"image": "data:image/png;base64," + base64.b64encode(data).decode()}
    short = json.loads(render_dry_run(req, pretty=True, abbreviate_data=True))
    image = short["body"]["input"]["messages"][0]["content"][1]["image"]
    assert image.startswith("data:image/png;base64,…(5000 bytes, sha256 ")


def test_a_pipe_is_not_a_reference(tmp_path: Path) -> None:
    """Only regular files are references (issue 16): a FIFO is refused at once, unopened, so
    neither the streamed body nor the check can block on it."""
    from wan_cli.errors import UsageError

    fifo = tmp_path / "ref.png"
    os.mkfifo(fifo)
    with pytest.raises(UsageError):
        load_ref(str(fifo))


@pytest.mark.regression("a reference file that changes after it was checked must not be sent")
@pytest.mark.parametrize("change", ["same size", "grown", "shrunk", "removed"])
def test_a_file_changed_after_checking_is_never_sent_whole(tmp_path: Path, change: str) -> None:
    path = tmp_path / "a.png"
    size = 2 * ENCODE_SLICE + 10
    _image(path, size)
    ref = load_ref(str(path))
    if change == "same size":
        _image(path, size, fill=8)
    elif change == "grown":
        _image(path, size + 1)
    elif change == "shrunk":
        _image(path, size - 1)
    else:
        path.unlink()
    sent = []
    with pytest.raises(UsageError, match=r"changed while|cannot read") as info:
        for chunk in ref.chunks():
            sent.append(chunk)
    assert sum(len(chunk) for chunk in sent) < ref.encoded_length()
    assert str(path) in info.value.message


def _answer() -> Reply:
    return Reply.json({"output": {"choices": []}, "request_id": "r"})


def test_the_body_is_sent_with_its_length_and_made_again_for_a_retry(
    fake_api: FakeAPI, tmp_path: Path
) -> None:
    _image(tmp_path / "a.png", 3 * ENCODE_SLICE + 7)
    req = _edit(str(tmp_path / "a.png"), base_url=f"{fake_api.url}/v1")
    fake_api.add(API, Reply.status(503, headers={"Retry-After": "0"}), _answer())
    with (
        make_api_client(10) as client,
        open_answer(client, req, "sk-test", RetryPolicy(retries=1), sleep=lambda _: None) as answer,
    ):
        answer.read()
    first, second = fake_api.requests_to(API)
    expected = _expected(req)
    for sent in (first, second):
        assert sent.body == expected
        assert sent.headers["Content-Length"] == str(len(expected))
        assert "Transfer-Encoding" not in sent.headers


def test_a_file_changed_before_sending_stops_the_request(fake_api: FakeAPI, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    _image(path, 2 * ENCODE_SLICE)
    req = _edit(str(path), base_url=f"{fake_api.url}/v1")
    _image(path, 2 * ENCODE_SLICE, fill=9)
    fake_api.add(API, _answer())
    with (
        make_api_client(10) as client,
        pytest.raises(UsageError, match="changed while the request was being sent"),
        open_answer(client, req, "sk-test", RetryPolicy(retries=2), sleep=lambda _: None),
    ):
        pass
    whole = req.content_length()
    assert all(len(sent.body) < whole for sent in fake_api.requests_to(API))

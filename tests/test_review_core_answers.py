"""Review of the core run path: answer shapes the service (or a proxy) may send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.fakeapi import FakeAPI, Reply, sse_chunk

API = "/v1/images/generations"
ENV = {"WAN_API_KEY": "sk-test-secret-key-9876"}


def _frame(document: dict[str, object]) -> str:
    return f"id:1\nevent:result\n:HTTP_STATUS/200\ndata:{json.dumps(document)}\n\n"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_a_stream_under_another_content_type_still_saves_its_images(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path, content_type: str
) -> None:
    # A proxy or gateway that relabels (or drops) `text/event-stream` must not lose a paid image.
    url = fake_api.image_url()
    body = _frame(
        {
            "output": {
                "choices": [
                    {
                        "message": {"content": [{"type": "text", "text": "A fox"}]},
                        "finish_reason": "null",
                    }
                ]
            },
            "request_id": "r-1",
        }
    ) + _frame(
        {
            "output": {
                "choices": [
                    {
                        "message": {"content": [{"type": "image", "image": url}]},
                        "finish_reason": "stop",
                    }
                ]
            },
            "request_id": "r-1",
        }
    )
    fake_api.add(API, Reply.bytes(body.encode(), content_type=content_type))
    args = ["generate", "a fox", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path), "--json"]
    result = run_cli(args, env=ENV)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["text"] == "A fox" and document["request_id"] == "r-1"
    [image] = document["images"]
    assert image["url"] == url and Path(image["path"]).exists()


def test_an_unsaved_link_with_control_characters_cannot_drive_the_terminal(
    fake_api: FakeAPI, run_cli: RunCli, tmp_path: Path
) -> None:
    # stdout may be a terminal too: the service's link is printed with its control characters
    # percent-encoded (as in any URL), and still on one line.
    url = f"{fake_api.url}/img/a\x1b]0;pwned\x07\nb.png"
    fake_api.add(API, Reply.sse([sse_chunk(image=url, finish="stop")]))
    args = ["generate", "a fox", "--base-url", f"{fake_api.url}/v1", "-o", str(tmp_path)]
    result = run_cli(args, env=ENV)
    assert result.exit_code == 7
    assert result.stdout == f"{fake_api.url}/img/a%1B]0;pwned%07%0Ab.png\n"

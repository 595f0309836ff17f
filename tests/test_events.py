"""Unit tests for wan_cli.api.sse and wan_cli.api.events: every answer shape in, typed events out
(no network)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from wan_cli.api.events import (
    ApiError,
    Done,
    Event,
    ImageRef,
    RequestId,
    StreamCut,
    TaskCreated,
    TextDelta,
    Usage,
    error_event,
    events_from_json,
    events_from_sse,
    looks_like_image_link,
    usage_from,
)
from wan_cli.api.events.inline import InlineImage
from wan_cli.api.sse import SSEMessage, iter_sse
from wan_cli.errors import ApiRejected, AuthError, ServiceUnavailable, error_from_api

T = TypeVar("T")
ANSWERS = Path(__file__).parent / "data" / "answers"
RID = "7d2b6c3e-9f1a-4b8e-a5d2-3c1e0f9a8b71"
URL1 = (
    "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/1d/8f/20251225/6a1c0b57/"
    "a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d.png?Expires=1766745600&OSSAccessKeyId=TESTID"
    "&Signature=oX1%2FAbcDeF%3D"
)
URL2 = (
    "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/1d/8f/20251225/6a1c0b57/"
    "b7e2d3f4-6a7b-4c8d-9e0f-1a2b3c4d5e6f.png?Expires=1766745600&OSSAccessKeyId=TESTID"
    "&Signature=Zq9%2BxYw%3D"
)
# The smallest real PNG header, enough to tell bytes survived base64.
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
# Inline images keep their base64 (decoded when saved): equal whatever header came before it.
PNG_INLINE = InlineImage(base64.b64encode(PNG_BYTES).decode())


def sse(chunks: Iterable[bytes]) -> list[Event]:
    return list(events_from_sse(iter_sse(chunks)))


def sse_text(text: str) -> list[Event]:
    return sse([text.encode()])


def chunk(content: list[dict[str, str]], finish: str = "null", **usage: int) -> str:
    """One DashScope stream frame, as the service writes it (no space after colons)."""
    tokens = {"input_tokens": 28, "output_tokens": 3, "total_tokens": 31, **usage}
    document = {
        "output": {
            "choices": [
                {"message": {"content": content, "role": "assistant"}, "finish_reason": finish}
            ],
            "finished": finish != "null",
        },
        "usage": tokens,
        "request_id": RID,
    }
    return f"id:1\nevent:result\n:HTTP_STATUS/200\ndata:{json.dumps(document)}\n\n"


def text_item(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}


def image_item(url: str) -> dict[str, str]:
    return {"type": "image", "image": url}


def recorded(name: str) -> bytes:
    return (ANSWERS / name).read_bytes()


def recorded_json(name: str) -> object:
    return json.loads(recorded(name))


def of_type(events: list[Event], kind: type[T]) -> list[T]:
    return [event for event in events if isinstance(event, kind)]


# ---------------------------------------------------------------------------------------------
# SSE framing
# ---------------------------------------------------------------------------------------------


def test_iter_sse_reads_dashscope_framing() -> None:
    messages = list(iter_sse([recorded("dashscope_interleave.sse")]))
    assert len(messages) == 7
    assert messages[0].event == "result"
    assert messages[0].id == "1"
    assert messages[-1].id == "7"
    assert json.loads(messages[0].data)["request_id"] == RID


def test_iter_sse_byte_by_byte_equals_whole() -> None:
    body = recorded("dashscope_interleave.sse")
    whole = list(iter_sse([body]))
    assert list(iter_sse(body[i : i + 1] for i in range(len(body)))) == whole
    assert list(iter_sse([body[:7], body[7:300], body[300:]])) == whole


def test_multibyte_characters_split_across_chunks() -> None:
    body = recorded("dashscope_interleave.sse")
    events = sse(body[i : i + 1] for i in range(len(body)))
    texts = [event.text for event in of_type(events, TextDelta)]
    assert "Step 2: steep the leaves — 三分钟。" in texts


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_crlf_and_lone_cr_line_endings(newline: str) -> None:
    body = recorded("dashscope_interleave.sse")
    expected = sse([body])
    converted = body.decode().replace("\n", newline).encode()
    assert sse([converted]) == expected
    # A CR at the end of one chunk and its LF (or the next line) at the start of the next.
    assert sse(converted[i : i + 1] for i in range(len(converted))) == expected


def test_bom_is_stripped_even_split_across_chunks() -> None:
    frame = chunk([text_item("hi")], "stop")
    # The BOM sits right before `id:`; with the BOM kept the field name would be "\ufeffid".
    body = b"\xef\xbb\xbf" + frame.replace("id:1\nevent:result\n:HTTP_STATUS/200\n", "").encode()
    assert body.startswith(b"\xef\xbb\xbfdata:")
    expected = [RequestId(RID), TextDelta("hi"), Usage(28, 3, 31), Done("stop")]
    assert sse([body]) == expected
    assert sse(body[i : i + 1] for i in range(len(body))) == expected


def test_final_event_without_trailing_blank_line_is_delivered() -> None:
    body = recorded("dashscope_interleave.sse").rstrip(b"\n")
    events = sse([body])
    assert events[-1] == Done("stop")
    assert sse([body + b"\n"])[-1] == Done("stop")  # one newline: the blank line is missing


def test_invalid_utf8_does_not_raise() -> None:
    body = b'data:{"output":{"choices":[{"message":{"content":[{"type":"text","text":"a\xff"}]}'
    body += b',"finish_reason":"stop"}]}}\n\n'
    assert sse([body]) == [TextDelta("a\ufffd"), Done("stop")]


def test_id_only_frames_and_comments_are_skipped() -> None:
    messages = list(iter_sse([b":keep-alive\n\nid:5\n\n:HTTP_STATUS/200\n\n"]))
    assert messages == []


# ---------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------


def test_long_interleaved_stream() -> None:
    events = sse([recorded("dashscope_interleave.sse")])
    content = [event for event in events if isinstance(event, TextDelta | ImageRef)]
    assert content == [
        TextDelta("Here is a three-step recipe for "),
        TextDelta("autumn tea. Step 1: warm the pot."),
        TextDelta("\n\n"),
        ImageRef(0, url=URL1),
        TextDelta("Step 2: steep the leaves — 三分钟。"),
        ImageRef(1, url=URL2),
        TextDelta("Step 3: pour and enjoy."),  # the final "stop" chunk still carries content
    ]
    assert events[0] == RequestId(RID)
    assert of_type(events, RequestId) == [RequestId(RID)]  # every chunk repeats it: once only
    assert events[-1] == Done("stop")
    assert isinstance(events[-2], Usage)  # the final chunk's usage comes before Done
    usages = of_type(events, Usage)
    # Usage is cumulative: the newest one comes before each image and before Done, not with
    # every text fragment.
    assert len(usages) == 3
    for image in of_type(events, ImageRef):
        assert isinstance(events[events.index(image) - 1], Usage)
    assert usages[-1] == Usage(28, 38, 66, 2, "1280*1280")
    assert usages[-1].raw["image_count"] == 2


def test_stream_stops_after_done() -> None:
    body = chunk([text_item("a")], "stop") + chunk([text_item("after")])
    assert of_type(sse_text(body), TextDelta) == [TextDelta("a")]


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_any_non_null_finish_reason_ends_the_stream(reason: str) -> None:
    events = sse_text(chunk([text_item("a")]) + chunk([], reason))
    assert events[-1] == Done(reason)


def test_json_null_finish_reason_is_not_final() -> None:
    frame = (
        'data:{"output":{"choices":[{"message":{"content":[{"text":"a"}]},"finish_reason":null}]}}'
    )
    assert sse_text(frame + "\n\n") == [
        TextDelta("a"),
        StreamCut("the stream ended before the final chunk"),
    ]


def test_cut_stream_without_final_chunk() -> None:
    body = recorded("dashscope_interleave.sse").split(b"\n\n")
    events = sse([b"\n\n".join(body[:5]) + b"\n\n"])
    assert events[-1] == StreamCut("the stream ended before the final chunk")
    assert not of_type(events, Done)
    assert of_type(events, ImageRef) == [ImageRef(0, url=URL1)]


def test_empty_stream_is_cut() -> None:
    assert sse([]) == [StreamCut("the stream ended before the final chunk")]
    assert sse([b":HTTP_STATUS/200\n\n"]) == [StreamCut("the stream ended before the final chunk")]


def test_usage_is_emitted_before_images_and_the_end_when_it_changed() -> None:
    body = (
        chunk([text_item("a")], output_tokens=3)
        + chunk([image_item(URL1)], output_tokens=3)  # usage before it: 3 (the newest seen)
        + chunk([text_item("b")], output_tokens=3)
        + chunk([image_item(URL2)], output_tokens=3)  # unchanged since: none before it
        + chunk([text_item("c")], output_tokens=4, total_tokens=32)
        + chunk([], "stop", output_tokens=4, total_tokens=32)
    )
    events = sse_text(body)
    assert [type(e).__name__ for e in events if not isinstance(e, TextDelta)] == [
        "RequestId",
        "Usage",
        "ImageRef",
        "ImageRef",
        "Usage",
        "Done",
    ]
    assert [usage.output_tokens for usage in of_type(events, Usage)] == [3, 4]


def test_usage_comes_before_an_error_or_a_cut() -> None:
    error = chunk([text_item("a")], output_tokens=5) + (
        'event:error\ndata:{"code":"InternalError","message":"x"}\n\n'
    )
    assert [type(e).__name__ for e in sse_text(error)][-2:] == ["Usage", "ApiError"]
    cut = chunk([text_item("a")], output_tokens=5)
    events = sse_text(cut)
    assert events[-2] == Usage(28, 5, 31)
    assert isinstance(events[-1], StreamCut)


def test_image_item_shapes_and_dedupe_in_stream() -> None:
    body = (
        chunk([{"image": URL1}])
        + chunk([image_item(URL1)])  # the same link again: not a second image
        + chunk([{"type": "image", "url": URL2}], "stop")
    )
    assert of_type(sse_text(body), ImageRef) == [ImageRef(0, url=URL1), ImageRef(1, url=URL2)]


def test_links_in_streamed_text_are_not_extracted() -> None:
    # A fragment may end mid-URL; the stream sends images as image items.
    body = chunk([text_item("see ![x](https://cdn.example.com/a.pn")]) + chunk(
        [text_item("g)")], "stop"
    )
    events = sse_text(body)
    assert not of_type(events, ImageRef)
    assert of_type(events, TextDelta) == [
        TextDelta("see ![x](https://cdn.example.com/a.pn"),
        TextDelta("g)"),
    ]


@pytest.mark.parametrize("event_line", ["event:error", "event: error"])
def test_error_event(event_line: str) -> None:
    body = (
        chunk([text_item("a")])
        + f'{event_line}\ndata:{{"code":"DataInspectionFailed","message":"Output data may '
        'contain inappropriate content."}\n\n' + chunk([text_item("never")], "stop")
    )
    events = sse_text(body)
    assert events[-1] == ApiError(
        "DataInspectionFailed", "Output data may contain inappropriate content.", RID
    )
    assert TextDelta("never") not in events


def test_recorded_error_stream() -> None:
    events = sse([recorded("error_400.sse")])
    assert events == [ApiError("InvalidParameter", "num_images_per_prompt must be 1", RID)]


def test_error_event_with_plain_text_data() -> None:
    assert sse_text("event:error\ndata:upstream timeout\n\n") == [
        ApiError(None, "upstream timeout", None)
    ]
    assert sse_text("event:error\n\n") == [ApiError(None, "the service reported an error", None)]


def test_data_with_code_and_msg_instead_of_output_is_an_error() -> None:
    body = (
        'data:{"code":"Throttling.RateQuota","msg":"Requests rate limit exceeded",'
        '"request_id":"r-9"}\n\n'
    )
    assert sse_text(body) == [
        RequestId("r-9"),
        ApiError("Throttling.RateQuota", "Requests rate limit exceeded", "r-9"),
    ]


def test_invalid_json_in_data_is_a_stream_cut() -> None:
    events = sse_text(chunk([text_item("a")]) + 'data:{"output":{"choi\n\n')
    assert isinstance(events[-1], StreamCut)
    assert events[-1].reason.startswith("unreadable data in the stream: ")
    assert TextDelta("a") in events


def test_non_object_json_in_data_is_a_stream_cut() -> None:
    events = sse_text("data:[1, 2]\n\n")
    assert isinstance(events[0], StreamCut)
    assert len(events) == 1


def test_keep_alives_and_empty_data_are_ignored() -> None:
    body = (
        ":keep-alive\n\n"
        + "data:\n\n"
        + "data: \n\n"
        + chunk([text_item("a")])
        + ":HTTP_STATUS/200\n\n"
        + 'data:{"heartbeat":true}\n\n'
        + chunk([], "stop")
    )
    assert [type(event) for event in sse_text(body)] == [RequestId, TextDelta, Usage, Done]


def test_openai_chat_chunks() -> None:
    body = (
        'data: {"id":"c1","choices":[{"delta":{"role":"assistant","content":"Hel"},'
        '"finish_reason":null}]}\n\n'
        'data: {"id":"c1","choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
        'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,'
        '"total_tokens":7}}\n\n'
        "data: [DONE]\n\n"
    )
    assert sse_text(body) == [TextDelta("Hel"), TextDelta("lo"), Usage(5, 2, 7), Done("stop")]
    # Without [DONE], a finish_reason seen is enough.
    assert sse_text(body.replace("data: [DONE]\n\n", ""))[-1] == Done("stop")


def test_stream_carrying_one_whole_answer() -> None:
    document = recorded_json("gateway_doc.json")
    events = sse_text(f"data:{json.dumps(document)}\n\n")
    assert events == list(events_from_json(document))
    assert events[-1] == Done(None)


def test_stream_of_gateway_shaped_pieces_ends_with_the_stream() -> None:
    def piece(text: str) -> str:
        document = {"output": [{"type": "message", "content": [text_item(text)]}]}
        return f"data:{json.dumps(document)}\n\n"

    events = sse_text(piece("An umbrella, ") + piece(f"![]({URL1})") + piece("in autumn."))
    assert events == [
        TextDelta("An umbrella, "),
        ImageRef(0, url=URL1),
        TextDelta("in autumn."),
        Done(None),  # no finish marker in this shape: nothing after the last piece is lost
    ]
    assert sse_text('data:{"output":[]}\n\n') == [
        ApiError("UnexpectedAnswer", "the stream's answer holds no image and no text")
    ]
    assert sse_text('data:{"data":[{"b64_json":"abc"}]}\n\n' + piece("x")) == [
        ApiError("UnexpectedAnswer", "an image's base64 data is unreadable")
    ]


# ---------------------------------------------------------------------------------------------
# Whole JSON answers
# ---------------------------------------------------------------------------------------------


def test_dashscope_json_reads_every_choice_in_order() -> None:
    events = list(events_from_json(recorded_json("dashscope_edit_n2.json")))
    assert events == [
        RequestId(RID),
        ImageRef(0, url=URL1),
        ImageRef(1, url=URL2),
        Usage(0, 0, 0, 2, "1376*768"),
        Done("stop"),
    ]


def test_dashscope_json_with_text_and_image() -> None:
    document = {
        "output": {
            "choices": [
                {
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": [{"text": "An umbrella in autumn."}, {"image": URL1}],
                    },
                }
            ]
        },
        "request_id": RID,
    }
    assert list(events_from_json(document)) == [
        RequestId(RID),
        TextDelta("An umbrella in autumn."),
        ImageRef(0, url=URL1),
        Done("stop"),
    ]


def test_gateway_documented_shape() -> None:
    events = list(events_from_json(recorded_json("gateway_doc.json")))
    assert events[:2] == [
        RequestId("req_uuid_123456"),
        TextDelta("This is a description or image link"),
    ]
    usage = events[2]
    assert usage == Usage(input_tokens=500, output_tokens=1000, total_tokens=1500)
    assert isinstance(usage, Usage)
    assert usage.raw["output_tokens_details"] == {"reasoning_tokens": 0}
    assert events[3] == Done(None)
    assert len(events) == 4


def test_gateway_links_in_text_are_extracted_and_deduped() -> None:
    events = list(events_from_json(recorded_json("gateway_links.json")))
    assert events[1] == TextDelta(
        "秋天的伞：\n[image 1]\nA second take: [image 2].\nSame as the first: [image 1] — "
        "docs at https://help.aliyun.com/zh/model-studio/wan-image-api"
    )
    assert of_type(events, ImageRef) == [
        ImageRef(0, url=URL1),
        ImageRef(1, url=URL2),  # the image item with the URL under "text" repeats it: once
        ImageRef(2, url="https://cdn.example.com/r/8f3a1c"),  # a text item that is only a URL
    ]
    assert len(of_type(events, TextDelta)) == 1  # the URL-only item leaves no text behind
    assert events[-1] == Done(None)


def _gateway(*texts: str) -> list[Event]:
    content = [{"type": "text", "text": text} for text in texts]
    return list(events_from_json({"output": [{"type": "message", "content": content}]}))


@pytest.mark.parametrize(
    ("text", "kept", "images"),
    [
        ("Done: ![](https://x.test/a.png)", "Done: [image 1]", ["https://x.test/a.png"]),
        (  # a markdown image need not have an image extension; titles are allowed
            '![cat](https://x.test/render?id=7 "A cat")!',
            "[image 1]!",
            ["https://x.test/render?id=7"],
        ),
        ("[the file](https://x.test/a.JPG?sig=1)", None, ["https://x.test/a.JPG?sig=1"]),
        ("[docs](https://x.test/guide)", "[docs](https://x.test/guide)", []),
        ("(see https://x.test/a.webp).", "(see [image 1]).", ["https://x.test/a.webp"]),
        ("链接：https://x.test/b.jpeg，然后", "链接：[image 1]，然后", ["https://x.test/b.jpeg"]),
        ("visit https://x.test/page now", "visit https://x.test/page now", []),
        (
            "a https://x.test/p.png b https://x.test/p.png",
            "a [image 1] b [image 1]",
            ["https://x.test/p.png"],
        ),
        (
            "https://x.test/a.png\nhttps://x.test/b.png",
            None,
            ["https://x.test/a.png", "https://x.test/b.png"],
        ),
        ("  https://x.test/no-extension  ", None, ["https://x.test/no-extension"]),
    ],
)
def test_link_extraction_heuristic(text: str, kept: str | None, images: list[str]) -> None:
    events = _gateway(text)
    texts = of_type(events, TextDelta)
    assert texts == ([TextDelta(kept)] if kept is not None else [])
    assert of_type(events, ImageRef) == [ImageRef(i, url=url) for i, url in enumerate(images)]
    assert events[-1] == Done(None)


def test_text_comes_before_the_images_it_names() -> None:
    events = _gateway("one ![](https://x.test/1.png)", "two ![](https://x.test/2.png)")
    assert events == [
        TextDelta("one [image 1]"),
        ImageRef(0, url="https://x.test/1.png"),
        TextDelta("two [image 2]"),
        ImageRef(1, url="https://x.test/2.png"),
        Done(None),
    ]


def test_markdown_data_uri_image_is_decoded() -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
    events = _gateway(f"here ![]({uri})")
    assert events[0] == TextDelta("here [image 1]")
    assert events[1] == ImageRef(0, data=PNG_INLINE)


def test_looks_like_image_link() -> None:
    assert looks_like_image_link("https://x.test/a/b.PNG?Expires=1&Signature=a.b")
    assert looks_like_image_link("https://x.test/a.jpg#frag")
    assert not looks_like_image_link("https://x.test/a.png.html")
    assert not looks_like_image_link("https://x.test/get?file=a.png")


def test_openai_images_urls_and_b64() -> None:
    encoded = base64.b64encode(PNG_BYTES).decode()
    document = {
        "created": 1766745600,
        "data": [
            {"url": URL1, "revised_prompt": "An autumn-style painting of an umbrella"},
            {"b64_json": encoded},
            {"b64_json": "data:image/png;base64," + encoded},
        ],
        "usage": {"input_tokens": 20, "output_tokens": 4160, "total_tokens": 4180},
    }
    events = list(events_from_json(document))
    images = of_type(events, ImageRef)
    assert images == [
        ImageRef(0, url=URL1, revised_prompt="An autumn-style painting of an umbrella"),
        ImageRef(1, data=PNG_INLINE),
        ImageRef(2, data=PNG_INLINE),
    ]
    assert not of_type(events, TextDelta)  # revised_prompt rides on the ImageRef
    assert events[-2:] == [Usage(20, 4160, 4180), Done(None)]


def test_openai_unreadable_b64_is_an_error() -> None:
    events = list(events_from_json({"data": [{"b64_json": "abc"}]}))
    assert events == [ApiError("UnexpectedAnswer", "an image's base64 data is unreadable")]


def test_older_dashscope_results_shape() -> None:
    encoded = base64.b64encode(PNG_BYTES).decode()
    document = {
        "output": {"results": [{"url": URL1}, {"b64_image": encoded}]},
        "usage": {"image_count": 2},
    }
    assert list(events_from_json(document)) == [
        ImageRef(0, url=URL1),
        ImageRef(1, data=PNG_INLINE),
        Usage(image_count=2),
        Done(None),
    ]


def test_openai_chat_completion_with_images() -> None:
    document = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Here you go.",
                    "images": [{"type": "image_url", "image_url": {"url": URL1}}],
                },
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
    }
    assert list(events_from_json(document)) == [
        TextDelta("Here you go."),
        ImageRef(0, url=URL1),
        Usage(12, 30, 42),
        Done("stop"),
    ]


def test_async_task_created() -> None:
    events = list(events_from_json(recorded_json("task_created.json")))
    assert events == [
        RequestId("4909100c-7b5a-9f92-bfe5-xxxxxx"),
        TaskCreated("0385dc79-5ff8-4d82-bcb6-xxxxxx", "PENDING"),
    ]


def test_async_task_succeeded_and_failed() -> None:
    succeeded = {
        "request_id": "r1",
        "output": {
            "task_id": "t1",
            "task_status": "SUCCEEDED",
            "choices": [{"finish_reason": "stop", "message": {"content": [{"image": URL1}]}}],
        },
        "usage": {"image_count": 1, "size": "1280*1280"},
    }
    assert list(events_from_json(succeeded)) == [
        RequestId("r1"),
        TaskCreated("t1", "SUCCEEDED"),
        ImageRef(0, url=URL1),
        Usage(image_count=1, size="1280*1280"),
        Done("stop"),
    ]
    failed = {
        "request_id": "r2",
        "output": {
            "task_id": "t2",
            "task_status": "FAILED",
            "code": "InvalidParameter",
            "message": "The size is not match the allowed size",
        },
    }
    assert list(events_from_json(failed)) == [
        RequestId("r2"),
        TaskCreated("t2", "FAILED"),
        ApiError("InvalidParameter", "The size is not match the allowed size", "r2", 200),
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r"},
            ApiError("InvalidApiKey", "Invalid API-key provided.", "r", 200),
        ),
        (
            {"code": "Throttling", "msg": "Requests throttling triggered."},
            ApiError("Throttling", "Requests throttling triggered.", None, 200),
        ),
        (
            {
                "error": {
                    "code": None,
                    "message": "Model not found",
                    "type": "invalid_request_error",
                }
            },
            ApiError("invalid_request_error", "Model not found", None, 200),
        ),
    ],
)
def test_error_documents(document: object, expected: ApiError) -> None:
    assert list(events_from_json(document)) == [expected]


def test_error_status_with_answer_shaped_body_is_still_an_error() -> None:
    events = list(events_from_json({"output": {}, "request_id": "r"}, status=500))
    assert events == [
        ApiError(None, "HTTP 500 Internal Server Error (JSON keys: output, request_id)", "r", 500)
    ]


def test_unknown_shape_is_an_error_not_success() -> None:
    events = list(events_from_json({"result": "ok", "id": 5}))
    assert events == [
        ApiError(
            "UnexpectedAnswer",
            "the answer holds no image and no text (JSON keys: id, result)",
            None,
            200,
        )
    ]
    empty = list(events_from_json({"output": {"choices": []}, "request_id": "r"}))
    assert isinstance(empty[-1], ApiError)
    assert empty[-1].code == "UnexpectedAnswer"
    assert list(events_from_json([1, 2])) == [
        ApiError("UnexpectedAnswer", "the answer is a JSON list, not an object", None, 200)
    ]


# ---------------------------------------------------------------------------------------------
# HTTP error answers
# ---------------------------------------------------------------------------------------------


def test_error_event_json_bodies() -> None:
    body = b'{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"r-1"}'
    assert error_event(401, body, "application/json") == ApiError(
        "InvalidApiKey", "Invalid API-key provided.", "r-1", 401
    )
    body = b'\xef\xbb\xbf{"code":"Throttling.RateQuota","msg":"Requests rate limit exceeded"}'
    assert error_event(429, body, None) == ApiError(
        "Throttling.RateQuota", "Requests rate limit exceeded", None, 429
    )


def test_error_event_openai_style_hides_echoed_keys() -> None:
    body = (
        b'{"error":{"message":"Incorrect API key provided: sk-proj-AbC123xYz. You can find '
        b'your key at ...","type":"invalid_request_error","code":"invalid_api_key"}}'
    )
    error = error_event(401, body, "application/json; charset=utf-8")
    assert error.code == "invalid_api_key"
    assert error.message is not None
    assert "AbC123xYz" not in error.message
    assert "sk-***" in error.message


def test_error_event_sse_framed() -> None:
    error = error_event(400, recorded("error_400.sse"), "text/event-stream;charset=UTF-8")
    assert error == ApiError("InvalidParameter", "num_images_per_prompt must be 1", RID, 400)


def test_error_event_html_page() -> None:
    error = error_event(502, recorded("error_502.html"), "text/html")
    assert error == ApiError(
        None, "HTTP 502 Bad Gateway: an HTML page, not the API's answer: 502 Bad Gateway", None, 502
    )


def test_error_event_empty_and_plain_bodies() -> None:
    assert error_event(503, b"", None) == ApiError(
        None, "HTTP 503 Service Unavailable with an empty body", None, 503
    )
    assert error_event(504, b"  \n", "text/plain") == ApiError(
        None, "HTTP 504 Gateway Timeout with an empty body", None, 504
    )
    assert error_event(500, b"upstream connect error\n", "text/plain") == ApiError(
        None, "HTTP 500 Internal Server Error: upstream connect error", None, 500
    )
    assert error_event(599, b"", None).message == "HTTP 599 with an empty body"


def test_error_event_json_without_error_fields() -> None:
    error = error_event(500, b'{"status":"fail"}', "application/json")
    assert error == ApiError(None, "HTTP 500 Internal Server Error (JSON keys: status)", None, 500)


def test_api_errors_map_to_the_right_exit_classes() -> None:
    """The ApiErrors made here classify as intended by errors.error_from_api."""

    def classify(error: ApiError) -> type:
        return type(error_from_api(error.status, error.code, error.message, error.request_id))

    auth = error_event(401, b'{"code":"InvalidApiKey","message":"No API-key provided."}', None)
    assert classify(auth) is AuthError
    assert classify(error_event(502, recorded("error_502.html"), "text/html")) is ServiceUnavailable
    assert classify(of_type(sse([recorded("error_400.sse")]), ApiError)[0]) is ApiRejected


# ---------------------------------------------------------------------------------------------
# Usage and module hygiene
# ---------------------------------------------------------------------------------------------


def test_usage_from_maps_every_naming() -> None:
    openai = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    usage = usage_from(openai)
    assert usage == Usage(9, 3, 12)
    assert usage.raw is openai
    assert usage_from({"input_tokens": "7", "width": 1024, "height": 768}) == Usage(
        input_tokens=7, size="1024*768"
    )
    assert usage_from({"input_tokens": True, "output_tokens": 2.0}) == Usage(output_tokens=2)


def test_sse_message_is_a_plain_value() -> None:
    assert SSEMessage("result", "{}", "1") == ("result", "{}", "1")


def test_importing_events_does_not_import_httpx() -> None:
    code = (
        "import sys, wan_cli.api.sse, wan_cli.api.events; "
        "assert 'httpx' not in sys.modules, 'httpx imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

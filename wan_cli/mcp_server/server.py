"""The MCP server itself: the tools on the SDK's `MCPServer`, served on stdio. The only module
that uses `mcp` (and anyio and pydantic), loaded by `wan mcp` alone.

Each call's work (`calls`, `runs`) is blocking, so it runs in a worker thread; the loop stays
free to answer other requests. Progress messages from the run's threads are handed to the loop
(`anyio.from_thread` with the loop's token: downloads run in threads anyio did not start)
through a memory stream, and a task sends them to the client as progress notifications, in
order, numbered. A cancelled call (the client's cancel, or the server stopping) cancels its
run, which stops at the next event, removes partial files and ends its history row.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from wan_cli import __version__
from wan_cli.mcp_server import runs
from wan_cli.mcp_server.calls import CallCancel, Session, make_images
from wan_cli.mcp_server.results import Answer, redacted
from wan_cli.run.options import RequestOptions

# A call's work: given a thread-safe progress reporter and its cancel, its answer.
Work = Callable[[Callable[[str], None], CallCancel], Answer]
AnyContext = Context[Any, Any]

Prompt = Annotated[
    str,
    Field(
        description="What to draw: subject, style, composition, any text to render "
        "(at most 2000 characters)."
    ),
]
GenerateSize = Annotated[
    str | None,
    Field(
        description="Output size W*H, e.g. 1280*1280 (square, the default), 1280*720 or "
        "1344*576 (landscape), 720*1280 (portrait); total pixels between 768*768 and "
        "1280*1280, aspect ratio at most 4:1."
    ),
]
EditSize = Annotated[
    str | None,
    Field(
        description="Output size: 1K, 2K, or W*H (total pixels between 768*768 and "
        "2048*2048). Default: 1K."
    ),
]
MaxImages = Annotated[
    int | None,
    Field(
        ge=1,
        le=5,
        description="The most images to make (1..5, default 1). The model may interleave "
        "text with them. Each image is billed and counts against the session's budget.",
    ),
]
EditCount = Annotated[
    int | None,
    Field(
        ge=1,
        le=4,
        description="How many images to make (1..4, default 1). Each is billed and counts "
        "against the session's budget.",
    ),
]
Reference = Annotated[
    str | None,
    Field(
        description="An optional reference image to draw from: an absolute local file path or "
        "an http(s) URL (PNG, JPEG, WEBP or BMP)."
    ),
]
References = Annotated[
    list[str],
    Field(
        min_length=1,
        max_length=4,
        description="1 to 4 images to edit or combine, in the order the prompt refers to them "
        "(image 1, image 2…): absolute local file paths or http(s) URLs.",
    ),
]
NegativePrompt = Annotated[
    str | None, Field(description="What to avoid in the image (at most 500 characters).")
]
Seed = Annotated[
    int | None,
    Field(ge=0, le=2_147_483_647, description="A random seed, to make a result repeatable."),
]
RunId = Annotated[int, Field(description="The run's id (run_id in a result, or from list_runs).")]
Search = Annotated[
    str | None,
    Field(description="Only runs whose prompt or text contains this, or whose request id is it."),
]
Limit = Annotated[int, Field(ge=1, le=100, description="At most this many runs, newest first.")]

INSTRUCTIONS = (
    "wan makes and edits images with the wan2.6-image model. generate_image draws from a "
    "prompt (optionally one reference image); edit_image changes or combines 1-4 images. "
    "Images are saved as files on the user's machine: the result gives their paths, a preview "
    "of each, the model's text and the run id. Every image is billed, and this session may "
    "make only a limited number (each result says how many are left): ask for more than one "
    "image only when the user wants options. Runs are kept in history: list_runs and get_run "
    "look them up; if a result says images were generated but not saved, call "
    "save_run_images with its run id instead of generating again."
)


def build_server(session: Session) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        "wan",
        title="wan (wan2.6-image)",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="INFO" if session.options.verbose else "WARNING",
    )
    paid = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    )
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(title="Generate an image", annotations=paid)
    async def generate_image(
        ctx: AnyContext,
        prompt: Prompt,
        size: GenerateSize = None,
        max_images: MaxImages = None,
        reference: Reference = None,
        negative_prompt: NegativePrompt = None,
        seed: Seed = None,
    ) -> CallToolResult:
        """Create image(s) from a text prompt with wan2.6-image, optionally guided by one
        reference image. Returns the saved file paths, a preview of each image, the model's
        text, the run id, and the images this session has left."""
        request = RequestOptions(
            mode="generate",
            prompt=prompt,
            refs=(reference,) if reference else (),
            size=size,
            max_images=max_images,
            negative_prompt=negative_prompt,
            seed=seed,
        )
        return await call(session, ctx, _images(session, request))

    @server.tool(title="Edit images", annotations=paid)
    async def edit_image(
        ctx: AnyContext,
        prompt: Prompt,
        references: References,
        n: EditCount = None,
        size: EditSize = None,
        negative_prompt: NegativePrompt = None,
        seed: Seed = None,
    ) -> CallToolResult:
        """Edit one image, or combine up to four, as the prompt says (e.g. "make it snow",
        "put the cat from image 1 on the sofa from image 2"). Returns the saved file paths, a
        preview of each image, the run id, and the images this session has left."""
        request = RequestOptions(
            mode="edit",
            prompt=prompt,
            refs=tuple(references),
            size=size,
            n=n,
            negative_prompt=negative_prompt,
            seed=seed,
        )
        return await call(session, ctx, _images(session, request))

    @server.tool(title="List past runs", annotations=reading)
    async def list_runs(
        ctx: AnyContext, search: Search = None, limit: Limit = 10
    ) -> CallToolResult:
        """List recorded runs (every generate and edit, from this session or the command
        line), newest first: id, time, status, saved/received images, prompt."""
        return await call(
            session, ctx, lambda _report, _cancel: runs.list_runs(session, search, limit)
        )

    @server.tool(title="Show a run", annotations=reading)
    async def get_run(ctx: AnyContext, id: RunId) -> CallToolResult:
        """Everything recorded about one run: prompt, parameters, request id, the model's
        text, usage, error, and each image's path or link, with previews of the saved ones."""
        return await call(session, ctx, lambda _report, _cancel: runs.get_run(session, id))

    @server.tool(
        title="Save a run's unsaved images",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def save_run_images(ctx: AnyContext, id: RunId) -> CallToolResult:
        """Save the images of a recorded run that were generated (and billed) but not saved,
        from the links the service gave (valid about 24 hours), into the run's own folder.
        Nothing is generated or billed again."""
        return await call(session, ctx, lambda _report, _cancel: runs.save_run_images(session, id))

    return server


def _images(session: Session, request: RequestOptions) -> Work:
    def work(report: Callable[[str], None], cancel: CallCancel) -> Answer:
        return make_images(session, request, report, cancel)

    return work


async def call(session: Session, ctx: AnyContext, work: Work) -> CallToolResult:
    """Run a call's work in a worker thread, forwarding its progress to the client."""
    token = anyio.lowlevel.current_token()
    send, receive = anyio.create_memory_object_stream[str](math.inf)
    cancel, finished = CallCancel(), threading.Event()

    def report(message: str) -> None:
        # The call may have ended, or the loop stopped: progress is never worth failing a run.
        with contextlib.suppress(Exception):
            anyio.from_thread.run_sync(send.send_nowait, message, token=token)

    def in_thread() -> Answer:
        try:
            return work(report, cancel)
        finally:
            finished.set()

    async with anyio.create_task_group() as group:
        group.start_soon(_forward_progress, receive, ctx)
        try:
            answer = await anyio.to_thread.run_sync(in_thread, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            cancel.set()  # the run stops at once; wait for its clean-up
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(finished.wait)
            raise
        finally:
            send.close()
    return _result(redacted(answer, session.secrets))


async def _forward_progress(receive: MemoryObjectReceiveStream[str], ctx: AnyContext) -> None:
    step = 0
    async with receive:
        async for message in receive:
            step += 1
            with contextlib.suppress(Exception):  # a client that went away is not an error
                await ctx.report_progress(step, None, message)


def _result(answer: Answer) -> CallToolResult:
    content: list[ContentBlock] = [TextContent(type="text", text=answer.text)]
    content.extend(
        ImageContent(type="image", data=image.data, mime_type=image.mime) for image in answer.images
    )
    return CallToolResult(
        content=content, structured_content=answer.structured, is_error=answer.is_error
    )

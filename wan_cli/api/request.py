"""Generate/edit inputs → the exact HTTP request (URL, headers, JSON body) for each provider.

Every check that can fail without the network happens here, before anything is sent, so a bad
flag costs nothing and exits 2. The request is also rendered for `--dry-run` (a JSON document)
and `--curl` (a runnable command that reads the key where this run found it). Nothing here
sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from wan_cli.errors import UsageError
from wan_cli.files.refs import RefImage, load_ref
from wan_cli.providers import ASYNC_ENDPOINT_PATH as ASYNC_ENDPOINT_PATH
from wan_cli.providers import ASYNC_PROVIDERS as ASYNC_PROVIDERS
from wan_cli.providers import DEFAULT_BASE_URLS as DEFAULT_BASE_URLS
from wan_cli.providers import DEFAULT_MODEL as DEFAULT_MODEL
from wan_cli.providers import DEFAULT_PROVIDER
from wan_cli.providers import ENDPOINT_PATHS as ENDPOINT_PATHS
from wan_cli.providers import PROVIDERS as PROVIDERS
from wan_cli.sizes import MAX_ASPECT as MAX_ASPECT
from wan_cli.sizes import PIXEL_RANGE as PIXEL_RANGE
from wan_cli.sizes import RECOMMENDED_SIZES as RECOMMENDED_SIZES
from wan_cli.sizes import parse_size as parse_size

Mode = Literal["generate", "edit"]

MODES: tuple[str, ...] = ("generate", "edit")
# Task ids go into URL paths: letters, digits, '-' and '_' only (DashScope's are UUIDs).
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

MAX_PROMPT_CHARS = 2000
MAX_NEGATIVE_PROMPT_CHARS = 500
MAX_SEED = 2_147_483_647
REF_COUNTS: dict[str, tuple[int, int]] = {"generate": (0, 1), "edit": (1, 4)}
MAX_IMAGES_RANGE = (1, 5)  # generate: an upper bound on images in the interleaved answer
N_RANGE = (1, 4)  # edit: images generated, each billed
# Ours, not the service's (5 and 4): one image unless asked, to keep the bill predictable.
DEFAULT_MAX_IMAGES = 1
DEFAULT_N = 1


@dataclass(frozen=True)
class GenerateInputs:
    """What the user asked for, as typed values (the CLI's flags after parsing)."""

    mode: Mode
    prompt: str
    refs: tuple[str, ...] = ()  # URLs, data URIs or local paths, in prompt order
    size: str | None = None
    max_images: int | None = None  # generate only; None → DEFAULT_MAX_IMAGES
    n: int | None = None  # edit only; None → DEFAULT_N
    negative_prompt: str | None = None
    seed: int | None = None
    watermark: bool | None = None
    prompt_extend: bool | None = None  # edit only
    stream: bool = True
    model: str = DEFAULT_MODEL
    provider: str = DEFAULT_PROVIDER
    base_url: str | None = None  # None → DEFAULT_BASE_URLS[provider]
    # Submit an async task (DashScope only) instead of waiting for the answer; never streamed.
    async_task: bool = False


@dataclass(frozen=True)
class PreparedRequest:
    """The exact request to send. Headers exclude Authorization: the client adds the key.

    `body` is the JSON body, except that a local reference image read from a regular file is its
    `RefImage`: its data URI is made from the file while the body is sent (`body_chunks`), never
    held whole. `json_body()` is the body with every data URI written out."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] = field(repr=False)  # may hold megabytes of base64
    provider: str
    mode: str
    stream: bool
    refs: tuple[RefImage, ...] = ()

    def body_chunks(self) -> Iterator[bytes]:
        """The compact UTF-8 JSON body in pieces, reference images encoded slice by slice as
        they are sent (a fresh iterator for each attempt). Empty for an empty body."""
        from wan_cli.api.body import layout

        for part in layout(self.body, self.refs):
            if isinstance(part, bytes):
                yield part
            else:
                yield from part.chunks()

    def content_length(self) -> int:
        """The byte length of `body_chunks()`, known before anything is read or encoded."""
        from wan_cli.api.body import layout

        parts = layout(self.body, self.refs)
        return sum(
            len(part) if isinstance(part, bytes) else part.encoded_length() for part in parts
        )

    def body_bytes(self) -> bytes:
        """The whole body as one bytes object (`--curl`, tests). Sending streams it instead:
        with four 10 MB references it is ~56 MB. An empty body (task polls and cancels) is sent
        as no body at all."""
        return b"".join(self.body_chunks())

    def json_body(self) -> Mapping[str, Any]:
        """The body as plain JSON values, each reference's data URI written out in full."""
        from wan_cli.api.body import written_out

        return written_out(self.body)


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise UsageError(f"{name} must be {low}..{high}, got {value}")


def _base_url(inputs: GenerateInputs) -> str:
    base = inputs.base_url if inputs.base_url is not None else DEFAULT_BASE_URLS[inputs.provider]
    return normalize_base_url(base)


def normalize_base_url(base: str) -> str:
    """`base` without surrounding space or trailing '/'; UsageError unless it is http(s)://host."""
    from urllib.parse import urlsplit

    base = base.strip().rstrip("/")
    try:
        parts = urlsplit(base)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"invalid base URL '{base}': expected http(s)://host[/path]")
    return base


def validate_inputs(inputs: GenerateInputs) -> None:
    """Every check that needs no file I/O, in the order a user would fix them; raises UsageError."""
    if inputs.provider not in PROVIDERS:
        raise UsageError(f"unknown provider '{inputs.provider}' ({', '.join(PROVIDERS)})")
    if inputs.mode not in MODES:
        raise UsageError(f"unknown mode '{inputs.mode}' ({', '.join(MODES)})")
    if inputs.async_task and inputs.provider not in ASYNC_PROVIDERS:
        raise UsageError(
            f"--async is not offered by the {inputs.provider} provider: only DashScope's native"
            " API runs async tasks",
            hint="use --provider dashscope (with a DashScope key), or drop --async",
        )
    if not inputs.model.strip():
        raise UsageError("the model name is empty")
    _base_url(inputs)
    mode = inputs.mode

    if not inputs.prompt.strip():
        raise UsageError("the prompt is empty", hint="describe the image you want")
    if len(inputs.prompt) > MAX_PROMPT_CHARS:
        raise UsageError(
            f"the prompt is {len(inputs.prompt)} characters; the limit is {MAX_PROMPT_CHARS}",
            hint="the service would silently cut it: shorten it",
        )

    low, high = REF_COUNTS[mode]
    count = len(inputs.refs)
    if mode == "generate" and count > high:
        raise UsageError(
            f"generate takes at most {high} reference image, got {count}",
            hint="use `wan edit` to combine up to 4 images",
        )
    if mode == "edit" and not low <= count <= high:
        raise UsageError(f"edit needs {low} to {high} reference images, got {count}")

    if mode == "generate":
        if inputs.n not in (None, 1):
            raise UsageError(
                "n applies to edit; generate makes up to max_images (1..5) images",
                hint="use --max-images",
            )
        if inputs.prompt_extend is not None:
            raise UsageError("prompt_extend applies to edit only")
        _check_range("max_images", inputs.max_images, *MAX_IMAGES_RANGE)
        if not inputs.stream and inputs.provider == "dashscope" and not inputs.async_task:
            # Documented: interleaved mode is stream-only on DashScope's sync API.
            raise UsageError("generate (interleaved mode) needs streaming on DashScope")
    else:
        if inputs.max_images is not None:
            raise UsageError("max_images applies to generate only; edit uses n (1..4)")
        _check_range("n", inputs.n, *N_RANGE)

    if inputs.size is not None:
        parse_size(inputs.size, mode)
    if inputs.negative_prompt is not None and len(inputs.negative_prompt) > (
        MAX_NEGATIVE_PROMPT_CHARS
    ):
        raise UsageError(
            f"the negative prompt is {len(inputs.negative_prompt)} characters;"
            f" the limit is {MAX_NEGATIVE_PROMPT_CHARS}"
        )
    _check_range("seed", inputs.seed, 0, MAX_SEED)


def _parameters(inputs: GenerateInputs) -> dict[str, Any]:
    params: dict[str, Any] = {"enable_interleave": inputs.mode == "generate"}
    if not inputs.async_task:  # an async task is never streamed: leave `stream` out
        params["stream"] = inputs.stream
    if inputs.mode == "generate":
        params["max_images"] = (
            inputs.max_images if inputs.max_images is not None else DEFAULT_MAX_IMAGES
        )
    else:
        params["n"] = inputs.n if inputs.n is not None else DEFAULT_N
    if inputs.size is not None:
        params["size"] = parse_size(inputs.size, inputs.mode)
    if inputs.prompt_extend is not None:
        params["prompt_extend"] = inputs.prompt_extend
    if inputs.negative_prompt is not None:
        params["negative_prompt"] = inputs.negative_prompt
    if inputs.seed is not None:
        params["seed"] = inputs.seed
    if inputs.watermark is not None:
        params["watermark"] = inputs.watermark
    return params


def build_request(inputs: GenerateInputs) -> PreparedRequest:
    """Validate, load the reference images (in order), and assemble the request."""
    validate_inputs(inputs)
    refs = tuple(load_ref(source) for source in inputs.refs)
    content: list[dict[str, Any]] = [{"text": inputs.prompt}]
    # A file's data URI is made as the body is sent: the body holds its RefImage meanwhile.
    content.extend({"image": ref if ref.from_path else ref.value} for ref in refs)
    body: dict[str, Any] = {
        "model": inputs.model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": _parameters(inputs),
    }
    headers = {"Content-Type": "application/json"}
    stream = inputs.stream and not inputs.async_task
    if stream:
        headers["Accept"] = "text/event-stream"
        if inputs.provider == "dashscope":
            headers["X-DashScope-SSE"] = "enable"
    path = ENDPOINT_PATHS[inputs.provider]
    if inputs.async_task:
        headers["X-DashScope-Async"] = "enable"
        path = ASYNC_ENDPOINT_PATH
    return PreparedRequest(
        method="POST",
        url=_base_url(inputs) + path,
        headers=headers,
        body=body,
        provider=inputs.provider,
        mode=inputs.mode,
        stream=stream,
        refs=refs,
    )


def check_task_id(text: str) -> str:
    """A task id as given (spaces trimmed); UsageError if it could not be one."""
    task_id = text.strip()
    if not _TASK_ID.fullmatch(task_id):
        raise UsageError(
            f"invalid task id '{text}': expected letters, digits, '-' and '_'",
            hint="task ids are printed by `wan generate --async` and listed by `wan task list`",
        )
    return task_id


def task_request(
    base_url: str, task_id: str, action: Literal["status", "cancel"]
) -> PreparedRequest:
    """A DashScope task query (`GET {base}/tasks/{id}`) or cancel (`POST …/{id}/cancel`)."""
    url = f"{normalize_base_url(base_url)}/tasks/{check_task_id(task_id)}"
    cancel = action == "cancel"
    return PreparedRequest(
        method="POST" if cancel else "GET",
        url=url + "/cancel" if cancel else url,
        headers={"Accept": "application/json"},
        body={},
        provider="dashscope",
        mode="task",
        stream=False,
    )


def _abbreviate(node: Any, known: Mapping[str, RefImage]) -> Any:
    """A copy of the body with every base64 data URI replaced by a short, checkable summary."""
    if isinstance(node, Mapping):
        return {key: _abbreviate(value, known) for key, value in node.items()}
    if isinstance(node, list):
        return [_abbreviate(item, known) for item in node]
    if isinstance(node, RefImage):  # a file's data URI, not made: its head says the rest
        digest = node.sha256 or ""
        return f"{node.value.rstrip(',')},…({node.size_bytes} bytes, sha256 {digest[:12]}…)"
    if isinstance(node, str) and node.startswith("data:") and ";base64," in node:
        header = node.split(",", 1)[0]
        ref = known.get(node)
        if ref is not None and ref.size_bytes is not None and ref.sha256 is not None:
            size, digest = ref.size_bytes, ref.sha256
        else:
            import base64
            import hashlib

            raw = base64.b64decode(node.split(",", 1)[1])
            size, digest = len(raw), hashlib.sha256(raw).hexdigest()
        return f"{header},…({size} bytes, sha256 {digest[:12]}…)"
    return node


def render_dry_run(req: PreparedRequest, *, pretty: bool, abbreviate_data: bool) -> str:
    """The request as one JSON document {method, url, headers, body} (stdout stays pure JSON)."""
    import json

    body: Any = req.json_body() if not abbreviate_data else None
    if abbreviate_data:
        body = _abbreviate(req.body, {ref.value: ref for ref in req.refs if ref.kind != "url"})
    url = url_without_password(req.url)
    document = {"method": req.method, "url": url, "headers": dict(req.headers), "body": body}
    if pretty:
        return json.dumps(document, ensure_ascii=False, indent=2)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def render_curl(req: PreparedRequest, key: str = "$WAN_API_KEY") -> str:
    """A runnable curl command. `key` is a shell expression for the key (`$WAN_API_KEY`,
    `$(wan config get api-key --reveal)`: see `run/curl_key`), expanded by the shell inside
    double quotes: the key itself is never written here. The body goes through a quoted heredoc
    so a 40 MB body does not hit the argument-length limit and nothing inside it is expanded.
    A password in the base URL is masked (`***@`), as everywhere it is shown: put it back by
    hand to run the command."""
    import shlex

    # Compact JSON is one line starting with "{", so it can never be the terminator line.
    body = req.body_bytes().decode("utf-8")
    url = shlex.quote(url_without_password(req.url))
    lines = [f"curl -sS{' -N' if req.stream else ''} -X {req.method} {url}"]
    lines.append(f'-H "Authorization: Bearer {key}"')
    lines.extend(f"-H {shlex.quote(f'{name}: {value}')}" for name, value in req.headers.items())
    lines.append("--data-binary @- <<'JSON'")
    return " \\\n  ".join(lines) + "\n" + body + "\nJSON\n"


def url_host(url: str) -> str:
    """host[:port] of a URL, without any user:password (for messages and history)."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.rpartition("@")[2]


def url_without_password(url: str) -> str:
    """The URL with any `user:password@` replaced by `***@`: for everything that shows a URL
    (`--dry-run`, `--curl`, `-v`), as `config show` and `doctor` show the base URL."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"

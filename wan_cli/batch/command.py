"""`wan batch`: many prompts from one file, sent in parallel, resumable and shardable.

Read top to bottom; each step is a function of the one before:
1. parse: JSONL objects or plain-text prompts → `LineSpec`s, every problem with its line number
   (pure);
2. prepare: each line + the command-line defaults → a validated request (`BatchItem`) and its key,
   a hash of the normalised request (editing a line makes it new work; repeating a line makes
   a second piece of work, not a duplicate);
3. select: the shard (`--shard i/n`), then the manifest says what is already done (`Resume`);
4. plan: how many requests, at most how many images (the cost guard);
5. run: N worker threads share one `BatchPacer` (a "not before" time every send waits for, and
   a cancel that aborts in-flight network reads); each line is an ordinary run
   (`run.consume_events` + `run.settle`: history, downloads, provenance) whose outcome is
   appended to the manifest (flushed and fsynced) the moment it ends;
6. report: a line per finished request, one overall bar, a summary; the exit code is the most
   severe class that occurred (`SEVERITY`).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from wan_cli.errors import ExitCode, Interrupted, UsageError, WanError
from wan_cli.output import Output, escape_markup, set_output
from wan_cli.request import DEFAULT_MAX_IMAGES, DEFAULT_MODEL, DEFAULT_N, GenerateInputs, Mode

if TYPE_CHECKING:
    import socket

    import httpx

    from wan_cli.download import SavedImage
    from wan_cli.history import Store
    from wan_cli.request import PreparedRequest
    from wan_cli.run import RunConfig, RunOutcome
    from wan_cli.settings import Settings

MANIFEST_NAME = "wan-batch-manifest.jsonl"
DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 32
# On a terminal, a batch that could produce more images than this asks first (each is billed).
CONFIRM_ABOVE_IMAGES = 20
MAX_NAME_CHARS = 100
# Failed lines listed one by one in the summary; the manifest has them all.
MAX_LISTED_FAILURES = 20
FORMATS = ("auto", "jsonl", "text")

# The keys a JSONL line may have (README: docs/cli.md § batch).
LINE_KEYS = (
    "prompt",
    "mode",
    "refs",
    "size",
    "n",
    "max_images",
    "negative_prompt",
    "seed",
    "watermark",
    "prompt_extend",
    "name",
    "output_dir",
)

# The batch's exit code is the first of these that any line ended with. Why this order:
# 130 the user stopped it; 3 no line can work until the key is fixed; 7 paid images sit at URLs
# that expire in ~24 h (they are in the manifest and history); 5 and 6 are transient (re-run
# later: done lines are skipped); 1 a bug worth reporting; 4 some prompts were refused (edit
# those lines); 2 a line's input changed between validation and sending.
SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.INTERRUPTED,
    ExitCode.AUTH,
    ExitCode.SAVE_FAILED,
    ExitCode.RATE_LIMITED,
    ExitCode.UNAVAILABLE,
    ExitCode.INTERNAL,
    ExitCode.REJECTED,
    ExitCode.USAGE,
)
EXIT_LABELS: dict[int, str] = {
    0: "done",
    1: "internal error",
    2: "invalid input",
    3: "auth failed",
    4: "rejected by the API",
    5: "rate limited / quota",
    6: "service unavailable",
    7: "generated, not saved",
    130: "interrupted",
}


# ----------------------------------------------------------------------------------------------
# 1. Parse
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSpec:
    """One prompt line of the batch file, typed; None means "not given: use the default"."""

    number: int  # 1-based line number in the file
    prompt: str
    mode: Mode | None = None
    refs: tuple[str, ...] | None = None
    size: str | None = None
    n: int | None = None
    max_images: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    watermark: bool | None = None
    prompt_extend: bool | None = None
    name: str | None = None
    output_dir: str | None = None


@dataclass(frozen=True)
class LineProblem:
    number: int
    message: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.message}"


def detect_format(text: str) -> str:
    """ "jsonl" when the first non-blank line starts with "{", else "text"."""
    for line in text.split("\n"):
        if line.strip():
            return "jsonl" if line.lstrip().startswith("{") else "text"
    return "text"


def parse_batch(
    text: str, fmt: str = "auto"
) -> tuple[tuple[LineSpec, ...], tuple[LineProblem, ...]]:
    """Every prompt line of `text` and every problem found, both with their line numbers.

    Blank lines are skipped (they keep their numbers). A leading BOM and CRLF endings are
    fine. Lines are split on "\\n" only: a JSON string may hold U+2028 and the like.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if fmt == "auto":
        fmt = detect_format(text)
    specs: list[LineSpec] = []
    problems: list[LineProblem] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        if fmt == "text":
            specs.append(LineSpec(number=number, prompt=line.strip()))
            continue
        spec, errors = _parse_json_line(number, line)
        if errors:
            problems.append(LineProblem(number, "; ".join(errors)))
        elif spec is not None:
            specs.append(spec)
    return tuple(specs), tuple(problems)


def _parse_json_line(number: int, line: str) -> tuple[LineSpec | None, list[str]]:
    try:
        document = json.loads(line)
    except ValueError as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        column = f" (column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        return None, [f"not valid JSON: {reason}{column}"]
    if not isinstance(document, dict):
        return None, ['expected a JSON object like {"prompt": "..."}']
    errors: list[str] = []
    for key in document:
        if key not in LINE_KEYS:
            errors.append(_unknown_key(str(key)))
    fields = _Fields(document, errors)
    prompt = fields.text("prompt")
    if prompt is None and "prompt" not in document:
        errors.append('"prompt" is missing')
    mode = fields.text("mode")
    if mode is not None and mode not in ("generate", "edit"):
        errors.append(f'"mode" must be "generate" or "edit", got {mode!r}')
    name = fields.text("name")
    if name is not None and (problem := name_problem(name)):
        errors.append(problem)
    output_dir = fields.text("output_dir")
    if output_dir is not None and not output_dir.strip():
        errors.append('"output_dir" is empty')
    spec = LineSpec(
        number=number,
        prompt=prompt or "",
        mode="edit" if mode == "edit" else ("generate" if mode == "generate" else None),
        refs=fields.refs(),
        size=fields.text("size"),
        n=fields.integer("n"),
        max_images=fields.integer("max_images"),
        negative_prompt=fields.text("negative_prompt"),
        seed=fields.integer("seed"),
        watermark=fields.boolean("watermark"),
        prompt_extend=fields.boolean("prompt_extend"),
        name=name,
        output_dir=output_dir,
    )
    return (None if errors else spec), errors


def _unknown_key(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, LINE_KEYS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}"


class _Fields:
    """Typed reads of a line's JSON object; type problems are collected, not raised.
    A null value is the same as a missing key."""

    def __init__(self, document: Mapping[str, Any], errors: list[str]) -> None:
        self._doc = document
        self._errors = errors

    def _bad(self, key: str, expected: str, value: object) -> None:
        self._errors.append(f'"{key}" must be {expected}, got {json.dumps(value)[:40]}')

    def text(self, key: str) -> str | None:
        value = self._doc.get(key)
        if value is None or isinstance(value, str):
            return value
        self._bad(key, "a string", value)
        return None

    def integer(self, key: str) -> int | None:
        value = self._doc.get(key)
        if value is None:
            return None
        # JSON true is a Python int, and 2.0 is not a count.
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, "a whole number", value)
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._doc.get(key)
        if value is None or isinstance(value, bool):
            return value
        self._bad(key, "true or false", value)
        return None

    def refs(self) -> tuple[str, ...] | None:
        value = self._doc.get("refs")
        if value is None:
            return None
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        self._bad("refs", "a path/URL or a list of them", value)
        return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a file-name stem, or None."""
    from wan_cli.naming import check_stem

    if len(name) > MAX_NAME_CHARS:
        return f'"name" is longer than {MAX_NAME_CHARS} characters'
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return '"name" contains control characters'
    try:
        check_stem(name)
    except ValueError:
        return f'"name" must be a plain file name (no "/", "\\\\", not starting with "."): {name!r}'
    return None


# ----------------------------------------------------------------------------------------------
# 2. Prepare: defaults, validation, keys
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineDefaults:
    """What the command line says for every line that does not say otherwise."""

    mode: Mode = "generate"
    refs: tuple[str, ...] = ()
    size: str | None = None
    n: int | None = None  # edit lines only
    max_images: int | None = None  # generate lines only
    negative_prompt: str | None = None
    seed: int | None = None
    watermark: bool | None = None
    prompt_extend: bool | None = None  # edit lines only
    model: str = DEFAULT_MODEL
    provider: str = "gateway"
    base_url: str | None = None
    output_dir: Path = Path()
    base_dir: Path = Path()  # relative refs written in the file are relative to the file


@dataclass(frozen=True)
class BatchItem:
    """One validated line, ready to send."""

    number: int  # line number in the file
    position: int  # 0-based among the file's prompts (blank lines not counted): the shard key
    key: str  # identity across runs (see `request_key`)
    inputs: GenerateInputs
    output_dir: Path
    name: str | None = None
    max_images: int = 1  # the most images this request can produce (each is billed)


def _is_local(ref: str) -> bool:
    return not ref[:8].lower().startswith(("http://", "https://", "data:"))


def line_inputs(spec: LineSpec, defaults: LineDefaults) -> tuple[GenerateInputs, Path]:
    """The line's request inputs and output directory: its own values, else the defaults.

    Mode-specific defaults (`-n`, `--max-images`, `--prompt-extend`) apply only to lines of
    that mode, so one command line can serve a file that mixes generate and edit lines.
    """
    mode: Mode = spec.mode or defaults.mode
    if spec.refs is not None:
        refs = tuple(
            str(defaults.base_dir / os.path.expanduser(ref)) if _is_local(ref) else ref
            for ref in spec.refs
        )
    else:
        refs = defaults.refs

    def pick(own: Any, default: Any, applies: bool = True) -> Any:
        if own is not None:
            return own
        return default if applies else None

    output_dir = defaults.output_dir
    if spec.output_dir is not None:
        output_dir = defaults.output_dir / Path(spec.output_dir).expanduser()
    inputs = GenerateInputs(
        mode=mode,
        prompt=spec.prompt,
        refs=refs,
        size=pick(spec.size, defaults.size),
        max_images=pick(spec.max_images, defaults.max_images, mode == "generate"),
        n=pick(spec.n, defaults.n, mode == "edit"),
        negative_prompt=pick(spec.negative_prompt, defaults.negative_prompt),
        seed=pick(spec.seed, defaults.seed),
        watermark=pick(spec.watermark, defaults.watermark),
        prompt_extend=pick(spec.prompt_extend, defaults.prompt_extend, mode == "edit"),
        model=defaults.model,
        provider=defaults.provider,
        base_url=defaults.base_url,
    )
    return inputs, output_dir


def request_key(body: Mapping[str, Any], name: str | None, output_dir: str | None) -> str:
    """A line's identity for resuming: the hash of its exact request body (prompt, parameters,
    model, reference images' bytes) and of where its files go. Not its line number, so inserting
    or reordering lines does not redo finished work, and editing a line does."""
    import hashlib

    canonical = json.dumps(
        {"body": body, "name": name, "output_dir": output_dir},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def image_bound(prepared: PreparedRequest) -> int:
    """The most images one request can produce: generate's max_images, edit's n."""
    parameters = prepared.body.get("parameters", {})
    if prepared.mode == "edit":
        return int(parameters.get("n", DEFAULT_N))
    return int(parameters.get("max_images", DEFAULT_MAX_IMAGES))


def prepare_items(
    specs: Sequence[LineSpec], defaults: LineDefaults
) -> tuple[tuple[BatchItem, ...], tuple[LineProblem, ...]]:
    """Validate every line exactly as a single run would (reference images are read) and key
    it. Requests are built and dropped one at a time: base64 images are never all in memory."""
    from wan_cli.request import build_request

    items: list[BatchItem] = []
    problems: list[LineProblem] = []
    seen: dict[str, int] = {}
    for position, spec in enumerate(specs):
        try:
            inputs, output_dir = line_inputs(spec, defaults)
            prepared = build_request(inputs)
        except UsageError as error:
            message = f"{error.message} ({error.hint})" if error.hint else error.message
            problems.append(LineProblem(spec.number, message))
            continue
        digest = request_key(prepared.body, spec.name, spec.output_dir)
        seen[digest] = seen.get(digest, 0) + 1
        # The k-th copy of the same request is its own piece of work: "-k" tells them apart.
        key = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        items.append(
            BatchItem(
                number=spec.number,
                position=position,
                key=key,
                inputs=inputs,
                output_dir=output_dir,
                name=spec.name,
                max_images=image_bound(prepared),
            )
        )
    return tuple(items), tuple(problems)


# ----------------------------------------------------------------------------------------------
# 3. Select: shard and resume
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """`--shard i/n`: this job takes the prompts whose position % n == i - 1."""

    number: int  # 1-based
    count: int

    def takes(self, position: int) -> bool:
        return position % self.count == self.number - 1

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


def parse_shard(text: str) -> Shard:
    number, sep, count = text.strip().partition("/")
    if not sep or not number.strip().isdigit() or not count.strip().isdigit():
        raise UsageError(f"invalid --shard '{text}': expected i/n, e.g. 2/3")
    shard = Shard(int(number), int(count))
    if shard.count < 1 or not 1 <= shard.number <= shard.count:
        raise UsageError(f"invalid --shard '{text}': i must be 1..n and n at least 1")
    return shard


class Resume(StrEnum):
    """What a re-run sends, given the manifest's last outcome for each line."""

    PENDING = "pending"  # default: every line not done yet (new, failed, interrupted)
    RETRY_FAILED = "retry-failed"  # only lines that failed or were interrupted before
    FORCE = "force"  # every line, done or not


@dataclass(frozen=True)
class ManifestRecord:
    """One line's outcome, as one JSON line of the manifest."""

    key: str
    line: int
    status: str  # "done" | "failed" | "interrupted"
    exit_code: int
    request_id: str | None = None
    images: tuple[str, ...] = ()  # saved files
    urls: tuple[str, ...] = ()  # every image link the service gave (valid ~24 h)
    error: str | None = None
    history_id: int | None = None
    prompt: str = ""
    finished: str = ""  # ISO 8601 UTC

    def to_json(self) -> str:
        document = {
            "key": self.key,
            "line": self.line,
            "status": self.status,
            "exit_code": self.exit_code,
            "request_id": self.request_id,
            "images": list(self.images),
            "urls": list(self.urls),
            "error": self.error,
            "history_id": self.history_id,
            "prompt": self.prompt,
            "finished": self.finished,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, document: object) -> ManifestRecord | None:
        """The record, or None when `document` is not one (a foreign or damaged line)."""
        if not isinstance(document, dict):
            return None
        key, status = document.get("key"), document.get("status")
        line, code = document.get("line"), document.get("exit_code")
        if not (isinstance(key, str) and isinstance(status, str)):
            return None
        if not (isinstance(line, int) and isinstance(code, int)):
            return None

        def strings(name: str) -> tuple[str, ...]:
            value = document.get(name)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        def optional(name: str, kind: type) -> Any:
            value = document.get(name)
            return value if isinstance(value, kind) else None

        return cls(
            key=key,
            line=line,
            status=status,
            exit_code=code,
            request_id=optional("request_id", str),
            images=strings("images"),
            urls=strings("urls"),
            error=optional("error", str),
            history_id=optional("history_id", int),
            prompt=optional("prompt", str) or "",
            finished=optional("finished", str) or "",
        )


def read_manifest(path: Path) -> dict[str, ManifestRecord]:
    """The last record of every key (later lines win). Lines that are not records (a torn last
    line after a crash, a stray edit) are skipped: at worst their line is sent again."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsageError(f"cannot read the manifest {path}: {error.strerror or error}") from None
    records: dict[str, ManifestRecord] = {}
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = ManifestRecord.from_json(json.loads(raw.decode("utf-8")))
        except ValueError:  # includes UnicodeDecodeError
            continue
        if record is not None:
            records[record.key] = record
    return records


class ManifestWriter:
    """Appends records: one write per line under a lock, flushed and fsynced, so a crash loses
    at most the line being written (which `read_manifest` then skips)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            # A torn last line (killed mid-write) must not swallow the next record.
            size = os.fstat(self._fd).st_size
            if size and _last_byte(path, size) != b"\n":
                self._write_all(b"\n")
        except OSError as error:
            raise UsageError(
                f"cannot write the manifest {path}: {error.strerror or error}",
                hint="choose another place with --manifest or --output-dir",
            ) from None

    def append(self, record: ManifestRecord) -> None:
        data = (record.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._closed:  # never write to a closed descriptor: its number may be reused
                raise OSError(f"the manifest {self.path} is already closed")
            self._write_all(data)
            os.fsync(self._fd)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1)


def select_work(
    items: Sequence[BatchItem], previous: Mapping[str, ManifestRecord], resume: Resume
) -> tuple[tuple[BatchItem, ...], tuple[tuple[BatchItem, str], ...]]:
    """(lines to send, skipped lines with why) under the resume policy."""
    send: list[BatchItem] = []
    skipped: list[tuple[BatchItem, str]] = []
    for item in items:
        last = previous.get(item.key)
        if resume is Resume.FORCE:
            send.append(item)
        elif last is not None and last.status == "done":
            skipped.append((item, "done"))
        elif resume is Resume.RETRY_FAILED and last is None:
            skipped.append((item, "never sent"))
        else:
            send.append(item)
    return tuple(send), tuple(skipped)


# ----------------------------------------------------------------------------------------------
# 4. Plan: what it will cost
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    total: int  # valid prompt lines in the file
    shard: Shard | None
    in_shard: int
    to_send: tuple[BatchItem, ...]
    skipped: tuple[tuple[BatchItem, str], ...]

    @property
    def requests(self) -> int:
        return len(self.to_send)

    @property
    def max_images(self) -> int:
        return sum(item.max_images for item in self.to_send)


def make_plan(
    items: Sequence[BatchItem],
    previous: Mapping[str, ManifestRecord],
    resume: Resume = Resume.PENDING,
    shard: Shard | None = None,
) -> BatchPlan:
    mine = [item for item in items if shard is None or shard.takes(item.position)]
    send, skipped = select_work(mine, previous, resume)
    return BatchPlan(len(items), shard, len(mine), send, skipped)


def plan_summary(plan: BatchPlan) -> str:
    """One line for people: what will be sent and the most it can cost."""
    parts = [
        f"{plan.requests} request(s), at most {plan.max_images} image(s) (each image is billed)"
    ]
    done = sum(1 for _, why in plan.skipped if why == "done")
    never = len(plan.skipped) - done
    if done:
        parts.append(f"{done} line(s) already done: skipped")
    if never:
        parts.append(f"{never} line(s) never sent: skipped (--retry-failed)")
    if plan.shard is not None:
        parts.append(f"shard {plan.shard}: {plan.in_shard} of {plan.total} line(s)")
    return "batch: " + " · ".join(parts)


def check_budget(plan: BatchPlan, max_total_images: int | None) -> None:
    """`--max-total-images`: refuse, before sending anything, a batch that could exceed it."""
    if max_total_images is not None and plan.max_images > max_total_images:
        raise UsageError(
            f"this batch could produce up to {plan.max_images} images, more than "
            f"--max-total-images {max_total_images}: nothing was sent",
            hint="lower max_images / n, split the file with --shard, or raise the limit",
        )


def needs_confirmation(plan: BatchPlan, *, yes: bool, interactive: bool) -> bool:
    """Ask first only on a terminal, only when the batch could exceed the threshold."""
    return interactive and not yes and plan.max_images > CONFIRM_ABOVE_IMAGES


def most_severe(codes: Iterable[int]) -> ExitCode:
    """The batch's exit code: 0 when every line succeeded, else the first class in SEVERITY."""
    present = {int(code) for code in codes} - {0}
    if not present:
        return ExitCode.OK
    for code in SEVERITY:
        if code in present:
            return code
    return ExitCode.INTERNAL  # a code outside the table is a bug


# ----------------------------------------------------------------------------------------------
# 5. Run: shared pace, workers, outcomes
# ----------------------------------------------------------------------------------------------


class RateLimiter:
    """A shared "not before" time. When any request is told to retry (429 Retry-After, or a
    5xx/network backoff) every worker waits it out before its next send, instead of each
    hammering the service on its own schedule."""

    def __init__(
        self, cancel: threading.Event, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cancel = cancel
        self._clock = clock
        self._changed = threading.Condition()
        self._not_before = 0.0

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` from now (a longer pause already set is kept)."""
        with self._changed:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))
            self._changed.notify_all()

    def remaining(self) -> float:
        with self._changed:
            return max(0.0, self._not_before - self._clock())

    def wait(self) -> None:
        """Block until sending is allowed; `Interrupted` if the batch is cancelled meanwhile."""
        with self._changed:
            while True:
                if self._cancel.is_set():
                    raise Interrupted("interrupted")
                left = self._not_before - self._clock()
                if left <= 0:
                    return
                self._changed.wait(left)

    def wake(self) -> None:
        """Make waiters look again (after a cancel, or when the clock was moved in tests)."""
        with self._changed:
            self._changed.notify_all()


class BatchPacer:
    """The `run.Pacer` every line of a batch shares: the rate limiter; one API client and one
    download client (connections are reused: making a client per request costs ~15 ms of CPU
    each, mostly its TLS context); and a cancel that also shuts down the sockets of those
    clients (a worker blocked reading an answer cannot be interrupted any other way; the read
    then fails and the run ends as Interrupted)."""

    def __init__(
        self,
        cancel: threading.Event,
        limiter: RateLimiter | None = None,
        timeout: float = 60.0,
    ) -> None:
        import weakref

        self.cancel = cancel
        self.limiter = limiter or RateLimiter(cancel)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._api: httpx.Client | None = None
        self._download: httpx.Client | None = None

    def before_send(self) -> None:
        self.limiter.wait()

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        self.limiter.pause(delay)

    def sleep(self, seconds: float) -> None:
        self.limiter.pause(seconds)
        self.limiter.wait()

    def api_client(self) -> httpx.Client:
        with self._lock:
            if self._api is None:
                from wan_cli.client import make_api_client

                self._api = self._watch(make_api_client(self._timeout))
            return self._api

    def download_client(self) -> httpx.Client:
        with self._lock:
            if self._download is None:
                from wan_cli.download import make_download_client

                self._download = self._watch(make_download_client(self._timeout))
            return self._download

    def close(self) -> None:
        with self._lock:
            clients = [c for c in (self._api, self._download) if c is not None]
            self._api = self._download = None
        for client in clients:
            client.close()

    def _watch(self, client: httpx.Client) -> httpx.Client:
        """Learn the socket of every connection `client` opens (httpcore's trace extension)."""

        def trace(name: str, info: Mapping[str, Any]) -> None:
            if name == "connection.connect_tcp.complete":
                stream = info.get("return_value")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    self._track(sock)

        def add_trace(request: httpx.Request) -> None:
            request.extensions = {**request.extensions, "trace": trace}

        hooks = client.event_hooks
        hooks["request"] = [*hooks.get("request", []), add_trace]
        client.event_hooks = hooks
        return client

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            if self.cancel.is_set():
                _shutdown(sock)
            else:
                self._sockets.add(sock)

    def abort(self) -> None:
        """Cancel the batch: nobody sends again, reads in flight fail at once."""
        self.cancel.set()
        self.limiter.wake()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    import contextlib
    import socket as socket_module

    with contextlib.suppress(OSError):  # already closed: nothing to abort
        sock.shutdown(socket_module.SHUT_RDWR)


@dataclass(frozen=True)
class LineOutcome:
    """How one line ended."""

    item: BatchItem
    code: ExitCode
    request_id: str | None = None
    paths: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()  # every image link the answer held
    unsaved: tuple[str, ...] = ()  # links of images that were not saved
    error: str | None = None
    hint: str | None = None
    history_id: int | None = None
    elapsed_s: float = 0.0

    @property
    def status(self) -> str:
        if self.code == ExitCode.OK:
            return "done"
        return "interrupted" if self.code == ExitCode.INTERRUPTED else "failed"


def outcome_of(item: BatchItem, result: RunOutcome, elapsed_s: float) -> LineOutcome:
    record = result.record
    saved: list[SavedImage] = [s for s in result.saved if s is not None and s.ok]
    error = result.error
    return LineOutcome(
        item=item,
        code=result.code,
        request_id=record.request_id,
        paths=tuple(str(s.path) for s in saved),
        urls=tuple(image.url for image in record.images if image.url),
        unsaved=tuple(image.url for image, _ in result.failed if image.url),
        error=error.message if error is not None else None,
        hint=error.hint if error is not None else None,
        history_id=record.history_id,
        elapsed_s=elapsed_s,
    )


def manifest_record(outcome: LineOutcome) -> ManifestRecord:
    from datetime import UTC, datetime

    return ManifestRecord(
        key=outcome.item.key,
        line=outcome.item.number,
        status=outcome.status,
        exit_code=int(outcome.code),
        request_id=outcome.request_id,
        images=outcome.paths,
        urls=outcome.urls,
        error=outcome.error,
        history_id=outcome.history_id,
        prompt=outcome.item.inputs.prompt[:200],
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
    )


@dataclass(frozen=True)
class Tally:
    """Progress so far (a snapshot)."""

    total: int
    done: int
    failed: int
    elapsed_s: float

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def rate(self) -> float:
        """Finished lines per second."""
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.finished or self.rate <= 0:
            return None
        return (self.total - self.finished) / self.rate


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _rate(per_second: float) -> str:
    return f"{per_second:.2f}/s" if per_second >= 1 else f"{per_second * 60:.1f}/min"


class BatchProgress(Protocol):
    """What a person sees while a batch runs (stderr). Called from worker threads."""

    def start(self, total: int) -> None: ...
    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None: ...
    def finished(self, outcome: LineOutcome, tally: Tally) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


def _finished_line(outcome: LineOutcome) -> str:
    item = outcome.item
    label = f"line {item.number}" + (f" ({item.name})" if item.name else "")
    if outcome.code == ExitCode.OK:
        first = outcome.paths[0] if outcome.paths else ""
        more = f" +{len(outcome.paths) - 1} more" if len(outcome.paths) > 1 else ""
        return f"{label} done in {outcome.elapsed_s:.1f} s: {first}{more}"
    where = f" (request_id {outcome.request_id})" if outcome.request_id else ""
    return f"{label} {outcome.status} (exit {int(outcome.code)}): {outcome.error}{where}"


def _tally_line(tally: Tally) -> str:
    return (
        f"{tally.finished}/{tally.total} finished, {tally.failed} failed · "
        f"{_rate(tally.rate)} · ETA {_duration(tally.eta_s)}"
    )


class QuietProgress:
    def start(self, total: int) -> None:
        pass

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None:
        pass

    def finished(self, outcome: LineOutcome, tally: Tally) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """Timestamped lines for logs: one per finished request, with the running totals."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._lock = threading.Lock()

    def start(self, total: int) -> None:
        with self._lock:
            self._out.info(f"sending {total} request(s)")

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None:
        with self._lock:
            self._out.warn(
                f"line {item.number}: {why}; every request waits {delay:.1f} s "
                f"(attempt {attempt + 1})"
            )

    def finished(self, outcome: LineOutcome, tally: Tally) -> None:
        text = f"{_finished_line(outcome)} · {_tally_line(tally)}"
        with self._lock:
            if outcome.code == ExitCode.OK:
                self._out.info(text)
            else:
                self._out.warn(text)

    def note(self, message: str) -> None:
        with self._lock:
            self._out.info(message)

    def close(self) -> None:
        pass


class LiveProgress:
    """One overall bar (done / failed / total, rate, ETA) on a terminal; a line per finished
    request printed above it."""

    def __init__(self, out: Output) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._out = out
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("batch"),
            BarColumn(bar_width=30),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("[green]{task.fields[done]} done[/] · [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[rate]} · ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=out.console,
            transient=True,
            refresh_per_second=8,
        )
        self._task = self._progress.add_task("batch", total=0, done=0, failed=0, rate="", eta="?")

    def start(self, total: int) -> None:
        with self._lock:
            self._progress.update(self._task, total=total)
            self._progress.start()

    def retrying(self, item: BatchItem, attempt: int, delay: float, why: str) -> None:
        with self._lock:
            self._progress.console.print(
                f"[yellow]line {item.number}: {escape_markup(why)}; every request waits "
                f"{delay:.1f} s (attempt {attempt + 1})[/yellow]"
            )

    def finished(self, outcome: LineOutcome, tally: Tally) -> None:
        text = escape_markup(_finished_line(outcome))
        mark = "[green]✓[/green]" if outcome.code == ExitCode.OK else "[red]✗[/red]"
        with self._lock:
            self._progress.console.print(f"{mark} {text}")
            self._progress.update(
                self._task,
                completed=tally.finished,
                done=tally.done,
                failed=tally.failed,
                rate=_rate(tally.rate),
                eta=_duration(tally.eta_s),
            )

    def note(self, message: str) -> None:
        with self._lock:
            self._progress.console.print(escape_markup(message))

    def close(self) -> None:
        with self._lock:
            self._progress.stop()


def make_progress(out: Output) -> BatchProgress:
    if out.quiet:
        return QuietProgress()
    if out.fancy:
        return LiveProgress(out)
    return PlainProgress(out)


class _LineView:
    """The `render.View` of one line inside a batch: only retries are worth telling."""

    def __init__(self, item: BatchItem, progress: BatchProgress, cancel: threading.Event) -> None:
        self._item = item
        self._progress = progress
        self._cancel = cancel

    def waiting(self, what: str) -> None:
        pass

    def retrying(self, attempt: int, delay: float, why: str) -> None:
        if not self._cancel.is_set():  # after Ctrl-C, failures are the cancel's doing
            self._progress.retrying(self._item, attempt, delay, why)

    def text(self, fragment: str) -> None:
        pass

    def image_found(self, index: int, url: str | None) -> None:
        pass

    def download_progress(self, index: int, done: int, total: int | None) -> None:
        pass

    def image_saved(self, image: SavedImage) -> None:
        pass

    def finish(self, summary: Any) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class BatchReport:
    plan: BatchPlan
    outcomes: tuple[LineOutcome, ...]  # in the order they finished
    not_run: tuple[BatchItem, ...]  # never started (Ctrl-C)
    elapsed_s: float
    interrupted: bool
    manifest: Path
    manifest_error: str | None = None

    @property
    def code(self) -> ExitCode:
        codes = [outcome.code for outcome in self.outcomes]
        if self.interrupted:
            codes.append(ExitCode.INTERRUPTED)
        return most_severe(codes)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


def run_line(
    item: BatchItem,
    config: RunConfig,
    out: Output,
    pacer: BatchPacer,
    progress: BatchProgress,
) -> LineOutcome:
    """One line as an ordinary run (history, downloads, provenance); never raises."""
    from wan_cli.request import build_request
    from wan_cli.run import api_answer, consume_events, job_for, settle

    started = time.monotonic()
    try:
        prepared = build_request(item.inputs)  # reads the reference images again
        parameters = dict(prepared.body.get("parameters", {}))
        job = job_for(prepared, item.inputs.prompt, parameters, name=item.name)
        line_config = replace(config, output_dir=item.output_dir)
        record = consume_events(
            api_answer(prepared, line_config, out, pacer),
            line_config,
            job,
            _LineView(item, progress, pacer.cancel),
            pacer.cancel,
            download_client=pacer.download_client(),
        )
        return outcome_of(item, settle(record, line_config), time.monotonic() - started)
    except WanError as error:
        return LineOutcome(
            item,
            error.exit_code,
            error=error.message,
            hint=error.hint,
            elapsed_s=time.monotonic() - started,
        )
    except Exception as error:  # a bug in one line must not take the others down
        if os.environ.get("WAN_DEBUG"):
            import traceback

            traceback.print_exc()
        return LineOutcome(
            item,
            ExitCode.INTERNAL,
            error=f"internal error: {type(error).__name__}: {error}",
            elapsed_s=time.monotonic() - started,
        )


@dataclass
class _Shared:
    """State the workers share (guarded by `lock`)."""

    total: int
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: int = 0  # workers running
    finished: threading.Event = field(default_factory=threading.Event)
    outcomes: list[LineOutcome] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    manifest_error: str | None = None

    def tally(self) -> Tally:
        done = sum(1 for outcome in self.outcomes if outcome.code == ExitCode.OK)
        return Tally(
            total=self.total,
            done=done,
            failed=len(self.outcomes) - done,
            elapsed_s=time.monotonic() - self.started,
        )


def run_batch(
    plan: BatchPlan,
    config: RunConfig,
    out: Output,
    *,
    concurrency: int,
    manifest: ManifestWriter,
    progress: BatchProgress,
    pacer: BatchPacer | None = None,
    on_result: Callable[[LineOutcome], None] | None = None,
) -> BatchReport:
    """Send every planned line with `concurrency` requests in flight; each outcome goes to the
    manifest as soon as it is known, then to `progress` and `on_result` (stdout). An auth
    failure (exit 3) stops sending new lines. Ctrl-C stops sending, aborts the requests in
    flight, waits for their downloads to clean up, and returns a report marked interrupted."""
    own_pacer = pacer is None
    pacer = pacer or BatchPacer(threading.Event(), timeout=config.timeout)
    pending: queue.SimpleQueue[BatchItem] = queue.SimpleQueue()
    for item in plan.to_send:
        pending.put(item)
    shared = _Shared(total=len(plan.to_send))
    # A refused key or model fails every line alike: stop sending (lines in flight finish).
    stop = threading.Event()

    def work() -> None:
        try:
            take_lines()
        finally:
            with shared.lock:
                shared.live -= 1
                if shared.live == 0:
                    shared.finished.set()

    def take_lines() -> None:
        while not pacer.cancel.is_set() and not stop.is_set():
            try:
                item = pending.get_nowait()
            except queue.Empty:
                return
            with shared.lock:
                shared.taken.add(item.key)
            outcome = run_line(item, config, out, pacer, progress)
            try:
                manifest.append(manifest_record(outcome))
            except OSError as error:
                with shared.lock:
                    if shared.manifest_error is None:
                        shared.manifest_error = str(error.strerror or error)
                        progress.note(f"warning: the manifest could not be written: {error}")
            with shared.lock:
                if outcome.code == ExitCode.AUTH and not stop.is_set():
                    stop.set()
                    progress.note("authentication failed: no further line is sent")
                shared.outcomes.append(outcome)
                tally = shared.tally()
                # Under the lock: stdout lines and progress lines stay in finishing order.
                if on_result is not None:
                    on_result(outcome)
                progress.finished(outcome, tally)

    workers = [
        threading.Thread(target=work, name=f"batch-{n}", daemon=True)
        for n in range(max(1, min(concurrency, len(plan.to_send))))
    ]
    interrupted = False
    # Waiting is on an Event, never Thread.join: a join interrupted by Ctrl-C can leave the
    # thread marked as stopped while it still runs (CPython bpo-45274), and the workers must be
    # waited for to leave the manifest and the output directory consistent.
    try:
        progress.start(len(plan.to_send))
        for worker in workers:
            with shared.lock:
                shared.live += 1
            worker.start()
        shared.finished.wait()
    except KeyboardInterrupt:
        interrupted = True
        pacer.abort()
        progress.note("interrupted: stopping the requests in flight…")
        try:
            # Each run removes its partial files and records its outcome. (A worker counted but
            # never started cannot set `finished`: hence the check of who is still alive.)
            while not shared.finished.wait(0.25):
                if not any(worker.is_alive() for worker in workers):
                    break
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: leave now (daemon threads end with the process)
    finally:
        progress.close()
        if own_pacer:
            pacer.close()
    with shared.lock:
        outcomes = tuple(shared.outcomes)
        taken = set(shared.taken)
    return BatchReport(
        plan=plan,
        outcomes=outcomes,
        not_run=tuple(item for item in plan.to_send if item.key not in taken),
        elapsed_s=time.monotonic() - shared.started,
        interrupted=interrupted or pacer.cancel.is_set(),
        manifest=manifest.path,
        manifest_error=shared.manifest_error,
    )


# ----------------------------------------------------------------------------------------------
# 6. Report
# ----------------------------------------------------------------------------------------------


def print_summary(report: BatchReport, out: Output) -> None:
    """The summary table (stderr) and one error line per failed line."""
    failed = [o for o in report.outcomes if o.code != ExitCode.OK]
    parts = [
        f"{report.count('done')} done",
        f"{report.count('failed')} failed",
    ]
    if report.count("interrupted"):
        parts.append(f"{report.count('interrupted')} interrupted")
    if report.not_run:
        parts.append(f"{len(report.not_run)} not started")
    if report.plan.skipped:
        parts.append(f"{len(report.plan.skipped)} skipped")
    out.info(
        f"batch summary: {len(report.outcomes)} of {len(report.plan.to_send)} request(s) sent · "
        + " · ".join(parts)
        + f" · {report.elapsed_s:.1f} s"
    )
    by_code: dict[int, int] = {}
    for outcome in report.outcomes:
        by_code[int(outcome.code)] = by_code.get(int(outcome.code), 0) + 1
    if failed or report.not_run:
        rows = [(str(code), EXIT_LABELS.get(code, "?"), count) for code, count in by_code.items()]
        rows.sort(key=lambda row: _severity_rank(int(row[0])))
        if report.not_run:
            rows.append(("-", "not started", len(report.not_run)))
        _table(out, rows)
    for outcome in failed[:MAX_LISTED_FAILURES]:
        where = f" (request_id {outcome.request_id})" if outcome.request_id else ""
        out.error(f"line {outcome.item.number} (exit {int(outcome.code)}): {outcome.error}{where}")
        for url in outcome.unsaved:
            out.error(f"  not saved, fetch within ~24 h: {url}")
    if len(failed) > MAX_LISTED_FAILURES:
        out.error(
            f"… and {len(failed) - MAX_LISTED_FAILURES} more failed line(s): see the manifest"
        )
    if report.manifest_error:
        out.error(
            f"the manifest {report.manifest} could not be written ({report.manifest_error}):"
            " a re-run may send finished lines again"
        )
    if failed or report.not_run:
        out.info(
            f"manifest: {report.manifest} · re-run the same command to send the lines not done"
            " (done lines are skipped)"
        )
    else:
        out.info(f"manifest: {report.manifest}")


def _severity_rank(code: int) -> int:
    order = [int(c) for c in (ExitCode.OK, *SEVERITY)]
    return order.index(code) if code in order else len(order)


def _table(out: Output, rows: Sequence[tuple[str, str, int]]) -> None:
    if out.quiet:
        return
    if out.fancy:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("exit", justify="right")
        table.add_column("outcome")
        table.add_column("lines", justify="right")
        for code, label, count in rows:
            table.add_row(code, label, str(count))
        out.console.print(table)
        return
    out.info("  exit  outcome                lines")
    for code, label, count in rows:
        out.info(f"  {code:>4}  {label:<22} {count:>5}")


def report_document(report: BatchReport) -> dict[str, Any]:
    """The `--json` document: totals and one entry per line of this shard."""
    lines: list[dict[str, Any]] = []
    for outcome in report.outcomes:
        lines.append(
            {
                "line": outcome.item.number,
                "key": outcome.item.key,
                "status": outcome.status,
                "exit_code": int(outcome.code),
                "request_id": outcome.request_id,
                "images": list(outcome.paths),
                "urls": list(outcome.urls),
                "error": outcome.error,
                "history_id": outcome.history_id,
            }
        )
    for item in report.not_run:
        lines.append({"line": item.number, "key": item.key, "status": "not_started"})
    for item, why in report.plan.skipped:
        lines.append({"line": item.number, "key": item.key, "status": "skipped", "reason": why})
    lines.sort(key=lambda entry: int(entry["line"]))
    return {
        "total": report.plan.total,
        "in_shard": report.plan.in_shard,
        "sent": len(report.outcomes),
        "done": report.count("done"),
        "failed": report.count("failed"),
        "interrupted": report.count("interrupted"),
        "not_started": len(report.not_run),
        "skipped": len(report.plan.skipped),
        "exit_code": int(report.code),
        "elapsed_s": round(report.elapsed_s, 3),
        "manifest": str(report.manifest),
        "lines": lines,
    }


# ----------------------------------------------------------------------------------------------
# The command: options → everything above
# ----------------------------------------------------------------------------------------------

SETTING_FLAGS = ("api_key", "base_url", "model", "provider", "timeout", "retries", "output_dir")


def read_source(source: str, stdin: TextIO) -> tuple[str, Path]:
    """The batch file's text and the directory its relative paths are relative to."""
    if source == "-":
        return stdin.read(), Path.cwd()
    path = Path(source).expanduser()
    try:
        return path.read_text(encoding="utf-8"), path.absolute().parent
    except UnicodeDecodeError:
        raise UsageError(f"the batch file {source} is not UTF-8 text") from None
    except OSError as error:
        raise UsageError(
            f"cannot read the batch file {source}: {error.strerror or error}"
        ) from None


def _check_options(args: Mapping[str, Any]) -> tuple[Shard | None, Resume]:
    concurrency = args.get("concurrency", DEFAULT_CONCURRENCY)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    if args.get("format", "auto") not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {args['format']!r}")
    if args.get("mode", "generate") not in ("generate", "edit"):
        raise UsageError(f"--mode must be generate or edit, got {args['mode']!r}")
    limit = args.get("max_total_images")
    if limit is not None and limit < 0:
        raise UsageError(f"--max-total-images must be 0 or more, got {limit}")
    if args.get("force") and args.get("retry_failed"):
        raise UsageError("--force redoes every line; --retry-failed only failed ones: pick one")
    shard = parse_shard(args["shard"]) if args.get("shard") else None
    resume = Resume.PENDING
    if args.get("force"):
        resume = Resume.FORCE
    elif args.get("retry_failed"):
        resume = Resume.RETRY_FAILED
    return shard, resume


def execute_batch(args: Mapping[str, Any], *, stdin: TextIO) -> ExitCode:
    """Validate every line, plan, then dry-run or send; returns the batch's exit code.
    (Ctrl-C while lines are in flight is handled by `run_batch`; anywhere else it is 130.)"""
    out = set_output(
        Output(quiet=args["quiet"], verbose=args["verbose"], json_mode=args["json_output"])
    )
    try:
        return _execute(args, stdin, out)
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None


def _execute(args: Mapping[str, Any], stdin: TextIO, out: Output) -> ExitCode:
    plan, settings, manifest_path = _prepare(args, stdin, out)
    out.info(plan_summary(plan))
    check_budget(plan, args.get("max_total_images"))
    if args["dry_run"]:
        _print_dry_run(plan, out)
        return ExitCode.OK

    from wan_cli.settings import require_api_key

    api_key = require_api_key(settings)
    if not plan.to_send:
        out.info(f"nothing to send: {len(plan.skipped)} line(s) skipped (--force sends them again)")
        if args["json_output"]:
            empty = BatchReport(plan, (), (), 0.0, False, manifest_path)
            out.result_json(report_document(empty))
        return ExitCode.OK
    question = (
        f"Send {plan.requests} request(s) that can produce up to {plan.max_images} billed images?"
    )
    interactive = _is_tty(stdin) and _is_tty(out.stderr)
    asked = needs_confirmation(plan, yes=bool(args.get("yes")), interactive=interactive)
    if asked and not ask(question, stdin, out.stderr):
        raise UsageError("not confirmed: nothing was sent", hint="--yes skips the question")

    from wan_cli.run import RunConfig

    history = _open_history(bool(settings.history and not args.get("no_history")), out)
    config = RunConfig(
        api_key=api_key,
        model=settings.model,
        provider=settings.provider,
        timeout=settings.timeout,
        retries=settings.retries,
        output_dir=_output_dir(settings.output_dir),
        metadata=settings.metadata and not args.get("no_metadata"),
        history=history,
    )
    writer = ManifestWriter(manifest_path)
    lock = threading.Lock()

    def print_result(outcome: LineOutcome) -> None:
        if args["json_output"]:
            return
        with lock:
            for path in outcome.paths:
                out.result(path)
            for url in outcome.unsaved:
                out.result(url)  # not saved: the URL is the result (valid ~24 h)

    pacer = BatchPacer(threading.Event(), timeout=config.timeout)
    try:
        report = run_batch(
            plan,
            config,
            out,
            concurrency=args.get("concurrency", DEFAULT_CONCURRENCY),
            manifest=writer,
            progress=make_progress(out),
            pacer=pacer,
            on_result=print_result,
        )
    finally:
        pacer.close()
        writer.close()
        if history is not None:
            history.close()
    print_summary(report, out)
    if args["json_output"]:
        out.result_json(report_document(report))
    return report.code


def _prepare(
    args: Mapping[str, Any], stdin: TextIO, out: Output
) -> tuple[BatchPlan, Settings, Path]:
    from wan_cli.settings import resolve_settings

    shard, resume = _check_options(args)
    flags: dict[str, object | None] = {name: args.get(name) for name in SETTING_FLAGS}
    flags["profile"] = args.get("profile")
    if args.get("output_dir") is not None:
        flags["output_dir"] = str(args["output_dir"])
    settings = resolve_settings(flags, dict(os.environ))
    for note in settings.notes:
        out.detail(note)
    if args.get("api_key") is not None:
        out.warn("--api-key lands in shell history: prefer `wan config set api-key` or WAN_API_KEY")

    source = str(args["file"])
    text, base_dir = read_source(source, stdin)
    specs, problems = parse_batch(text, args.get("format") or "auto")
    output_dir = _output_dir(settings.output_dir)
    defaults = LineDefaults(
        mode="edit" if args.get("mode") == "edit" else "generate",
        refs=tuple(args.get("ref") or ()),
        size=args.get("size") or settings.size,
        n=args.get("n"),
        max_images=args.get("max_images"),
        negative_prompt=args.get("negative_prompt"),
        seed=args.get("seed"),
        watermark=args.get("watermark"),
        prompt_extend=args.get("prompt_extend"),
        model=settings.model,
        provider=settings.provider,
        base_url=settings.base_url,
        output_dir=output_dir,
        base_dir=base_dir,
    )
    items, invalid = prepare_items(specs, defaults)
    total = len(specs) + len(problems)  # every non-blank line
    problems = tuple(sorted((*problems, *invalid), key=lambda problem: problem.number))
    if problems:
        for problem in problems:
            out.error(str(problem))
        raise UsageError(
            f"{len(problems)} of {total} line(s) are invalid: nothing was sent",
            hint="fix them (or check with --dry-run) and run again",
        )
    if not items:
        name = "stdin" if source == "-" else source
        raise UsageError(f"no prompts in {name}", hint="one JSON object or prompt per line")
    manifest_path = (
        Path(args["manifest"]).expanduser() if args.get("manifest") else output_dir / MANIFEST_NAME
    )
    previous = read_manifest(manifest_path) if resume is not Resume.FORCE else {}
    return make_plan(items, previous, resume, shard), settings, manifest_path


def ask(question: str, stdin: TextIO, stderr: TextIO) -> bool:
    """A yes/no question on the terminal (stderr), answered on stdin; no is the default.
    Stdout is left alone: it carries only results."""
    stderr.write(f"{question} [y/N] ")
    stderr.flush()
    try:
        answer = stdin.readline()  # "" at end of input: no
    except KeyboardInterrupt:
        stderr.write("\n")
        raise Interrupted("interrupted: nothing was sent") from None
    return answer.strip().lower() in ("y", "yes")


def _output_dir(setting: str | None) -> Path:
    return Path(setting).expanduser() if setting else Path.cwd()


def _is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


def _open_history(enabled: bool, out: Output) -> Store | None:
    if not enabled:
        return None
    from wan_cli.history import history_path, open_store

    return open_store(history_path(), warn=out.warn)


def _print_dry_run(plan: BatchPlan, out: Output) -> None:
    """One compact JSON line per request that would be sent (base64 abbreviated)."""
    from wan_cli.request import build_request, render_dry_run

    for item in plan.to_send:
        request = json.loads(
            render_dry_run(build_request(item.inputs), pretty=False, abbreviate_data=True)
        )
        document = {
            "line": item.number,
            "key": item.key,
            "name": item.name,
            "output_dir": str(item.output_dir),
            "max_images": item.max_images,
            "request": request,
        }
        out.result(json.dumps(document, ensure_ascii=False, separators=(",", ":")))

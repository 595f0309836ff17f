"""Step 1, parse: the batch file's text → one typed `LineSpec` per prompt line, and every problem
found with its line number. Pure: nothing is read or checked beyond the text itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wan_cli.api.request import Mode

MAX_NAME_CHARS = 100


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
    from wan_cli.api.jsontext import TooDeep, loads

    try:
        # Bounded nesting: a line nested 100,000 deep is a line problem, not a RecursionError.
        document = loads(line)
    except TooDeep as error:
        return None, [f"not valid JSON: {error}"]
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
    if output_dir is not None and (problem := output_dir_problem(output_dir)):
        errors.append(problem)
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


def output_dir_problem(output_dir: str) -> str | None:
    """Why a line's `output_dir` is not a folder inside -o, or None. It is relative to -o, so
    an absolute path, a home directory (`~`) or a `..` step would write elsewhere."""
    from pathlib import PurePosixPath, PureWindowsPath

    if not output_dir.strip():
        return '"output_dir" is empty'
    if "\x00" in output_dir:
        return '"output_dir" contains a NUL character'
    posix, windows = PurePosixPath(output_dir), PureWindowsPath(output_dir)
    outside = (
        output_dir.startswith("~")
        or posix.is_absolute()
        or bool(windows.anchor)  # a drive (C:), a UNC share, a leading backslash
        or ".." in posix.parts
        or ".." in windows.parts
    )
    if outside:
        return (
            f'"output_dir" must be a folder inside -o (relative, no "..", not absolute):'
            f" {json.dumps(output_dir, ensure_ascii=False)[:80]}"
        )
    return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a file-name stem, or None."""
    from wan_cli.files.naming import check_stem

    if len(name) > MAX_NAME_CHARS:
        return f'"name" is longer than {MAX_NAME_CHARS} characters'
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return '"name" contains control characters'
    try:
        check_stem(name)
    except ValueError:
        return f'"name" must be a plain file name (no "/", "\\\\", not starting with "."): {name!r}'
    return None

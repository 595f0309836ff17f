"""Step 2, prepare: each `LineSpec` + the command-line defaults → a validated request
(`BatchItem`) and its key, a hash of the normalised request. Editing a line makes it new work;
repeating a line makes a second piece of work, not a duplicate."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wan_cli.api.request import DEFAULT_MAX_IMAGES, DEFAULT_N, GenerateInputs
from wan_cli.batch.parse import LineProblem, LineSpec
from wan_cli.errors import UsageError
from wan_cli.run.options import RequestOptions

if TYPE_CHECKING:
    from wan_cli.api.request import PreparedRequest
    from wan_cli.settings import Settings

_T = TypeVar("_T")


def builtin_settings() -> Settings:
    """The settings with nothing configured (no flags, environment or config file)."""
    from wan_cli.settings import ConfigFile, resolve

    return resolve({}, {}, ConfigFile(Path("wan-no-config.toml")))


@dataclass(frozen=True)
class LineDefaults:
    """What the command line says for every line that does not say otherwise."""

    request: RequestOptions = field(default_factory=RequestOptions)  # its prompt: unused
    settings: Settings = field(default_factory=builtin_settings)
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
    """The line's request inputs and output directory: its own values, else the defaults,
    through the same assembler as a single run (`run.assemble.run_inputs`).

    Mode-specific defaults (`-n`, `--max-images`, `--prompt-extend`) apply only to lines of
    that mode, so one command line can serve a file that mixes generate and edit lines.
    """
    from wan_cli.run.assemble import run_inputs

    base = defaults.request
    if spec.refs is not None:
        refs = tuple(
            str(defaults.base_dir / os.path.expanduser(ref)) if _is_local(ref) else ref
            for ref in spec.refs
        )
    else:
        refs = base.refs
    output_dir = defaults.output_dir
    if spec.output_dir is not None:  # inside it: parse.output_dir_problem refused the rest
        output_dir = defaults.output_dir / spec.output_dir
    request = RequestOptions(
        mode=spec.mode or base.mode,
        refs=refs,
        size=_given(spec.size, base.size),
        max_images=_given(spec.max_images, base.max_images),
        n=_given(spec.n, base.n),
        negative_prompt=_given(spec.negative_prompt, base.negative_prompt),
        seed=_given(spec.seed, base.seed),
        watermark=_given(spec.watermark, base.watermark),
        prompt_extend=_given(spec.prompt_extend, base.prompt_extend),
    )
    return run_inputs(request, spec.prompt, defaults.settings), output_dir


def _given(own: _T | None, default: _T | None) -> _T | None:
    return own if own is not None else default


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
    from wan_cli.api.request import build_request

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
        digest = request_key(prepared.json_body(), spec.name, spec.output_dir)
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

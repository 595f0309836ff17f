"""What a tool call answers, as plain data (`Answer`; the server turns it into MCP content):
text for the model to read, the same facts as structured content, and the images to show.

Failures keep the CLI's error classes (its exit codes): each error answer names its kind and
says what to do about it, so an agent can tell "fix the arguments" from "wait" from "ask the
user for a key". Secrets are removed from every answer before it leaves (`redacted`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wan_cli.errors import ExitCode, WanError
from wan_cli.mcp_server.budget import BudgetState
from wan_cli.mcp_server.images import InlineImage, inline_image
from wan_cli.units import plural

# Per error class: its kind (in structured content) and what an agent should do about it.
KINDS: dict[ExitCode, tuple[str, str]] = {
    ExitCode.USAGE: (
        "usage",
        "Nothing was sent and nothing billed: fix the arguments and call again.",
    ),
    ExitCode.AUTH: (
        "auth",
        "The API key is missing or was refused; retrying will not help. Ask the user to set a"
        " valid key (`wan config set api-key`, or WAN_API_KEY in this server's environment).",
    ),
    ExitCode.REJECTED: (
        "rejected",
        "The service refused this request; do not send it again unchanged. Rephrase the prompt"
        " or use other images (content moderation), or fix the parameter it names.",
    ),
    ExitCode.RATE_LIMITED: (
        "rate_limited",
        "Rate limited or out of quota: wait a minute before calling again. If it persists, the"
        " account's quota or billing needs the user's attention.",
    ),
    ExitCode.UNAVAILABLE: (
        "unavailable",
        "The service or the network is unavailable: try again later. If the run started,"
        " get_run shows what was recorded (it may have been billed).",
    ),
    ExitCode.SAVE_FAILED: (
        "unsaved",
        "The images were generated (and billed) but not all were saved. Do not generate"
        " again: call save_run_images with this run's id soon (links expire after about"
        " 24 hours).",
    ),
    ExitCode.INTERRUPTED: ("interrupted", "The call was cancelled; partial files were removed."),
    ExitCode.INTERNAL: (
        "internal",
        "An internal error in wan: the server's log (stderr) has the details.",
    ),
}


# Shorter "secrets" are not worth scrubbing (and could match inside JSON escapes).
MIN_SECRET = 8


@dataclass(frozen=True)
class Answer:
    text: str
    structured: dict[str, Any]
    images: tuple[InlineImage, ...] = ()
    is_error: bool = False


@dataclass(frozen=True)
class Spent:
    """A generating call's cost: images it delivered, and the session's budget after it."""

    images: int
    session: BudgetState = field(repr=False)

    def describe(self) -> str:
        state = self.session
        return (
            f"Images spent by this call: {self.images}; this session: {state.spent} of"
            f" {state.limit} ({state.left} left)."
        )

    def to_json(self) -> dict[str, Any]:
        state = self.session
        return {
            "images_spent": self.images,
            "session": {"limit": state.limit, "spent": state.spent, "left": state.left},
        }


def error_info(error: WanError) -> dict[str, Any]:
    kind, advice = KINDS.get(error.exit_code, KINDS[ExitCode.INTERNAL])
    return {
        "kind": kind,
        "class": type(error).__name__,
        "exit_code": int(error.exit_code),
        "message": error.message,
        "hint": error.hint,
        "code": error.code,
        "status": error.status,
        "request_id": error.request_id,
        "what_to_do": advice,
    }


def error_lines(error: WanError) -> list[str]:
    info = error_info(error)
    lines = [f"{info['kind']} error: {error.describe()}"]
    if error.hint:
        lines.append(f"Hint: {error.hint}")
    lines.append(f"What to do: {info['what_to_do']}")
    return lines


def error_answer(
    error: WanError, structured: dict[str, Any] | None = None, extra: Sequence[str] = ()
) -> Answer:
    """A failure before or outside a run (bad arguments, no key, no such run…)."""
    lines = [*error_lines(error), *extra]
    facts = {"ok": False, **(structured or {}), "error": error_info(error)}
    return Answer("\n".join(lines), facts, is_error=True)


def run_answer(document: dict[str, Any], error: WanError | None, spent: Spent) -> Answer:
    """The answer of a generate/edit run, from its `--json` document."""
    images: list[dict[str, Any]] = document.get("images", [])
    paths = [image["path"] for image in images if image.get("path") and not image.get("error")]
    run_id = document.get("history_id")
    structured: dict[str, Any] = {
        "ok": error is None,
        "run_id": run_id,
        "request_id": document.get("request_id"),
        "paths": paths,
        "images": images,
        "text": document.get("text", ""),
        "usage": document.get("usage"),
        "model": document.get("model"),
        "provider": document.get("provider"),
        "parameters": document.get("parameters"),
        "elapsed_s": document.get("elapsed_s"),
        **spent.to_json(),
    }
    where = _run_label(run_id, document.get("request_id"))
    lines: list[str] = []
    if error is not None:
        structured["error"] = error_info(error)
        lines.extend(error_lines(error))
        for number, image in enumerate(images, 1):
            if not image.get("extra") and (image.get("error") or not image.get("path")):
                lines.append(
                    f"image {number} not saved: {image.get('error') or 'not saved'}:"
                    f" {image.get('url') or '(inline image)'}"
                )
    if paths:
        lines.append(f"{plural(len(paths), 'image')} saved{where}:")
        lines.extend(paths)
    elif error is None:
        lines.append(f"no images{where}")
    extras = sum(1 for image in images if image.get("extra"))
    if extras:
        lines.append(
            f"The answer held {plural(extras, 'more image')} than asked for: not saved"
            " (their links are kept in history)."
        )
    if document.get("text"):
        lines.append(f"The model wrote:\n{document['text']}")
    lines.append(spent.describe())
    shown, notes = previews(Path(path) for path in paths)
    lines.extend(notes)
    return Answer("\n".join(lines), structured, shown, is_error=error is not None)


def previews(paths: Iterable[Path]) -> tuple[tuple[InlineImage, ...], list[str]]:
    """The images to show for saved files, and a note for each that cannot be shown."""
    shown: list[InlineImage] = []
    notes: list[str] = []
    for path in paths:
        image = inline_image(path)
        if isinstance(image, InlineImage):
            shown.append(image)
        else:
            notes.append(image)
    return tuple(shown), notes


def _run_label(run_id: object, request_id: object) -> str:
    facts = [f"run {run_id}" if run_id is not None else "not recorded in history"]
    if request_id:
        facts.append(f"request_id {request_id}")
    return f" ({', '.join(facts)})"


def redacted(answer: Answer, secrets: Iterable[str]) -> Answer:
    """The answer with every secret (the API key) replaced: it must never reach the client."""
    secrets = [secret for secret in secrets if len(secret) >= MIN_SECRET]
    if not secrets:
        return answer

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "[redacted]")
        return text

    structured = json.loads(scrub(json.dumps(answer.structured, ensure_ascii=False)))
    return replace(answer, text=scrub(answer.text), structured=structured)

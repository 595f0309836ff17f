"""Using a recorded run again: the arguments that resend its request (`wan history rerun`),
and why a recorded image link no longer works (`wan history download`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from wan_cli.errors import UsageError
from wan_cli.history.rows import RunRow

if TYPE_CHECKING:
    from wan_cli.run.options import RequestOptions

# Result URLs are signed for about this long (the service's documentation says ~24 h).
URL_LIFETIME = timedelta(hours=24)


def recorded_request(run: RunRow, *, with_refs: bool = True) -> RequestOptions:
    """The request options that send `run`'s request again (prompt, references, parameters);
    the model is the run's own `run.model`. Raises UsageError for a reference history cannot
    replay; `with_refs=False` leaves the references out (the user gives new ones)."""
    from wan_cli.run.options import RequestOptions, check_mode

    params = run.parameters
    mode = check_mode(run.command, "the recorded command")
    refs = enumerate(run.references, 1) if with_refs else ()
    return RequestOptions(
        mode=mode,
        prompt=run.prompt,
        refs=tuple(ref_source(ref, number) for number, ref in refs),
        size=params.get("size"),
        max_images=params.get("max_images") if mode == "generate" else None,
        n=params.get("n") if mode == "edit" else None,
        negative_prompt=params.get("negative_prompt"),
        seed=params.get("seed"),
        watermark=params.get("watermark"),
        prompt_extend=params.get("prompt_extend") if mode == "edit" else None,
    )


def ref_source(ref: Mapping[str, Any], number: int) -> str:
    """What to pass as `--ref` again for a recorded reference descriptor."""
    kind = ref.get("kind")
    if kind == "url" and isinstance(ref.get("url") or ref.get("source"), str):
        return str(ref.get("url") or ref.get("source"))
    if kind == "file" and isinstance(ref.get("path") or ref.get("source"), str):
        return str(ref.get("path") or ref.get("source"))
    raise UsageError(
        f"reference {number} was given inline (a data URI): history keeps only its hash",
        hint="give the references again with --ref",
    )


def changed_file_refs(references: Sequence[Mapping[str, Any]]) -> list[str]:
    """Local reference files that are gone or whose content differs from the recorded hash."""
    import hashlib

    changed = []
    for ref in references:
        path, digest = ref.get("path"), ref.get("sha256")
        if ref.get("kind") != "file" or not isinstance(path, str) or not digest:
            continue
        try:
            with open(path, "rb") as fh:
                if hashlib.sha256(fh.read()).hexdigest() != digest:
                    changed.append(f"{path} has changed since the run")
        except OSError as error:
            changed.append(f"{path}: {error.strerror or error}")
    return changed


def expired_reason(error: str, received: datetime, now: datetime | None = None) -> str | None:
    """Why a failed download most likely failed for good because its link expired, or None.

    Image hosts answer 403 (stale signature), 404 or 410 once a signed link is past its life."""
    import re

    age = (now or datetime.now(UTC)) - received
    status = re.match(r"HTTP (403|404|410)\b", error)
    if status is None and age <= URL_LIFETIME:
        return None
    why = [f"HTTP {status.group(1)} from the image host"] if status else [error]
    if age > URL_LIFETIME:
        why.insert(0, f"{age.total_seconds() / 3600:.0f} h old")
    return f"the link has expired ({'; '.join(why)}): result URLs are valid for about 24 hours"

"""Steps 3 and 4, select and plan: the shard (`--shard i/n`), what the manifest and history say
is done (`Resume`), and what the rest can cost (the `--max-total-images` guard and the question).

What an earlier run did with a line is known twice: its manifest record (written when the line
ended) and its history row (opened with the line's key before the request was sent, each image
URL recorded as it arrived). The newer of the two decides. A run killed outright (`kill -9`)
wrote no manifest record, so its rows decide: a line whose images were recorded is rescued
(saved from the recorded links, never sent again); a line cut off before any image arrived is
sent again. (The service bills a generation that succeeded; a request whose answer brought no
image link before the kill left nothing to save, so sending it again is the only way to get its
images, and it is said so.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from wan_cli.errors import ExitCode, UsageError
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.batch.items import BatchItem
    from wan_cli.batch.manifest import ManifestRecord
    from wan_cli.history.rows import RunRow

# A batch that could produce more images than this asks first on a terminal, and without one is
# refused unless --yes or --max-total-images says how much may be spent (each image is billed).
CONFIRM_ABOVE_IMAGES = 20


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
    # isdecimal, not isdigit: "²".isdigit() is True, yet int("²") fails.
    if not sep or not number.strip().isdecimal() or not count.strip().isdecimal():
        raise UsageError(f"invalid --shard '{text}': expected i/n, e.g. 2/3")
    shard = Shard(int(number), int(count))
    if shard.count < 1 or not 1 <= shard.number <= shard.count:
        raise UsageError(f"invalid --shard '{text}': i must be 1..n and n at least 1")
    return shard


class Resume(StrEnum):
    """What a re-run sends, given the manifest's last outcome for each line."""

    # default: every line not done yet (new, failed, interrupted), except lines whose images
    # were generated and paid for but not saved: those are saved with `wan history download`.
    PENDING = "pending"
    RETRY_FAILED = "retry-failed"  # only lines that failed or were interrupted before
    FORCE = "force"  # every line, done or not


@dataclass(frozen=True)
class Selection:
    """What a run does with each line: send it, rescue it (save its recorded images, send
    nothing) or skip it (with why); `resent`: lines sent again though an earlier run had sent
    them, cut off before any image arrived (with that run's history id)."""

    send: tuple[BatchItem, ...] = ()
    skipped: tuple[tuple[BatchItem, str], ...] = ()
    rescue: tuple[tuple[BatchItem, RunRow], ...] = ()
    resent: tuple[tuple[BatchItem, int], ...] = ()


def select_work(
    items: Sequence[BatchItem],
    previous: Mapping[str, ManifestRecord],
    resume: Resume,
    recorded: Mapping[str, RunRow] | None = None,
) -> Selection:
    """Each line's fate under the resume policy, from its manifest record (`previous`) and its
    newest history row (`recorded`), both by the line's key."""
    send: list[BatchItem] = []
    skipped: list[tuple[BatchItem, str]] = []
    rescue: list[tuple[BatchItem, RunRow]] = []
    resent: list[tuple[BatchItem, int]] = []
    for item in items:
        last = previous.get(item.key)
        row = recorded.get(item.key) if recorded else None
        if resume is Resume.FORCE:
            send.append(item)
            continue
        if row is not None and _is_newer(row, last):
            fate = _by_history(row, resume)
        elif row is not None and last is not None and row.id == last.history_id:
            # The same run: its row also knows which recorded images are on disk.
            fate = _by_manifest(last, resume)
            if last.status == "interrupted" and _has_recorded_images(row):
                fate = _RESCUE
        else:
            fate = _by_manifest(last, resume)
        if fate == _SEND:
            send.append(item)
        elif fate == _RESCUE and row is not None:
            rescue.append((item, row))
        elif fate == _RESEND and row is not None:
            send.append(item)
            resent.append((item, row.id))
        else:
            skipped.append((item, fate))
    return Selection(tuple(send), tuple(skipped), tuple(rescue), tuple(resent))


# A line's fate (anything else is why it is skipped).
_SEND = "send"
_RESCUE = "rescue"
_RESEND = "send again: cut off before any image arrived"
_ELSEWHERE = "being sent by another wan process now"


def _by_manifest(last: ManifestRecord | None, resume: Resume) -> str:
    if last is not None and last.status == "done":
        return "done"
    if resume is Resume.PENDING and last is not None and _paid_not_saved(last):
        return _PAID + _recover_hint(last)
    if resume is Resume.RETRY_FAILED and last is None:
        return "never sent"
    return _SEND


def _by_history(row: RunRow, resume: Resume) -> str:
    """The fate of a line whose history row is newer than its manifest record (or it has none):
    the run that sent it never wrote its outcome, or is still sending it."""
    from wan_cli.history.rows import RUNNING, UNFINISHED

    if row.status == RUNNING:  # its process is alive: two batches over the same lines
        return f"{_ELSEWHERE} (history run {row.id})"
    if row.status in (UNFINISHED, "interrupted"):
        return _RESCUE if _has_recorded_images(row) else _RESEND
    if row.status == "ok":
        return "done"
    if row.status == "unsaved" and resume is Resume.PENDING and any(i.url for i in row.images):
        return f"{_PAID}: `wan history download {row.id}` saves them without paying again"
    return _SEND


def _has_recorded_images(row: RunRow) -> bool:
    """Images that arrived and can still be had without paying again: a link, or a file."""
    return any(image.url is not None or image.is_saved for image in row.images)


def _is_newer(row: RunRow, last: ManifestRecord | None) -> bool:
    """Whether the history row is newer than the manifest's record of the line."""
    from datetime import datetime

    if last is None:
        return True
    if last.history_id is not None:
        return row.id > last.history_id
    try:  # a record written without history: compare times
        return row.created > datetime.fromisoformat(last.finished)
    except (TypeError, ValueError):
        return False


_PAID = "paid for, images not saved"


def _paid_not_saved(record: ManifestRecord) -> bool:
    """Generated (and billed) but not saved: sending it again would be billed again."""
    return record.exit_code == ExitCode.SAVE_FAILED and bool(record.urls)


def _recover_hint(record: ManifestRecord) -> str:
    if record.history_id is not None:
        return f": `wan history download {record.history_id}` saves them without paying again"
    return ": their URLs are in the manifest (valid ~24 h); --retry-failed generates again"


@dataclass(frozen=True)
class BatchPlan:
    total: int  # valid prompt lines in the file
    shard: Shard | None
    in_shard: int
    to_send: tuple[BatchItem, ...]
    skipped: tuple[tuple[BatchItem, str], ...]
    # Lines an earlier run was paid for: their recorded images are saved, nothing is sent.
    to_rescue: tuple[tuple[BatchItem, RunRow], ...] = ()
    resent: tuple[tuple[BatchItem, int], ...] = ()  # in `to_send`, cut off by an earlier run

    @property
    def requests(self) -> int:
        return len(self.to_send)

    @property
    def max_images(self) -> int:
        return sum(item.max_images for item in self.to_send)

    @property
    def work(self) -> tuple[tuple[BatchItem, RunRow | None], ...]:
        """Every line this run takes: the rescues first (free), then the requests."""
        return (*self.to_rescue, *((item, None) for item in self.to_send))


def make_plan(
    items: Sequence[BatchItem],
    previous: Mapping[str, ManifestRecord],
    resume: Resume = Resume.PENDING,
    shard: Shard | None = None,
    recorded: Mapping[str, RunRow] | None = None,
) -> BatchPlan:
    mine = [item for item in items if shard is None or shard.takes(item.position)]
    chosen = select_work(mine, previous, resume, recorded)
    return BatchPlan(
        len(items), shard, len(mine), chosen.send, chosen.skipped, chosen.rescue, chosen.resent
    )


def plan_summary(plan: BatchPlan) -> str:
    """One line for people: what will be sent and the most it can cost."""
    parts = [
        f"{plural(plan.requests, 'request')}, at most {plural(plan.max_images, 'image')} "
        "(each image is billed)"
    ]
    done = sum(1 for _, why in plan.skipped if why == "done")
    paid = sum(1 for _, why in plan.skipped if why.startswith(_PAID))
    elsewhere = sum(1 for _, why in plan.skipped if why.startswith(_ELSEWHERE))
    never = len(plan.skipped) - done - paid - elsewhere
    if plan.to_rescue:
        parts.append(
            f"{plural(len(plan.to_rescue), 'line')} already paid for by an earlier run that did not"
            " finish: their recorded images are saved, not generated again"
        )
    if plan.resent:
        parts.append(
            f"{plural(len(plan.resent), 'line')} cut off by an earlier run before any image"
            " arrived: sent again"
        )
    if done:
        parts.append(f"{plural(done, 'line')} already done: skipped")
    if paid:
        parts.append(
            f"{plural(paid, 'line')} paid for but not saved: skipped (`wan history download`, "
            "or --retry-failed to generate again)"
        )
    if elsewhere:
        parts.append(f"{plural(elsewhere, 'line')} being sent by another wan process: skipped")
    if never:
        parts.append(f"{plural(never, 'line')} never sent: skipped (--retry-failed)")
    if plan.shard is not None:
        parts.append(f"shard {plan.shard}: {plan.in_shard} of {plural(plan.total, 'line')}")
    return "batch: " + " · ".join(parts)


def check_budget(plan: BatchPlan, max_total_images: int | None) -> None:
    """`--max-total-images`: refuse, before sending anything, a batch that could exceed it."""
    if max_total_images is not None and plan.max_images > max_total_images:
        raise UsageError(
            f"this batch could produce up to {plan.max_images} images, more than "
            f"--max-total-images {max_total_images}: nothing was sent",
            hint="lower max_images / n, split the file with --shard, or raise the limit",
        )


class Consent(StrEnum):
    """What a batch needs before it is sent: nothing, a yes on the terminal, or a flag."""

    SEND = "send"
    ASK = "ask"
    REFUSE = "refuse"


def consent(
    plan: BatchPlan, *, yes: bool, max_total_images: int | None, interactive: bool
) -> Consent:
    """A batch that could exceed the threshold is sent only when someone said so: `--yes`, a
    yes on the terminal, or (without a terminal to ask) a `--max-total-images` cap, which
    `check_budget` has already held it to. Like `terraform apply` without `-auto-approve`, a
    script that says nothing is refused rather than billed."""
    if yes or plan.max_images <= CONFIRM_ABOVE_IMAGES:
        return Consent.SEND
    if interactive:
        return Consent.ASK
    return Consent.SEND if max_total_images is not None else Consent.REFUSE


def refusal(plan: BatchPlan) -> UsageError:
    """Why a batch over the threshold was not sent without a terminal, and the flags to add."""
    return UsageError(
        f"this batch could produce up to {plan.max_images} billed images (over "
        f"{CONFIRM_ABOVE_IMAGES}) and there is no terminal to ask: nothing was sent",
        hint=f"add --yes to send it, or --max-total-images {plan.max_images} to send it with "
        "a cap on what it may cost",
    )

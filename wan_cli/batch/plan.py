"""Steps 3 and 4, select and plan: the shard (`--shard i/n`), what the manifest says is done
(`Resume`), and what the rest can cost (the `--max-total-images` guard and the question)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from wan_cli.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from wan_cli.batch.items import BatchItem
    from wan_cli.batch.manifest import ManifestRecord

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
        elif resume is Resume.PENDING and last is not None and _paid_not_saved(last):
            skipped.append((item, _PAID + _recover_hint(last)))
        elif resume is Resume.RETRY_FAILED and last is None:
            skipped.append((item, "never sent"))
        else:
            send.append(item)
    return tuple(send), tuple(skipped)


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
    paid = sum(1 for _, why in plan.skipped if why.startswith(_PAID))
    never = len(plan.skipped) - done - paid
    if done:
        parts.append(f"{done} line(s) already done: skipped")
    if paid:
        parts.append(
            f"{paid} line(s) paid for but not saved: skipped (`wan history download`, "
            "or --retry-failed to generate again)"
        )
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

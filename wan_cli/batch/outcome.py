"""How things ended: one line (`LineOutcome`, and its manifest record) and the whole batch
(`BatchReport`), whose exit code is the most severe class that occurred (`SEVERITY`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wan_cli.batch.manifest import ManifestRecord
from wan_cli.errors import ExitCode, WanError

if TYPE_CHECKING:
    from wan_cli.batch.items import BatchItem
    from wan_cli.batch.plan import BatchPlan
    from wan_cli.files.download import SavedImage
    from wan_cli.run.outcome import RunOutcome

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


@dataclass(frozen=True)
class LineOutcome:
    """How one line ended."""

    item: BatchItem
    code: ExitCode
    request_id: str | None = None
    paths: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()  # every image link the answer held
    unsaved: tuple[str, ...] = ()  # links of images that were not saved
    failure: WanError | None = field(default=None, compare=False)  # None: the line succeeded
    history_id: int | None = None
    elapsed_s: float = 0.0
    rescued: bool = False  # nothing sent: the images an earlier run recorded were saved

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure is not None else None

    @property
    def error_code(self) -> str | None:
        """The service's code, e.g. Throttling.AllocationQuota."""
        return self.failure.code if self.failure is not None else None

    @property
    def status(self) -> str:
        if self.code == ExitCode.OK:
            return "done"
        return "interrupted" if self.code == ExitCode.INTERRUPTED else "failed"


def outcome_of(item: BatchItem, result: RunOutcome, elapsed_s: float) -> LineOutcome:
    """The line's outcome from its finished run."""
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
        failure=error,
        history_id=record.history_id,
        elapsed_s=elapsed_s,
    )


def manifest_record(outcome: LineOutcome) -> ManifestRecord:
    """What the manifest keeps of a line's outcome (the prompt cut to 200 characters)."""
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
class BatchReport:
    """How the batch (this shard) ended: every outcome, and what was never started."""

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


def most_severe(codes: Iterable[int]) -> ExitCode:
    """The batch's exit code: 0 when every line succeeded, else the first class in SEVERITY."""
    present = {int(code) for code in codes} - {0}
    if not present:
        return ExitCode.OK
    for code in SEVERITY:
        if code in present:
            return code
    return ExitCode.INTERNAL  # a code outside the table is a bug

"""Step 6, report: the summary after a batch (stderr: totals, a table by exit code, each failed
line) and the `--json` document (stdout)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wan_cli.batch.outcome import SEVERITY
from wan_cli.errors import ExitCode, error_document, with_request_id
from wan_cli.ui.output import Output
from wan_cli.units import plural

if TYPE_CHECKING:
    from wan_cli.batch.outcome import BatchReport

# Failed lines listed one by one in the summary; the manifest has them all.
MAX_LISTED_FAILURES = 20


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


def print_summary(report: BatchReport, out: Output) -> None:
    """The summary table (stderr) and one error line per failed line."""
    failed = [o for o in report.outcomes if o.code != ExitCode.OK]
    rescued = sum(1 for outcome in report.outcomes if outcome.rescued)
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
    if rescued:
        parts.append(f"{rescued} saved from an earlier run's links (not sent)")
    out.info(
        f"batch summary: {len(report.outcomes) - rescued} of "
        f"{plural(len(report.plan.to_send), 'request')} sent · "
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
        # An interrupted line was listed as it stopped, and counted above; its paid links are
        # still worth repeating.
        if outcome.code != ExitCode.INTERRUPTED:
            message = with_request_id(str(outcome.error), outcome.request_id)
            out.error(f"line {outcome.item.number} (exit {int(outcome.code)}): {message}")
        elif outcome.unsaved:
            out.error(f"line {outcome.item.number} (interrupted):")
        for url in outcome.unsaved:
            out.error(f"  not saved, fetch within ~24 h: {url}")
    if len(failed) > MAX_LISTED_FAILURES:
        out.error(
            f"… and {plural(len(failed) - MAX_LISTED_FAILURES, 'more failed line')}:"
            " see the manifest"
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
                "error": error_document(outcome.failure) if outcome.failure else None,
                "history_id": outcome.history_id,
                "rescued": outcome.rescued,
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
        "sent": sum(1 for outcome in report.outcomes if not outcome.rescued),
        "rescued": sum(1 for outcome in report.outcomes if outcome.rescued),
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

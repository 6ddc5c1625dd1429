"""The verdicts of one or more runs, as a table for people or JSON for programs."""

import json
from collections.abc import Iterable, Sequence

from harness.report.journal import finite

HEADER = ("experiment", "verdict", "time to detect", "time to recover", "report")


def rows(results: Iterable) -> list[tuple[str, str, str, str, str]]:
    """One row per run: the first alert's time to detect, time to recover, and
    the summary's path (or why there is none)."""
    table = []
    for result in results:
        measurements = result.verdict.measurements
        detect = measurements.get("time_to_detect_s", {})
        seen = [s for s in detect.values() if s is not None]
        first_s = min(seen) if seen else None
        recover_s = measurements.get("time_to_recover_s")
        table.append(
            (
                result.experiment,
                result.verdict.status.value,
                _seconds(first_s),
                _seconds(recover_s),
                str(result.report_dir / "summary.md")
                if result.report_dir
                else result.verdict.reason[:80],
            )
        )
    return table


def table(results: Iterable) -> str:
    """The rows under their header, in aligned columns."""
    lines = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEADER))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "-"


def run_record(result) -> dict:
    """What a program needs of one run; paths are null when nothing ran."""
    verdict = result.verdict
    measurements = verdict.measurements
    folder = result.report_dir
    return {
        "experiment": result.experiment,
        "run_id": result.run_id or None,
        "verdict": verdict.status.value,
        "exit_code": verdict.status.exit_code,
        "reason": verdict.reason,
        "failed_checks": [vars(finding) for finding in verdict.findings],
        "time_to_detect_s": dict(measurements.get("time_to_detect_s", {})),
        "detect_deadline_s": {
            alert: deadline.total_s
            for alert, deadline in result.deadlines.get("detect", {}).items()
        },
        "time_to_recover_s": measurements.get("time_to_recover_s"),
        "interrupted": result.interrupted,
        "report_dir": str(folder) if folder else None,
        "summary": str(folder / "summary.md") if folder else None,
        "journal": str(folder / "journal.json") if folder else None,
    }


def document(results: Sequence, exit_code: int, **extra) -> str:
    """The one JSON document a machine-readable command prints on stdout."""
    data = {
        "exit_code": exit_code,
        "runs": [run_record(result) for result in results],
        **extra,
    }
    return json.dumps(finite(data), indent=2, default=str, allow_nan=False)

"""`harness report RUN_DIR`: the run's rendered reports again, from journal.json.

summary.md, report.html and postmortem.md are written again.

summary.md is rendered from the run's live objects; here they are rebuilt from
the journal as plain values with the same attributes, so both renderings agree.
"""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.errors import ReportError
from harness.report.html import write_report_html
from harness.report.journal import Event
from harness.report.postmortem import write_postmortem
from harness.report.redact import Redactor, write_report_file
from harness.report.summary import render_summary

JOURNAL_FILE = "journal.json"
SUMMARY_FILE = "summary.md"


# What every journal.json a run writes holds (docs/journal.schema.json).
REQUIRED_KEYS = ("schema_version", "run_id", "events")


def load_journal(run_dir: Path) -> dict:
    """json.loads of run_dir/journal.json, or a ReportError naming the file."""
    path = Path(run_dir) / JOURNAL_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ReportError(
            f"{path}: no such file; expected the journal.json a run writes in "
            "its folder (reports/<run-id>/)"
        ) from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read: {exc}") from exc
    try:
        journal = json.loads(text)
    except ValueError as exc:
        raise ReportError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(journal, dict):
        raise ReportError(
            f"{path}: holds a JSON {type(journal).__name__}; expected an object "
            "with schema_version, events and series"
        )
    missing = [key for key in REQUIRED_KEYS if key not in journal]
    if missing:
        raise ReportError(
            f"{path}: field(s) {', '.join(missing)} missing; expected the "
            "journal.json a run writes (docs/journal.md), not another JSON file"
        )
    if not isinstance(journal["events"], list):
        raise ReportError(
            f"{path}: field 'events' is a JSON {type(journal['events']).__name__}; "
            "expected a list of events"
        )
    # An edited journal may hold what a run's own would have redacted.
    return Redactor().value(journal)


def rerender(run_dir: Path) -> list[Path]:
    """Write the reports of run_dir again from its journal; return their paths."""
    run_dir = Path(run_dir)
    journal = load_journal(run_dir)
    page = write_report_html(run_dir, journal)
    try:
        text = summary_from_journal(journal)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(
            f"{run_dir / JOURNAL_FILE}: {page.name} was written, but summary.md "
            f"cannot be rendered from it: {exc!r}"
        ) from exc
    summary = write_report_file(run_dir / SUMMARY_FILE, text)
    try:
        postmortem = write_postmortem(run_dir, journal)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(
            f"{run_dir / JOURNAL_FILE}: {page.name} and {summary.name} were "
            f"written, but postmortem.md cannot be rendered from it: {exc!r}"
        ) from exc
    return [summary, page, postmortem]


def summary_from_journal(journal: dict) -> str:
    """summary.md as the run wrote it, from its journal alone."""
    verdict = journal.get("verdict") or {}
    result = SimpleNamespace(
        experiment=journal.get("experiment", ""),
        run_id=journal.get("run_id", ""),
        verdict=SimpleNamespace(
            status=SimpleNamespace(value=verdict.get("status", "unknown")),
            reason=verdict.get("reason") or "",
            checks=[SimpleNamespace(**check) for check in verdict.get("checks", [])],
            measurements=verdict.get("measurements") or {},
        ),
        deadlines={
            "detect": {
                key: SimpleNamespace(total_s=d["total_s"], terms=d["terms"])
                for key, d in (
                    (journal.get("deadlines") or {}).get("detect") or {}
                ).items()
            }
        },
    )
    experiment = (
        SimpleNamespace(hypothesis=journal["hypothesis"])
        if "hypothesis" in journal
        else None
    )
    load = journal.get("load")
    load_result = SimpleNamespace(as_dict=lambda: load) if load else None
    return render_summary(
        result, _RecordedEvents(journal), experiment, load_result, journal.get("rca")
    )


class _RecordedEvents:
    """The reading side of a Journal, over the events of a journal.json."""

    def __init__(self, journal: dict):
        events = [Event(**event) for event in journal.get("events") or []]
        self._events = sorted(events, key=lambda e: e.t_s)

    def events(self, kind: str | None = None) -> list[Event]:
        return [e for e in self._events if kind is None or e.kind == kind]

    def first(self, kind: str, **match: Any) -> Event | None:
        for event in self.events(kind):
            if all(event.fields.get(k) == v for k, v in match.items()):
                return event
        return None

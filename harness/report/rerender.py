"""`harness report RUN_DIR`: the run's rendered reports again, from journal.json."""

import json
from pathlib import Path

from harness.errors import ReportError
from harness.report.html import write_report_html

JOURNAL_FILE = "journal.json"


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
    return journal


def rerender(run_dir: Path) -> list[Path]:
    """Write the reports of run_dir again from its journal; return their paths."""
    journal = load_journal(run_dir)
    return [write_report_html(run_dir, journal)]

"""reports/history/index.html: score, detection and recovery over game days."""

import logging
from html import escape
from pathlib import Path

from harness.report.history import History, read_history
from harness.report.page_shell import html_document
from harness.report.svg_chart import Line, line_chart

log = logging.getLogger(__name__)


def write_trends(history_dir: Path) -> Path:
    path = history_dir / "index.html"
    path.write_text(render_trends(read_history(history_dir)), encoding="utf-8")
    return path


def render_trends(history: History) -> str:
    body = ["<h1>Game day trends</h1>", *_warnings(history.warnings)]
    if not history.records:
        body.append("<p>No game day is recorded yet.</p>")
        return html_document("Game day trends", "\n".join(body))
    labels = [_short(record["stamp"]) for record in history.records]
    body += [
        "<h2>Resilience score</h2>",
        '<div class="charts">',
        score_chart(history.records),
        "</div>",
        *_gameday_table(history.records),
        "<h2>Time to detect and recover, per experiment</h2>",
        "<p>Solid: observed; dashed: the computed deadline. A gap is a game day "
        "that did not run the experiment, or a time that was never reached.</p>",
        '<div class="charts">',
    ]
    for name in _experiment_names(history.records):
        body.append(_experiment_chart(name, history.records, labels))
    body.append("</div>")
    return html_document("Game day trends", "\n".join(body))


def score_chart(records: list[dict]) -> str:
    labels = [_short(record["stamp"]) for record in records]
    scores = tuple(_number(record.get("score")) for record in records)
    return (
        "<figure><figcaption>Score (0 to 100)</figcaption>"
        + line_chart("Resilience score", labels, [Line("score", scores)], "", 100)
        + "</figure>"
    )


# Only the first expected alert to arrive is drawn, with its own deadline; an
# experiment's other alerts are on its game day's page.
def _experiment_chart(name: str, records: list[dict], labels: list[str]) -> str:
    rows = [_row_of(record, name) for record in records]
    lines = [
        Line("time to detect", _values(rows, "time_to_detect_s"), colour=0),
        Line(
            "detect deadline",
            _values(rows, "detect_deadline_s"),
            dashed=True,
            colour=0,
        ),
        Line("time to recover", _values(rows, "time_to_recover_s"), colour=1),
        Line(
            "recover deadline",
            _values(rows, "recover_deadline_s"),
            dashed=True,
            colour=1,
        ),
    ]
    return (
        f"<figure><figcaption>{escape(name)}</figcaption>"
        + line_chart(name, labels, lines, "s")
        + "</figure>"
    )


def _values(rows: list[dict], key: str) -> tuple[float | None, ...]:
    return tuple(_number(row.get(key)) for row in rows)


def _gameday_table(records: list[dict]) -> list[str]:
    lines = [
        "<table>",
        "<tr><th>game day</th><th>tag</th><th>commit</th><th>score</th>"
        "<th>passed</th><th>note</th></tr>",
    ]
    for record in reversed(records):
        stamp = escape(record["stamp"])
        experiments = record["experiments"]
        passed = sum(e.get("verdict") == "passed" for e in experiments)
        score = _number(record.get("score"))
        lines.append(
            f'<tr><td><a href="../gameday-{stamp}/index.html">{stamp}</a></td>'
            f"<td>{escape(str(record.get('tag') or '-'))}</td>"
            f"<td>{escape(str(record.get('git_commit') or '-')[:12])}</td>"
            f'<td class="num">{"-" if score is None else f"{score:.1f}"}</td>'
            f'<td class="num">{passed} of {len(experiments)}</td>'
            f"<td>{_note(record)}</td></tr>"
        )
    return [*lines, "</table>"]


def _note(record: dict) -> str:
    if record.get("interrupted"):
        return escape(f"stopped early: {record['interrupted']}")
    broken = record.get("deliberately_broken")
    if broken:
        return escape(f"{broken} experiment(s) broken on purpose")
    return ""


def _warnings(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return [f'<div class="warn"><p>History lines skipped:</p><ul>{items}</ul></div>']


def _experiment_names(records: list[dict]) -> list[str]:
    return sorted(
        {e["experiment"] for record in records for e in record["experiments"]}
    )


def _row_of(record: dict, name: str) -> dict:
    for entry in record["experiments"]:
        if entry["experiment"] == name:
            return entry
    return {}


def _short(stamp: str) -> str:
    """ "20261205-040000" as "12-05 04:00"; any other stamp as it is."""
    if len(stamp) == 15 and stamp[8] == "-":
        return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return stamp


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

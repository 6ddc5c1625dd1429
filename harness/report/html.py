"""report.html: one self-contained page per run, rendered from journal.json.

The page needs nothing but itself: CSS and the chart script are inline, the
series travel as JSON in a non-executable script element, and a
Content-Security-Policy lets only the page's own script run and fetch nothing.
Every text from the journal is escaped, so a hypothesis holding markup shows
as text.
"""

import base64
import hashlib
import json
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from harness.report.journal import finite
from harness.report.summary import TIMELINE_KINDS

REPORT_FILE = "report.html"

# Series name suffixes per affected service, in the order their charts show.
SERVICE_CHARTS = (
    ("error_ratio", "error ratio", "ratio", ("error_ratio",)),
    (
        "latency",
        "latency percentiles (estimates from Prometheus histogram buckets)",
        "s",
        ("latency_p50_s", "latency_p95_s", "latency_p99_s"),
    ),
    (
        "throughput",
        "throughput: answered requests per second (Prometheus)",
        "req/s",
        ("throughput_per_s",),
    ),
)
LOAD_SERIES = ("load:offered_per_s", "load:achieved_per_s")

# Events drawn as vertical lines on the charts, with the legend's name.
MARKER_KINDS = {
    "alert_pending": "alert pending",
    "alert_firing": "alert firing",
    "alert_resolved": "alert resolved",
    "alert_inactive": "alert inactive",
    "runbook_action": "runbook action",
    "fault_rolled_back": "rollback",
}

# Left out of the timeline's details, as in summary.md.
_NOT_IN_TIMELINE = ("fingerprint", "repeat", "hypothesis", "labels", "annotations")

STATUS_PASSED = "passed"


def write_report_html(run_dir: Path, journal: dict) -> Path:
    """Render journal (the dict of journal.json) into run_dir/report.html."""
    path = Path(run_dir) / REPORT_FILE
    path.write_text(render_report_html(journal))
    return path


def render_report_html(journal: dict) -> str:
    """The whole page; journal is json.loads of a journal.json, any age."""
    name = str(journal.get("experiment") or "experiment")
    body = "\n".join(
        [
            _first_screen(journal),
            _charts_section(journal),
            _timeline_section(journal),
            _detect_section(journal),
            _budget_section(journal),
            _integrity_section(journal),
            _rca_section(journal),
            _load_section(journal),
            _config_section(journal),
        ]
    )
    return _PAGE.format(
        title=escape(f"{name}: {_status(journal).upper()}"),
        csp=_csp(_SCRIPT),
        style=_STYLE,
        body=body,
        data=_script_json(_chart_data(journal)),
        script=_SCRIPT,
    )


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'"
    )


def _script_json(data: Any) -> str:
    """JSON that cannot end its script element or open another."""
    # NaN is no JSON: a dict not read from journal.json may still hold it.
    text = json.dumps(finite(data), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _status(journal: dict) -> str:
    return str(_verdict(journal).get("status") or "unknown")


def _verdict(journal: dict) -> dict:
    return _dict(journal.get("verdict"))


def _dict(value: Any) -> dict:
    """value when it is a mapping; {} for anything an odd journal holds instead."""
    return value if isinstance(value, dict) else {}


def _events(journal: dict) -> list[dict]:
    events = journal.get("events")
    if not isinstance(events, list):
        return []
    return [e for e in events if isinstance(e, dict) and _number(e.get("t_s"))]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fields(event: dict) -> dict:
    fields = event.get("fields")
    return fields if isinstance(fields, dict) else {}


# -- first screen ------------------------------------------------------------


def _first_screen(journal: dict) -> str:
    status = _status(journal)
    verdict = _verdict(journal)
    parts = [
        '<header id="verdict">',
        f"<h1>{escape(str(journal.get('experiment') or 'experiment'))}</h1>",
        f'<p class="status status-{escape(status)}">{escape(status.upper())}</p>',
        "</header>",
    ]
    if status != STATUS_PASSED:
        parts.append(_banner(status, verdict))
    parts.append(_about(journal))
    parts.append(_checks_table(verdict))
    return "\n".join(parts)


def _banner(status: str, verdict: dict) -> str:
    failed = [c for c in _checks(verdict) if not c.get("held")]
    lines = [
        '<section id="banner" class="banner" role="alert">',
        f"<h2>{escape(status.upper())}</h2>",
    ]
    if verdict.get("reason"):
        lines.append(f'<p class="reason">{escape(str(verdict["reason"]))}</p>')
    if failed:
        lines.append("<p>Expectations that did not hold:</p><ul>")
        lines += [
            f"<li><b>{escape(str(c.get('expectation', '')))}</b>: predicted "
            f"{escape(str(c.get('predicted', '')))}; observed "
            f"{escape(str(c.get('observed', '')))}</li>"
            for c in failed
        ]
        lines.append("</ul>")
    lines.append("</section>")
    return "\n".join(lines)


def _list_of(value: Any) -> list:
    return value if isinstance(value, list) else []


def _checks(verdict: dict) -> list[dict]:
    checks = verdict.get("checks")
    return (
        [c for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []
    )


def _about(journal: dict) -> str:
    rows = [
        ("run", journal.get("run_id")),
        ("hypothesis", journal.get("hypothesis")),
        ("experiment file", journal.get("source")),
    ]
    breakage = _dict(journal.get("deliberate_breakage"))
    for alert in _list_of(breakage.get("alert_rules_removed")):
        rows.append(("deliberately broken", f"alert rule {alert} removed"))
    for runbook in _list_of(breakage.get("runbooks_disabled")):
        rows.append(("deliberately broken", f"runbook {runbook} disabled"))
    return _definition_list([(k, v) for k, v in rows if v not in (None, "")])


def _checks_table(verdict: dict) -> str:
    checks = _checks(verdict)
    if not checks:
        return ""
    rows = [
        [
            c.get("expectation"),
            "yes" if c.get("held") else "NO",
            c.get("predicted"),
            c.get("observed"),
        ]
        for c in checks
    ]
    return _section(
        "expectations",
        "Expectations",
        _table(["expectation", "held", "predicted", "observed"], rows),
    )


# -- charts ------------------------------------------------------------------


def affected_services(journal: dict) -> list[str]:
    """Services with at least one of the per-service series the charts draw."""
    suffixes = {s for *_, names in SERVICE_CHARTS for s in names}
    series = _dict(journal.get("series"))
    services = set()
    for name in series:
        service, _, suffix = str(name).partition(":")
        if suffix in suffixes and service != "load":
            services.add(service)
    return sorted(services)


def _chart_data(journal: dict) -> dict:
    series = _dict(journal.get("series"))
    charts = []
    for service in affected_services(journal):
        for key, title, unit, suffixes in SERVICE_CHARTS:
            lines = [
                {"label": suffix, "points": series[f"{service}:{suffix}"]}
                for suffix in suffixes
                if f"{service}:{suffix}" in series
            ]
            if lines:
                charts.append(
                    {
                        "id": f"{service}-{key}",
                        "title": f"{service}: {title}",
                        "unit": unit,
                        "service": service,
                        "lines": lines,
                    }
                )
    load_lines = [
        {"label": name.split(":", 1)[1], "points": series[name]}
        for name in LOAD_SERIES
        if name in series
    ]
    if load_lines:
        charts.append(
            {
                "id": "load-journeys",
                "title": "load: journeys per second, offered and achieved (started)",
                "unit": "journeys/s",
                "service": None,
                "lines": load_lines,
            }
        )
    return {
        "charts": charts,
        "windows": fault_windows(journal),
        "markers": markers(journal),
        "end_s": _end_s(journal),
    }


def fault_windows(journal: dict) -> list[dict]:
    """Each fault from fault_injected to fault_rolled_back (or the run's end)."""
    windows = []
    open_faults: dict[str, dict] = {}
    for event in _events(journal):
        fields = _fields(event)
        fault = str(fields.get("fault", ""))
        if event.get("kind") == "fault_injected":
            window = {
                "fault": fault,
                "service": fields.get("service"),
                "from_s": event["t_s"],
                "to_s": None,
            }
            open_faults[fault] = window
            windows.append(window)
        elif event.get("kind") == "fault_rolled_back" and fault in open_faults:
            open_faults.pop(fault)["to_s"] = event["t_s"]
    for window in open_faults.values():
        window["to_s"] = _end_s(journal)
    return windows


def markers(journal: dict) -> list[dict]:
    """Alert states, runbook actions and rollbacks, as vertical lines.

    Known shortcoming: a marker without a service (a runbook action, a
    rollback, an alert with no service label) is drawn on every chart.
    """
    found = []
    for event in _events(journal):
        kind = event.get("kind")
        fields = _fields(event)
        if kind == "alert_notified":
            if fields.get("status") != "resolved" or fields.get("repeat"):
                continue
            kind = "alert_resolved"
        if kind not in MARKER_KINDS:
            continue
        found.append(
            {
                "kind": kind,
                "t_s": event["t_s"],
                "service": fields.get("service") or None,
                "label": _marker_label(kind, fields),
            }
        )
    return found


def _marker_label(kind: str, fields: dict) -> str:
    if kind.startswith("alert_"):
        what = fields.get("alertname", "")
        if fields.get("severity"):
            what = f"{what}[{fields['severity']}]"
    elif kind == "runbook_action":
        what = f"{fields.get('runbook', '')}: {fields.get('action', '')} -> " + str(
            fields.get("result", "")
        )
    else:
        what = str(fields.get("fault", ""))
    return f"{MARKER_KINDS[kind]}: {what}"


def _end_s(journal: dict) -> float:
    times = [e["t_s"] for e in _events(journal)]
    return max(times, default=0.0)


def _charts_section(journal: dict) -> str:
    data = _chart_data(journal)
    if not data["charts"]:
        return _section(
            "charts",
            "Charts",
            "<p>No series were measured for this run (it ended before the "
            "watchers started, or the journal predates them).</p>",
        )
    boxes = "\n".join(
        f'<figure class="chart" id="chart-{escape(chart["id"])}">'
        f"<figcaption>{escape(chart['title'])}</figcaption></figure>"
        for chart in data["charts"]
    )
    note = (
        "<p>Shaded: fault windows (injected to rolled back). Vertical lines: "
        "alert pending, firing, resolved and inactive; runbook actions; "
        "rollbacks. Time is seconds since the run started. Latency "
        "percentiles are estimates from Prometheus histogram buckets.</p>"
    )
    return _section("charts", "Over time", note + boxes)


# -- tables ------------------------------------------------------------------


def _timeline_section(journal: dict) -> str:
    rows = []
    for event in _events(journal):
        fields = _fields(event)
        if event.get("kind") not in TIMELINE_KINDS or fields.get("repeat"):
            continue
        details = ", ".join(
            f"{key}={value}"
            for key, value in fields.items()
            if key not in _NOT_IN_TIMELINE and value not in ("", None)
        )
        rows.append([f"{event['t_s']:.2f}", event.get("kind"), details])
    return _section("timeline", "Timeline", _table(["t (s)", "event", "details"], rows))


def _detect_section(journal: dict) -> str:
    measurements = _dict(_verdict(journal).get("measurements"))
    deadlines = _dict(journal.get("deadlines"))
    floor = _dict(deadlines.get("floor"))
    seen = _dict(measurements.get("time_to_detect_s"))
    rows = []
    for key, deadline in _dict(deadlines.get("detect")).items():
        observed = seen.get(key)
        low = _dict(floor.get(key)).get("total_s")
        high = _dict(deadline).get("total_s")
        rows.append(
            [
                key,
                _seconds(low),
                _seconds(high),
                _seconds(observed) if observed is not None else "never",
                _within(observed, low, high),
                _terms(_dict(deadline).get("terms")),
            ]
        )
    parts = []
    if rows:
        parts.append(
            _table(
                [
                    "alert",
                    "floor",
                    "deadline",
                    "observed",
                    "within deadline",
                    "deadline terms",
                ],
                rows,
            )
        )
    else:
        parts.append("<p>No alert was expected, so no time to detect was measured.</p>")
    parts.append(_resolve_table(journal, deadlines, measurements))
    recover = measurements.get("time_to_recover_s")
    injected = measurements.get("fault_injected_s")
    parts.append(
        _definition_list(
            [
                ("fault injected at", _seconds(injected)),
                ("SLO back at", _seconds(measurements.get("slo_back_s"))),
                (
                    "time to recover (fault injected to SLO back)",
                    _seconds(recover) if recover is not None else "not measured",
                ),
                (
                    "time to recover deadline (from the experiment's slo_recovered)",
                    _seconds(measurements.get("recover_deadline_s"))
                    if measurements.get("recover_deadline_s") is not None
                    else "none",
                ),
            ]
        )
    )
    return _section(
        "detect", "Time to detect and recover: predicted and observed", "".join(parts)
    )


def _resolve_table(journal: dict, deadlines: dict, measurements: dict) -> str:
    """Each expected alert's resolution against its deadline after the rollback."""
    resolve = _dict(deadlines.get("resolve"))
    if not resolve:
        return ""
    rollbacks = [
        e["t_s"] for e in _events(journal) if e.get("kind") == "fault_rolled_back"
    ]
    rolled_back_s = max(rollbacks, default=None)
    resolved = _dict(measurements.get("resolved_s"))
    rows = []
    for key, deadline in resolve.items():
        at_s = resolved.get(key)
        after = (
            _seconds(at_s - rolled_back_s)
            if _number(at_s) and rolled_back_s is not None
            else "-"
        )
        rows.append(
            [
                key,
                _seconds(_dict(deadline).get("total_s")),
                _seconds(at_s) if at_s is not None else "never",
                after,
            ]
        )
    headers = [
        "alert",
        "resolve deadline (after the last rollback)",
        "resolved at (run time)",
        "resolved after the last rollback",
    ]
    return _table(headers, rows)


def _within(observed: Any, low: Any, high: Any) -> str:
    if not _number(observed):
        return "no"
    if _number(high) and observed > high:
        return "NO: after its deadline"
    if _number(low) and observed < low:
        # Expected while the estate is younger than the alert's long window
        # (docs/limitations.md); only the deadline is judged.
        return "yes (before the floor, which assumes full windows)"
    return "yes"


def _terms(terms: Any) -> str:
    if not isinstance(terms, dict):
        return ""
    return " + ".join(f"{name} {value}" for name, value in terms.items())


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if _number(value) else "-"


def _budget_section(journal: dict) -> str:
    impact = journal.get("impact")
    budget = impact.get("budget") if isinstance(impact, dict) else None
    if not isinstance(budget, list):
        return _section(
            "budget", "Error budget consumed", "<p>Not measured for this run.</p>"
        )
    rows = [
        [
            b.get("slo"),
            b.get("service"),
            b.get("sli"),
            b.get("target"),
            b.get("good"),
            b.get("bad"),
            b.get("allowed_bad"),
            _ratio(b.get("consumed_ratio")),
            _ratio(b.get("period_fraction")),
        ]
        for b in budget
        if isinstance(b, dict)
    ]
    headers = [
        "SLO",
        "service",
        "SLI",
        "target",
        "good",
        "bad",
        "allowed bad",
        "consumed (of the run's allowance)",
        "of the whole period's budget",
    ]
    return _section("budget", "Error budget consumed", _table(headers, rows))


def _ratio(value: Any) -> str:
    return f"{value:.1%}" if _number(value) else "-"


def _integrity_section(journal: dict) -> str:
    results = journal.get("integrity")
    if not isinstance(results, list) or not results:
        return _section(
            "integrity", "Data integrity", "<p>Not checked for this run.</p>"
        )
    rows = [
        [
            r.get("name"),
            "yes" if r.get("held") else "NO",
            r.get("checked"),
            r.get("violations"),
            r.get("examples"),
        ]
        for r in results
        if isinstance(r, dict)
    ]
    return _section(
        "integrity",
        "Data integrity",
        _table(["invariant", "held", "checked", "violations", "examples"], rows),
    )


def _rca_section(journal: dict) -> str:
    rca = journal.get("rca")
    if not isinstance(rca, dict):
        return _section(
            "rca", "Root cause guess", "<p>No guess was made for this run.</p>"
        )
    guess = _dict(rca.get("guess"))
    correct = {True: "right", False: "WRONG", None: "not applicable"}.get(
        rca.get("correct"), str(rca.get("correct"))
    )
    guessed = _definition_list(
        [
            ("component", guess.get("component")),
            ("via", guess.get("via")),
            ("symptom", guess.get("symptom")),
            ("confidence", guess.get("confidence")),
            ("summary", guess.get("summary")),
            ("method", rca.get("method")),
        ]
    )
    injected = _table(
        ["fault", "kind", "route", "service", "component"],
        [
            [i.get(k) for k in ("fault", "kind", "route", "service", "component")]
            for i in _list_of(rca.get("injected"))
            if isinstance(i, dict)
        ],
    )
    evidence = _list(_list_of(rca.get("evidence")))
    body = (
        f'<p class="rca-correct">The guess was: <b>{escape(correct)}</b></p>'
        f'<div class="side-by-side"><div><h3>Guess</h3>{guessed}{evidence}</div>'
        f"<div><h3>Injected</h3>{injected}</div></div>"
    )
    return _section("rca", "Root cause guess beside the injected faults", body)


def _load_section(journal: dict) -> str:
    load = journal.get("load")
    if not isinstance(load, dict):
        return _section("load", "Load", "<p>No load statistics for this run.</p>")
    parts = []
    if load.get("under_offered"):
        parts.append(
            '<p class="warning">The load generator achieved less than 80% of the '
            "offered load: the run tested less traffic than it asked for.</p>"
        )
    scalars = [(k, v) for k, v in load.items() if not isinstance(v, dict | list)]
    parts.append(_definition_list(scalars))
    latency = load.get("latency_ms")
    if isinstance(latency, dict):
        names = sorted(
            {p for row in latency.values() if isinstance(row, dict) for p in row}
        )
        rows = [
            [which, *[(row or {}).get(p) for p in names]]
            for which, row in latency.items()
            if isinstance(row, dict)
        ]
        parts.append("<h3>Latency (ms)</h3>")
        parts.append(_table(["requests", *names], rows))
        if load.get("latency_note"):
            parts.append(f"<p>{escape(str(load['latency_note']))}</p>")
    for key, value in load.items():
        if isinstance(value, dict | list) and key != "latency_ms":
            parts.append(_details(key, json.dumps(value, indent=2, default=str)))
    return _section("load", "Load", "".join(parts))


def _config_section(journal: dict) -> str:
    config = journal.get("config")
    if not isinstance(config, dict):
        return _section(
            "config",
            "Configuration",
            "<p>The configuration was not recorded in this journal.</p>",
        )
    facts = _definition_list(
        [
            ("harness version", config.get("harness_version")),
            ("git commit", config.get("git_commit") or "unknown"),
        ]
    )
    blocks = [
        _details("options", json.dumps(config.get("options"), indent=2, default=str)),
        _details("experiment file", config.get("experiment_yaml") or ""),
    ]
    files = _dict(config.get("files"))
    blocks += [_details(path, text) for path, text in sorted(files.items())]
    return _section("config", "Configuration used", facts + "".join(blocks))


# -- HTML pieces -------------------------------------------------------------


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def _table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return escape(json.dumps(value, default=str))
    text = escape(str(value))
    return f'<span class="no">{text}</span>' if text.startswith("NO") else text


def _definition_list(pairs: list[tuple[str, Any]]) -> str:
    items = "".join(
        f"<dt>{escape(str(k))}</dt><dd>{_cell(v)}</dd>"
        for k, v in pairs
        if v is not None
    )
    return f"<dl>{items}</dl>"


def _list(items: list[Any]) -> str:
    return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>"


def _details(summary: str, text: str) -> str:
    return (
        f"<details><summary>{escape(summary)}</summary>"
        f"<pre>{escape(str(text))}</pre></details>"
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body data-charts-drawn="0" data-errors="">
{body}
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 2.2em; margin: 0; }
.status { font-size: 2.6em; font-weight: bold; margin: 0.1em 0 0.4em; }
.status-passed { color: #17702f; }
.status-failed, .status-error, .status-aborted { color: #b00020; }
.banner { background: #fde8ea; border: 3px solid #b00020; padding: 0.6em 1em;
  margin-bottom: 1em; }
.banner h2 { color: #b00020; margin: 0 0 0.3em; font-size: 1.8em; }
.reason { font-weight: bold; }
.warning { background: #fff4d6; border-left: 4px solid #c77700; padding: 0.4em; }
.no { color: #b00020; font-weight: bold; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left;
  vertical-align: top; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; }
dt { font-weight: bold; }
dd { margin: 0; }
pre { background: #f6f6f6; padding: 0.5em; overflow: auto; max-height: 30em; }
.chart { display: inline-block; margin: 0.5em; vertical-align: top; }
.chart svg { background: #fff; border: 1px solid #ddd; }
.chart .error { color: #b00020; }
.side-by-side { display: flex; gap: 2em; flex-wrap: wrap; }
"""

# Draws each chart from the JSON data, as SVG. Errors are recorded on the body
# (data-errors), and the number of charts drawn in data-charts-drawn, so a
# headless browser can tell a page that drew from one that failed.
_SCRIPT = r"""
"use strict";
(function () {
  var body = document.body, errors = [];
  function recordError(message) {
    errors.push(String(message));
    body.dataset.errors = errors.join(" | ");
  }
  window.onerror = function (message) { recordError(message); };
  var SVG = "http://www.w3.org/2000/svg";
  var W = 560, H = 240, L = 56, R = 12, T = 12, B = 30;
  var LINE_COLOURS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c"];
  var MARKER_COLOURS = {
    alert_pending: "#e0a800", alert_firing: "#b00020",
    alert_resolved: "#2b8a3e", alert_inactive: "#868e96",
    runbook_action: "#862e9c", fault_rolled_back: "#0b7285"
  };
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) { node.setAttribute(key, attrs[key]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function text(parent, x, y, content, anchor) {
    var node = el("text", {x: x, y: y, "font-size": 10,
      "text-anchor": anchor || "middle"}, parent);
    node.textContent = content;
    return node;
  }
  function checkPoints(line) {
    if (!Array.isArray(line.points)) {
      throw new Error("series " + line.label + " is not a list of points");
    }
    line.points.forEach(function (p, i) {
      if (!Array.isArray(p) || typeof p[0] !== "number" ||
          (p[1] !== null && typeof p[1] !== "number")) {
        throw new Error("series " + line.label + ": point " + i +
          " is not [t_s, value or null]");
      }
    });
  }
  function ticks(max, count) {
    var raw = max / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; })
      .filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var v = 0; v <= max + 1e-9; v += step) { out.push(v); }
    return out;
  }
  function label(v) {
    return Math.abs(v) >= 100 || v === 0 ? String(Math.round(v)) :
      String(Number(v.toPrecision(3)));
  }
  function draw(chart, data, figure) {
    chart.lines.forEach(checkPoints);
    var endS = data.end_s, maxY = 0, inFaults = 0, points = 0;
    chart.lines.forEach(function (line) {
      line.points.forEach(function (p) {
        endS = Math.max(endS, p[0]);
        if (p[1] !== null) { maxY = Math.max(maxY, p[1]); points++; }
      });
    });
    if (points === 0) { throw new Error(chart.title + ": no point has a value"); }
    // Headroom, so a line at its maximum stays clear of the frame.
    maxY = maxY <= 0 ? 1 : maxY * 1.1;
    endS = Math.max(endS, 1);
    var x = function (t) { return L + (W - L - R) * t / endS; };
    var y = function (v) { return T + (H - T - B) * (1 - v / maxY); };
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H,
      role: "img"}, figure);
    data.windows.forEach(function (w) {
      var rect = el("rect", {x: x(w.from_s), y: T, height: H - T - B,
        width: Math.max(1, x(w.to_s) - x(w.from_s)), fill: "#ffd8a8",
        "fill-opacity": 0.5, "class": "fault-window"}, svg);
      el("title", {}, rect).textContent = "fault " + w.fault + ": " +
        w.from_s + " s to " + w.to_s + " s";
    });
    ticks(maxY, 4).forEach(function (v) {
      el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eee"}, svg);
      text(svg, L - 4, y(v) + 3, label(v), "end");
    });
    ticks(endS, 8).forEach(function (t) {
      text(svg, x(t), H - B + 14, label(t));
    });
    text(svg, (L + W) / 2, H - 3, "t (s) — " + chart.unit);
    el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none",
      stroke: "#999"}, svg);
    var shown = {};
    data.markers.forEach(function (m) {
      if (chart.service && m.service && m.service !== chart.service) { return; }
      var line = el("line", {x1: x(m.t_s), x2: x(m.t_s), y1: T, y2: H - B,
        stroke: MARKER_COLOURS[m.kind] || "#000", "stroke-width": 1.5,
        "stroke-dasharray": "4 2", "class": "marker marker-" + m.kind}, svg);
      el("title", {}, line).textContent = m.t_s + " s: " + m.label;
      shown[m.kind] = true;
    });
    chart.lines.forEach(function (line, i) {
      var colour = LINE_COLOURS[i % LINE_COLOURS.length], d = "", pen = false;
      line.points.forEach(function (p) {
        if (p[1] === null) { pen = false; return; }
        d += (pen ? " L " : " M ") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1);
        pen = true;
        if (data.windows.some(function (w) {
          return p[0] >= w.from_s && p[0] <= w.to_s; })) { inFaults++; }
      });
      el("path", {d: d.trim(), fill: "none", stroke: colour, "stroke-width": 1.5,
        "class": "series", "data-label": line.label}, svg);
    });
    svg.dataset.points = points;
    svg.dataset.pointsInFaults = inFaults;
    legend(figure, chart, shown);
  }
  function legend(figure, chart, shown) {
    var items = chart.lines.map(function (line, i) {
      return [LINE_COLOURS[i % LINE_COLOURS.length], line.label];
    });
    Object.keys(shown).forEach(function (kind) {
      items.push([MARKER_COLOURS[kind], kind.replace(/_/g, " ")]);
    });
    var div = document.createElement("div");
    items.forEach(function (item) {
      var span = document.createElement("span");
      span.style.color = item[0];
      span.style.marginRight = "1em";
      span.textContent = "\u25a0 " + item[1];
      div.appendChild(span);
    });
    figure.appendChild(div);
  }
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var drawn = 0;
  data.charts.forEach(function (chart) {
    var figure = document.getElementById("chart-" + chart.id);
    try {
      draw(chart, data, figure);
      drawn++;
      body.dataset.chartsDrawn = drawn;
    } catch (err) {
      recordError(chart.id + ": " + err.message);
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = "chart not drawn: " + err.message;
      figure.appendChild(p);
    }
  });
  var banner = document.getElementById("banner");
  if (banner) {
    var box = banner.getBoundingClientRect();
    body.dataset.bannerTop = Math.round(box.top);
    body.dataset.bannerBottom = Math.round(box.bottom);
  }
  body.dataset.chartsExpected = data.charts.length;
  body.dataset.done = "1";
})();
"""

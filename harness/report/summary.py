"""summary.md: the verdict, time to detect and recover, and the timeline."""

from pathlib import Path

from harness.report.journal import Journal
from harness.report.redact import write_report_file

# Events that make the timeline; repeats of a notification are left out.
TIMELINE_KINDS = (
    "run_started",
    "stack_up",
    "load_started",
    "steady_state_checked",
    "fault_injected",
    "halted",
    "detected",
    "triaged",
    "mitigated",
    "resolved",
    "alert_pending",
    "alert_firing",
    "alert_notified",
    "runbook_started",
    "runbook_action",
    "runbook_finished",
    "runbook_skipped",
    "runbook_failed",
    "runbook_rehearsed",
    "runbook_escalated",
    "slo_back",
    "fault_rolled_back",
    "fault_lost",
    "interrupted",
    "alert_inactive",
    "load_stopped",
    "run_finished",
    "experiment_invalid",
)


def write_summary(
    result, journal: Journal, experiment=None, load_result=None, rca=None
) -> Path:
    path = Path(result.report_dir) / "summary.md"
    text = render_summary(result, journal, experiment, load_result, rca)
    return write_report_file(path, text, journal.redactor)


def render_summary(result, journal: Journal, experiment, load_result, rca=None) -> str:
    verdict = result.verdict
    lines = [f"# {result.experiment}: {verdict.status.value.upper()}", ""]
    if experiment is not None:
        lines += [f"Hypothesis: {experiment.hypothesis}", ""]
    lines += [f"Run: `{result.run_id}`", ""]
    lines += _breakage(journal)
    if verdict.reason:
        lines += [f"Reason: {verdict.reason}", ""]
    if verdict.checks:
        lines += [
            "## Expectations",
            "",
            "| expectation | held | predicted | observed |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {_cell(c.expectation)} | {'yes' if c.held else '**NO**'} | "
            f"{_cell(c.predicted)} | {_cell(c.observed)} |"
            for c in verdict.checks
        ]
        lines.append("")
    lines += _timings(result)
    lines += root_cause_section(rca)
    lines += _alerts(journal)
    lines += _load(load_result)
    lines += _integrity(journal)
    lines += _timeline(journal)
    return "\n".join(lines) + "\n"


def root_cause_section(rca: dict | None) -> list[str]:
    """The analysis's guess beside what was injected (journal "rca")."""
    if not rca:
        return []
    guess = rca.get("guess") or {}
    component = guess.get("component")
    if component is None:
        named = "nothing is broken"
    else:
        named = f"{component}, {guess.get('symptom') or 'trouble'}"
        if guess.get("via"):
            named += f", via {guess['via']}"
    confidence = guess.get("confidence")
    lines = [
        "## Root cause (analysis)",
        "",
        f"- Guess: {named}"
        + (f" (confidence {confidence:.0%})" if confidence is not None else ""),
        f"- Summary: {guess.get('summary', '')}",
    ]
    lines += [f"- Evidence: {sentence}" for sentence in rca.get("evidence") or []]
    injected = [
        f"{f.get('fault')} ({f.get('kind')} on {f.get('route') or f.get('service')}"
        f" -> {f.get('component') or 'nothing broken'})"
        for f in rca.get("injected") or []
    ]
    lines.append(f"- Injected: {'; '.join(injected) or 'nothing'}")
    verdict = {True: "right", False: "**wrong**", None: "not scored"}
    lines.append(f"- Guess was: {verdict.get(rca.get('correct'), 'not scored')}")
    return [*lines, ""]


def _integrity(journal: Journal) -> list[str]:
    checked = journal.first("integrity_checked")
    if checked is None:
        return []
    lines = [
        "## Data integrity",
        "",
        "| invariant | held | checked | violations | examples |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in checked.fields["results"]:
        held = "yes" if result["held"] else "**NO**"
        lines.append(
            f"| {result['name']} | {held} | {result['checked']} | "
            f"{result['violations']} | {_cell(result['examples'])} |"
        )
    return [*lines, ""]


def _breakage(journal: Journal) -> list[str]:
    started = journal.first("run_started")
    fields = started.fields if started else {}
    lines = []
    for alert in fields.get("alert_rules_removed", []):
        lines.append(f"- alert rule {alert} was removed for this run (--without-alert)")
    for runbook in fields.get("runbooks_disabled", []):
        lines.append(
            f"- runbook {runbook} was disabled for this run (--disable-runbook)"
        )
    if lines:
        lines = [
            "Deliberately broken for this run, to show the verdict can fail:",
            "",
            *lines,
            "",
        ]
    return lines


def _timings(result) -> list[str]:
    m = result.verdict.measurements
    detect = (result.deadlines or {}).get("detect", {})
    lines = [
        "## Time to detect and recover",
        "",
        "| measure | observed | deadline (computed) |",
        "| --- | --- | --- |",
    ]
    for alert, deadline in detect.items():
        seen = m.get("time_to_detect_s", {}).get(alert)
        shown = f"{seen:.2f} s" if seen is not None else "never"
        terms = " + ".join(
            f"{name} {value:g}" for name, value in deadline.terms.items()
        )
        lines.append(
            f"| time to detect ({alert}) | {shown} | "
            f"{deadline.total_s:.2f} s = {terms} |"
        )
    recover = m.get("time_to_recover_s")
    if recover is None and "slo" not in m:
        return lines + [
            "",
            "Time to recover is measured for an experiment that expects "
            "`slo_recovered`; this run either did not expect it or its SLO "
            "never breached (see the expectations above).",
            "",
        ]
    deadline = m.get("recover_deadline_s")
    lines.append(
        "| time to recover (fault injected to SLO back) | "
        f"{f'{recover:.2f} s' if recover is not None else 'never'} | "
        f"{f'{deadline:.2f} s (from slo_recovered)' if deadline is not None else '-'} |"
    )
    return lines + [""]


def _alerts(journal: Journal) -> list[str]:
    """Each alert's first firing notification, with the context it carried."""
    first = {}
    for event in journal.events("alert_notified"):
        fields = event.fields
        key = (fields.get("alertname"), fields.get("severity"), fields.get("service"))
        if fields.get("status") == "firing" and key not in first:
            first[key] = event
    if not first:
        return []
    lines = [
        "## Alerts notified",
        "",
        "| t (s) | alert | severity | team | summary | runbook | what changed before |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (name, severity, service), event in first.items():
        labels = event.fields.get("labels") or {}
        notes = event.fields.get("annotations") or {}
        lines.append(
            f"| {event.t_s:.2f} | {_cell(name)} ({_cell(service)}) | "
            f"{_cell(severity or '')} | {_cell(labels.get('team', ''))} | "
            f"{_cell(notes.get('summary', ''))} | {_cell(notes.get('runbook', ''))} | "
            f"{_cell(notes.get('recent_changes', ''))} |"
        )
    return [*lines, ""]


def _load(load_result) -> list[str]:
    if load_result is None:
        return []
    return render_load(load_result.as_dict())


def render_load(data: dict) -> list[str]:
    """The Load section from a journal's "load"; keys added later may be absent."""
    shown_apart = ("rate_note", "latency_note")
    return [
        "## Load",
        "",
        *_load_rate(data),
        *_load_latency(data),
        "```",
        *[
            f"{k}: {v}"
            for k, v in data.items()
            # None is a key that does not apply (users of an open model).
            if not isinstance(v, dict | list) and k not in shown_apart and v is not None
        ],
        "```",
        "",
    ]


def _load_rate(data: dict) -> list[str]:
    lines = []
    if data.get("rate_note"):
        lines += [f"Rate: {data['rate_note']}.", ""]
    if data.get("under_offered"):
        against = "offered" if data.get("offered_per_s") else "steady-state"
        lines += [
            f"**Flag: the load achieved under 80% of its {against} rate "
            f"(achieved_ratio {data.get('achieved_ratio')}).** A flag in the "
            "report, not part of the verdict.",
            "",
        ]
    if "timeouts" in data:
        lines += [
            f"Failed requests: {data.get('failures')} of {data.get('requests')}, "
            f"of which {data['timeouts']} timed out and "
            f"{data.get('connection_errors')} lost their connection "
            "(refused, reset or closed).",
            "",
        ]
    return lines


def _load_latency(data: dict) -> list[str]:
    latency = data.get("latency_ms")
    if not latency:
        return []
    labels = list(latency.get("all") or {})
    samples = data.get("latency_samples") or {}
    lines = [
        f"Response times in ms, {data.get('latency_note', 'estimates')}:",
        "",
        f"| requests | count | {' | '.join(labels)} |",
        f"| --- | --- |{' --- |' * len(labels)}",
    ]
    for key, title in (("all", "all"), ("success", "successful")):
        values = latency.get(key) or {}
        cells = " | ".join(_ms(values.get(label)) for label in labels)
        lines.append(f"| {title} | {samples.get(key, '')} | {cells} |")
    return [*lines, ""]


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _timeline(journal: Journal) -> list[str]:
    lines = ["## Timeline", "", "| t (s) | event | details |", "| --- | --- | --- |"]
    for event in journal.events():
        if event.kind not in TIMELINE_KINDS or event.fields.get("repeat"):
            continue
        details = ", ".join(
            f"{k}={v}"
            for k, v in event.fields.items()
            if k not in _NOT_IN_TIMELINE and v not in ("", None)
        )
        lines.append(f"| {event.t_s:.2f} | {event.kind} | {_cell(details)} |")
    return lines + [""]


# Left out of the timeline's details: identifiers, and the context that the
# "Alerts notified" table shows once per alert.
_NOT_IN_TIMELINE = ("fingerprint", "repeat", "hypothesis", "labels", "annotations")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")

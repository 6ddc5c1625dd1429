"""postmortem.md: a blameless draft of the incident review, from journal.json.

The draft has the sections of the review template, in order: summary,
impact, timeline, incident roles, root cause, what went well, what did not
go well, and action items. Every action item is a sentence with the numbers
that produced it; the wording is about systems and processes, never people.
It reads only the journal dict, so `json.loads` of an old journal renders too.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.gameday_plan import ROLES, UNFILLED
from harness.report.redact import write_report_file

SECTIONS = (
    "Summary",
    "Impact",
    "Timeline",
    "Incident roles",
    "Root cause",
    "What went well",
    "What did not go well",
    "Action items",
)
NO_ACTION_ITEMS = "No action items from this run."
# Below this share of its offered rate the load under-states the traffic
# the run was meant to test.
UNDER_OFFERED_RATIO = 0.8

_ROLE_TITLES = {
    "incident_commander": "Incident commander",
    "communications_lead": "Communications lead",
    "technical_lead": "Technical lead",
}
_STAGES = ("detected", "triaged", "mitigated", "resolved")
_TIMELINE_KINDS = (
    "fault_injected",
    "halted",
    *_STAGES,
    "runbook_failed",
    "fault_lost",
    "fault_rolled_back",
    "interrupted",
)


@dataclass(frozen=True)
class ActionItem:
    kind: str  # what produced it, such as "detected_late"
    text: str
    # The alert key, runbook, invariant or service it is about, if one.
    subject: str | None = None


def write_postmortem(run_dir: Path, journal: dict[str, Any]) -> Path:
    return write_report_file(
        Path(run_dir) / "postmortem.md", render_postmortem(journal)
    )


def render_postmortem(journal: dict[str, Any]) -> str:
    """The draft as Markdown, from a journal.json dict."""
    journal = _inert(journal)
    items = action_items(journal)
    sections = {
        "Summary": _summary(journal),
        "Impact": _impact(journal),
        "Timeline": _timeline(journal),
        "Incident roles": _roles(journal),
        "Root cause": _root_cause(journal),
        "What went well": _went_well(journal),
        "What did not go well": _went_badly(journal),
        "Action items": [f"- [ ] {item.text}" for item in items] or [NO_ACTION_ITEMS],
    }
    lines = [
        f"# Postmortem (draft): {journal.get('experiment', 'unknown experiment')}",
        "",
        f"Run `{journal.get('run_id', '')}`. A blameless draft written from the "
        "run's journal: it describes what the systems and processes did, for the "
        "people in the incident roles to review and complete.",
    ]
    for title in SECTIONS:
        lines += ["", f"## {title}", "", *sections[title]]
    return "\n".join(lines) + "\n"


def _inert(value: Any) -> Any:
    """The journal with every text on one line and without markup: a quoted
    error or an edited journal cannot start a heading or carry raw HTML into
    the Markdown, which many viewers render."""
    if isinstance(value, str):
        flat = " ".join(value.split()) if "\n" in value or "\r" in value else value
        return flat.replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, float) and not math.isfinite(value):
        return None  # as journal.json writes it: no number
    if isinstance(value, dict):
        return {k: _inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inert(v) for v in value]
    return value


# Sections


def _summary(journal: dict) -> list[str]:
    verdict = journal.get("verdict") or {}
    status = str(verdict.get("status", "unknown"))
    lines = [f"- Verdict: **{status.upper()}**."]
    if verdict.get("reason"):
        lines.append(f"- Reason: {verdict['reason']}")
    if journal.get("hypothesis"):
        lines.append(f"- Hypothesis tested: {_one_line(journal['hypothesis'])}")
    injected = _events(journal, "fault_injected")
    if injected:
        lines.append(f"- Faults injected: {'; '.join(map(_fault_text, injected))}.")
    else:
        lines.append("- No fault was injected.")
    measurements = verdict.get("measurements") or {}
    for alert, seconds in (measurements.get("time_to_detect_s") or {}).items():
        lines.append(f"- Time to detect ({alert}): {_s(seconds)}.")
    recover = measurements.get("time_to_recover_s")
    if recover is not None:
        lines.append(f"- Time to recover (fault injected to SLO back): {_s(recover)}.")
    for item in deliberate_breakage(journal):
        lines.append(f"- Deliberately broken for this run: {item}.")
    return lines


def _impact(journal: dict) -> list[str]:
    impact = journal.get("impact")
    if not impact:
        return ["Not measured: the run ended before its load and monitoring ran."]
    requests = impact.get("requests", 0)
    failed = impact.get("failed_requests", 0)
    share = f" ({failed / requests:.1%})" if requests else ""
    lines = [f"- Failed requests: {failed} of {requests}{share}."]
    journeys = impact.get("journeys") or {}
    affected = impact.get("journeys_affected") or []
    if affected:
        described = ", ".join(
            f"{name} ({journeys.get(name, {}).get('failed', '?')} of "
            f"{journeys.get(name, {}).get('started', '?')} failed)"
            for name in affected
        )
        lines.append(f"- Journeys affected: {described}.")
    else:
        lines.append("- Journeys affected: none.")
    return lines + _budget(impact)


def _budget(impact: dict) -> list[str]:
    rows = impact.get("budget") or []
    if not rows:
        reason = impact.get("budget_error") or "no SLO was measured"
        return ["", f"Error budget: {reason}."]
    lines = [
        "",
        "Error budget spent over the run:",
        "",
        "| SLO | SLI | target | bad / total events | allowed bad | budget used "
        "(of what the run's traffic allowed) | share of the budget period |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['slo']} | {row['sli']} | {row['target']:.2%} | "
            f"{row['bad']:g} / {row['total']:g} | {row['allowed_bad']:g} | "
            f"{_ratio(row.get('consumed_ratio'))} | "
            f"{_percent(row.get('period_fraction'))} |"
        )
    window = rows[0].get("window") or {}
    lines += [
        "",
        f"Counted in Prometheus from t={window.get('from_s', 0):.1f} s to "
        f"t={window.get('to_s', 0):.1f} s. The share of the budget period counts "
        "each run second as compression_factor seconds of production time "
        "(config/observability.yaml; formulas in docs/journal.md).",
    ]
    return lines


def _timeline(journal: dict) -> list[str]:
    events = [e for e in _all_events(journal) if e.get("kind") in _TIMELINE_KINDS]
    if not events:
        return ["Nothing happened after the start: no fault was injected."]
    lines = ["| t (s) | wall (UTC) | what happened |", "| --- | --- | --- |"]
    start = _wall_at_zero(journal)
    for event in events:
        lines.append(
            f"| {event.get('t_s', 0):.2f} | {_wall(start, event)} | "
            f"{_cell(_describe(event))} |"
        )
    if _events(journal, "fault_injected"):
        reached = {e.get("kind") for e in events}
        missing = [stage for stage in _STAGES if stage not in reached]
        if missing:
            lines += ["", f"Not reached: {', '.join(missing)}."]
    return lines


def _roles(journal: dict) -> list[str]:
    roles = journal.get("roles") or {}
    lines = ["| role | held by |", "| --- | --- |"]
    for role in ROLES:
        lines.append(f"| {_ROLE_TITLES[role]} | {_cell(roles.get(role) or UNFILLED)} |")
    if roles.get("scribe"):
        lines.append(f"| Scribe | {_cell(roles['scribe'])} |")
    lines.append("")
    if roles.get("source"):
        lines.append(f"From the {roles['source']}.")
    else:
        lines.append(
            "No game-day plan named the roles (`harness run --plan FILE`); "
            "fill them in at the review."
        )
    if roles.get("date"):
        lines.append(f"Game day: {roles['date']}.")
    if roles.get("participants"):
        lines.append(f"Participants: {', '.join(roles['participants'])}.")
    return lines


def _root_cause(journal: dict) -> list[str]:
    injected = _events(journal, "fault_injected")
    if injected:
        lines = ["Known cause, injected on purpose by the experiment:", ""]
        lines += [f"- {_fault_text(event)}" for event in injected]
    else:
        lines = ["No fault was injected, so the run has no known cause."]
    rca = journal.get("rca")
    guess = (rca or {}).get("guess") or {}
    if not guess:
        return [*lines, "", "No automated root-cause analysis is in this journal."]
    lines += [
        "",
        f"Automated root-cause analysis ({rca.get('method', 'method not named')}): "
        f"{guess.get('summary', '')} (confidence {guess.get('confidence', 0):.0%}; "
        f"{_rca_judgement(rca.get('correct'))}).",
    ]
    lines += [f"- {_one_line(text)}" for text in (rca.get("evidence") or [])[:5]]
    return lines


def _went_well(journal: dict) -> list[str]:
    good = []
    measurements = (journal.get("verdict") or {}).get("measurements") or {}
    for check in _checks(journal, held=True):
        good.append(_held_text(check, measurements))
    if measurements.get("time_to_recover_s") is not None:
        good.append(
            f"The SLO was back {_s(measurements['time_to_recover_s'])} after the "
            "fault was injected."
        )
    integrity = journal.get("integrity") or []
    if integrity and all(entry.get("held") for entry in integrity):
        checked = sum(entry.get("checked", 0) for entry in integrity)
        good.append(
            f"All {len(integrity)} data invariants held over {checked} stored "
            "items checked."
        )
    injected = _events(journal, "fault_injected")
    rolled_back = _events(journal, "fault_rolled_back")
    if (
        injected
        and len(rolled_back) >= len(injected)
        and not _events(journal, "fault_lost")
    ):
        good.append("Every injected fault was read back as rolled back.")
    ratio = _achieved_ratio(journal.get("load"))
    if ratio is not None and ratio >= UNDER_OFFERED_RATIO:
        good.append(f"The load achieved {ratio:.0%} of its offered rate.")
    if ((journal.get("rca") or {}).get("correct")) is True:
        good.append("The automated root-cause analysis named the injected cause.")
    return [f"- {text}" for text in good] or ["- Nothing was confirmed by this run."]


def _went_badly(journal: dict) -> list[str]:
    bad = [
        f"Expectation '{c['expectation']}' did not hold: predicted "
        f"{c['predicted']}; observed {c['observed']}."
        for c in _checks(journal, held=False)
    ]
    verdict = journal.get("verdict") or {}
    if verdict.get("status") in ("error", "aborted") and verdict.get("reason"):
        bad.append(f"The run ended {verdict['status']}: {verdict['reason']}")
    for event in _events(journal, "halted"):
        bad.append(_halted_text(event))
    for entry in (journal.get("impact") or {}).get("budget") or []:
        used = entry.get("consumed_ratio")
        if isinstance(used, int | float) and used > 1.0:
            bad.append(
                f"{entry.get('slo')} used {used:.2f}x the error budget its traffic "
                f"allowed over the run ({_percent(entry.get('period_fraction'))} "
                "of the budget period); the game day's budget term counts this "
                "run as over budget."
            )
    return [f"- {text}" for text in bad] or ["- Nothing: every expectation held."]


# Action items


def action_items(journal: dict[str, Any]) -> list[ActionItem]:
    """What to change, one concrete sentence per problem the run showed."""
    items = [
        *_detection_items(journal),
        *_runbook_items(journal),
        *_integrity_items(journal),
        *_slo_items(journal),
        *_fault_items(journal),
        *_load_items(journal),
        *_rca_items(journal),
    ]
    covered = {_covers(item) for item in items}
    for check in _checks(journal, held=False):
        if check["expectation"] not in covered:
            items.append(
                ActionItem(
                    "expectation_failed",
                    f"Expectation '{check['expectation']}' did not hold (predicted "
                    f"{check['predicted']}; observed {check['observed']}): find "
                    "which part of the system or its configuration fell short.",
                )
            )
    return items + _run_items(journal, items)


def _detection_items(journal: dict) -> Iterable[ActionItem]:
    measurements = (journal.get("verdict") or {}).get("measurements") or {}
    detected = measurements.get("time_to_detect_s") or {}
    deadlines = measurements.get("detect_deadline_s") or {}
    removed = set(_breakage_field(journal, "alert_rules_removed"))
    for check in _checks(journal, held=False):
        alert = _alert_of(check["expectation"])
        if alert is None:
            continue
        seconds = detected.get(alert)
        deadline = deadlines.get(alert, _deadline(journal, "detect", alert))
        if seconds is not None and deadline is not None:
            yield ActionItem(
                "detected_late",
                f"{alert} was notified {seconds:.1f} s after the fault against a "
                f"computed deadline of {deadline:.1f} s ({seconds - deadline:.1f} s "
                "late): review its burn-rate windows and thresholds, or the "
                "deadline's terms.",
                alert,
            )
        elif seconds is None:
            why = (
                " (its rule was removed for this run on purpose)"
                if alert.split("[")[0] in removed
                else ""
            )
            limit = f" (deadline {deadline:.1f} s)" if deadline is not None else ""
            yield ActionItem(
                "alert_never_fired",
                f"{alert} never fired after the fault{limit}{why}: check its rule, "
                "its Alertmanager route and that its SLI sees the fault.",
                alert,
            )


def _runbook_items(journal: dict) -> Iterable[ActionItem]:
    failed = {
        (e.get("fields") or {}).get("runbook")
        for e in _events(journal, "runbook_failed")
    }
    disabled = set(_breakage_field(journal, "runbooks_disabled"))
    for check in _checks(journal, held=False):
        runbook = _runbook_of(check["expectation"])
        if runbook is None or runbook in failed:
            continue
        why = (
            " (it was disabled for this run on purpose)" if runbook in disabled else ""
        )
        yield ActionItem(
            "runbook_not_run",
            f"Runbook {runbook} did not run as expected: {check['observed']}{why}; "
            "check what triggers it, its cooldown and its attempt limit.",
            runbook,
        )
    for event in _events(journal, "runbook_failed"):
        fields = event.get("fields") or {}
        yield ActionItem(
            "runbook_failed",
            f"Runbook {fields.get('runbook')} failed at action "
            f"{fields.get('action_index')} ({fields.get('action')}) at "
            f"t={event.get('t_s', 0):.1f} s: {fields.get('error')}; make the action "
            "succeed under this fault or give the runbook a fallback step.",
            fields.get("runbook"),
        )


def _integrity_items(journal: dict) -> Iterable[ActionItem]:
    for entry in journal.get("integrity") or []:
        if entry.get("held"):
            continue
        examples = entry.get("examples") or []
        example = f" (for example {_one_line(str(examples[0]))})" if examples else ""
        yield ActionItem(
            "integrity_broken",
            f"Data invariant {entry.get('name')} broken: {entry.get('violations')} "
            f"violation(s) among {entry.get('checked')} checked{example}; trace the "
            "write path that let them through.",
            entry.get("name"),
        )


# How long after the last rollback an SLO must still be seen breached before
# the draft asks why it kept burning.
STILL_BREACHED_AFTER_S = 10.0


def _slo_items(journal: dict) -> Iterable[ActionItem]:
    measurements = (journal.get("verdict") or {}).get("measurements") or {}
    named = set()
    for check in _checks(journal, held=False):
        service = _slo_of(check["expectation"])
        breached = (measurements.get("slo") or {}).get("breached_s")
        if service and breached is not None and "slo_back_s" not in measurements:
            named.add(service)
            yield ActionItem(
                "slo_never_recovered",
                f"The SLO of {service} breached at t={breached:.1f} s and never "
                f"recovered while the fault was live ({check['observed']}); "
                "review the mitigation its runbook applies.",
                service,
            )
    rolled_back = _events(journal, "fault_rolled_back")
    if not rolled_back:
        return
    last_rollback_s = max(e.get("t_s", 0) for e in rolled_back)
    for name, points in (journal.get("series") or {}).items():
        service = name.removeprefix("slo_ok:")
        if not name.startswith("slo_ok:") or service in named:
            continue
        after = [(t, ok) for t, ok in points if t > last_rollback_s and ok is not None]
        # A run that ended just after the rollback saw too little to blame.
        if (
            after
            and not after[-1][1]
            and after[-1][0] - last_rollback_s >= STILL_BREACHED_AFTER_S
        ):
            yield ActionItem(
                "slo_never_recovered",
                f"The SLO of {service} was still breached at the end of the run, "
                f"{after[-1][0] - last_rollback_s:.1f} s after the last fault was "
                "rolled back: find what kept it burning once the cause was gone.",
                service,
            )


def _fault_items(journal: dict) -> Iterable[ActionItem]:
    for event in _events(journal, "fault_lost"):
        fields = event.get("fields") or {}
        where = fields.get("route") or fields.get("target")
        yield ActionItem(
            "fault_lost",
            f"Fault {fields.get('fault')} on {where}"
            f" was changed or removed before its rollback ({fields.get('found')}): "
            "find what else changed that target during the run.",
        )
    for event in _events(journal, "halted"):
        yield ActionItem("halted", _halted_text(event))


def _load_items(journal: dict) -> Iterable[ActionItem]:
    load = journal.get("load")
    ratio = _achieved_ratio(load)
    if ratio is None or ratio >= UNDER_OFFERED_RATIO:
        return
    offered = _first_known(load, "offered_per_s", "offered_journeys_per_s")
    achieved = _first_known(load, "achieved_per_s", "achieved_journey_starts_per_s")
    if offered is None or achieved is None:
        # A closed model offers no rate: its load falls as answers slow,
        # which is the fault's effect, not the load generator's shortfall.
        return
    yield ActionItem(
        "load_under_offered",
        f"The load achieved only {ratio:.0%} of its offered rate ({achieved:.2f} of "
        f"{offered:.2f} journeys/s), so the run tested less traffic than planned: "
        "give the load generator more headroom or lower the rate.",
    )


def _rca_items(journal: dict) -> Iterable[ActionItem]:
    rca = journal.get("rca") or {}
    if rca.get("correct") is not False:
        return
    guess = rca.get("guess") or {}
    blamed = guess.get("component") or "no component"
    injected = ", ".join(
        f"{i.get('component') or i.get('service')} via {i.get('route')}"
        for i in rca.get("injected") or []
    )
    yield ActionItem(
        "rca_missed",
        f"The automated root-cause analysis pointed at {blamed} "
        f"({guess.get('symptom') or 'no symptom'}, confidence "
        f"{guess.get('confidence', 0):.0%}) while the injected cause was "
        f"{injected or 'another'}: add the signal that would have told them apart.",
    )


def _run_items(journal: dict, items: list[ActionItem]) -> list[ActionItem]:
    """An error or abort that no other item explains."""
    verdict = journal.get("verdict") or {}
    if verdict.get("status") not in ("error", "aborted") or not verdict.get("reason"):
        return []
    if any(item.kind in ("halted", "fault_lost") for item in items):
        return []
    return [
        ActionItem(
            "run_incomplete",
            f"The run ended {verdict['status']} before it could judge the "
            f"hypothesis: {verdict['reason']}",
        )
    ]


# The expectation of the verdict each kind of item speaks for. These repeat
# the verdict's wording, so a change of it there turns a specific item into
# the generic "expectation did not hold" one.
_COVERED = {
    "detected_late": "alert {} fires",
    "alert_never_fired": "alert {} fires",
    "runbook_failed": "runbook {} runs",
    "runbook_not_run": "runbook {} runs",
    "integrity_broken": "invariant {} holds",
    "slo_never_recovered": "SLO {} breaks, then recovers",
}


def _covers(item: ActionItem) -> str | None:
    """The failed expectation an item already speaks for, if any."""
    if item.kind not in _COVERED or item.subject is None:
        return None
    return _COVERED[item.kind].format(item.subject)


# Reading the journal, and wording


def _all_events(journal: dict) -> list[dict]:
    return sorted(journal.get("events") or [], key=lambda e: e.get("t_s", 0))


def _events(journal: dict, kind: str) -> list[dict]:
    return [e for e in _all_events(journal) if e.get("kind") == kind]


def _checks(journal: dict, held: bool) -> list[dict]:
    checks = (journal.get("verdict") or {}).get("checks") or []
    return [c for c in checks if bool(c.get("held")) is held]


def _alert_of(expectation: str) -> str | None:
    """The alert key of an "alert K fires" expectation."""
    parts = expectation.split(" ")
    if len(parts) == 3 and parts[0] == "alert" and parts[2] == "fires":
        return parts[1]
    return None


def _runbook_of(expectation: str) -> str | None:
    """The runbook of a "runbook R runs" expectation."""
    parts = expectation.split(" ")
    if len(parts) == 3 and parts[0] == "runbook" and parts[2] == "runs":
        return parts[1]
    return None


def _slo_of(expectation: str) -> str | None:
    """The service of an "SLO S breaks, then recovers" expectation."""
    if expectation.startswith("SLO ") and expectation.endswith(
        " breaks, then recovers"
    ):
        return expectation.split(" ")[1]
    return None


def _deadline(journal: dict, kind: str, alert: str) -> float | None:
    entry = ((journal.get("deadlines") or {}).get(kind) or {}).get(alert) or {}
    return entry.get("total_s")


def _held_text(check: dict, measurements: dict) -> str:
    alert = _alert_of(check["expectation"])
    seconds = (measurements.get("time_to_detect_s") or {}).get(alert)
    deadline = (measurements.get("detect_deadline_s") or {}).get(alert)
    if alert and seconds is not None and deadline is not None:
        return (
            f"{alert} was notified {seconds:.1f} s after the fault, within its "
            f"{deadline:.1f} s deadline."
        )
    text = (
        f"{check['expectation']}: {check['observed']} (predicted {check['predicted']})."
    )
    return text[:1].upper() + text[1:]


def _halted_text(event: dict) -> str:
    fields = event.get("fields") or {}
    return (
        f"The run was halted at t={event.get('t_s', 0):.1f} s by its "
        f"{fields.get('condition')} condition on {fields.get('service') or 'the run'}: "
        f"observed {fields.get('observed')} against a threshold of "
        f"{fields.get('threshold')}; check whether the fault's blast radius was "
        "larger than the experiment allowed."
    )


def _first_known(load: dict, *keys: str) -> float | None:
    return next((load[k] for k in keys if load.get(k) is not None), None)


def _achieved_ratio(load: dict | None) -> float | None:
    """Achieved journey starts over offered journeys, from either load format."""
    if not load:
        return None
    if load.get("achieved_ratio") is not None:
        return load["achieved_ratio"]
    offered = load.get("offered_journeys_per_s")
    achieved = load.get("achieved_journey_starts_per_s")
    if not offered or achieved is None:
        return None
    return achieved / offered


# Fields of fault_injected that are not the fault's own attributes.
_NOT_ATTRIBUTES = (
    "fault",
    "kind",
    "target",
    "route",
    "service",
    "effect_query",
    "effect_seen_after_s",
    "attributes",
)


def _fault_text(event: dict) -> str:
    fields = event.get("fields") or {}
    where = fields.get("route") or fields.get("target") or fields.get("service")
    attributes = {
        **(fields.get("attributes") or {}),
        **{k: v for k, v in fields.items() if k not in _NOT_ATTRIBUTES},
    }
    shown = ", ".join(
        f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in attributes.items()
        if v not in (None, "", 0)
    )
    return (
        f"{fields.get('fault')} ({fields.get('kind')}"
        f"{', ' + shown if shown else ''}) on {where} at t={event.get('t_s', 0):.1f} s"
    )


def _describe(event: dict) -> str:
    fields = event.get("fields") or {}
    kind = event.get("kind")
    if kind == "fault_injected":
        return f"Fault injected: {_fault_text(event)}"
    if kind == "fault_rolled_back":
        return f"Fault {fields.get('fault')} rolled back"
    if kind == "detected":
        return f"Detected: {fields.get('alertname')} notified"
    if kind == "triaged":
        points = ", ".join(
            f"{k} {fields[k]}" for k in ("service", "dependency") if fields.get(k)
        )
        return f"Triaged: cause alert {fields.get('alertname')} points at {points}"
    if kind == "mitigated":
        return f"Mitigated: runbook {fields.get('runbook')} finished"
    if kind == "resolved":
        return "Resolved: SLO back and the expected alerts resolved"
    if kind == "halted":
        return f"Halted: {fields.get('condition')} on {fields.get('service')}"
    if kind == "runbook_failed":
        return f"Runbook {fields.get('runbook')} failed: {fields.get('error')}"
    if kind == "fault_lost":
        return f"Fault {fields.get('fault')} found changed: {fields.get('found')}"
    if kind == "interrupted":
        return f"Interrupted by {fields.get('by') or fields.get('signal')}"
    return str(kind)


def _wall_at_zero(journal: dict) -> datetime | None:
    """The wall-clock time of t_s 0, from the run's first event."""
    events = _all_events(journal)
    if not events or not events[0].get("wall"):
        return None
    try:
        first = datetime.fromisoformat(events[0]["wall"])
    except ValueError:
        return None
    return first - timedelta(seconds=events[0].get("t_s", 0))


def _wall(start: datetime | None, event: dict) -> str:
    """When the event happened. Lifecycle stages are recorded once the run has
    ended, at the t_s they were reached, so their own wall is when they were
    written: the time is the first event's wall plus the difference in t_s."""
    if start is None:
        return _cell(event.get("wall", ""))
    at = start + timedelta(seconds=event.get("t_s", 0))
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def _rca_judgement(correct: bool | None) -> str:
    if correct is True:
        return "it names the injected cause"
    if correct is False:
        return "it does not name the injected cause"
    return "not comparable with an injected cause"


def deliberate_breakage(journal: dict) -> list[str]:
    """What the run switched off on purpose, in words (--without-alert,
    --disable-runbook); the game day's scoreboard shows the same."""
    removed = _breakage_field(journal, "alert_rules_removed")
    disabled = _breakage_field(journal, "runbooks_disabled")
    return [f"alert rule {name} removed" for name in removed] + [
        f"runbook {name} disabled" for name in disabled
    ]


def _breakage_field(journal: dict, key: str) -> list[str]:
    return list((journal.get("deliberate_breakage") or {}).get(key) or [])


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _ratio(value: float | None) -> str:
    return "n/a (no traffic)" if value is None else f"{value:.2f}x"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.3g}%"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: Any) -> str:
    return _one_line(str(text)).replace("|", "\\|")

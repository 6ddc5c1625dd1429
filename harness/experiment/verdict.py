"""Verdicts: what the experiment predicted, against what the journal observed.

The verdict is a pure function of the journal, the experiment and the
deadlines computed from configuration, so every way it can fail is testable
without starting a single process. Every expectation leaves a check, held or
not, so a report shows why a run passed as well as why one failed.
"""

import enum
from dataclasses import dataclass, field

from harness.experiment.measured import Window, judge_measured
from harness.experiment.schema import Experiment
from harness.report.journal import Event


class Status(enum.Enum):
    PASSED = "passed"  # every expectation held
    FAILED = "failed"  # an expectation did not hold
    ABORTED = "aborted"  # steady state not met, so nothing was injected
    ERROR = "error"  # the harness could not do what was asked; never a pass

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1}.get(self.value, 2)


@dataclass(frozen=True)
class Finding:
    expectation: str
    predicted: str
    observed: str
    held: bool = False

    def __str__(self) -> str:
        return (
            f"{self.expectation}: predicted {self.predicted}; observed {self.observed}"
        )


@dataclass
class Verdict:
    status: Status
    checks: list[Finding] = field(default_factory=list)
    reason: str = ""
    measurements: dict = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        """The expectations that did not hold."""
        return [check for check in self.checks if not check.held]

    def explain(self) -> str:
        lines = [f"verdict: {self.status.value}"]
        if self.reason:
            lines.append(f"reason: {self.reason}")
        lines += [f"- {finding}" for finding in self.findings]
        return "\n".join(lines)


@dataclass(frozen=True)
class Observed:
    """What a run recorded, reduced to what verdicts read."""

    events: list[Event]
    slo_ok: dict[str, list[tuple[float, float | None]]]
    # Every sampled series, measured expectations' counters included.
    series: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)
    # How long after a change the metrics show it: a scrape and a rate window.
    lag_s: float = 0.0

    def first(self, kind: str, after_s: float = float("-inf"), **match) -> Event | None:
        for event in self.events:
            if (
                event.kind == kind
                and event.t_s >= after_s
                and all(event.fields.get(k) == v for k, v in match.items())
            ):
                return event
        return None

    def last_time(self, kind: str) -> float | None:
        times = [e.t_s for e in self.events if e.kind == kind]
        return max(times) if times else None


class _Checks:
    def __init__(self):
        self.checks: list[Finding] = []
        self.measurements: dict = {}

    def add(self, held: bool, expectation: str, predicted: str, observed: str):
        self.checks.append(Finding(expectation, predicted, observed, held))

    def measure(self, group: str, key: str, value) -> None:
        self.measurements.setdefault(group, {})[key] = value


def judge(
    experiment: Experiment,
    observed: Observed,
    deadlines: dict,
    runbook_answers: dict,
    alert_services: dict | None = None,
) -> Verdict:
    """Compare every expectation with what was observed.

    deadlines: {"detect": {key: Deadline}, "floor": {...}, "resolve": {...}},
    keyed by each alert expectation's key.
    """
    injected = observed.first("fault_injected")
    if injected is None:
        return Verdict(Status.ERROR, reason="no fault was injected")
    checks = _Checks()
    checks.measurements["fault_injected_s"] = injected.t_s
    if experiment.quiet_steady_state:
        _check_quiet_steady_state(observed, checks)
    if experiment.no_alerts:
        _check_no_alerts(observed, checks)
    for alert in experiment.alerts:
        _check_alert(
            alert, observed, injected.t_s, deadlines, alert_services or {}, checks
        )
    if experiment.pages is not None:
        _check_pages(experiment.pages, observed, checks)
    mitigated_s = _check_runbooks(
        experiment, observed, injected.t_s, runbook_answers, checks
    )
    _check_slo(experiment, observed, injected.t_s, mitigated_s, checks)
    if experiment.measured:
        _check_measured(experiment, observed, injected.t_s, mitigated_s, checks)
    failed = any(not check.held for check in checks.checks)
    return Verdict(
        Status.FAILED if failed else Status.PASSED,
        checks.checks,
        measurements=checks.measurements,
    )


def _check_measured(experiment, observed, injected_s, mitigated_s, checks) -> None:
    rolled_back_s = observed.last_time("fault_rolled_back")
    window = Window(
        injected_s,
        rolled_back_s if rolled_back_s is not None else float("inf"),
        observed.lag_s,
        mitigated_s,
    )
    series = {
        **observed.series,
        **{f"slo_ok:{k}": v for k, v in observed.slo_ok.items()},
    }
    judge_measured(experiment.measured, series, window, checks.add, checks.measure)


def judge_integrity(
    verdict: Verdict, experiment: Experiment, results: list | None
) -> Verdict:
    """Add a check, with the counts observed, for each invariant the experiment names.

    results is None when the invariants could not be read: the verdict is then
    an error, since a named invariant nobody checked must never pass.
    """
    names = experiment.measured.integrity
    if not names or verdict.status not in (Status.PASSED, Status.FAILED):
        return verdict
    if results is None:
        return Verdict(
            Status.ERROR,
            verdict.checks,
            reason="the data invariants could not be read from the mocks: "
            + ", ".join(names),
            measurements=verdict.measurements,
        )
    by_name = {result.name: result for result in results}
    checks = list(verdict.checks)
    for name in names:
        checks.append(_integrity_finding(name, by_name.get(name)))
        if name in by_name:
            verdict.measurements.setdefault("integrity", {})[name] = {
                "checked": by_name[name].checked,
                "violations": by_name[name].violations,
            }
    failed = any(not check.held for check in checks)
    return Verdict(
        Status.FAILED if failed else verdict.status,
        checks,
        verdict.reason,
        verdict.measurements,
    )


def _integrity_finding(name: str, result) -> Finding:
    expectation = f"invariant {name} holds"
    predicted = "no violation, with at least one item checked"
    if result is None:
        return Finding(expectation, predicted, "it was not checked")
    if result.checked == 0:
        return Finding(
            expectation,
            predicted,
            "nothing was checked: an invariant over no data proves nothing",
        )
    observed = f"{result.violations} violation(s) in {result.checked} checked"
    if result.violations:
        observed += f", such as {result.examples[:2]}"
    return Finding(expectation, predicted, observed, held=result.held)


def notification_matches(event: Event, alert) -> bool:
    """Whether a journal event is a notification of the alert an expectation names."""
    if event.kind != "alert_notified" or event.fields.get("alertname") != alert.name:
        return False
    if alert.severity is not None and event.fields.get("severity") != alert.severity:
        return False
    labels = event.fields.get("labels") or {"service": event.fields.get("service")}
    return all(labels.get(k) == v for k, v in alert.labels)


def _notified(observed: Observed, alert, after_s: float, status: str) -> Event | None:
    for event in observed.events:
        if (
            event.t_s >= after_s
            and notification_matches(event, alert)
            and event.fields.get("status") == status
        ):
            return event
    return None


def _firing_notes(observed: Observed, from_s: float, until_s: float) -> list[Event]:
    return [
        e
        for e in observed.events
        if e.kind == "alert_notified"
        and e.fields.get("status") == "firing"
        and not e.fields.get("repeat")
        and from_s <= e.t_s <= until_s
    ]


def _describe_notes(notes: list[Event], origin_s: float) -> str:
    shown = ", ".join(f"{_name(e)} at {e.t_s - origin_s:.1f} s" for e in notes[:5])
    more = f" and {len(notes) - 5} more" if len(notes) > 5 else ""
    return f"notified firing: {shown}{more}"


def _name(event: Event) -> str:
    """An alert as a person reads it: name, severity and what it is about."""
    fields = event.fields
    labels = fields.get("labels") or {}
    about = (
        ", ".join(
            f"{k}={labels[k]}"
            for k in ("service", "slo", "dependency")
            if labels.get(k)
        )
        or f"service={fields.get('service', '')}"
    )
    severity = f"[{fields['severity']}]" if fields.get("severity") else ""
    return f"{fields.get('alertname')}{severity}{{{about}}}"


def _check_quiet_steady_state(observed: Observed, checks: _Checks) -> None:
    started = observed.first("load_started")
    ended = observed.first("steady_state_checked")
    if started is None or ended is None:
        return
    notes = _firing_notes(observed, started.t_s, ended.t_s)
    checks.add(
        not notes,
        "no alert fires during the steady state",
        "no firing notification before the first fault",
        _describe_notes(notes, started.t_s) + " after the load started"
        if notes
        else "none",
    )


def _check_no_alerts(observed: Observed, checks: _Checks) -> None:
    notes = _firing_notes(observed, float("-inf"), float("inf"))
    injected = observed.first("fault_injected")
    checks.add(
        not notes,
        "no alert fires at all",
        "no firing notification during the whole run",
        _describe_notes(notes, injected.t_s) + " after the first injection"
        if notes
        else "none",
    )


def _check_pages(expected: int, observed: Observed, checks: _Checks) -> None:
    opened = {}
    for event in observed.events:
        if event.kind == "page_received" and event.fields.get("action") in (
            "trigger",
            "create",
        ):
            opened.setdefault(event.fields.get("key"), event)
    summaries = "; ".join(
        f"{e.fields.get('integration')} {e.fields.get('summary', '')!r}"
        for e in opened.values()
    )
    checks.add(
        len(opened) == expected,
        "the pager opens the expected incidents",
        f"exactly {expected} incident(s)",
        f"{len(opened)} incident(s)" + (f": {summaries}" if summaries else ""),
    )


def _check_alert(alert, observed, injected_s, deadlines, alert_services, checks):
    if alert.inhibited:
        _check_inhibited(alert, observed, injected_s, checks)
        return
    fired = _notified(observed, alert, injected_s, "firing")
    if not alert.fires:
        _check_silent(alert, fired, observed, injected_s, alert_services, checks)
        return
    deadline = deadlines["detect"][alert.key]
    floor = deadlines.get("floor", {}).get(alert.key)
    expectation = f"alert {alert.key} fires"
    predicted = f"firing notified within {deadline.total_s:.1f} s of injection"
    if fired is None:
        checks.add(False, expectation, predicted, _never_notified(alert, observed))
        return
    detect_s = round(fired.t_s - injected_s, 3)
    checks.measure("time_to_detect_s", alert.key, detect_s)
    checks.measure("detect_deadline_s", alert.key, deadline.total_s)
    if floor is not None:
        checks.measure("detect_floor_s", alert.key, floor.total_s)
    checks.add(
        detect_s <= deadline.total_s,
        expectation,
        predicted,
        f"notified after {detect_s:.2f} s",
    )
    if alert.labels or alert.annotations:
        _check_context(alert, fired, checks)
    if alert.resolves:
        _check_resolved(alert, fired.t_s, observed, deadlines, checks)


def _never_notified(alert, observed: Observed) -> str:
    """Why no notification matched: none at all, or one with other labels."""
    same_name = [
        e
        for e in observed.events
        if e.kind == "alert_notified" and e.fields.get("alertname") == alert.name
    ]
    if not same_name:
        return "it was never notified"
    seen = same_name[0].fields
    labels = seen.get("labels") or {"service": seen.get("service")}
    return (
        f"never notified with severity {alert.severity or 'any'} and labels "
        f"{dict(alert.labels)!r}; notified with severity "
        f"{seen.get('severity', '')!r} and labels {labels!r}"
    )


def _check_context(alert, fired: Event, checks: _Checks) -> None:
    labels = fired.fields.get("labels") or {}
    annotations = fired.fields.get("annotations") or {}
    wrong = [
        f"label {k}={labels.get(k)!r} (expected {v!r})"
        for k, v in alert.labels
        if labels.get(k) != v
    ]
    for name, text in alert.annotations:
        value = annotations.get(name, "")
        if not value.strip():
            wrong.append(f"annotation {name} missing or empty")
        elif text and text not in value:
            wrong.append(f"annotation {name}={value[:200]!r} lacks {text!r}")
    wanted = [f"{k}={v}" for k, v in alert.labels] + [
        f"{name}" + (f" containing {text!r}" if text else "")
        for name, text in alert.annotations
    ]
    checks.add(
        not wrong,
        f"alert {alert.key} carries its context",
        "labels and annotations " + ", ".join(wanted),
        "; ".join(wrong) if wrong else "all present",
    )


def _check_inhibited(alert, observed, injected_s, checks: _Checks) -> None:
    expectation = f"alert {alert.key} is inhibited"
    predicted = "firing in Prometheus, never notified"
    service = dict(alert.labels).get("service")
    firing = [
        e
        for e in observed.events
        if e.kind == "alert_firing"
        and e.t_s >= injected_s
        and e.fields.get("alertname") == alert.name
        and (service is None or e.fields.get("service") == service)
        and (alert.severity is None or e.fields.get("severity") == alert.severity)
    ]
    notified = _notified(observed, alert, injected_s, "firing")
    if notified is not None:
        observed_text = (
            f"notified firing {notified.t_s - injected_s:.1f} s after injection"
        )
    elif not firing:
        observed_text = (
            "it never fired in Prometheus, so nothing was there to inhibit: "
            "silence proves nothing"
        )
    else:
        observed_text = (
            f"fired in Prometheus {firing[0].t_s - injected_s:.1f} s after "
            "injection; never notified"
        )
    checks.add(bool(firing) and notified is None, expectation, predicted, observed_text)


def _check_silent(alert, fired, observed, injected_s, alert_services, checks) -> None:
    expectation = f"alert {alert.key} stays silent"
    predicted = "no notification, with traffic reaching the service"
    if fired is not None:
        checks.add(
            False,
            expectation,
            predicted,
            f"notified firing {fired.t_s - injected_s:.1f} s after injection",
        )
        return
    service = alert_services.get(alert.key)
    until_s = observed.last_time("fault_rolled_back")
    samples = [
        ok
        for t, ok in observed.slo_ok.get(service, [])
        if t >= injected_s and (until_s is None or t <= until_s)
    ]
    if service is not None and not any(ok is not None for ok in samples):
        checks.add(
            False,
            expectation,
            predicted,
            f"no data from {service} while the fault was live: silence "
            "proves nothing when no traffic reaches the service",
        )
        return
    checks.add(True, expectation, predicted, "no notification")


def _check_resolved(alert, fired_s, observed, deadlines, checks: _Checks) -> None:
    deadline_s = deadlines["resolve"][alert.key].total_s
    rolled_back_s = observed.last_time("fault_rolled_back")
    resolved = _notified(observed, alert, fired_s, "resolved")
    expectation = f"alert {alert.key} resolves"
    predicted = f"resolved within {deadline_s:.1f} s of the fault's rollback"
    if resolved is None:
        checks.add(False, expectation, predicted, "no resolved notification arrived")
        return
    checks.measure("resolved_s", alert.key, resolved.t_s)
    if rolled_back_s is None or resolved.t_s <= rolled_back_s:
        checks.add(True, expectation, predicted, "resolved before the rollback")
        return
    after_s = resolved.t_s - rolled_back_s
    checks.add(
        after_s <= deadline_s,
        expectation,
        predicted,
        f"resolved {after_s:.1f} s after rollback",
    )


def _check_runbooks(
    experiment, observed, injected_s, runbook_answers, checks: _Checks
) -> float | None:
    mitigated_s = None
    for expected in experiment.runbooks:
        name = expected.name
        expectation = f"runbook {name} runs"
        predicted = (
            f"finished within {expected.finished_within_s:g} s of the "
            "first notified alert it answers"
        )
        trigger = _first_of(observed, injected_s, runbook_answers.get(name, ()))
        finished = observed.first("runbook_finished", injected_s, runbook=name)
        if finished is None:
            checks.add(False, expectation, predicted, _why_no_runbook(observed, name))
            continue
        mitigated_s = max(mitigated_s or 0.0, finished.t_s)
        checks.measure("runbook_finished_s", name, finished.t_s)
        took_s = finished.t_s - trigger if trigger is not None else 0.0
        checks.add(
            took_s <= expected.finished_within_s,
            expectation,
            predicted,
            f"finished {took_s:.2f} s after",
        )
    return mitigated_s


def _first_of(observed: Observed, after_s: float, alertnames) -> float | None:
    times = [
        e.t_s
        for e in observed.events
        if e.kind == "alert_notified"
        and e.t_s >= after_s
        and e.fields.get("status") == "firing"
        and e.fields.get("alertname") in alertnames
    ]
    return min(times) if times else None


def _why_no_runbook(observed: Observed, name: str) -> str:
    skipped = observed.first("runbook_skipped", runbook=name)
    if skipped:
        return f"it never ran: skipped ({skipped.fields.get('reason')})"
    failed = observed.first("runbook_failed", runbook=name)
    if failed:
        return f"it failed: {failed.fields.get('error')}"
    return "it never ran: no alert it answers was notified"


def _check_slo(experiment, observed, injected_s, mitigated_s, checks) -> None:
    expected = experiment.slo_recovered
    if expected is None:
        return
    samples = observed.slo_ok.get(expected.service, [])
    # With several faults, "while the fault is live" means while any still is.
    until_s = observed.last_time("fault_rolled_back")
    breach_s = first_breach(samples, injected_s, until_s)
    expectation = f"SLO {expected.service} breaks, then recovers"
    if breach_s is None:
        checks.add(
            False,
            expectation,
            "a breach while a fault is live",
            "the SLO never breached and always had data: the faults had no "
            "visible effect on it",
        )
        return
    checks.measure("slo", "breached_s", breach_s)
    start_s = mitigated_s if mitigated_s is not None else breach_s
    # On the same clock as time_to_recover_s (from the injection), so the two
    # compare directly: the allowance runs from mitigation.
    checks.measurements["recover_deadline_s"] = round(
        start_s - injected_s + expected.recovered_within_s, 3
    )
    back_s = first_hold(samples, start_s, expected.hold_s, until_s=until_s)
    predicted = (
        f"back within {expected.recovered_within_s:g} s of mitigation "
        f"and held {expected.hold_s:g} s while a fault was still live"
    )
    if back_s is None:
        checks.add(
            False,
            expectation,
            predicted,
            f"it did not hold {expected.hold_s:g} s, with data, before the last "
            "fault was rolled back",
        )
        return
    checks.measurements["slo_back_s"] = back_s
    checks.measurements["time_to_recover_s"] = round(back_s - injected_s, 3)
    checks.add(
        back_s - start_s <= expected.recovered_within_s,
        expectation,
        predicted,
        f"back {back_s - start_s:.1f} s after mitigation",
    )


def first_breach(
    samples: list[tuple[float, float | None]],
    after_s: float,
    until_s: float | None = None,
) -> float | None:
    """Time of the first sample after after_s in which the SLO did not hold.

    No data (None) counts: a service that goes dark under a fault is not
    holding its SLO, it is unobserved.
    """
    for t_s, ok in samples:
        if t_s < after_s:
            continue
        if until_s is not None and t_s > until_s:
            return None
        if not ok:
            return t_s
    return None


def first_hold(
    samples: list[tuple[float, float | None]],
    after_s: float,
    hold_s: float,
    until_s: float | None = None,
) -> float | None:
    """Start of the first run of good samples after after_s lasting hold_s.

    A sample of None (no traffic, no data) breaks a run: silence is not health.
    The run must end before until_s when it is given.
    """
    run_start = None
    for t_s, ok in samples:
        if t_s < after_s:
            continue
        if until_s is not None and t_s > until_s:
            break
        if ok:
            run_start = t_s if run_start is None else run_start
            if t_s - run_start >= hold_s:
                return run_start
        else:
            run_start = None
    return None

"""Verdicts: what the experiment predicted, against what the journal observed.

The verdict is a pure function of the journal, the experiment and the
deadlines computed from configuration, so every way it can fail is testable
without starting a single process. Every expectation leaves a check, held or
not, so a report shows why a run passed as well as why one failed.
"""

import enum
from dataclasses import dataclass, field

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
    detect_deadlines: dict,
    resolve_deadline_s: float,
    runbook_answers: dict,
    alert_services: dict | None = None,
) -> Verdict:
    """Compare every expectation with what was observed."""
    injected = observed.first("fault_injected")
    if injected is None:
        return Verdict(Status.ERROR, reason="no fault was injected")
    checks = _Checks()
    checks.measurements["fault_injected_s"] = injected.t_s
    for alert in experiment.alerts:
        _check_alert(
            alert,
            observed,
            injected.t_s,
            detect_deadlines,
            resolve_deadline_s,
            alert_services or {},
            checks,
        )
    mitigated_s = _check_runbooks(
        experiment, observed, injected.t_s, runbook_answers, checks
    )
    _check_slo(experiment, observed, injected.t_s, mitigated_s, checks)
    failed = any(not check.held for check in checks.checks)
    return Verdict(
        Status.FAILED if failed else Status.PASSED,
        checks.checks,
        measurements=checks.measurements,
    )


def _check_alert(
    alert,
    observed,
    injected_s,
    deadlines,
    resolve_deadline_s,
    alert_services,
    checks: _Checks,
) -> None:
    fired = observed.first(
        "alert_notified", injected_s, alertname=alert.name, status="firing"
    )
    if not alert.fires:
        _check_silent(alert.name, fired, observed, injected_s, alert_services, checks)
        return
    deadline = deadlines[alert.name]
    expectation = f"alert {alert.name} fires"
    predicted = f"firing notified within {deadline.total_s:.1f} s of injection"
    if fired is None:
        checks.add(False, expectation, predicted, "it was never notified")
        return
    detect_s = round(fired.t_s - injected_s, 3)
    checks.measure("time_to_detect_s", alert.name, detect_s)
    checks.measure("detect_deadline_s", alert.name, deadline.total_s)
    checks.add(
        detect_s <= deadline.total_s,
        expectation,
        predicted,
        f"notified after {detect_s:.2f} s",
    )
    if alert.resolves:
        _check_resolved(alert.name, fired.t_s, observed, resolve_deadline_s, checks)


def _check_silent(name, fired, observed, injected_s, alert_services, checks) -> None:
    expectation = f"alert {name} stays silent"
    predicted = "no notification, with traffic reaching the service"
    if fired is not None:
        checks.add(
            False,
            expectation,
            predicted,
            f"notified firing {fired.t_s - injected_s:.1f} s after injection",
        )
        return
    service = alert_services.get(name)
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


def _check_resolved(name, fired_s, observed, deadline_s, checks: _Checks) -> None:
    rolled_back_s = observed.last_time("fault_rolled_back")
    resolved = observed.first(
        "alert_notified", fired_s, alertname=name, status="resolved"
    )
    expectation = f"alert {name} resolves"
    predicted = f"resolved within {deadline_s:.1f} s of the fault's rollback"
    if resolved is None:
        checks.add(False, expectation, predicted, "no resolved notification arrived")
        return
    checks.measure("resolved_s", name, resolved.t_s)
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

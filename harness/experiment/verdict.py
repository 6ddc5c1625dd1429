"""Verdicts: what the experiment predicted, against what the journal observed.

The verdict is a pure function of the journal, the experiment and the
deadlines computed from configuration, so every way it can fail is testable
without starting a single process.
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

    def __str__(self) -> str:
        return (
            f"{self.expectation}: predicted {self.predicted}; observed {self.observed}"
        )


@dataclass
class Verdict:
    status: Status
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""
    measurements: dict = field(default_factory=dict)

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


def judge(
    experiment: Experiment,
    observed: Observed,
    detect_deadlines: dict,
    resolve_deadline_s: float,
    runbook_answers: dict,
) -> Verdict:
    """Compare every expectation with what was observed."""
    injected = observed.first("fault_injected")
    if injected is None:
        return Verdict(Status.ERROR, reason="no fault was injected")
    measurements: dict = {"fault_injected_s": injected.t_s}
    findings: list[Finding] = []
    _check_alerts(
        experiment,
        observed,
        injected.t_s,
        detect_deadlines,
        resolve_deadline_s,
        findings,
        measurements,
    )
    mitigated_s = _check_runbooks(
        experiment, observed, injected.t_s, runbook_answers, findings, measurements
    )
    _check_slo(experiment, observed, injected.t_s, mitigated_s, findings, measurements)
    status = Status.FAILED if findings else Status.PASSED
    return Verdict(status, findings, measurements=measurements)


def _check_alerts(
    experiment,
    observed,
    injected_s,
    deadlines,
    resolve_deadline_s,
    findings,
    measurements,
) -> None:
    rolled_back = _last_time(observed, "fault_rolled_back")
    for alert in experiment.alerts:
        fired = observed.first(
            "alert_notified", injected_s, alertname=alert.name, status="firing"
        )
        if not alert.fires:
            if fired:
                findings.append(
                    Finding(
                        f"alert {alert.name} stays silent",
                        "no notification",
                        f"notified firing {fired.t_s - injected_s:.1f} s after "
                        "injection",
                    )
                )
            continue
        deadline = deadlines[alert.name]
        predicted = f"firing notified within {deadline.total_s:.1f} s of injection"
        if fired is None:
            findings.append(
                Finding(f"alert {alert.name} fires", predicted, "it was never notified")
            )
            continue
        detect_s = round(fired.t_s - injected_s, 3)
        measurements.setdefault("time_to_detect_s", {})[alert.name] = detect_s
        measurements.setdefault("detect_deadline_s", {})[alert.name] = deadline.total_s
        if detect_s > deadline.total_s:
            findings.append(
                Finding(
                    f"alert {alert.name} fires",
                    predicted,
                    f"notified after {detect_s:.1f} s",
                )
            )
        if alert.resolves:
            _check_resolved(
                alert.name,
                fired.t_s,
                observed,
                rolled_back,
                resolve_deadline_s,
                findings,
                measurements,
            )


def _check_resolved(
    name, fired_s, observed, rolled_back_s, deadline_s, findings, measurements
) -> None:
    resolved = observed.first(
        "alert_notified", fired_s, alertname=name, status="resolved"
    )
    limit_s = (rolled_back_s or fired_s) + deadline_s
    predicted = f"resolved within {deadline_s:.1f} s of the fault's rollback"
    if resolved is None:
        findings.append(
            Finding(
                f"alert {name} resolves", predicted, "no resolved notification arrived"
            )
        )
    elif resolved.t_s > limit_s:
        findings.append(
            Finding(
                f"alert {name} resolves",
                predicted,
                f"resolved {resolved.t_s - rolled_back_s:.1f} s after rollback",
            )
        )
    else:
        measurements.setdefault("resolved_s", {})[name] = resolved.t_s


def _check_runbooks(
    experiment, observed, injected_s, runbook_answers, findings, measurements
) -> float | None:
    mitigated_s = None
    for expected in experiment.runbooks:
        name = expected.name
        predicted = (
            f"finished within {expected.finished_within_s:g} s of the "
            "first notified alert it answers"
        )
        trigger = _first_of(observed, injected_s, runbook_answers.get(name, ()))
        finished = observed.first("runbook_finished", injected_s, runbook=name)
        if finished is None:
            findings.append(
                Finding(
                    f"runbook {name} runs", predicted, _why_no_runbook(observed, name)
                )
            )
            continue
        mitigated_s = max(mitigated_s or 0.0, finished.t_s)
        measurements.setdefault("runbook_finished_s", {})[name] = finished.t_s
        if trigger is not None and finished.t_s - trigger > expected.finished_within_s:
            findings.append(
                Finding(
                    f"runbook {name} runs",
                    predicted,
                    f"finished {finished.t_s - trigger:.1f} s after",
                )
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


def _check_slo(
    experiment, observed, injected_s, mitigated_s, findings, measurements
) -> None:
    expected = experiment.slo_recovered
    if expected is None:
        return
    start_s = mitigated_s if mitigated_s is not None else injected_s
    rolled_back_s = _first_time(observed, "fault_rolled_back")
    back_s = first_hold(
        observed.slo_ok.get(expected.service, []),
        start_s,
        expected.hold_s,
        until_s=rolled_back_s,
    )
    predicted = (
        f"{expected.service} SLO back within {expected.recovered_within_s:g} s "
        f"of mitigation and held {expected.hold_s:g} s while the fault "
        "was still live"
    )
    name = f"SLO {expected.service} recovers"
    if back_s is None:
        findings.append(
            Finding(name, predicted, "it did not hold while the fault was live")
        )
        return
    measurements["slo_back_s"] = back_s
    measurements["time_to_recover_s"] = round(back_s - injected_s, 3)
    if back_s - start_s > expected.recovered_within_s:
        findings.append(
            Finding(name, predicted, f"back {back_s - start_s:.1f} s after mitigation")
        )


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


def _first_time(observed: Observed, kind: str) -> float | None:
    event = observed.first(kind)
    return event.t_s if event else None


def _last_time(observed: Observed, kind: str) -> float | None:
    times = [e.t_s for e in observed.events if e.kind == kind]
    return max(times) if times else None

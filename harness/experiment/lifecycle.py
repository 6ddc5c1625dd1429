"""The incident's lifecycle, read from the journal once a run has ended.

detected: the first notification of an alert the experiment expects to fire;
triaged: the first notified alert with signal=cause, naming what it blames;
mitigated: the last expected runbook finished; resolved: the SLO back and
every expected alert resolved. Each is recorded at the time it happened,
after the first fault was injected; a stage never reached is not recorded.
"""

from harness.experiment.schema import Experiment
from harness.experiment.verdict import notification_matches
from harness.report.journal import Event, Journal

STAGES = ("detected", "triaged", "mitigated", "resolved")


def lifecycle(
    events: list[Event], experiment: Experiment
) -> list[tuple[str, float, dict]]:
    """(stage, t_s, fields) for each stage reached, in order of time."""
    injected = next((e for e in events if e.kind == "fault_injected"), None)
    if injected is None:
        return []
    after = [e for e in events if e.t_s >= injected.t_s]
    stages = [
        _detected(after, experiment),
        _triaged(after),
        _mitigated(after, experiment),
        _resolved(after, experiment),
    ]
    return sorted((s for s in stages if s is not None), key=lambda s: s[1])


def record_lifecycle(journal: Journal, experiment: Experiment) -> None:
    for stage, t_s, fields in lifecycle(journal.events(), experiment):
        journal.record(stage, at_s=t_s, **fields)


def _firing(events: list[Event]) -> list[Event]:
    return [
        e
        for e in events
        if e.kind == "alert_notified"
        and e.fields.get("status") == "firing"
        and not e.fields.get("repeat")
    ]


def _detected(events: list[Event], experiment: Experiment):
    expected = [a for a in experiment.alerts if a.fires]
    for event in _firing(events):
        if any(notification_matches(event, alert) for alert in expected):
            return "detected", event.t_s, {"alertname": event.fields["alertname"]}
    return None


def _triaged(events: list[Event]):
    for event in _firing(events):
        labels = event.fields.get("labels") or {}
        if labels.get("signal") == "cause":
            blames = {
                key: labels[key] for key in ("service", "dependency") if labels.get(key)
            }
            return (
                "triaged",
                event.t_s,
                {
                    "alertname": labels.get("alertname", event.fields["alertname"]),
                    **blames,
                },
            )
    return None


def _mitigated(events: list[Event], experiment: Experiment):
    names = {runbook.name for runbook in experiment.runbooks}
    if not names:
        return None
    finished = {}
    for event in events:
        if event.kind == "runbook_finished" and event.fields.get("runbook") in names:
            finished.setdefault(event.fields["runbook"], event)
    if set(finished) != names:
        return None
    last = max(finished.values(), key=lambda e: e.t_s)
    return "mitigated", last.t_s, {"runbook": last.fields["runbook"]}


def _resolved(events: list[Event], experiment: Experiment):
    times = []
    if experiment.slo_recovered is not None:
        back = next((e for e in events if e.kind == "slo_back"), None)
        if back is None:
            return None
        times.append(back.t_s)
    for alert in (a for a in experiment.alerts if a.resolves):
        resolved = [
            e
            for e in events
            if notification_matches(e, alert) and e.fields.get("status") == "resolved"
        ]
        if not resolved:
            return None
        times.append(resolved[-1].t_s)
    if not times:
        return None
    return "resolved", max(times), {}

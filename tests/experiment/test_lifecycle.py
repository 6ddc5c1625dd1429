"""The lifecycle stages read from a run's journal."""

from pathlib import Path

import pytest

from harness.config import load_estate
from harness.experiment.deadlines import load_checked
from harness.experiment.lifecycle import lifecycle, record_lifecycle
from harness.report.journal import Event, Journal

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def experiment():
    estate = load_estate(REPO / "config")
    return load_checked(REPO / "experiments/claims-customer-latency.yaml", estate)


def event(kind: str, t_s: float, **fields) -> Event:
    return Event(kind, t_s, "", fields)


def notified(t_s, alertname, status="firing", **labels) -> Event:
    labels = {"alertname": alertname, **labels}
    return event(
        "alert_notified",
        t_s,
        alertname=alertname,
        status=status,
        service=labels.get("service", ""),
        severity=labels.get("severity", ""),
        labels=labels,
    )


BURN = "ClaimsApiAvailabilityBurnRate"
# The labels the library experiment expects of its burn-rate page.
PAGE = {"service": "claims-api", "severity": "page", "team": "claims-platform"}


def full_run() -> list[Event]:
    return [
        notified(5, "ServiceDown", service="x", signal="cause"),  # before the fault
        event("fault_injected", 10, fault="f"),
        # A symptom names no cause: triage waits for one that does.
        notified(12, "SyntheticJourneyFailing", service="claims-api", signal="symptom"),
        notified(
            14,
            "DependencyLatency",
            service="claims-api",
            dependency="customer-api",
            signal="cause",
        ),
        notified(20, BURN, signal="symptom", **PAGE),
        event("runbook_finished", 25, runbook="claims-customer-fallback"),
        event("slo_back", 40, service="claims-api"),
        notified(52, BURN, "resolved", signal="symptom", **PAGE),
    ]


def test_each_stage_is_timed_from_its_first_event(experiment):
    stages = lifecycle(full_run(), experiment)

    assert stages == [
        (
            "triaged",
            14,
            {
                "alertname": "DependencyLatency",
                "service": "claims-api",
                "dependency": "customer-api",
            },
        ),
        ("detected", 20, {"alertname": BURN}),
        ("mitigated", 25, {"runbook": "claims-customer-fallback"}),
        ("resolved", 52, {}),
    ]


def test_a_stage_never_reached_is_not_recorded(experiment):
    events = [e for e in full_run() if e.fields.get("status") != "resolved"]
    events = [e for e in events if e.kind != "runbook_finished"]

    stages = [stage for stage, _, _ in lifecycle(events, experiment)]

    assert stages == ["triaged", "detected"]


def test_nothing_is_recorded_when_no_fault_was_injected(experiment):
    events = [e for e in full_run() if e.kind != "fault_injected"]

    assert lifecycle(events, experiment) == []


def test_the_stages_enter_the_journal_at_their_own_time(tmp_path, experiment):
    journal = Journal(tmp_path, "run")
    for e in full_run():
        journal.record(e.kind, at_s=e.t_s, **e.fields)

    record_lifecycle(journal, experiment)

    assert [(e.kind, e.t_s) for e in journal.events("detected")] == [("detected", 20)]
    assert journal.first("resolved").t_s == 52

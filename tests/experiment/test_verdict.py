"""Every kind of verdict, shown to fail when its condition breaks."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.experiment.schema import (
    AlertExpectation,
    Experiment,
    FaultSpec,
    LoadSpec,
    RunbookExpectation,
    SLOExpectation,
)
from harness.experiment.verdict import Observed, Status, first_hold, judge
from harness.report.journal import Event

ALERT = "ClaimsApiAvailabilityBurnRate"
RUNBOOK = "claims-customer-fallback"
DEADLINES = {
    "detect": {ALERT: SimpleNamespace(total_s=6.0, terms={})},
    "floor": {ALERT: SimpleNamespace(total_s=3.0, terms={})},
    "resolve": {ALERT: SimpleNamespace(total_s=10.0, terms={})},
}
ANSWERS = {RUNBOOK: (ALERT,)}


def experiment(**overrides) -> Experiment:
    fields = dict(
        name="x",
        hypothesis="h",
        path=Path("x.yaml"),
        tags=(),
        load=LoadSpec("file_a_claim", 4),
        steady_state_s=10,
        steady_state_services=("claims-api",),
        faults=(
            FaultSpec(
                "f",
                "latency",
                "claims-api_to_customer-api",
                0,
                30,
                {"latency_ms": 1500, "jitter_ms": 0},
                "x.yaml:1",
            ),
        ),
        alerts=(AlertExpectation(ALERT, fires=True, resolves=True),),
        runbooks=(RunbookExpectation(RUNBOOK, finished_within_s=5),),
        slo_recovered=SLOExpectation("claims-api", recovered_within_s=20, hold_s=5),
    )
    fields.update(overrides)
    return Experiment(**fields)


def ev(kind: str, t_s: float, **fields) -> Event:
    return Event(kind, t_s, "", fields)


def good_events() -> list[Event]:
    return [
        ev("fault_injected", 10.0, fault="f"),
        ev("alert_notified", 14.0, alertname=ALERT, status="firing"),
        ev("runbook_started", 14.1, runbook=RUNBOOK),
        ev("runbook_finished", 14.5, runbook=RUNBOOK),
        ev("alert_notified", 22.0, alertname=ALERT, status="resolved"),
        ev("fault_rolled_back", 40.0, fault="f"),
    ]


def slo_series(bad_from: float, good_from: float, end: float = 50.0) -> list:
    points = []
    t = 0.0
    while t <= end:
        points.append((t, 0.0 if bad_from <= t < good_from else 1.0))
        t += 1.0
    return points


def observed(events=None, slo=None) -> Observed:
    return Observed(
        events=sorted(
            events if events is not None else good_events(), key=lambda e: e.t_s
        ),
        slo_ok={"claims-api": slo if slo is not None else slo_series(11, 21)},
    )


def verdict_of(exp=None, obs=None):
    return judge(exp or experiment(), obs or observed(), DEADLINES, ANSWERS)


def test_a_run_that_meets_every_expectation_passes():
    verdict = verdict_of()

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.measurements["time_to_detect_s"][ALERT] == pytest.approx(4.0)
    assert verdict.measurements["time_to_recover_s"] == pytest.approx(11.0)


def test_the_recovery_deadline_runs_from_mitigation_on_the_recovery_clock():
    # Mitigated at 14.5 s, injected at 10 s, allowed 20 s after mitigation.
    passed = verdict_of()
    late = verdict_of(exp=experiment(slo_recovered=SLOExpectation("claims-api", 5, 5)))

    assert passed.measurements["recover_deadline_s"] == pytest.approx(24.5)
    assert late.measurements["recover_deadline_s"] == pytest.approx(9.5)
    assert late.measurements["time_to_recover_s"] == pytest.approx(11.0)
    assert late.status is Status.FAILED


def test_an_alert_never_notified_fails_naming_the_alert():
    events = [e for e in good_events() if e.kind != "alert_notified"]

    verdict = verdict_of(obs=observed(events))

    assert verdict.status is Status.FAILED
    assert any(
        ALERT in f.expectation and "never" in f.observed for f in verdict.findings
    )


def test_an_alert_notified_after_its_deadline_fails():
    events = good_events()
    events[1] = ev("alert_notified", 16.5, alertname=ALERT, status="firing")

    verdict = verdict_of(obs=observed(events))

    assert verdict.status is Status.FAILED
    assert "6.50 s" in verdict.findings[0].observed


def test_an_alert_that_never_resolves_fails():
    events = [e for e in good_events() if e.fields.get("status") != "resolved"]

    verdict = verdict_of(obs=observed(events))

    assert [f.expectation for f in verdict.findings] == [f"alert {ALERT} resolves"]


def test_an_alert_expected_silent_that_fires_fails():
    exp = experiment(alerts=(AlertExpectation(ALERT, fires=False, resolves=False),))

    verdict = verdict_of(exp=exp)

    assert verdict.status is Status.FAILED
    assert "stays silent" in verdict.findings[0].expectation


def test_a_disabled_runbook_fails_naming_the_runbook():
    events = [e for e in good_events() if not e.kind.startswith("runbook")]
    events.append(ev("runbook_skipped", 14.1, runbook=RUNBOOK, reason="disabled"))

    verdict = verdict_of(obs=observed(events, slo=slo_series(11, 60)))

    assert verdict.status is Status.FAILED
    runbook_findings = [f for f in verdict.findings if RUNBOOK in f.expectation]
    assert runbook_findings and "disabled" in runbook_findings[0].observed


def test_a_slow_runbook_fails():
    events = good_events()
    events[3] = ev("runbook_finished", 21.0, runbook=RUNBOOK)

    verdict = verdict_of(obs=observed(events))

    assert any(RUNBOOK in f.expectation for f in verdict.findings)


def test_an_slo_that_only_recovers_after_rollback_fails():
    verdict = verdict_of(obs=observed(slo=slo_series(11, 41)))

    assert verdict.status is Status.FAILED
    assert any("SLO" in f.expectation for f in verdict.findings)


def test_an_slo_recovered_too_late_fails():
    verdict = verdict_of(obs=observed(slo=slo_series(11, 35)))

    assert any(
        "SLO" in f.expectation and "after mitigation" in f.observed
        for f in verdict.findings
    )


def test_an_slo_that_never_breached_fails_the_fault_had_no_effect():
    always_good = [(float(t), 1.0) for t in range(60)]

    verdict = verdict_of(obs=observed(slo=always_good))

    assert verdict.status is Status.FAILED
    assert "never breached" in verdict.findings[0].observed
    assert "time_to_recover_s" not in verdict.measurements


def test_a_pass_keeps_every_check_it_made():
    verdict = verdict_of()

    assert verdict.findings == []
    assert [c.expectation for c in verdict.checks] == [
        f"alert {ALERT} fires",
        f"alert {ALERT} resolves",
        f"runbook {RUNBOOK} runs",
        "SLO claims-api breaks, then recovers",
    ]
    assert all(c.held for c in verdict.checks)


def test_a_silent_alert_on_a_service_without_traffic_proves_nothing():
    exp = experiment(
        alerts=(AlertExpectation(ALERT, fires=False, resolves=False),),
        runbooks=(),
        slo_recovered=None,
    )
    dark = [(float(t), None) for t in range(60)]
    events = [e for e in good_events() if e.kind != "alert_notified"]

    verdict = judge(
        exp,
        observed(events, slo=dark),
        DEADLINES,
        ANSWERS,
        {ALERT: "claims-api"},
    )

    assert verdict.status is Status.FAILED
    assert "no data from claims-api" in verdict.findings[0].observed


def test_a_silent_alert_with_traffic_holds():
    exp = experiment(
        alerts=(AlertExpectation(ALERT, fires=False, resolves=False),),
        runbooks=(),
        slo_recovered=None,
    )
    events = [e for e in good_events() if e.kind != "alert_notified"]

    verdict = judge(
        exp,
        observed(events, slo=slo_series(99, 99)),
        DEADLINES,
        ANSWERS,
        {ALERT: "claims-api"},
    )

    assert verdict.status is Status.PASSED, verdict.explain()


def test_a_service_gone_dark_under_the_fault_is_a_breach_not_a_hold():
    dark_then_good = [(float(t), None if 11 <= t < 21 else 1.0) for t in range(60)]

    verdict = verdict_of(obs=observed(slo=dark_then_good))

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.measurements["slo"]["breached_s"] == 11.0


def test_with_several_faults_recovery_counts_until_the_last_rollback():
    events = good_events() + [
        ev("fault_injected", 10.5, fault="short"),
        ev("fault_rolled_back", 13.5, fault="short"),
    ]

    verdict = verdict_of(obs=observed(events))

    assert verdict.status is Status.PASSED, verdict.explain()


def test_no_data_is_not_health():
    silent = [(float(t), None) for t in range(60)]

    verdict = verdict_of(obs=observed(slo=silent))

    assert verdict.status is Status.FAILED


def test_no_fault_injected_is_an_error_never_a_pass():
    events = [e for e in good_events() if e.kind != "fault_injected"]

    verdict = verdict_of(obs=observed(events))

    assert verdict.status is Status.ERROR
    assert verdict.status.exit_code == 2


def test_exit_codes():
    assert [s.exit_code for s in Status] == [0, 1, 2, 2]


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([(0, 1.0), (1, 1.0), (2, 1.0)], 0),
        ([(0, 1.0), (1, 0.0), (2, 1.0), (3, 1.0), (4, 1.0)], 2),
        ([(0, 1.0), (1, None), (2, 1.0)], None),
        ([(0, 0.0), (1, 0.0)], None),
    ],
)
def test_first_hold(samples, expected):
    assert first_hold(samples, after_s=0, hold_s=2) == expected


def test_an_alert_notified_during_the_steady_state_fails_as_fatigue():
    events = good_events() + [
        ev("load_started", 0.0),
        ev(
            "alert_notified",
            4.0,
            alertname="SLONoData",
            status="firing",
            service="payment-api",
        ),
        ev("steady_state_checked", 10.0, ok=True),
    ]

    verdict = verdict_of(obs=observed(events))

    assert [f.expectation for f in verdict.findings] == [
        "no alert fires during the steady state"
    ]
    assert "SLONoData{service=payment-api} at 4.0 s" in verdict.findings[0].observed


def test_quiet_steady_state_can_be_waived():
    events = good_events() + [
        ev("load_started", 0.0),
        ev("alert_notified", 4.0, alertname="SLONoData", status="firing"),
        ev("steady_state_checked", 10.0, ok=True),
    ]

    verdict = verdict_of(experiment(quiet_steady_state=False), observed(events))

    assert verdict.status is Status.PASSED, verdict.explain()


def test_no_alerts_fails_on_any_notification_and_holds_without_one():
    quiet = experiment(alerts=(), runbooks=(), slo_recovered=None, no_alerts=True)
    calm = [ev("fault_injected", 10.0), ev("fault_rolled_back", 13.0)]

    assert verdict_of(quiet, observed(calm)).status is Status.PASSED
    noisy = calm + [ev("alert_notified", 12.0, alertname="X", status="firing")]
    failed = verdict_of(quiet, observed(noisy))
    assert failed.status is Status.FAILED
    assert failed.findings[0].expectation == "no alert fires at all"


def _page(t_s, key, action="trigger"):
    return ev(
        "page_received",
        t_s,
        integration="pagerduty",
        key=key,
        action=action,
        summary="s",
    )


@pytest.mark.parametrize(
    ("keys", "held"), [(["a"], True), (["a", "b"], False), ([], False)]
)
def test_the_pager_must_open_exactly_the_expected_incidents(keys, held):
    pages = [_page(15.0 + i, key) for i, key in enumerate(keys)]
    pages += [_page(16.0, "a", "trigger"), _page(30.0, "a", "resolve")] if keys else []

    verdict = verdict_of(experiment(pages=1), observed(good_events() + pages))

    check = next(c for c in verdict.checks if "pager" in c.expectation)
    assert check.held is held
    assert check.observed.startswith(f"{len(set(keys))} incident(s)")


def _inhibited_expectation():
    return AlertExpectation(
        ALERT,
        fires=False,
        resolves=False,
        inhibited=True,
        labels=(("service", "claims-api"),),
    )


def test_an_inhibited_alert_must_fire_in_prometheus_and_never_be_notified():
    exp = experiment(
        alerts=(_inhibited_expectation(),), runbooks=(), slo_recovered=None
    )
    firing = ev(
        "alert_firing", 13.0, alertname=ALERT, service="claims-api", severity="page"
    )
    base = [ev("fault_injected", 10.0), ev("fault_rolled_back", 40.0)]

    assert verdict_of(exp, observed(base + [firing])).status is Status.PASSED
    notified = ev(
        "alert_notified",
        14.0,
        alertname=ALERT,
        status="firing",
        labels={"service": "claims-api"},
    )
    leaked = verdict_of(exp, observed(base + [firing, notified]))
    assert leaked.status is Status.FAILED
    assert "notified firing 4.0 s" in leaked.findings[0].observed
    never = verdict_of(exp, observed(base))
    assert never.status is Status.FAILED
    assert "never fired in Prometheus" in never.findings[0].observed


def test_labels_and_annotations_are_checked_on_the_firing_notification():
    alert = AlertExpectation(
        ALERT,
        fires=True,
        resolves=True,
        labels=(("team", "claims-platform"),),
        annotations=(("runbook", "claims-customer-fallback"), ("dashboard", "")),
    )
    exp = experiment(alerts=(alert,))
    deadlines = {kind: {alert.key: d[ALERT]} for kind, d in DEADLINES.items()}

    def verdict_of(exp, obs):
        return judge(exp, obs, deadlines, ANSWERS)

    events = good_events()
    events[4] = ev(
        "alert_notified",
        22.0,
        alertname=ALERT,
        status="resolved",
        labels={"team": "claims-platform"},
    )
    events[1] = ev(
        "alert_notified",
        14.0,
        alertname=ALERT,
        status="firing",
        labels={"team": "claims-platform"},
        annotations={
            "runbook": "config/runbooks/claims-customer-fallback.yaml",
            "dashboard": "http://127.0.0.1:9090/graph",
        },
    )
    assert verdict_of(exp, observed(events)).status is Status.PASSED, verdict_of(
        exp, observed(events)
    ).explain()

    events[1] = ev(
        "alert_notified",
        14.0,
        alertname=ALERT,
        status="firing",
        labels={"team": "claims-platform"},
        annotations={"runbook": "", "dashboard": "x"},
    )
    verdict = verdict_of(exp, observed(events))
    context = next(c for c in verdict.checks if "context" in c.expectation)
    assert not context.held
    assert context.observed == "annotation runbook missing or empty"

    events[1] = ev(
        "alert_notified",
        14.0,
        alertname=ALERT,
        status="firing",
        labels={"team": "payments-platform"},
    )
    verdict = verdict_of(exp, observed(events))
    assert verdict.findings[0].expectation == f"alert {alert.key} fires"
    assert "labels {'team': 'payments-platform'}" in verdict.findings[0].observed


def test_a_severity_tells_page_from_ticket_of_one_name():
    page = AlertExpectation(ALERT, fires=True, resolves=False, severity="page")
    exp = experiment(alerts=(page,), runbooks=(), slo_recovered=None)
    deadlines = {"detect": {f"{ALERT}[page]": SimpleNamespace(total_s=6.0, terms={})}}
    ticket_only = [
        ev("fault_injected", 10.0),
        ev("alert_notified", 12.0, alertname=ALERT, status="firing", severity="ticket"),
    ]

    verdict = judge(exp, observed(ticket_only), deadlines, ANSWERS)

    assert verdict.status is Status.FAILED
    assert verdict.findings[0].expectation == f"alert {ALERT}[page] fires"

"""Measured expectations: read precisely, and each verdict shown failing."""

from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.errors import ConfigError, StackError
from harness.experiment.expect_schema import (
    Amplification,
    BreakerTrials,
    Degradation,
    MeasuredExpectations,
    SLOState,
)
from harness.experiment.measured import BREAKER_STATES, breaker_points, held_since
from harness.experiment.schema import RunbookExpectation, load_experiment
from harness.experiment.verdict import Observed, Status, judge, judge_integrity
from harness.experiment.watch import MeasuredSeriesWatcher
from harness.integrity import InvariantResult
from harness.report.journal import Journal
from tests.experiment.test_verdict import ev, experiment

REPO = Path(__file__).resolve().parents[2]
ALERTS = {"ClaimsApiAvailabilityBurnRate": ("page", "ticket")}
EDGE = "claims-api_to_customer-api"


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


def write(tmp_path: Path, expect: dict) -> Path:
    data = yaml.safe_load((REPO / "experiments/control-run.yaml").read_text())
    data["expect"] = expect
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_measured_expectation_is_read(tmp_path, estate):
    path = write(
        tmp_path,
        {
            "slos": [
                {"service": "policy-api", "state": "held"},
                {
                    "service": "claims-api",
                    "state": "breached_and_recovered",
                    "within_s": 15,
                },
            ],
            "amplification": [{"edge": EDGE, "max": 2}],
            "breaker": [{"edge": EDGE, "max_trial_calls": 1}],
            "degraded_gracefully": [
                {"service": "claims-api", "route": "/claims", "min_success_ratio": 0.9}
            ],
            "integrity": ["keys_charged_once"],
        },
    )

    measured = load_experiment(path, estate, ALERTS).measured

    assert measured.slos[1] == SLOState(
        "claims-api", "breached_and_recovered", 15.0, 5.0, measured.slos[1].where
    )
    assert measured.amplification[0].max_ratio == 2.0
    assert measured.breakers[0].max_trial_calls == 1
    assert measured.degraded_gracefully[0].route == "/claims"
    assert measured.integrity == ("keys_charged_once",)
    assert measured.settle_s == 20.0


@pytest.mark.parametrize(
    ("expect", "field", "shown", "accepted"),
    [
        (
            {"slos": [{"service": "claims-api", "state": "fine"}]},
            "expect.slos[0].state",
            "'fine'",
            "one of: breached_and_recovered, held",
        ),
        (
            {"slos": [{"service": "claims-api", "state": "held", "within_s": 9}]},
            "expect.slos[0].within_s",
            "9",
            "nothing when state is held",
        ),
        (
            {
                "slos": [
                    {
                        "service": "claims-api",
                        "state": "breached_and_recovered",
                        "within_s": 2,
                    }
                ]
            },
            "expect.slos[0].within_s",
            "2.0",
            "at least 6 s",
        ),
        (
            {"amplification": [{"edge": "client_to_claims-api", "max": 2}]},
            "expect.amplification[0].edge",
            "'client_to_claims-api'",
            "a dependency edge: customer-api_to_identity-verification",
        ),
        (
            {"amplification": [{"edge": EDGE, "max": 0}]},
            "expect.amplification[0].max",
            "0",
            "a number from 0.01 to 100",
        ),
        (
            {"breaker": [{"edge": EDGE, "max_trial_calls": 0}]},
            "expect.breaker[0].max_trial_calls",
            "0",
            "an integer from 1 to 10000",
        ),
        (
            {
                "degraded_gracefully": [
                    {"service": "claims-api", "route": "claims", "min_success_ratio": 1}
                ]
            },
            "expect.degraded_gracefully[0].route",
            "'claims'",
            "a route template of the service, such as /claims",
        ),
        (
            {"integrity": ["no_lost_claims"]},
            "expect.integrity",
            "['no_lost_claims']",
            "a list of invariants: keys_charged_once",
        ),
    ],
)
def test_bad_input_names_line_field_value_and_what_is_accepted(
    tmp_path, estate, expect, field, shown, accepted
):
    path = write(tmp_path, expect)

    with pytest.raises(ConfigError) as raised:
        load_experiment(path, estate, ALERTS)

    message = str(raised.value)
    assert message.startswith(f"{path}:"), message
    assert f"field '{field}' is {shown}; expected " in message
    assert accepted in message


def test_the_same_edge_twice_is_refused(tmp_path, estate):
    bounds = [{"edge": EDGE, "max": 2}, {"edge": EDGE, "max": 3}]
    path = write(tmp_path, {"amplification": bounds})

    with pytest.raises(ConfigError, match="amplification names .* twice"):
        load_experiment(path, estate, ALERTS)


def test_a_breaker_expected_on_an_edge_without_one_is_refused(tmp_path, estate):
    off = tmp_path / "config"
    text = (REPO / "config/estate.yaml").read_text()
    for name in (REPO / "config").iterdir():
        if name.is_file():
            (off / name.name).parent.mkdir(exist_ok=True)
            (off / name.name).write_text(name.read_text())
    (off / "runbooks").symlink_to(REPO / "config/runbooks")
    (off / "estate.yaml").write_text(text.replace("enabled: true", "enabled: false"))
    path = write(tmp_path, {"breaker": [{"edge": EDGE, "max_trial_calls": 1}]})

    with pytest.raises(ConfigError, match="an edge whose breaker is enabled"):
        load_experiment(path, load_estate(off), ALERTS)


# Verdicts: a run injected at 10 s and rolled back at 30 s, sampled every second.
INJECTED_S, ROLLED_BACK_S = 10.0, 30.0


def run(measured: MeasuredExpectations, series: dict, runbooks=()) -> Observed:
    events = [
        ev("fault_injected", INJECTED_S, fault="f"),
        *runbooks,
        ev("fault_rolled_back", ROLLED_BACK_S, fault="f"),
    ]
    return Observed(events, {}, series=series, lag_s=2.0)


def verdict_of(measured: MeasuredExpectations, series: dict, runbooks=()):
    exp = experiment(alerts=(), runbooks=(), slo_recovered=None, measured=measured)
    return judge(exp, run(measured, series, runbooks), {}, {})


def every_second(value_at, end: float = 60.0) -> list:
    return [(float(t), value_at(float(t))) for t in range(int(end) + 1)]


def only_finding(verdict) -> str:
    assert verdict.status is Status.FAILED, verdict.explain()
    assert len(verdict.findings) == 1, verdict.explain()
    return str(verdict.findings[0])


HELD = MeasuredExpectations(slos=(SLOState("policy-api", "held"),))


def test_a_held_slo_passes_when_every_sample_holds():
    series = {"slo_ok:policy-api": every_second(lambda t: 1.0)}

    assert verdict_of(HELD, series).status is Status.PASSED


def test_a_held_slo_fails_on_one_burning_sample():
    series = {"slo_ok:policy-api": every_second(lambda t: 0.0 if t == 17 else 1.0)}

    assert only_finding(verdict_of(HELD, series)) == (
        "SLO policy-api held: predicted held in every sample from the first "
        "injection to the end; observed 1 of 51 samples burning and 0 without "
        "data (no traffic is not health), the first 7.0 s after injection"
    )


def test_a_held_slo_fails_without_data():
    series = {"slo_ok:policy-api": every_second(lambda t: None if t > 20 else 1.0)}

    assert "40 without data" in only_finding(verdict_of(HELD, series))


RECOVERS = MeasuredExpectations(
    slos=(SLOState("claims-api", "breached_and_recovered", 15.0, 5.0),)
)


def test_breached_and_recovered_passes_when_back_in_time():
    series = {"slo_ok:claims-api": every_second(lambda t: 0.0 if 14 <= t < 36 else 1.0)}

    verdict = verdict_of(RECOVERS, series)

    assert verdict.status is Status.PASSED, verdict.explain()
    assert "back 6.0 s after the last rollback" in verdict.checks[-1].observed


def test_breached_and_recovered_fails_when_back_too_late():
    series = {"slo_ok:claims-api": every_second(lambda t: 0.0 if 14 <= t < 47 else 1.0)}

    assert only_finding(verdict_of(RECOVERS, series)) == (
        "SLO claims-api breached and recovered: predicted a breach, then back "
        "within 15 s of the last rollback and held 5 s; observed breached 4.0 s "
        "after injection; back 17.0 s after the last rollback"
    )


def test_breached_and_recovered_fails_when_it_never_breached():
    series = {"slo_ok:claims-api": every_second(lambda t: 1.0)}

    assert "it never breached" in only_finding(verdict_of(RECOVERS, series))


def test_recovery_counts_from_mitigation_when_a_runbook_is_expected():
    series = {"slo_ok:claims-api": every_second(lambda t: 0.0 if 14 <= t < 22 else 1.0)}
    finished = ev("runbook_finished", 16.0, runbook="r")
    exp = experiment(
        alerts=(),
        runbooks=(RunbookExpectation("r", finished_within_s=5),),
        slo_recovered=None,
        measured=RECOVERS,
    )

    verdict = judge(exp, run(RECOVERS, series, [finished]), {}, {"r": ("A",)})

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.checks[-1].observed == (
        "breached 4.0 s after injection; back 6.0 s after mitigation"
    )


AMPLIFIED = MeasuredExpectations(
    amplification=(Amplification("claims-api", "customer-api", 1.5),)
)
ATTEMPTS = f"amplification:{EDGE}:attempts"
REQUESTS = f"amplification:{EDGE}:requests"


def test_amplification_within_its_bound_passes_and_is_measured():
    series = {
        ATTEMPTS: every_second(lambda t: 5.0 * t),
        REQUESTS: every_second(lambda t: 4.0 * t),
    }

    verdict = verdict_of(AMPLIFIED, series)

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.measurements["amplification"] == {EDGE: 1.25}


def test_a_retry_storm_fails_amplification_with_the_ratio_measured():
    series = {
        ATTEMPTS: every_second(lambda t: 4.0 * t + (8.0 * (t - 12) if t > 12 else 0)),
        REQUESTS: every_second(lambda t: 4.0 * t),
    }

    assert only_finding(verdict_of(AMPLIFIED, series)) == (
        f"amplification on {EDGE} bounded: predicted at most 1.5 attempts at "
        "customer-api per request claims-api answered, while the faults were "
        "live; observed 3 (216 attempts for 72 requests)"
    )


def test_amplification_over_a_restarted_counter_cannot_pass():
    series = {
        ATTEMPTS: every_second(lambda t: 5.0 * t if t < 20 else 1.0),
        REQUESTS: every_second(lambda t: 4.0 * t),
    }

    assert "went backwards" in only_finding(verdict_of(AMPLIFIED, series))


def test_amplification_without_requests_cannot_pass():
    series = {ATTEMPTS: every_second(lambda t: 0.0), REQUESTS: every_second(float)}
    series[REQUESTS] = every_second(lambda t: 7.0)

    assert "answered no request" in only_finding(verdict_of(AMPLIFIED, series))


DEGRADED = MeasuredExpectations(
    degraded_gracefully=(Degradation("claims-api", 0.95, "/claims"),)
)
ANSWERED = "degraded:claims-api/claims:answered"
OK = "degraded:claims-api/claims:ok"


def test_degraded_gracefully_passes_when_answers_are_not_5xx():
    series = {
        ANSWERED: every_second(lambda t: 4.0 * t),
        OK: every_second(lambda t: 4.0 * t),
    }

    verdict = verdict_of(DEGRADED, series)

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.measurements["success_ratio"] == {"claims-api /claims": 1.0}


def test_a_service_that_fails_with_its_dependency_does_not_degrade_gracefully():
    series = {
        ANSWERED: every_second(lambda t: 4.0 * t),
        OK: every_second(lambda t: 4.0 * min(t, 12.0)),
    }

    assert only_finding(verdict_of(DEGRADED, series)) == (
        "claims-api /claims degrades gracefully: predicted at least 95.0% of "
        "answers not 5xx while the faults were live; observed 0.0% (0 of 72 "
        "answers not 5xx)"
    )


BREAKER = MeasuredExpectations(
    breakers=(BreakerTrials("claims-api", "customer-api", 1),)
)
OPEN, HALF, CLOSED = (BREAKER_STATES[s] for s in ("open", "half_open", "closed"))


def breaker_series(state_at, attempts_at, refused_at) -> dict:
    return {
        f"breaker:{EDGE}:state": every_second(state_at),
        f"breaker:{EDGE}:attempts": every_second(attempts_at),
        f"breaker:{EDGE}:refused": every_second(refused_at),
    }


def cycling(t: float) -> float:
    """Open from 12 s, half-open for a moment every 5 s, closed after 32 s."""
    if 12 <= t <= 32:
        return HALF if t in (17.0, 22.0, 27.0) else OPEN
    return CLOSED


def test_a_breaker_that_opens_and_probes_one_call_at_a_time_passes():
    trials = [17, 22, 27]
    series = breaker_series(
        cycling,
        lambda t: 40.0 + sum(1 for s in trials if s <= t),
        lambda t: 4.0 * max(0.0, t - 12),
    )

    verdict = verdict_of(BREAKER, series)

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.measurements["breaker_trial_calls"] == {EDGE: 1.0}


def test_a_thundering_herd_at_half_open_fails():
    series = breaker_series(
        cycling,
        lambda t: 40.0 + (9.0 if t >= 22 else 0.0),
        lambda t: 4.0 * max(0.0, t - 12),
    )

    assert only_finding(verdict_of(BREAKER, series)) == (
        f"breaker on {EDGE} half-opens without a thundering herd: predicted at "
        "most 1 calls reach customer-api per half-open; observed at most 9 calls "
        "in one scrape interval while not closed (1 probing intervals)"
    )


def test_a_breaker_that_never_opens_fails():
    series = breaker_series(lambda t: CLOSED, lambda t: 4.0 * t, lambda t: 0.0)

    assert only_finding(verdict_of(BREAKER, series)) == (
        f"breaker on {EDGE} opens: predicted it opens while the faults are live; "
        "observed it refused 0 calls and was never seen open"
    )


def test_breaker_points_come_from_one_query():
    samples = [
        ({"__name__": "dependency_circuit_state", "state": "closed"}, 0.0),
        ({"__name__": "dependency_circuit_state", "state": "open"}, 1.0),
        ({"__name__": "dependency_requests_total", "outcome": "ok"}, 10.0),
        ({"__name__": "dependency_requests_total", "outcome": "timeout"}, 2.0),
        ({"__name__": "dependency_requests_total", "outcome": "rejected"}, 7.0),
        ({"__name__": "dependency_requests_total", "outcome": "fallback"}, 3.0),
        ({"__name__": "dependency_bulkhead_rejections_total"}, 2.0),
    ]

    assert breaker_points(samples) == {"state": OPEN, "attempts": 12.0, "refused": 5.0}


NAMED = MeasuredExpectations(integrity=("keys_charged_once", "ledger_reconciles"))


def passed_verdict():
    exp = experiment(alerts=(), runbooks=(), slo_recovered=None, measured=NAMED)
    return exp, judge(exp, run(NAMED, {}), {}, {})


def test_named_invariants_that_held_pass_with_their_counts():
    exp, verdict = passed_verdict()
    results = [
        InvariantResult("keys_charged_once", True, 40, 0),
        InvariantResult("ledger_reconciles", True, 40, 0),
    ]

    judged = judge_integrity(verdict, exp, results)

    assert judged.status is Status.PASSED, judged.explain()
    assert judged.measurements["integrity"]["keys_charged_once"] == {
        "checked": 40,
        "violations": 0,
    }


def test_a_double_charge_fails_the_named_invariant_with_examples():
    exp, verdict = passed_verdict()
    double = {"idempotency_key": "k1", "times": 2}
    results = [
        InvariantResult("keys_charged_once", False, 40, 1, [double]),
        InvariantResult("ledger_reconciles", True, 40, 0),
    ]

    assert only_finding(judge_integrity(verdict, exp, results)) == (
        "invariant keys_charged_once holds: predicted no violation, with at "
        "least one item checked; observed 1 violation(s) in 40 checked, such as "
        "[{'idempotency_key': 'k1', 'times': 2}]"
    )


def test_an_invariant_over_no_data_proves_nothing():
    exp, verdict = passed_verdict()
    results = [
        InvariantResult("keys_charged_once", True, 0, 0),
        InvariantResult("ledger_reconciles", True, 3, 0),
    ]

    assert "nothing was checked" in only_finding(judge_integrity(verdict, exp, results))


def test_invariants_that_could_not_be_read_are_an_error():
    exp, verdict = passed_verdict()

    judged = judge_integrity(verdict, exp, None)

    assert judged.status is Status.ERROR
    assert "keys_charged_once, ledger_reconciles" in judged.reason


class FakePrometheus:
    """Answers the watcher's queries from fixed values; fails on request."""

    def __init__(self, failing: bool = False):
        self.failing = failing
        self.asked: list[str] = []

    def scalar(self, expr: str) -> float:
        self.asked.append(expr)
        if self.failing:
            raise StackError("prometheus is not answering")
        return 7.0

    def query(self, expr: str) -> list:
        self.asked.append(expr)
        if self.failing:
            raise StackError("prometheus is not answering")
        return [({"__name__": "dependency_circuit_state", "state": "open"}, 1.0)]


WATCHED = MeasuredExpectations(
    amplification=(Amplification("claims-api", "customer-api", 1.5),),
    breakers=(BreakerTrials("claims-api", "customer-api", 1),),
)


def test_the_watcher_samples_every_series_the_expectations_judge(tmp_path):
    journal = Journal(tmp_path, "run")
    api = FakePrometheus()

    MeasuredSeriesWatcher(api, journal, WATCHED, 1.0).poll()

    assert journal.series[ATTEMPTS][0][1] == 7.0
    assert journal.series[REQUESTS][0][1] == 7.0
    assert journal.series[f"breaker:{EDGE}:state"][0][1] == OPEN
    assert 'service="claims-api",dependency="customer-api"' in api.asked[0]


def test_a_failed_poll_is_a_gap_never_a_value(tmp_path):
    journal = Journal(tmp_path, "run")

    MeasuredSeriesWatcher(FakePrometheus(failing=True), journal, WATCHED, 1.0).poll()

    assert all(points[0][1] is None for points in journal.series.values())
    assert len(journal.series) == 5


def test_the_run_waits_until_a_recovering_slo_has_held():
    slo = RECOVERS.slos[0]
    burning_until_40 = every_second(lambda t: 0.0 if t < 40 else 1.0, end=43)

    assert not held_since(burning_until_40, slo)
    assert held_since(every_second(lambda t: 0.0 if t < 40 else 1.0, end=45), slo)
    assert not held_since(every_second(lambda t: None if t > 30 else 1.0), slo)


def test_an_slo_mitigated_before_the_rollback_is_back_at_once():
    series = {"slo_ok:claims-api": every_second(lambda t: 0.0 if 14 <= t < 20 else 1.0)}

    verdict = verdict_of(RECOVERS, series)

    assert verdict.status is Status.PASSED, verdict.explain()
    assert verdict.checks[-1].observed == (
        "breached 4.0 s after injection; back 0.0 s after the last rollback"
    )


def test_an_slo_that_breaks_again_after_the_rollback_is_not_back():
    series = {
        "slo_ok:claims-api": every_second(
            lambda t: 0.0 if 14 <= t < 20 or 50 <= t <= 53 else 1.0
        )
    }

    assert only_finding(verdict_of(RECOVERS, series)).endswith(
        "observed breached 4.0 s after injection; back 24.0 s after the last rollback"
    )


def test_an_slo_held_that_slo_recovered_expects_to_break_is_refused(tmp_path, estate):
    expect = {
        "slo_recovered": {"service": "claims-api", "within_s": 20},
        "slos": [{"service": "claims-api", "state": "held"}],
    }

    with pytest.raises(ConfigError) as raised:
        load_experiment(write(tmp_path, expect), estate, ALERTS)

    assert (
        "field 'expect.slos[0].state' is 'held'; expected breached_and_recovered"
        in (str(raised.value))
    )

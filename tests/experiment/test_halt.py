"""Halt conditions: parsed with precise errors, evaluated against thresholds."""

import re
import threading
from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.halt import (
    AFTER_S,
    BUDGET_SPENT,
    ERROR_RATIO,
    HaltCondition,
    Halted,
    HaltWatcher,
    budget_spent,
    error_ratio_expr,
    first_trip,
)
from harness.experiment.schema import load_experiment
from harness.report.journal import Journal

REPO = Path(__file__).resolve().parents[2]
ALERTS = {"ClaimsApiAvailabilityBurnRate": ("page", "ticket")}


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


def write(tmp_path: Path, halt) -> Path:
    data = yaml.safe_load(
        (REPO / "experiments/claims-customer-latency.yaml").read_text()
    )
    data["halt"] = halt
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_halt_conditions_load_with_their_line(tmp_path, estate):
    path = write(
        tmp_path,
        [
            {"error_ratio": {"service": "policy-api", "above": 0.2}},
            {"budget_spent": {"service": "claims-api", "above": 0.5}},
            {"after_s": 300},
        ],
    )

    halt = load_experiment(path, estate, ALERTS).halt

    assert [(c.kind, c.service, c.above) for c in halt] == [
        (ERROR_RATIO, "policy-api", 0.2),
        (BUDGET_SPENT, "claims-api", 0.5),
        (AFTER_S, "", 300.0),
    ]
    assert all(re.search(r"exp\.yaml:\d+", c.where) for c in halt)


def test_an_experiment_without_halt_has_none(tmp_path, estate):
    path = write(tmp_path, [])

    assert load_experiment(path, estate, ALERTS).halt == ()


@pytest.mark.parametrize(
    ("halt", "expected"),
    [
        (
            [{"error_ratio": {"service": "billing-api", "above": 0.2}}],
            r"field 'halt\[0\]\.error_ratio\.service' is 'billing-api'; expected "
            r"one of: claims-api, customer-api",
        ),
        (
            [{"error_ratio": {"service": "policy-api", "above": 1.5}}],
            r"field 'halt\[0\]\.error_ratio\.above' is 1\.5; expected a share above "
            r"0 and below 1",
        ),
        (
            [{"budget_spent": {"service": "claims-api", "above": 0}}],
            r"'halt\[0\]\.budget_spent\.above' is 0; expected a share",
        ),
        (
            [{"budget_spent": {"service": "fraud-detection", "above": 0.5}}],
            r"'halt\[0\]\.budget_spent\.service' is 'fraud-detection'",
        ),
        (
            [{"error_ratio": {"service": "policy-api", "abve": 0.2}}],
            r"unknown field 'halt\[0\]\.error_ratio\.abve'; accepted fields: "
            r"above, service",
        ),
        (
            [{"slo_burn": 3}],
            r"unknown field 'halt\[0\]\.slo_burn'; accepted fields: after_s, "
            r"budget_spent, error_ratio",
        ),
        (
            [{"after_s": 0}],
            r"field 'halt\[0\]\.after_s' is 0; expected a number from 1 to 3600",
        ),
        (
            [{"after_s": 10, "error_ratio": {"service": "policy-api", "above": 0.2}}],
            r"field 'halt\[0\]' is .*; expected one entry per list item",
        ),
        ([{"after_s": 10}, {"after_s": 20}], r"expected at most one after_s entry"),
        ({"after_s": 10}, r"field 'halt' is .*; expected a list of mappings"),
    ],
)
def test_bad_halt_conditions_are_refused_naming_file_line_field_and_value(
    tmp_path, estate, halt, expected
):
    with pytest.raises(ConfigError, match=r"exp\.yaml:\d+: .*" + expected):
        load_experiment(write(tmp_path, halt), estate, ALERTS)


POLICY = HaltCondition(ERROR_RATIO, 0.2, "policy-api", "exp.yaml:20")
BUDGET = HaltCondition(BUDGET_SPENT, 0.5, "claims-api", "exp.yaml:21")
CAP = HaltCondition(AFTER_S, 300, where="exp.yaml:22")


def test_nothing_trips_at_or_below_the_thresholds():
    readings = {(ERROR_RATIO, "policy-api"): 0.2, (BUDGET_SPENT, "claims-api"): 0.1}

    assert first_trip((POLICY, BUDGET, CAP), readings, elapsed_s=300) is None


def test_a_ratio_above_its_threshold_trips_naming_value_and_threshold():
    readings = {(ERROR_RATIO, "policy-api"): 0.35, (BUDGET_SPENT, "claims-api"): 0.1}

    trip = first_trip((POLICY, BUDGET, CAP), readings, elapsed_s=12)

    assert trip.condition is POLICY
    assert trip.reason == (
        "halt condition error_ratio of policy-api tripped: observed 0.35, "
        "threshold 0.2 (exp.yaml:20)"
    )


def test_the_wall_clock_cap_trips_once_passed():
    trip = first_trip((CAP,), {}, elapsed_s=300.5)

    assert trip.condition is CAP
    assert "300.5 s into the fault window, cap 300 s" in trip.reason


def test_no_data_trips_nothing():
    readings = {(ERROR_RATIO, "policy-api"): None, (BUDGET_SPENT, "claims-api"): None}

    assert first_trip((POLICY, BUDGET), readings, elapsed_s=10) is None


def test_budget_spent_is_the_burn_rate_times_the_share_of_the_period():
    # 10% errors against a 99.9% objective burns 100x; 1% of the period spends it all.
    assert budget_spent(0.1, 0.999, elapsed_s=36, period_s=3600) == pytest.approx(1.0)
    assert budget_spent(0.0, 0.999, elapsed_s=36, period_s=3600) == 0.0


def test_the_error_ratio_query_counts_5xx_of_the_service():
    expr = error_ratio_expr("policy-api", 30)

    assert expr == (
        'sum(rate(http_requests_total{service="policy-api",code=~"5.."}[30s])) '
        '/ sum(rate(http_requests_total{service="policy-api"}[30s]))'
    )


class FakePrometheus:
    def __init__(self, values: dict[str, float | None]):
        self.values = values
        self.queries: list[str] = []

    def scalar(self, expr: str) -> float | None:
        self.queries.append(expr)
        return self.values.get(expr)


def test_the_watcher_records_halted_and_the_run_thread_raises(tmp_path, estate):
    window_s = estate.observability.rate_window_s
    api = FakePrometheus({error_ratio_expr("policy-api", window_s): 0.4})
    journal = Journal(tmp_path, "run")
    watcher = HaltWatcher((POLICY,), api, journal, estate, clock=lambda: 0.0)

    watcher.poll()

    with pytest.raises(Halted, match="observed 0.4, threshold 0.2"):
        watcher.check()
    (event,) = journal.events("halted")
    assert event.fields == {
        "condition": "error_ratio",
        "service": "policy-api",
        "observed": 0.4,
        "threshold": 0.2,
        "where": "exp.yaml:20",
    }


def test_the_watcher_stays_quiet_below_the_threshold(tmp_path, estate):
    window_s = estate.observability.rate_window_s
    api = FakePrometheus({error_ratio_expr("policy-api", window_s): 0.05})
    journal = Journal(tmp_path, "run")
    watcher = HaltWatcher((POLICY,), api, journal, estate, clock=lambda: 0.0)

    watcher.poll()

    watcher.check()
    assert journal.events("halted") == []


def test_the_watcher_reads_budget_over_the_time_since_the_faults_began(
    tmp_path, estate
):
    now = [0.0]
    window_s = max(estate.observability.rate_window_s, 600)
    api = FakePrometheus({error_ratio_expr("claims-api", window_s): 1.0})
    watcher = HaltWatcher(
        (BUDGET,), api, Journal(tmp_path, "run"), estate, clock=lambda: now[0]
    )
    now[0] = 600.0

    watcher.poll()

    with pytest.raises(Halted, match="budget_spent of claims-api tripped"):
        watcher.check()
    assert api.queries == [error_ratio_expr("claims-api", window_s)]


def test_the_watcher_thread_stops_promptly(tmp_path, estate):
    watcher = HaltWatcher(
        (POLICY,), FakePrometheus({}), Journal(tmp_path, "r"), estate, lambda: 0.0
    )
    watcher.start()

    watcher.stop()

    assert not any(t.name == "halt-watcher" for t in threading.enumerate())

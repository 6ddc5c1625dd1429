"""Cause, anomaly and synthetic alerts, proved offline with promtool.

Every case runs the experiment rule set (windows divided by the compression
factor: 5 s rate windows, a 60 s baseline) under `promtool test rules`. Each
alert kind has a case where it fires and cases where it must stay silent; the
mutation tests at the end break one guard of the rendered rules and show the
matching silent case then fails.
"""

import re
from pathlib import Path

import pytest
import yaml

from harness.observe import check_rules, run_rule_tests
from harness.observe.cause_rules import (
    CIRCUIT_BREAKER_OPEN,
    DEPENDENCY_ERRORS,
    DEPENDENCY_LATENCY,
    ERROR_RATIO_ANOMALY,
    LATENCY_ANOMALY,
    RULE_GROUP,
    SATURATION,
    SYNTHETIC_JOURNEY_FAILING,
    cause_recording_rules,
    cause_rule_group,
    cause_rules,
    render_cause_rules,
)
from harness.observe.rule_model import AlertRule
from harness.slo.variant import experiment, production

TEMPLATE = re.compile(r"\{\{[^}]*\}\}")
CALLER, DEPENDENCY = "claims-api", "customer-api"
EDGE = f'service="{CALLER}",dependency="{DEPENDENCY}"'
REQUEST = 'service="claims-api",route="/claims",method="POST"'


@pytest.fixture
def variant(estate):
    return experiment(estate.observability)


def _rule(estate, variant, name: str, **labels: str) -> AlertRule:
    matches = [
        rule
        for rule in cause_rules(estate, variant)
        if rule.name == name and labels.items() <= rule.labels.items()
    ]
    assert len(matches) == 1, [rule.labels for rule in matches]
    return matches[0]


def _fires(rule: AlertRule, shown: str, **extra_labels: str) -> dict:
    """The alert promtool must see: the rule's labels, its summary filled in."""
    return {
        "exp_labels": {**rule.labels, **extra_labels},
        "exp_annotations": {
            "summary": TEMPLATE.sub(shown, rule.annotations["summary"])
        },
    }


def _rules_text(estate, variant) -> str:
    """The cause rules with only their summaries: the value each alert shows.

    The other annotations are templates over the live server (its URL, its
    recent faults), checked where they are generated, not in every case here.
    """
    rules = []
    for rule in cause_rule_group(estate, variant).rules:
        rendered = rule.as_prometheus()
        if "annotations" in rendered:
            rendered["annotations"] = {"summary": rendered["annotations"]["summary"]}
        rules.append(rendered)
    group = {"name": RULE_GROUP, "interval": "1s", "rules": rules}
    return yaml.safe_dump({"groups": [group]}, sort_keys=False, width=1_000_000)


def _check(name: str, eval_s: int, *alerts: dict) -> dict:
    return {"eval_time": f"{eval_s}s", "alertname": name, "exp_alerts": list(alerts)}


def _case(series: dict[str, str], *checks: dict) -> dict:
    return {
        "interval": "1s",
        "input_series": [
            {"series": name, "values": values} for name, values in series.items()
        ],
        "alert_rule_test": list(checks),
    }


def _promtool(binaries, tmp_path: Path, rules_text: str, cases: list[dict]) -> str:
    rules = tmp_path / "cause_rules.yml"
    rules.write_text(rules_text)
    unit = tmp_path / "cause_rules_test.yml"
    unit.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": "1s",
                "tests": cases,
            },
            sort_keys=False,
        )
    )
    return run_rule_tests(binaries, unit)


# Input series, at one sample per second


def _calls(ok: str, error: str = "0x120", **others: str) -> dict[str, str]:
    outcomes = {"ok": ok, "error": error, "timeout": "0x120", "rejected": "0x120"}
    outcomes |= {"fallback": "0x120", **others}
    return {
        f'dependency_requests_total{{{EDGE},outcome="{outcome}"}}': values
        for outcome, values in outcomes.items()
    }


def _call_durations(fast: str, count: str) -> dict[str, str]:
    return {
        f'dependency_request_duration_seconds_bucket{{{EDGE},le="0.5"}}': fast,
        f"dependency_request_duration_seconds_count{{{EDGE}}}": count,
    }


def _requests(ok: str, failed: str) -> dict[str, str]:
    return {
        f'http_requests_total{{{REQUEST},code="200"}}': ok,
        f'http_requests_total{{{REQUEST},code="500"}}': failed,
    }


def _request_durations(fast: str, slow: str) -> dict[str, str]:
    """Requests within 50 ms (fast), and all of them, within 1 s (slow)."""
    bucket = "http_request_duration_seconds_bucket"
    return {
        f'{bucket}{{{REQUEST},le="0.05"}}': fast,
        f'{bucket}{{{REQUEST},le="1.0"}}': slow,
        f'{bucket}{{{REQUEST},le="+Inf"}}': slow,
        f"http_request_duration_seconds_count{{{REQUEST}}}": slow,
        f'http_requests_total{{{REQUEST},code="200"}}': slow,
    }


def _runs(journey: str, success: str, failure: str) -> dict[str, str]:
    series = 'synthetic_journey_runs_total{{job="synthetic",journey="{}",result="{}"}}'
    return {
        series.format(journey, "success"): success,
        series.format(journey, "failure"): failure,
    }


# Cases per alert kind


def _dependency_errors_cases(estate, variant) -> dict[str, dict]:
    rule = _rule(
        estate, variant, DEPENDENCY_ERRORS, service=CALLER, dependency=DEPENDENCY
    )
    name = rule.name
    return {
        # Half the calls time out. Many more are answered by the cache fallback:
        # counted on either side, they would move the share off 50 %.
        "fires": _case(
            _calls("0+5x120", timeout="0+5x120", fallback="0+100x120"),
            _check(name, 3),
            _check(name, 30, _fires(rule, "50%")),
        ),
        # Refusals by the caller's own breaker or bulkhead count as failures.
        "rejected_fail": _case(
            _calls("0+5x120", rejected="0+5x120"),
            _check(name, 30, _fires(rule, "50%")),
        ),
        # 2 % failures stay under the 5 % threshold.
        "under_threshold": _case(_calls("0+49x120", error="0+1x120"), _check(name, 30)),
        # Every call fails, but there are two in each window, fewer than
        # min_calls.
        "low_traffic": _case(_calls("0x120", error="0+0.4x120"), _check(name, 30)),
        # The cache fallback answers everything: no call reached the dependency.
        "all_fallback": _case(_calls("0x120", fallback="0+10x120"), _check(name, 30)),
    }


def _dependency_latency_cases(estate, variant) -> dict[str, dict]:
    rule = _rule(
        estate, variant, DEPENDENCY_LATENCY, service=CALLER, dependency=DEPENDENCY
    )
    name = rule.name
    return {
        # 3 of 10 calls slower than half the edge's 1 s timeout.
        "fires": _case(
            _call_durations("0+7x120", "0+10x120"),
            _check(name, 3),
            _check(name, 30, _fires(rule, "30%")),
        ),
        # 1 in 20 slow: under the 10 % threshold.
        "under_threshold": _case(
            _call_durations("0+19x120", "0+20x120"), _check(name, 30)
        ),
        # Every call slow, but two in each window.
        "low_traffic": _case(_call_durations("0x120", "0+0.4x120"), _check(name, 30)),
    }


def _saturation_cases(estate, variant) -> dict[str, dict]:
    rule = _rule(estate, variant, SATURATION, service=CALLER)
    name = rule.name
    in_flight = f'http_requests_in_flight{{service="{CALLER}"}}'
    return {
        # 80 requests in flight, held: above the ceiling of 50.
        "fires": _case(
            {in_flight: "80x120"},
            _check(name, 3),
            _check(name, 30, _fires(rule, "80.0")),
        ),
        # A burst of 3 scrapes at 120 among tens: the average over the window
        # passes 50 for a moment, not for the whole of for_s.
        "spike": _case(
            {in_flight: "10x20 120 120 120 10x100"},
            *[_check(name, second) for second in range(20, 32, 2)],
        ),
        # An idle service.
        "idle": _case({in_flight: "0x120"}, _check(name, 30)),
    }


def _circuit_breaker_cases(estate, variant) -> dict[str, dict]:
    rule = _rule(
        estate, variant, CIRCUIT_BREAKER_OPEN, service=CALLER, dependency=DEPENDENCY
    )
    name = rule.name
    state = f'dependency_circuit_state{{{EDGE},state="open"}}'
    return {
        "fires": _case({state: "0x10 1x110"}, _check(name, 30, _fires(rule, "100%"))),
        # Open for one scrape: a share of the window far under one half.
        "one_scrape_open": _case(
            {state: "0x20 1 0x100"},
            *[_check(name, second) for second in (20, 21, 22, 24, 26)],
        ),
        "closed": _case({state: "0x120"}, _check(name, 30)),
    }


def _synthetic_cases(estate, variant) -> dict[str, dict]:
    journey = "look_up_my_policy"
    rule = _rule(estate, variant, SYNTHETIC_JOURNEY_FAILING, journey=journey)
    name = rule.name
    return {
        # Every run fails, one a second: the journey's page, as policy-api's.
        "fires": _case(
            _runs(journey, "0x120", "0+1x120"),
            _check(name, 3),
            _check(name, 30, _fires(rule, "100%")),
        ),
        # One run in three fails: under half.
        "under_threshold": _case(
            _runs(journey, "0+2x120", "0+1x120"), _check(name, 30)
        ),
        # Every run fails, but there are too few of them in the window.
        "few_runs": _case(_runs(journey, "0x120", "0+0.25x120"), _check(name, 30)),
    }


def _error_anomaly_cases(estate, variant) -> dict[str, dict]:
    rule = _rule(estate, variant, ERROR_RATIO_ANOMALY, service=CALLER)
    name = rule.name
    return {
        # No errors for 100 s, then half the requests fail. Once the change
        # fills a tenth of the baseline (1 / (1 + 3 ** 2)) it is no longer 3
        # deviations away: the alert marks the onset, and resolves while the
        # errors go on.
        "fires": _case(
            _requests("0+10x200", "0x100 10+10x100"),
            _check(name, 100),
            _check(name, 106, _fires(rule, "50%")),
            _check(name, 110, _fires(rule, "50%")),
            _check(name, 150),
        ),
        # 2 % errors all along: a flat baseline, no change.
        "flat_baseline": _case(_requests("0+98x200", "0+2x200"), _check(name, 150)),
        # From none to 3 % errors on a flat baseline (deviation 0): far more
        # than 3 deviations, but under the minimum change of 5 %.
        "small_change": _case(
            _requests("0+97x200", "0x100 3+3x100"),
            *[_check(name, second) for second in (105, 110, 120)],
        ),
        # Two requests in each window, both failing from 100 s on.
        "low_traffic": _case(
            _requests("0+0.4x100 40x100", "0x100 0+0.4x100"),
            *[_check(name, second) for second in (104, 106, 110)],
        ),
        # An idle service.
        "idle": _case(_requests("0x200", "0x200"), _check(name, 150)),
    }


def _latency_anomaly_cases(estate, variant) -> dict[str, dict]:
    rule = _rule(estate, variant, LATENCY_ANOMALY, service=CALLER)
    name = rule.name
    quantile = {"quantile": "0.95"}
    return {
        # Every request within 50 ms for 100 s, then every one near 1 s: p95
        # moves from 47.5 ms to 952.5 ms (interpolated within the buckets).
        "fires": _case(
            _request_durations("0+10x100 1000x100", "0+10x200"),
            _check(name, 100),
            _check(name, 106, _fires(rule, "952.5ms", **quantile)),
            _check(name, 110, _fires(rule, "952.5ms", **quantile)),
        ),
        # The same fast traffic all along.
        "flat_baseline": _case(
            _request_durations("0+10x200", "0+10x200"), _check(name, 150)
        ),
        # Two requests in each window, fast, then near 1 s from 100 s on.
        "low_traffic": _case(
            _request_durations("0+0.4x100 40x100", "0+0.4x200"),
            *[_check(name, second) for second in (104, 106, 110)],
        ),
        "idle": _case(_request_durations("0x200", "0x200"), _check(name, 150)),
        # Slow from 20 s on, in an estate 20 s old: a third of the baseline
        # window holds points, under the half a baseline needs.
        "young_baseline": _case(
            _request_durations("0+10x20 200x180", "0+10x200"),
            *[_check(name, second) for second in (24, 26, 28, 30, 35)],
        ),
    }


CASES = {
    DEPENDENCY_ERRORS: _dependency_errors_cases,
    DEPENDENCY_LATENCY: _dependency_latency_cases,
    SATURATION: _saturation_cases,
    CIRCUIT_BREAKER_OPEN: _circuit_breaker_cases,
    SYNTHETIC_JOURNEY_FAILING: _synthetic_cases,
    ERROR_RATIO_ANOMALY: _error_anomaly_cases,
    LATENCY_ANOMALY: _latency_anomaly_cases,
}


@pytest.mark.parametrize("alert", list(CASES))
def test_promtool_fires_and_stays_silent_as_each_case_says(
    binaries, estate, variant, tmp_path, alert
):
    cases = list(CASES[alert](estate, variant).values())

    output = _promtool(binaries, tmp_path, _rules_text(estate, variant), cases)

    assert "SUCCESS" in output


# Each mutation breaks one guard of the rendered rules; the case that guard
# protects passes before and must fail after.
MUTATIONS = {
    "min_calls": (
        DEPENDENCY_ERRORS,
        "low_traffic",
        r" and \(sum by \(service, dependency\) \(rate\(dependency_requests.*? >= 10$",
        "",
    ),
    "fallback_excluded": (
        DEPENDENCY_ERRORS,
        "fires",
        r"ok\|error\|timeout\|rejected",
        "ok|error|timeout|rejected|fallback",
    ),
    "in_flight_averaged": (
        SATURATION,
        "spike",
        r"avg_over_time\(http_requests_in_flight",
        "max_over_time(http_requests_in_flight",
    ),
    "open_share": (
        CIRCUIT_BREAKER_OPEN,
        "one_scrape_open",
        r"avg_over_time\(dependency_circuit_state",
        "max_over_time(dependency_circuit_state",
    ),
    "min_runs": (
        SYNTHETIC_JOURNEY_FAILING,
        "few_runs",
        r" and \(sum by \(journey\).*? >= 3$",
        "",
    ),
    "error_ratio_min_change": (
        ERROR_RATIO_ANOMALY,
        "small_change",
        r"\+ 0\.05\)",
        "+ 0)",
    ),
    "min_baseline_share": (
        LATENCY_ANOMALY,
        "young_baseline",
        r" and on \(service\) \(count_over_time\(.*?\)$",
        "",
    ),
    "min_requests": (
        LATENCY_ANOMALY,
        "low_traffic",
        r" and on \(service\) \(service:http_requests:rate_short.*?\)$",
        "",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_case_fails_once_the_guard_it_needs_is_removed(
    binaries, estate, variant, tmp_path, mutation
):
    alert, case, pattern, replacement = MUTATIONS[mutation]
    rules = _rules_text(estate, variant)
    broken, replaced = re.subn(pattern, replacement, rules, flags=re.M)
    cases = [CASES[alert](estate, variant)[case]]
    (tmp_path / "kept").mkdir()
    (tmp_path / "broken").mkdir()

    assert replaced > 0, f"mutation {mutation} changed nothing"
    assert "SUCCESS" in _promtool(binaries, tmp_path / "kept", rules, cases)
    with pytest.raises(ValueError, match="promtool test rules refused"):
        _promtool(binaries, tmp_path / "broken", broken, cases)


@pytest.mark.parametrize("make_variant", [production, None])
def test_promtool_accepts_both_variants(binaries, estate, tmp_path, make_variant):
    variant = make_variant() if make_variant else experiment(estate.observability)
    path = tmp_path / f"cause_rules_{variant.name}.yml"
    path.write_text(render_cause_rules(estate, variant))
    expected = len(cause_rules(estate, variant)) + len(
        cause_recording_rules(estate, variant)
    )

    assert f"SUCCESS: {expected} rules found" in check_rules(binaries, path)


def test_one_rule_per_edge_service_and_journey(estate, variant):
    rules = cause_rules(estate, variant)
    edges = sum(len(s.dependencies) for s in estate.services.values())

    def count(name: str) -> int:
        return sum(rule.name == name for rule in rules)

    assert count(DEPENDENCY_ERRORS) == count(DEPENDENCY_LATENCY) == edges == 12
    assert count(CIRCUIT_BREAKER_OPEN) == edges
    assert count(SATURATION) == count(ERROR_RATIO_ANOMALY) == len(estate.services)
    assert count(LATENCY_ANOMALY) == len(estate.services)
    assert count(SYNTHETIC_JOURNEY_FAILING) == len(estate.synthetics.journeys) == 4


def test_labels_name_the_owning_team_the_signal_and_the_severity(estate, variant):
    edge = _rule(
        estate,
        variant,
        DEPENDENCY_ERRORS,
        service="payment-api",
        dependency="payment-gateway",
    )
    journey = _rule(
        estate, variant, SYNTHETIC_JOURNEY_FAILING, journey="check_a_claim_status"
    )

    assert edge.labels == {
        "service": "payment-api",
        "severity": "ticket",
        "team": "payments-platform",
        "signal": "cause",
        "dependency": "payment-gateway",
    }
    assert journey.labels == {
        "service": "claims-api",
        "severity": "page",
        "team": "claims-platform",
        "signal": "symptom",
        "journey": "check_a_claim_status",
    }
    assert set(edge.annotations) == {
        "summary",
        "description",
        "runbook",
        "dashboard",
        "recent_changes",
    }


def test_every_duration_is_the_production_one_divided(estate, variant):
    slow = production()

    for fast_rule, slow_rule in zip(
        cause_rules(estate, variant), cause_rules(estate, slow), strict=True
    ):
        assert slow_rule.for_s == fast_rule.for_s * variant.compression_factor
    errors = _rule(estate, slow, ERROR_RATIO_ANOMALY, service=CALLER).expr
    assert "[1h] offset 5m" in errors and "* 300 >= 10" in errors
    errors = _rule(estate, variant, ERROR_RATIO_ANOMALY, service=CALLER).expr
    assert "[1m] offset 5s" in errors and "* 5 >= 10" in errors

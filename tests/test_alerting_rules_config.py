"""alerting_rules.yaml and synthetics.yaml load; bad values are refused precisely."""

import shutil
from pathlib import Path

import pytest
import yaml

from harness.alerting_rules import MIN_SCRAPES_PER_WINDOW
from harness.config import load_estate
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_copy(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def _windows_s(estate) -> dict[str, float]:
    rules = estate.alert_rules
    return {
        "dependency_errors": rules.dependency_errors.window_s,
        "dependency_latency": rules.dependency_latency.window_s,
        "saturation": rules.saturation.window_s,
        "circuit_breaker": rules.circuit_breaker.window_s,
        "synthetic_journeys": rules.synthetic_journeys.window_s,
        "anomaly.short": rules.anomaly.short_window_s,
        "anomaly.baseline": rules.anomaly.baseline_window_s,
    }


def test_every_declared_window_holds_four_scrapes_once_compressed():
    estate = load_estate(REPO / "config")
    obs = estate.observability

    compressed = {
        name: window_s / obs.compression_factor
        for name, window_s in _windows_s(estate).items()
    }

    assert min(compressed.values()) >= MIN_SCRAPES_PER_WINDOW * obs.scrape_interval_s
    assert compressed["anomaly.baseline"] == 60


def test_every_slow_call_threshold_is_a_bucket_edge(config_copy):
    edit(
        config_copy / "estate.yaml",
        lambda d: d["edges"].update(
            {"claims-api_to_fraud-detection": {"timeout_s": 0.3}}
        ),
    )

    estate = load_estate(config_copy)

    assert 0.15 in estate.latency_buckets_s()
    assert 0.15 not in load_estate(REPO / "config").latency_buckets_s()


def test_a_window_too_short_to_compress_is_refused_with_file_and_line(config_copy):
    edit(
        config_copy / "alerting_rules.yaml",
        lambda d: d["dependency_errors"].update(window_s=120),
    )

    with pytest.raises(
        ConfigError,
        match=r"alerting_rules\.yaml:\d+: field 'dependency_errors\.window_s' is 120; "
        r"expected a number of seconds from 240 to .* compression_factor \(60\)",
    ):
        load_estate(config_copy)


def test_a_baseline_not_twice_the_short_window_is_refused(config_copy):
    edit(
        config_copy / "alerting_rules.yaml",
        lambda d: d["anomaly"].update(baseline_window_s=500),
    )

    with pytest.raises(
        ConfigError, match=r"'anomaly\.baseline_window_s' is 500.0; expected at least"
    ):
        load_estate(config_copy)


def test_a_saturation_override_for_an_unknown_service_is_refused(config_copy):
    edit(
        config_copy / "alerting_rules.yaml",
        lambda d: d["saturation"].update(
            services={"billing-api": {"max_in_flight": 5}}
        ),
    )

    with pytest.raises(
        ConfigError,
        match=r"'saturation\.services\.billing-api' is 'billing-api'; "
        r"expected a declared service: customer-api",
    ):
        load_estate(config_copy)


def test_a_share_above_one_is_refused(config_copy):
    edit(
        config_copy / "alerting_rules.yaml",
        lambda d: d["dependency_latency"].update(max_slow_share=10),
    )

    with pytest.raises(
        ConfigError,
        match=r"'dependency_latency\.max_slow_share' is 10; expected a share",
    ):
        load_estate(config_copy)


def test_a_synthetic_interval_leaving_too_few_runs_per_window_is_refused(config_copy):
    edit(config_copy / "synthetics.yaml", lambda d: d.update(interval_s=120))

    with pytest.raises(
        ConfigError,
        match=r"synthetics\.yaml:\d+: field 'interval_s' is 120; expected a number of "
        r"seconds from 0\.001 to 100, .* min_runs \(3\)",
    ):
        load_estate(config_copy)


@pytest.mark.parametrize(
    "path",
    ["/claims/{claim_id}", "customers/{customer_id}", "/x/{customer_id!r}", "/x/{"],
)
def test_a_step_path_with_an_unknown_placeholder_is_refused(config_copy, path):
    def change(data: dict) -> None:
        data["journeys"]["review_my_profile"]["steps"][0]["path"] = path

    edit(config_copy / "synthetics.yaml", change)

    with pytest.raises(
        ConfigError,
        match=r"'journeys\.review_my_profile\.steps\[0\]\.path' is .*; expected a path "
        r"starting with /, whose only \{placeholders\} are \{customer_id\}",
    ):
        load_estate(config_copy)


def test_a_journey_of_an_undeclared_service_is_refused(config_copy):
    edit(
        config_copy / "synthetics.yaml",
        lambda d: d["journeys"]["review_my_profile"].update(service="crm"),
    )

    with pytest.raises(
        ConfigError,
        match=r"'journeys\.review_my_profile\.service' is 'crm'; expected one of: "
        "claims-api, customer-api",
    ):
        load_estate(config_copy)


def test_a_step_fills_in_the_seeded_customer_and_policy():
    journey = load_estate(REPO / "config").synthetics.journeys["look_up_my_policy"]

    paths = [step.path_for(42) for step in journey.steps]

    assert paths == [
        "/customers/CUST-000042",
        "/policies/POL-000042",
        "/policies/POL-000042/status",
    ]

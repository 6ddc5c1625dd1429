"""The declared estate loads, and bad declarations are refused precisely."""

import shutil
from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_every_dependency_edge_has_its_own_route():
    estate = load_estate(REPO / "config")

    for service in estate.services.values():
        for upstream in service.dependencies:
            route = estate.route_for(service.name, upstream)
            assert route.timeout_s > 0
    assert "claims-api_to_customer-api" in estate.routes
    assert "policy-api_to_customer-api" in estate.routes
    assert {f"client_to_{s}" for s in estate.services} <= set(estate.routes)


def test_the_graph_matches_the_architecture():
    estate = load_estate(REPO / "config")

    calls = {name: set(s.calls) for name, s in estate.services.items()}
    assert calls == {
        "customer-api": set(),
        "policy-api": {"customer-api", "payment-api"},
        "claims-api": {"policy-api", "customer-api", "payment-api"},
        "payment-api": {"policy-api", "claims-api", "customer-api"},
    }


def test_every_slo_threshold_is_a_bucket_edge():
    estate = load_estate(REPO / "config")

    for slo in estate.slos.values():
        assert slo.latency_threshold_s in estate.latency_buckets_s()


@pytest.fixture
def config_copy(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_a_call_to_an_undeclared_service_is_refused(config_copy):
    edit(
        config_copy / "estate.yaml",
        lambda d: d["services"]["claims-api"]["calls"].append("billing-api"),
    )

    with pytest.raises(
        ConfigError,
        match="'services.claims-api.calls.3' is "
        "'billing-api'|calls\\[3\\]' is 'billing-api'",
    ):
        load_estate(config_copy)


def test_an_objective_outside_zero_and_one_is_refused(config_copy):
    edit(
        config_copy / "slos.yaml",
        lambda d: d["slos"][4].update(target=99),
    )

    with pytest.raises(
        ConfigError, match=r"slos\[4\]\.target' is 99; expected a ratio"
    ):
        load_estate(config_copy)


def test_an_unknown_runbook_action_is_refused(config_copy):
    edit(
        config_copy / "runbooks" / "claims-customer-fallback.yaml",
        lambda d: d["actions"][0].update(action="reboot_universe"),
    )

    with pytest.raises(ConfigError, match="'reboot_universe'; expected one of"):
        load_estate(config_copy)

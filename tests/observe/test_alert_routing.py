"""The rendered alertmanager.yml: amtool accepts it and routes each label set."""

import subprocess
from pathlib import Path

import pytest
import yaml

from harness.config import Estate
from harness.errors import ConfigError
from harness.observe import check_alertmanager_config
from harness.observe.alertmanager import (
    GroupTiming,
    render_alertmanager_config,
    write_alertmanager_config,
)

WEBHOOK = "http://127.0.0.1:1/"
PAGER = "http://127.0.0.1:2"
ALL = "harness-webhook"


@pytest.fixture
def config(estate, tmp_path) -> Path:
    return write_alertmanager_config(
        tmp_path / "alertmanager.yml", estate.observability, WEBHOOK, estate, PAGER
    )


def receivers(binaries, config: Path, **labels: str) -> set[str]:
    """The receivers `amtool config routes test` resolves labels to."""
    result = subprocess.run(
        [str(binaries.amtool), "config", "routes", "test", f"--config.file={config}"]
        + [f"{name}={value}" for name, value in labels.items()],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return set(result.stdout.strip().split(","))


def labels(estate: Estate, service: str, severity: str, **extra: str) -> dict:
    team = estate.services[service].team
    return dict(service=service, severity=severity, team=team, **extra)


def test_amtool_accepts_the_config_with_pagers_and_inhibitions(
    binaries, estate, config
):
    output = check_alertmanager_config(binaries, config)

    assert "SUCCESS" in output
    teams = len(estate.alerting.teams)
    assert f"{teams + 2} receivers" in output  # webhook, pagers, ticket queue
    assert f"{2 * len(estate.service_edges) + 1} inhibit rules" in output


def test_production_timing_renders_and_amtool_accepts_it(binaries, estate, tmp_path):
    production = GroupTiming(
        group_wait_s=30, group_interval_s=300, repeat_interval_s=4 * 3600
    )
    config = write_alertmanager_config(
        tmp_path / "alertmanager.yml", production, WEBHOOK, estate, PAGER
    )

    route = yaml.safe_load(config.read_text())["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "300s",
        "14400s",
    )
    assert "SUCCESS" in check_alertmanager_config(binaries, config)


@pytest.mark.parametrize(
    ("service", "severity", "expected"),
    [
        ("claims-api", "page", {ALL, "claims-platform-pager"}),
        ("customer-api", "page", {ALL, "customer-platform-pager"}),
        ("payment-api", "page", {ALL, "payments-platform-pager"}),
        ("claims-api", "ticket", {ALL, "tickets"}),
        ("policy-api", "ticket", {ALL, "tickets"}),
    ],
)
def test_a_page_reaches_its_team_pager_and_a_ticket_no_pager(
    binaries, estate, config, service, severity, expected
):
    routed = receivers(binaries, config, **labels(estate, service, severity))

    assert routed == expected


def test_a_page_of_a_team_no_route_names_goes_to_the_estate_owner(binaries, config):
    routed = receivers(binaries, config, severity="page", team="billing")

    assert routed == {ALL, "insurance-platform-pager"}


def test_an_alert_without_severity_reaches_the_webhook_alone(binaries, config):
    assert receivers(binaries, config, alertname="X", team="claims-platform") == {ALL}


def test_without_a_pager_a_page_reaches_only_the_webhook(binaries, estate, tmp_path):
    config = write_alertmanager_config(
        tmp_path / "alertmanager.yml", estate.observability, WEBHOOK, estate
    )

    routed = receivers(binaries, config, **labels(estate, "claims-api", "page"))

    assert routed == {ALL}


def test_each_pager_uses_its_team_integration_key_and_the_stub(estate):
    doc = yaml.safe_load(
        render_alertmanager_config(estate.observability, WEBHOOK, estate, PAGER)
    )
    by_name = {receiver["name"]: receiver for receiver in doc["receivers"]}

    [claims] = by_name["claims-platform-pager"]["pagerduty_configs"]
    assert claims["routing_key"] == estate.alerting.teams["claims-platform"].key
    assert claims["url"] == f"{PAGER}/v2/enqueue"
    assert claims["severity"] == "critical"
    [customer] = by_name["customer-platform-pager"]["opsgenie_configs"]
    assert customer["api_key"] == estate.alerting.teams["customer-platform"].key
    assert customer["api_url"] == f"{PAGER}/"
    assert customer["responders"] == [{"name": "customer-platform", "type": "team"}]
    [tickets] = by_name["tickets"]["opsgenie_configs"]
    assert tickets["priority"] == "P5"
    for receiver in doc["receivers"]:
        for integration in ("pagerduty_configs", "opsgenie_configs"):
            for entry in receiver.get(integration, []):
                assert entry["send_resolved"] is True


def test_pages_group_by_service_and_the_webhook_by_alert_and_service(estate):
    doc = yaml.safe_load(
        render_alertmanager_config(estate.observability, WEBHOOK, estate, PAGER)
    )
    webhook, pages, tickets = doc["route"]["routes"]

    assert webhook == {"receiver": ALL, "continue": True}
    assert doc["route"]["group_by"] == ["alertname", "service"]
    assert pages["group_by"] == ["service"]
    assert "group_by" not in tickets  # inherits alertname, service


def test_inhibit_rules_cover_every_service_edge_and_no_external(estate):
    doc = yaml.safe_load(
        render_alertmanager_config(estate.observability, WEBHOOK, estate)
    )
    pairs = set()
    for rule in doc["inhibit_rules"][:-1]:
        assert rule["source_matchers"][0] == 'alertname="ServiceDown"'
        callee = rule["source_matchers"][1].split('"')[1]
        caller = rule["target_matchers"][0].split('"')[1]
        pairs.add((caller, callee))

    assert pairs == set(estate.service_edges)
    assert ("claims-api", "fraud-detection") not in pairs
    assert doc["inhibit_rules"][-1]["equal"] == ["alertname", "service", "slo"]


def test_a_pager_url_without_the_estate_is_refused(estate):
    with pytest.raises(ConfigError, match="pager_url is 'http://127.0.0.1:2'"):
        render_alertmanager_config(estate.observability, WEBHOOK, pager_url=PAGER)

"""The rule file: every generated group, ServiceDown, and leaving alerts out."""

import pytest
import yaml

from harness.observe import check_rules, render_rules, run_rule_tests, write_rules
from harness.observe.rules import (
    SERVICE_DOWN,
    alert_catalogue,
    alert_names,
    alert_rules,
    rule_groups,
)


def _all_alerts(document: dict) -> list[str]:
    return [
        rule["alert"]
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_every_objective_has_a_page_and_a_ticket_alert_of_one_name(estate):
    catalogue = alert_catalogue(estate)

    for objective in estate.slo_specs.objectives:
        name = "".join(p.capitalize() for p in objective.name.split("-")) + "BurnRate"
        assert catalogue[name] == ("page", "ticket")
    assert catalogue[SERVICE_DOWN] == ("page",)
    assert catalogue["SLONoData"] == ("ticket",)


def test_groups_put_recordings_before_the_alerts_that_read_them(estate):
    slos = rule_groups(estate)[0]
    kinds = ["alert" if hasattr(rule, "name") else "record" for rule in slos.rules]

    assert kinds.index("alert") > 0
    assert "record" not in kinds[kinds.index("alert") :]


def test_service_down_is_a_cause_that_pages_the_owning_team(estate):
    down = [r for r in alert_rules(estate) if r.name == SERVICE_DOWN]

    assert [r.labels["service"] for r in down] == list(estate.services)
    policy = next(r for r in down if r.labels["service"] == "policy-api")
    assert policy.labels == {
        "service": "policy-api",
        "severity": "page",
        "team": "policy-platform",
        "signal": "cause",
    }
    assert policy.for_s == 2  # 2 min in production, compressed 60 times


def test_without_drops_every_rule_of_the_named_alerts(estate):
    doc = yaml.safe_load(
        render_rules(estate, without=["ClaimsApiAvailabilityBurnRate", SERVICE_DOWN])
    )
    names = _all_alerts(doc)

    assert "ClaimsApiAvailabilityBurnRate" not in names and SERVICE_DOWN not in names
    assert "ClaimsApiLatencyBurnRate" in names


def test_without_refuses_an_alert_that_does_not_exist(estate):
    with pytest.raises(
        ValueError, match=r"\['ClaimsHighErrorRate'\].*accepted names: "
    ):
        render_rules(estate, without=["ClaimsHighErrorRate"])


def test_promtool_accepts_the_generated_rules(binaries, estate, tmp_path):
    path = write_rules(tmp_path / "rules.yml", estate)

    assert "SUCCESS" in check_rules(binaries, path)
    assert len(alert_names(estate)) >= len(estate.slo_specs.objectives) + 2


def _service_down_test(rule_file: str) -> dict:
    labels = {
        "service": "claims-api",
        "severity": "page",
        "team": "claims-platform",
        "signal": "cause",
        "job": "claims-api",
        "instance": "127.0.0.1:8001",
    }
    return {
        "rule_files": [rule_file],
        "evaluation_interval": "1s",
        "tests": [
            {
                "interval": "1s",
                "input_series": [
                    {
                        "series": 'up{job="claims-api",instance="127.0.0.1:8001"}',
                        "values": "1 1 1 0 0 0 0 0 0 0",
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": "4s", "alertname": SERVICE_DOWN, "exp_alerts": []},
                    {
                        "eval_time": "5s",
                        "alertname": SERVICE_DOWN,
                        "exp_alerts": [{"exp_labels": labels}],
                    },
                ],
            }
        ],
    }


def test_service_down_fires_after_two_failed_evaluations(binaries, estate, tmp_path):
    (tmp_path / "rules.yml").write_text(render_rules(estate, annotations=False))
    unit = tmp_path / "test.yml"
    unit.write_text(yaml.safe_dump(_service_down_test("rules.yml")))

    assert "SUCCESS" in run_rule_tests(binaries, unit)


def test_service_down_test_fails_without_the_rule(binaries, estate, tmp_path):
    (tmp_path / "rules.yml").write_text(
        render_rules(estate, without=[SERVICE_DOWN], annotations=False)
    )
    unit = tmp_path / "test.yml"
    unit.write_text(yaml.safe_dump(_service_down_test("rules.yml")))

    with pytest.raises(ValueError, match="promtool test rules refused"):
        run_rule_tests(binaries, unit)

from pathlib import Path

import pytest
import yaml

from harness.observe import (
    alert_for_s,
    alert_names,
    alert_rules,
    check_rules,
    render_rules,
    run_rule_tests,
    write_rules,
)

VALUE = "{{ $value | humanizePercentage }}"
INSTANCE = "{{ $labels.instance }}"


def _rule(estate, name, service="claims-api"):
    return next(
        r
        for r in alert_rules(estate)
        if r.name == name and r.labels["service"] == service
    )


def test_every_slo_gets_an_error_and_a_latency_alert(estate):
    assert alert_names(estate) == [
        "CustomerApiHighErrorRate",
        "CustomerApiHighLatency",
        "PolicyApiHighErrorRate",
        "PolicyApiHighLatency",
        "ClaimsApiHighErrorRate",
        "ClaimsApiHighLatency",
        "PaymentApiHighErrorRate",
        "PaymentApiHighLatency",
        "ServiceDown",
    ]


def test_labels_carry_service_severity_and_owning_team(estate):
    assert _rule(estate, "ClaimsApiHighErrorRate").labels == {
        "service": "claims-api",
        "severity": "page",
        "team": "claims-platform",
    }
    assert _rule(estate, "PaymentApiHighLatency", "payment-api").labels == {
        "service": "payment-api",
        "severity": "ticket",
        "team": "payments-platform",
    }
    assert (
        _rule(estate, "ServiceDown", "policy-api").labels["team"] == "policy-platform"
    )


def test_thresholds_come_from_the_objectives(estate):
    assert ") > 0.01 and" in _rule(estate, "ClaimsApiHighErrorRate").expr
    assert (
        ") > 0.005 and" in _rule(estate, "PaymentApiHighErrorRate", "payment-api").expr
    )
    latency = _rule(estate, "ClaimsApiHighLatency").expr
    assert 'le="0.8"' in latency and ") > 0.05 and" in latency


def test_runbook_annotation_names_the_runbook_that_answers(estate):
    claims = _rule(estate, "ClaimsApiHighErrorRate")
    policy = _rule(estate, "PolicyApiHighErrorRate", "policy-api")

    assert (
        claims.annotations["runbook"] == "config/runbooks/claims-customer-fallback.yaml"
    )
    assert policy.annotations["runbook"] == ""
    assert VALUE in claims.annotations["summary"]


def test_without_drops_the_named_alerts(estate):
    doc = yaml.safe_load(
        render_rules(estate, without=["ClaimsApiHighErrorRate", "ServiceDown"])
    )
    names = [rule["alert"] for rule in doc["groups"][0]["rules"]]

    assert "ClaimsApiHighErrorRate" not in names and "ServiceDown" not in names
    assert "ClaimsApiHighLatency" in names


def test_without_refuses_an_alert_that_does_not_exist(estate):
    with pytest.raises(
        ValueError, match=r"\['ClaimsHighErrorRate'\].*accepted names: "
    ):
        render_rules(estate, without=["ClaimsHighErrorRate"])


def test_promtool_accepts_the_generated_rules(binaries, estate, tmp_path):
    path = write_rules(tmp_path / "rules.yml", estate)

    assert "SUCCESS: 12 rules found" in check_rules(binaries, path)


def _requests(code: str, values: str) -> dict:
    series = (
        f'http_requests_total{{service="claims-api",route="/claims",'
        f'method="POST",code="{code}"}}'
    )
    return {"series": series, "values": values}


def _latency(metric: str, values: str, le: str | None = None) -> dict:
    edge = f',le="{le}"' if le else ""
    series = f'{metric}{{service="claims-api",route="/claims",method="POST"{edge}}}'
    return {"series": series, "values": values}


def _expected(rule, value: str, instance: str = "") -> dict:
    annotations = dict(rule.annotations)
    annotations["summary"] = (
        annotations["summary"].replace(VALUE, value).replace(INSTANCE, instance)
    )
    return {"exp_labels": dict(rule.labels), "exp_annotations": annotations}


def _unit_tests(estate) -> list[dict]:
    errors = _rule(estate, "ClaimsApiHighErrorRate")
    latency = _rule(estate, "ClaimsApiHighLatency")
    down = _rule(estate, "ServiceDown")
    half_failing = [_requests("200", "0+10x60"), _requests("500", "0+10x60")]
    return [
        {  # half the requests fail: pending at 1 s, firing once "for" (2 s) passed
            "interval": "1s",
            "input_series": half_failing,
            "alert_rule_test": [
                {"eval_time": "2s", "alertname": errors.name, "exp_alerts": []},
                {
                    "eval_time": "3s",
                    "alertname": errors.name,
                    "exp_alerts": [_expected(errors, "50%")],
                },
                {
                    "eval_time": "30s",
                    "alertname": errors.name,
                    "exp_alerts": [_expected(errors, "50%")],
                },
            ],
        },
        {  # no traffic at all is not an error
            "interval": "1s",
            "input_series": [_requests("200", "0+0x60"), _requests("500", "0+0x60")],
            "alert_rule_test": [
                {"eval_time": "30s", "alertname": errors.name, "exp_alerts": []},
            ],
        },
        {  # 0.5 % errors stay inside the 99 % objective
            "interval": "1s",
            "input_series": [_requests("200", "0+199x60"), _requests("500", "0+1x60")],
            "alert_rule_test": [
                {"eval_time": "30s", "alertname": errors.name, "exp_alerts": []},
            ],
        },
        {  # 2 of 10 requests slower than the 0.8 s threshold
            "interval": "1s",
            "input_series": [
                _latency("http_request_duration_seconds_bucket", "0+8x60", le="0.8"),
                _latency("http_request_duration_seconds_count", "0+10x60"),
            ],
            "alert_rule_test": [
                {
                    "eval_time": "30s",
                    "alertname": latency.name,
                    "exp_alerts": [_expected(latency, "20%")],
                },
            ],
        },
        {  # the target stops answering scrapes
            "interval": "1s",
            "input_series": [
                {
                    "series": 'up{job="claims-api",instance="127.0.0.1:8001"}',
                    "values": "1 1 1 0 0 0 0 0 0 0",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "4s", "alertname": "ServiceDown", "exp_alerts": []},
                {
                    "eval_time": "5s",
                    "alertname": "ServiceDown",
                    "exp_alerts": [
                        {
                            **_expected(down, "", "127.0.0.1:8001"),
                            "exp_labels": {
                                **down.labels,
                                "job": "claims-api",
                                "instance": "127.0.0.1:8001",
                            },
                        }
                    ],
                },
            ],
        },
    ]


def test_promtool_unit_tests_of_the_generated_rules(binaries, estate, tmp_path: Path):
    assert alert_for_s(estate.observability) == 2
    rules = write_rules(tmp_path / "rules.yml", estate)
    unit = tmp_path / "rules_test.yml"
    unit.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": "1s",
                "tests": _unit_tests(estate),
            },
            sort_keys=False,
        )
    )

    assert "SUCCESS" in run_rule_tests(binaries, unit)


def test_promtool_unit_tests_fail_when_the_rule_is_left_out(
    binaries, estate, tmp_path: Path
):
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(estate, without=["ClaimsApiHighErrorRate"]))
    unit = tmp_path / "rules_test.yml"
    unit.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": "1s",
                "tests": _unit_tests(estate)[:1],
            },
            sort_keys=False,
        )
    )

    with pytest.raises(ValueError, match="promtool test rules refused"):
        run_rule_tests(binaries, unit)

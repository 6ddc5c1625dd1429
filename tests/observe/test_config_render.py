import pytest
import yaml

from harness.config import Observability
from harness.errors import ConfigError
from harness.observe import (
    check_alertmanager_config,
    check_prometheus_config,
    render_alertmanager_config,
    render_duration,
    render_prometheus_config,
    write_alertmanager_config,
    write_prometheus_config,
    write_rules,
)


def _obs(**changes) -> Observability:
    values = dict(
        scrape_interval_s=0.5,
        evaluation_interval_s=1.5,
        rate_window_s=5,
        resend_delay_s=0.25,
        group_wait_s=0,
        group_interval_s=0.1,
        repeat_interval_s=3,
        delivery_tolerance_s=1.5,
    )
    return Observability(**{**values, **changes})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1s"),
        (1.0, "1s"),
        (0.1, "100ms"),
        (1.5, "1500ms"),
        (0, "0s"),
        (60, "60s"),
        (0.001, "1ms"),
    ],
)
def test_durations_render_as_the_tools_read_them(seconds, text):
    assert render_duration(seconds, "x") == text


@pytest.mark.parametrize("seconds", [0.0005, 1.0001, -1])
def test_durations_the_tools_cannot_read_are_refused(seconds):
    with pytest.raises(ConfigError, match=rf"field 'group_wait_s' is {seconds!r}"):
        render_duration(seconds, "group_wait_s")


def test_prometheus_config_has_fractional_intervals_and_the_jobs():
    text = render_prometheus_config(
        _obs(), {"claims-api": ["127.0.0.1:8001"]}, [], "http://127.0.0.1:9093"
    )
    doc = yaml.safe_load(text)

    assert doc["global"] == {
        "scrape_interval": "500ms",
        "scrape_timeout": "500ms",
        "evaluation_interval": "1500ms",
    }
    assert doc["scrape_configs"][0]["job_name"] == "claims-api"
    assert doc["scrape_configs"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:8001"]}
    ]
    assert doc["alerting"]["alertmanagers"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:9093"]}
    ]


def test_a_job_without_targets_is_refused():
    with pytest.raises(ConfigError, match="scrape job 'claims-api' has targets"):
        render_prometheus_config(_obs(), {"claims-api": []}, [], "http://127.0.0.1:1")


def test_promtool_accepts_the_generated_prometheus_config(binaries, estate, tmp_path):
    rules = write_rules(tmp_path / "rules.yml", estate)
    config = write_prometheus_config(
        tmp_path / "prometheus.yml",
        _obs(),
        {service: ["127.0.0.1:9"] for service in estate.services},
        [rules],
        "http://127.0.0.1:9093",
    )

    assert "SUCCESS" in check_prometheus_config(binaries, config)


def test_alertmanager_config_groups_by_alert_and_service():
    doc = yaml.safe_load(render_alertmanager_config(_obs(), "http://127.0.0.1:1/"))

    assert doc["route"]["group_by"] == ["alertname", "service"]
    assert doc["route"]["group_wait"] == "0s"
    assert doc["route"]["group_interval"] == "100ms"
    assert doc["route"]["repeat_interval"] == "3s"
    assert doc["receivers"][0]["webhook_configs"] == [
        {"url": "http://127.0.0.1:1/", "send_resolved": True}
    ]


def test_amtool_accepts_the_generated_alertmanager_config(binaries, estate, tmp_path):
    config = write_alertmanager_config(
        tmp_path / "alertmanager.yml", estate.observability, "http://127.0.0.1:1/"
    )

    assert "SUCCESS" in check_alertmanager_config(binaries, config)


def test_amtool_refusal_becomes_a_config_error(binaries, tmp_path):
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  group_interval: 0s\n")

    with pytest.raises(ConfigError, match="amtool check-config refused"):
        check_alertmanager_config(binaries, config)

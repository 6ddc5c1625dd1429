"""The whole alert path, for real: target -> Prometheus -> Alertmanager -> webhook."""

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.observe import (
    AlertEvent,
    AlertmanagerProcess,
    Deadline,
    PrometheusAPI,
    PrometheusProcess,
    WebhookSink,
    detection_deadline,
    resolve_deadline,
)
from harness.observe.rules import alert_rules
from harness.slo.timing import burn_timing
from harness.slo.variant import experiment
from harness.stack.ports import free_ports

pytestmark = pytest.mark.live

ERROR_ALERT = "ClaimsApiAvailabilityBurnRate"
RUNBOOK = "config/runbooks/claims-customer-fallback.yaml"
# Waiting past the deadline lets a late alert still be measured and printed.
OVERRUN_S = 10.0


@dataclass
class LiveStack:
    sink: WebhookSink
    api: PrometheusAPI
    prometheus: PrometheusProcess
    alertmanager: AlertmanagerProcess


@pytest.fixture
def live(estate, binaries, claims_target, tmp_path) -> Iterator[LiveStack]:
    prometheus_port, alertmanager_port = free_ports(2)
    with WebhookSink() as sink:
        alertmanager = AlertmanagerProcess(
            tmp_path / "alertmanager",
            alertmanager_port,
            sink.url,
            estate.observability,
            binaries=binaries,
        )
        prometheus = PrometheusProcess(
            tmp_path / "prometheus",
            prometheus_port,
            estate,
            {"claims-api": [claims_target.address]},
            alertmanager.url,
            binaries=binaries,
        )
        with alertmanager, prometheus, prometheus.api() as api:
            waited_s = api.wait_targets_up(["claims-api"], timeout_s=20)
            print(f"\nfirst scrape of claims-api {waited_s:.2f} s after ready")
            yield LiveStack(sink, api, prometheus, alertmanager)
    # Leaving the with-blocks stopped both servers by PID; check they are gone.
    assert not prometheus.process.running()
    assert not alertmanager.process.running()


def _wait_for_traffic(api: PrometheusAPI, timeout_s: float) -> None:
    expr = 'sum(rate(http_requests_total{service="claims-api"}[5s]))'
    deadline = time.monotonic() + timeout_s
    while (api.scalar(expr) or 0) <= 0:
        assert time.monotonic() < deadline, "Prometheus never saw claims-api traffic"
        time.sleep(0.1)


def _measure(
    live: LiveStack, what: str, match, since: float, deadline: Deadline
) -> tuple[AlertEvent, float]:
    """Wait for the first matching event after since; print it beside deadline."""
    event = live.sink.wait_for(
        lambda e: e.received.monotonic >= since and match(e),
        deadline.total_s + OVERRUN_S,
    )
    measured_s = event.received.monotonic - since
    print(f"\n{what} after {measured_s:.2f} s; deadline {deadline.describe()}")
    return event, measured_s


def _is(alertname: str, status: str, severity: str = "page"):
    return lambda event: (
        event.alertname == alertname
        and event.status == status
        and event.labels.get("severity") == severity
    )


def _for_s(estate, name: str) -> float:
    return next(r.for_s for r in alert_rules(estate) if r.name == name)


def test_error_alert_fires_and_resolves_in_time(
    live, estate, claims_target, record_property
):
    obs = estate.observability
    objective = next(
        o for o in estate.slo_specs.objectives if o.name == "claims-api-availability"
    )
    burn = burn_timing(
        estate.slo_specs.policy, experiment(obs), objective, "page", error_ratio=1.0
    )
    fire_by = detection_deadline(
        obs, _for_s(estate, ERROR_ALERT), fault_effect_s=0, window_fill_s=burn.fill_s
    )
    resolve_by = resolve_deadline(obs, window_s=burn.clear_s)
    _wait_for_traffic(live.api, timeout_s=10)
    # Only claims-api is scraped here, so the other services' SLONoData may
    # be pending; nothing about claims-api may be.
    assert [
        a for a in live.api.alerts() if a["labels"].get("service") == "claims-api"
    ] == []

    started = time.monotonic()
    claims_target.set_failing(True)
    fired, detect_s = _measure(
        live, f"{ERROR_ALERT} fired", _is(ERROR_ALERT, "firing"), started, fire_by
    )
    record_property("time_to_detect_s", round(detect_s, 3))

    assert detect_s <= fire_by.total_s
    assert fired.labels["team"] == "claims-platform"
    assert fired.labels["severity"] == "page"
    assert fired.ends_at is None and not fired.repeat
    assert fired.annotations["runbook"] == RUNBOOK
    assert any(
        a["labels"]["alertname"] == ERROR_ALERT and a["state"] == "firing"
        for a in live.api.alerts()
    )

    stopped = time.monotonic()
    claims_target.set_failing(False)
    resolved, resolve_s = _measure(
        live,
        f"{ERROR_ALERT} resolved",
        _is(ERROR_ALERT, "resolved"),
        stopped,
        resolve_by,
    )
    record_property("time_to_resolve_s", round(resolve_s, 3))

    assert resolve_s <= resolve_by.total_s
    assert resolved.fingerprint == fired.fingerprint
    assert resolved.ends_at is not None


def test_service_down_fires_when_the_target_stops(
    live, estate, claims_target, record_property
):
    obs = estate.observability
    fire_by = detection_deadline(obs, _for_s(estate, "ServiceDown"), fault_effect_s=0)

    started = time.monotonic()
    claims_target.stop_serving()
    down, detect_s = _measure(
        live, "ServiceDown fired", _is("ServiceDown", "firing"), started, fire_by
    )
    record_property("time_to_detect_s", round(detect_s, 3))

    assert detect_s <= fire_by.total_s
    assert down.labels["service"] == "claims-api"
    assert down.labels["team"] == "claims-platform"
    assert down.labels["job"] == "claims-api"

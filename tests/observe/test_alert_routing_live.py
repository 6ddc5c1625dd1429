"""A real Alertmanager with the rendered config: inhibition, and pages to the stub.

Alerts are posted straight to Alertmanager's API (as Prometheus would send
them), so each test takes a second or two instead of waiting for rules to fire.
"""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from harness.config import Estate
from harness.observe import AlertmanagerProcess, WebhookSink
from harness.observe import alertmanager as alertmanager_module
from harness.observe.pager import Incident, PagerStub
from harness.stack.ports import free_ports

pytestmark = pytest.mark.live

TIMEOUT_S = 10.0


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


@pytest.fixture
def pager() -> Iterator[PagerStub]:
    with PagerStub() as running:
        yield running


@pytest.fixture
def alertmanager(
    estate, binaries, sink, tmp_path
) -> Iterator[Callable[..., AlertmanagerProcess]]:
    """Starts Alertmanagers on 127.0.0.1; each is stopped by PID afterwards."""
    started: list[AlertmanagerProcess] = []

    def start(
        with_estate: Estate | None = estate, pager_url: str | None = None
    ) -> AlertmanagerProcess:
        process = AlertmanagerProcess(
            Path(tmp_path) / f"alertmanager-{len(started)}",
            free_ports(1)[0],
            sink.url,
            estate.observability,
            binaries=binaries,
            estate=with_estate,
            pager_url=pager_url,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
        assert not process.process.running()


def alert(estate: Estate, name: str, service: str, severity: str, **extra) -> dict:
    """One alert as Prometheus posts it, with the estate's label conventions."""
    labels = {
        "alertname": name,
        "service": service,
        "severity": severity,
        "team": estate.services[service].team,
        **extra,
    }
    return {"labels": labels, "annotations": {"summary": f"{name} on {service}"}}


def service_down(estate: Estate, service: str) -> dict:
    return alert(estate, "ServiceDown", service, "page", signal="cause")


def burn(estate: Estate, service: str, severity: str = "page", slo="availability"):
    prefix = "".join(part.capitalize() for part in service.split("-"))
    return alert(
        estate,
        f"{prefix}AvailabilityBurnRate",
        service,
        severity,
        signal="symptom",
        slo=f"{service}-{slo}",
    )


def dependency_errors(estate: Estate, service: str, dependency: str) -> dict:
    return alert(
        estate,
        "DependencyErrors",
        service,
        "ticket",
        signal="cause",
        dependency=dependency,
    )


def post(alertmanager: AlertmanagerProcess, *alerts: dict) -> None:
    answer = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=list(alerts))
    answer.raise_for_status()


def resolve(alertmanager: AlertmanagerProcess, *alerts: dict) -> None:
    now = datetime.now(UTC).isoformat()
    post(alertmanager, *({**a, "endsAt": now} for a in alerts))


def settled(alertmanager: AlertmanagerProcess, count: int) -> list[dict]:
    """Alertmanager's alerts once all count are listed and none is unprocessed."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        listed = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
        states = [a["status"]["state"] for a in listed]
        if len(listed) == count and "unprocessed" not in states:
            return listed
        assert time.monotonic() < deadline, f"alerts never settled: {listed}"
        time.sleep(0.1)


def status_of(listed: list[dict], **labels: str) -> dict:
    """The status (and fingerprint) of the one alert carrying all these labels."""
    [found] = [
        a for a in listed if all(a["labels"].get(k) == v for k, v in labels.items())
    ]
    return {**found["status"], "fingerprint": found["fingerprint"]}


# Inhibition


def _outage_of_customer_api(estate: Estate) -> list[dict]:
    return [
        service_down(estate, "customer-api"),
        burn(estate, "claims-api"),
        dependency_errors(estate, "claims-api", "customer-api"),
        service_down(estate, "claims-api"),
        dependency_errors(estate, "payment-api", "payment-gateway"),
        service_down(estate, "payment-api"),
    ]


def test_a_down_service_inhibits_its_callers_symptoms_and_alerts_about_it(
    estate, alertmanager
):
    running = alertmanager()
    post(running, *_outage_of_customer_api(estate))

    listed = settled(running, 6)

    cause = status_of(listed, alertname="ServiceDown", service="customer-api")
    assert cause["state"] == "active"
    for held_back in [
        dict(alertname="ClaimsApiAvailabilityBurnRate", service="claims-api"),
        dict(alertname="DependencyErrors", dependency="customer-api"),
    ]:
        status = status_of(listed, **held_back)
        assert status["state"] == "suppressed", held_back
        assert status["inhibitedBy"] == [cause["fingerprint"]]
    for untouched in [
        dict(alertname="ServiceDown", service="claims-api"),
        dict(alertname="DependencyErrors", dependency="payment-gateway"),
        dict(alertname="ServiceDown", service="payment-api"),
    ]:
        status = status_of(listed, **untouched)
        assert status["state"] == "active", untouched
        assert status["inhibitedBy"] == []


def test_without_the_inhibit_rules_the_same_alerts_are_all_active(estate, alertmanager):
    running = alertmanager(with_estate=None)
    post(running, *_outage_of_customer_api(estate))

    listed = settled(running, 6)

    assert {a["status"]["state"] for a in listed} == {"active"}


def test_inhibition_follows_the_direction_of_each_call(estate, alertmanager):
    # payment-api calls claims-api; policy-api does not.
    running = alertmanager()
    post(
        running,
        service_down(estate, "claims-api"),
        burn(estate, "payment-api"),
        burn(estate, "policy-api"),
    )

    listed = settled(running, 3)

    assert status_of(listed, service="payment-api")["state"] == "suppressed"
    assert status_of(listed, service="policy-api")["state"] == "active"


def test_a_page_inhibits_the_ticket_of_its_own_alert_and_slo_only(estate, alertmanager):
    running = alertmanager()
    post(
        running,
        burn(estate, "claims-api", "page"),
        burn(estate, "claims-api", "ticket"),
        burn(estate, "claims-api", "ticket", slo="latency"),
    )

    listed = settled(running, 3)
    by_slo = {
        (a["labels"]["slo"], a["labels"]["severity"]): a["status"]["state"]
        for a in listed
    }

    assert by_slo == {
        ("claims-api-availability", "page"): "active",
        ("claims-api-availability", "ticket"): "suppressed",
        ("claims-api-latency", "ticket"): "active",
    }


# Pages end to end: Alertmanager -> pager stub


def _one_outage_pages_once(
    estate: Estate, alertmanager, pager: PagerStub, service: str
) -> Incident:
    running = alertmanager(pager_url=pager.url)
    down, symptom = service_down(estate, service), burn(estate, service)

    post(running, down)
    pager.wait_for(lambda i: True, TIMEOUT_S)
    post(running, symptom)
    # The second alert joins the group: the incident hears of two firing.
    updated = pager.wait_for(
        lambda i: any("FIRING:2" in e.summary for e in i.events), TIMEOUT_S
    )

    assert pager.page_count() == 1
    resolve(running, down, symptom)
    closed = pager.wait_for(lambda i: not i.open, TIMEOUT_S)
    assert closed.id == updated.id
    assert pager.page_count() == 1
    return closed


def test_one_outage_on_pagerduty_is_one_incident_and_its_resolve_closes_it(
    estate, alertmanager, pager
):
    incident = _one_outage_pages_once(estate, alertmanager, pager, "claims-api")

    assert incident.integration == "pagerduty"
    assert incident.credential == estate.alerting.teams["claims-platform"].key
    assert incident.severity == "critical"
    actions = [e.action for e in incident.events]
    assert actions[0] == "trigger" and actions[-1] == "resolve"
    assert {e.key for e in incident.events} == {incident.key}


def test_one_outage_on_opsgenie_is_one_incident_and_its_close_ends_it(
    estate, alertmanager, pager
):
    incident = _one_outage_pages_once(estate, alertmanager, pager, "customer-api")

    assert incident.integration == "opsgenie"
    assert incident.credential == estate.alerting.teams["customer-platform"].key
    assert incident.severity == "P1"
    actions = [e.action for e in incident.events]
    assert actions[0] == "create" and actions[-1] == "close"
    assert "update_message" in actions
    assert "FIRING:2" in incident.summary


def test_grouping_pages_by_alert_name_too_would_page_twice(
    estate, alertmanager, pager, monkeypatch
):
    # The counterpart of the tests above: it is the grouping that makes one.
    monkeypatch.setattr(alertmanager_module, "PAGE_GROUP_BY", ["alertname", "service"])
    running = alertmanager(pager_url=pager.url)

    post(running, service_down(estate, "claims-api"), burn(estate, "claims-api"))
    pager.wait_for(lambda i: "AvailabilityBurnRate" in i.summary, TIMEOUT_S)
    pager.wait_for(lambda i: "ServiceDown" in i.summary, TIMEOUT_S)

    assert pager.page_count() == 2


def test_two_services_down_are_two_incidents_for_two_teams(estate, alertmanager, pager):
    running = alertmanager(pager_url=pager.url)
    post(
        running, service_down(estate, "policy-api"), service_down(estate, "payment-api")
    )

    pager.wait_for(lambda i: i.integration == "opsgenie", TIMEOUT_S)
    pager.wait_for(lambda i: i.integration == "pagerduty", TIMEOUT_S)

    teams = estate.alerting.teams
    assert pager.page_count(teams["policy-platform"].key) == 1
    assert pager.page_count(teams["payments-platform"].key) == 1


def test_a_ticket_reaches_the_ticket_queue_and_pages_nobody(
    estate, alertmanager, pager, sink
):
    running = alertmanager(pager_url=pager.url)
    post(running, dependency_errors(estate, "claims-api", "policy-api"))

    ticket = pager.wait_for(lambda i: True, TIMEOUT_S)
    sink.wait_for(lambda e: e.alertname == "DependencyErrors", TIMEOUT_S)
    time.sleep(0.5)  # room for a page, had the ticket been routed to one

    assert ticket.credential == estate.alerting.tickets.key
    assert ticket.severity == "P5"
    assert pager.page_count() == 1
    for team in estate.alerting.teams.values():
        assert pager.page_count(team.key) == 0


def test_the_webhook_still_hears_every_page(estate, alertmanager, pager, sink):
    running = alertmanager(pager_url=pager.url)
    post(running, service_down(estate, "claims-api"), burn(estate, "claims-api"))

    sink.wait_for(lambda e: e.alertname == "ServiceDown", TIMEOUT_S)
    sink.wait_for(lambda e: e.alertname == "ClaimsApiAvailabilityBurnRate", TIMEOUT_S)

    assert {n.receiver for n in sink.notifications()} == {"harness-webhook"}

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from harness.observe import WebhookPayloadError, WebhookSink, parse_notification
from harness.observe.webhook import Received

STARTS = "2024-05-01T12:00:00.123456789Z"
ZERO = "0001-01-01T00:00:00Z"


def _alert(status="firing", fingerprint="a1", ends=ZERO, service="claims-api"):
    return {
        "status": status,
        "labels": {"alertname": "ClaimsApiAvailabilityBurnRate", "service": service},
        "annotations": {"summary": "claims-api: 50% of requests answered 5xx"},
        "startsAt": STARTS,
        "endsAt": ends,
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint,
    }


def _payload(*alerts, status="firing"):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ClaimsApiAvailabilityBurnRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "harness-webhook",
        "groupLabels": {"alertname": "ClaimsApiAvailabilityBurnRate"},
        "commonLabels": {"alertname": "ClaimsApiAvailabilityBurnRate"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def sink():
    events = []
    sink = WebhookSink(on_alert=events.append).start()
    sink.seen_by_callback = events
    yield sink
    sink.stop()


def test_zero_ends_at_means_still_firing():
    notification = parse_notification(_payload(_alert()), Received.now())
    event = notification.alerts[0]

    assert event.firing and event.ends_at is None
    assert event.starts_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert event.alertname == "ClaimsApiAvailabilityBurnRate"
    assert event.labels["service"] == "claims-api"


def test_each_alert_keeps_its_own_status_inside_a_firing_group():
    resolved = _alert("resolved", "b2", ends="2024-05-01T12:00:09Z", service="x")
    notification = parse_notification(_payload(_alert(), resolved), Received.now())

    assert notification.status == "firing"
    assert [a.status for a in notification.alerts] == ["firing", "resolved"]
    assert notification.alerts[1].ends_at == datetime(2024, 5, 1, 12, 0, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"version": "3"}, "version"),
        ({"alerts": None}, "alerts"),
        ({"alerts": [{**_alert(), "status": "pending"}]}, "status"),
        ({"alerts": [{**_alert(), "startsAt": "yesterday"}]}, "startsAt"),
        ({"alerts": [{**_alert(), "labels": {}}]}, "labels.alertname"),
    ],
)
def test_payloads_that_are_not_version_4_are_refused(broken, field):
    with pytest.raises(WebhookPayloadError, match=f"field '{field}'"):
        parse_notification({**_payload(_alert()), **broken}, Received.now())


def test_posts_are_recorded_with_repeats_marked(sink):
    for _ in range(2):
        answer = httpx.post(sink.url, json=_payload(_alert()), timeout=5)
        assert answer.status_code == 200
    httpx.post(sink.url, json=_payload(_alert("resolved", ends=STARTS)), timeout=5)

    events = sink.events()
    assert [(e.status, e.repeat) for e in events] == [
        ("firing", False),
        ("firing", True),
        ("resolved", False),
    ]
    assert sink.seen_by_callback == events
    assert len(sink.notifications()) == 3
    assert events[0].received.monotonic < events[1].received.monotonic


def test_bad_json_answers_400_and_is_logged(sink, caplog):
    with caplog.at_level(logging.WARNING, logger="harness.observe.webhook"):
        answer = httpx.post(sink.url, content=b"{not json", timeout=5)

    assert answer.status_code == 400
    assert "webhook payload refused" in caplog.text
    assert sink.events() == []


def test_a_payload_of_the_wrong_shape_answers_400(sink):
    answer = httpx.post(sink.url, content=json.dumps({"version": "4"}), timeout=5)

    assert answer.status_code == 400
    assert "field 'groupKey'" in answer.text


def test_a_failing_callback_is_logged_and_the_answer_is_still_200(caplog):
    def explode(event):
        raise RuntimeError("remediation controller is broken")

    with WebhookSink(on_alert=explode) as sink, caplog.at_level(logging.ERROR):
        first = httpx.post(sink.url, json=_payload(_alert()), timeout=5)
        second = httpx.post(sink.url, json=_payload(_alert("resolved")), timeout=5)

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(sink.events()) == 2
    assert "on_alert callback failed" in caplog.text
    assert "RuntimeError: remediation controller is broken" in caplog.text


def test_wait_for_returns_an_event_already_received_or_times_out(sink):
    httpx.post(sink.url, json=_payload(_alert()), timeout=5)

    assert sink.wait_for(lambda e: e.firing, timeout_s=1).fingerprint == "a1"
    with pytest.raises(TimeoutError, match="ClaimsApiAvailabilityBurnRate"):
        sink.wait_for(lambda e: e.status == "resolved", timeout_s=0.2)


def test_the_sink_binds_loopback_only(sink):
    assert sink.url.startswith("http://127.0.0.1:")

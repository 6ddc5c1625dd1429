"""The pager stub answers as PagerDuty and Opsgenie do, one incident per key."""

import json
from collections.abc import Iterator

import httpx
import pytest

from harness.observe.pager import MAX_BODY_BYTES, PagerEvent, PagerStub, journal_entry

ROUTING_KEY = "claimsplatformplaceholderkey0003"
API_KEY = "00000000-0000-4000-8000-00000000c057"
GENIE = {"Authorization": f"GenieKey {API_KEY}"}


@pytest.fixture
def stub() -> Iterator[PagerStub]:
    with PagerStub() as running:
        yield running


def trigger(**changes) -> dict:
    event = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "claims-api-outage",
        "payload": {
            "summary": "[FIRING:1] claims-api",
            "source": "claims-api",
            "severity": "critical",
            "custom_details": {"num_firing": "1"},
        },
        "client": "Alertmanager",
        "client_url": "http://127.0.0.1:9093",
        "links": [{"href": "http://127.0.0.1:9093", "text": "Alertmanager"}],
    }
    return {**event, **changes}


def enqueue(stub: PagerStub, event) -> httpx.Response:
    return httpx.post(f"{stub.url}/v2/enqueue", json=event, timeout=5)


def create(**changes) -> dict:
    return {
        "alias": "customer-api-outage",
        "message": "[FIRING:1] customer-api",
        "description": "ServiceDown",
        "details": {"service": "customer-api"},
        "source": "http://127.0.0.1:9093",
        "priority": "P1",
        "responders": [{"name": "customer-platform", "type": "team"}],
        "tags": ["customer-platform", "page"],
        "entity": "customer-api",
        **changes,
    }


def opsgenie(stub: PagerStub, path: str, body, headers=GENIE, method="POST"):
    return httpx.request(
        method, f"{stub.url}{path}", json=body, headers=headers, timeout=5
    )


# PagerDuty Events API v2


def test_a_trigger_is_accepted_as_pagerduty_answers_and_opens_an_incident(stub):
    answer = enqueue(stub, trigger())

    assert answer.status_code == 202
    assert answer.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "claims-api-outage",
    }
    [incident] = stub.incidents()
    assert (incident.integration, incident.key) == ("pagerduty", "claims-api-outage")
    assert incident.credential == ROUTING_KEY
    assert incident.summary == "[FIRING:1] claims-api"
    assert incident.severity == "critical"
    assert incident.details == {"num_firing": "1"}
    assert incident.open and incident.opened.monotonic > 0


def test_triggers_with_one_dedup_key_are_one_incident_until_it_resolves(stub):
    enqueue(stub, trigger())
    enqueue(stub, trigger())
    resolved = enqueue(stub, {**trigger(event_action="resolve"), "payload": None})
    enqueue(stub, trigger())

    assert resolved.status_code == 202
    first, second = stub.incidents()
    assert [e.action for e in first.events] == ["trigger", "trigger", "resolve"]
    assert first.closed is not None and not first.open
    assert second.open and second.key == first.key
    assert stub.page_count() == 2
    assert stub.page_count(credential=ROUTING_KEY) == 2
    assert stub.page_count(credential="other") == 0


def test_a_dedup_key_is_matched_within_its_routing_key_only(stub):
    enqueue(stub, trigger())
    other = "policyplatformplaceholderkey0002"
    enqueue(stub, trigger(routing_key=other, event_action="resolve"))

    [incident] = stub.incidents()
    assert incident.open
    assert stub.events()[-1].incident_id is None


def test_acknowledge_marks_the_incident_and_keeps_it_open(stub):
    enqueue(stub, trigger())
    enqueue(stub, {k: v for k, v in trigger(event_action="acknowledge").items()})

    [incident] = stub.incidents()
    assert incident.acknowledged and incident.open


def test_a_trigger_without_dedup_key_gets_one_generated_and_returned(stub):
    event = trigger()
    del event["dedup_key"]

    answer = enqueue(stub, event)

    assert answer.status_code == 202
    key = answer.json()["dedup_key"]
    assert len(key) == 32
    assert stub.incidents()[0].key == key


def test_a_resolve_for_no_open_incident_is_accepted_and_dropped(stub):
    answer = enqueue(stub, trigger(event_action="resolve"))

    assert answer.status_code == 202
    assert stub.incidents() == []
    assert stub.events()[0].incident_id is None


def _without(field: str) -> dict:
    event = trigger()
    del event[field]
    return event


def _payload_without(field: str) -> dict:
    event = trigger()
    del event["payload"][field]
    return event


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (_without("routing_key"), "field 'routing_key' is missing"),
        (trigger(routing_key="short"), "field 'routing_key' is 'short'"),
        (trigger(routing_key="x" * 31 + "-"), "32 letters and digits"),
        (_without("event_action"), "field 'event_action' is missing"),
        (trigger(event_action="page"), "expected one of: trigger, acknowledge"),
        (_without("payload"), "field 'payload' is missing"),
        (_payload_without("summary"), "field 'payload.summary' is missing"),
        (_payload_without("source"), "field 'payload.source' is missing"),
        (_payload_without("severity"), "field 'payload.severity' is missing"),
        (
            trigger(payload={**trigger()["payload"], "severity": "high"}),
            "field 'payload.severity' is 'high'; expected one of: critical, error",
        ),
        (
            trigger(payload={**trigger()["payload"], "summary": "x" * 1025}),
            "at most 1024 characters",
        ),
        (
            trigger(payload={**trigger()["payload"], "timestamp": "yesterday"}),
            "field 'payload.timestamp' is 'yesterday'",
        ),
        (trigger(dedup_key="k" * 256), "at most 255 characters"),
        (
            {**_without("dedup_key"), "event_action": "resolve"},
            "field 'dedup_key' is missing",
        ),
        (trigger(links=[{"text": "no href"}]), "field 'links[0].href' is missing"),
        (trigger(images=[{"alt": "x"}]), "field 'images[0].src' is missing"),
        (trigger(severity="critical"), "field 'severity' is not part of the API"),
        ([trigger()], "field '(event)' is [{"),
    ],
)
def test_an_invalid_event_is_400_naming_the_field(stub, event, named):
    answer = enqueue(stub, event)

    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(named in error for error in body["errors"]), body["errors"]
    assert stub.incidents() == [] and stub.events() == []


def test_every_bad_field_is_listed_at_once(stub):
    answer = enqueue(stub, {"event_action": "trigger", "payload": {}})

    errors = answer.json()["errors"]
    assert len(errors) == 4
    for name in ("routing_key", "summary", "source", "severity"):
        assert any(name in error for error in errors)


def test_bad_json_is_400_saying_so(stub):
    answer = httpx.post(f"{stub.url}/v2/enqueue", content=b"{not json", timeout=5)

    assert answer.status_code == 400
    assert "body is not JSON" in answer.json()["errors"][0]


def test_a_body_over_the_limit_is_413_and_not_read(stub):
    answer = httpx.post(
        f"{stub.url}/v2/enqueue", content=b" " * (MAX_BODY_BYTES + 1), timeout=5
    )

    assert answer.status_code == 413
    assert str(MAX_BODY_BYTES) in answer.json()["errors"][0]


def test_unknown_paths_and_methods_are_4xx_naming_them(stub):
    missing = httpx.post(f"{stub.url}/v1/enqueue", json={}, timeout=5)
    wrong = httpx.get(f"{stub.url}/v2/enqueue", timeout=5)
    verb = opsgenie(stub, "/v2/alerts/a/acknowledge", {})
    put = opsgenie(stub, "/v2/alerts/a/close", {}, method="PUT")

    assert missing.status_code == 404
    assert "POST /v1/enqueue" in missing.json()["message"]
    assert verb.status_code == 404
    assert put.status_code == 405
    assert wrong.status_code == 405
    assert "use POST" in wrong.json()["message"]


# Opsgenie Alert API


def test_a_create_is_accepted_as_opsgenie_answers_and_opens_an_incident(stub):
    answer = opsgenie(stub, "/v2/alerts", create())

    assert answer.status_code == 202
    body = answer.json()
    assert body["result"] == "Request will be processed"
    assert isinstance(body["took"], float) and body["requestId"]
    [incident] = stub.incidents()
    assert (incident.integration, incident.key) == ("opsgenie", "customer-api-outage")
    assert incident.credential == API_KEY
    assert incident.severity == "P1"
    assert incident.description == "ServiceDown"
    assert incident.details == {"service": "customer-api"}


def test_creates_with_one_alias_are_one_incident_and_close_by_alias_ends_it(stub):
    opsgenie(stub, "/v2/alerts", create())
    opsgenie(stub, "/v2/alerts", create(message="[FIRING:2] customer-api"))
    closed = opsgenie(
        stub,
        "/v2/alerts/customer-api-outage/close?identifierType=alias",
        {"source": "http://127.0.0.1:9093"},
    )

    assert closed.status_code == 202
    [incident] = stub.incidents()
    assert [e.action for e in incident.events] == ["create", "create", "close"]
    assert not incident.open
    assert stub.page_count() == 1


def test_close_finds_an_alert_by_id_and_by_tiny_id_too(stub):
    opsgenie(stub, "/v2/alerts", create())
    opsgenie(stub, "/v2/alerts", create(alias="second"))
    first, second = stub.incidents()

    opsgenie(stub, f"/v2/alerts/{first.id}/close", None)
    opsgenie(stub, f"/v2/alerts/{second.tiny_id}/close?identifierType=tiny", {})

    assert [i.open for i in stub.incidents()] == [False, False]


def test_updates_change_the_message_and_description(stub):
    opsgenie(stub, "/v2/alerts", create())
    path = "/v2/alerts/customer-api-outage/{}?identifierType=alias"

    message = opsgenie(stub, path.format("message"), {"message": "new"}, method="PUT")
    text = opsgenie(
        stub, path.format("description"), {"description": "more"}, method="PUT"
    )

    assert (message.status_code, text.status_code) == (202, 202)
    [incident] = stub.incidents()
    assert (incident.summary, incident.description) == ("new", "more")
    assert [e.action for e in incident.events][1:] == [
        "update_message",
        "update_description",
    ]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": f"Bearer {API_KEY}"}, {"Authorization": "GenieKey"}],
)
def test_a_request_without_a_genie_key_is_401(stub, headers):
    answer = opsgenie(stub, "/v2/alerts", create(), headers=headers)

    assert answer.status_code == 401
    assert "GenieKey <api key>" in answer.json()["message"]
    assert stub.events() == []


@pytest.mark.parametrize(
    ("body", "field", "named"),
    [
        (create(message=""), "message", "field 'message' is ''"),
        ({"alias": "x"}, "message", "field 'message' is missing"),
        (create(message="m" * 131), "message", "at most 130 characters"),
        (create(alias="a" * 513), "alias", "at most 512 characters"),
        (create(priority="P0"), "priority", "expected one of: P1, P2, P3, P4, P5"),
        (create(priority=1), "priority", "field 'priority' is 1"),
        (create(tags=["t"] * 21), "tags", "at most 20 texts"),
        (create(details={"n": 1}), "details", "a JSON object of text values"),
        (
            create(responders=[{"name": "x", "type": "group"}]),
            "responders[0].type",
            "expected one of: team, user, escalation, schedule",
        ),
        (
            create(responders=[{"type": "team"}]),
            "responders[0]",
            "an id, name or username",
        ),
        (create(urgency="high"), "urgency", "not part of the API"),
    ],
)
def test_an_invalid_create_is_422_naming_the_field(stub, body, field, named):
    answer = opsgenie(stub, "/v2/alerts", body)

    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert named in errors[field], errors
    assert stub.incidents() == []


def test_an_update_without_its_value_is_422(stub):
    answer = opsgenie(
        stub, "/v2/alerts/a/message?identifierType=alias", {}, method="PUT"
    )

    assert answer.status_code == 422
    assert "field 'message' is missing" in answer.json()["errors"]["message"]


def test_an_unknown_identifier_type_is_422_listing_the_accepted(stub):
    answer = opsgenie(stub, "/v2/alerts/a/close?identifierType=name", {})

    assert answer.status_code == 422
    assert (
        "expected one of: id, alias, tiny" in answer.json()["errors"]["identifierType"]
    )


def test_opsgenie_bad_json_is_400(stub):
    answer = httpx.post(
        f"{stub.url}/v2/alerts", content=b"[1,", headers=GENIE, timeout=5
    )

    assert answer.status_code == 400
    assert "body is not JSON" in answer.json()["message"]


# Recording


def test_the_callback_sees_each_event_and_a_failing_one_is_not_answered():
    seen: list[PagerEvent] = []

    def on_event(event: PagerEvent) -> None:
        seen.append(event)
        raise RuntimeError("subscriber broke")

    with PagerStub(on_event=on_event) as stub:
        answer = enqueue(stub, trigger())

    assert answer.status_code == 202
    [event] = seen
    assert (event.action, event.key, event.severity) == (
        "trigger",
        "claims-api-outage",
        "critical",
    )
    assert event.body == json.loads(json.dumps(trigger()))


def test_wait_for_returns_a_later_incident_and_times_out_naming_what_it_saw(stub):
    enqueue(stub, trigger())

    found = stub.wait_for(lambda i: i.key == "claims-api-outage", timeout_s=1)
    with pytest.raises(TimeoutError, match="claims-api-outage"):
        stub.wait_for(lambda i: not i.open, timeout_s=0.2)

    assert found.integration == "pagerduty"


def test_journal_entries_tell_pages_from_tickets(stub):
    enqueue(stub, trigger())
    [event] = stub.events()

    assert journal_entry(event, ticket_key="another")[0] == "page_received"
    kind, fields = journal_entry(event, ticket_key=ROUTING_KEY)
    assert kind == "ticket_received"
    assert fields == {
        "integration": "pagerduty",
        "key": "claims-api-outage",
        "action": "trigger",
        "summary": "[FIRING:1] claims-api",
        "severity": "critical",
    }

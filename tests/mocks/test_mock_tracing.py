"""Trace context: accepted, generated when absent, and passed on every call."""

import httpx
import pytest

from mocks.core.tracing import TraceContext

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def test_an_incoming_traceparent_is_continued_with_a_new_span():
    trace = TraceContext.from_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-01")

    assert (trace.trace_id, trace.parent_id, trace.flags) == (TRACE_ID, PARENT_ID, "01")
    assert trace.span_id != PARENT_ID
    assert trace.traceparent() == f"00-{TRACE_ID}-{trace.span_id}-01"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
    ],
)
def test_an_unusable_traceparent_starts_a_new_trace(header):
    trace = TraceContext.from_traceparent(header)

    assert trace.trace_id != TRACE_ID
    assert len(trace.trace_id) == 32 and trace.parent_id is None


def test_a_future_version_is_read_by_its_first_four_fields():
    trace = TraceContext.from_traceparent(f"01-{TRACE_ID}-{PARENT_ID}-00-more")

    assert (trace.trace_id, trace.parent_id, trace.flags) == (TRACE_ID, PARENT_ID, "00")


def test_the_trace_reaches_every_service_on_the_path(estate):
    claim = {
        "policy_id": "POL-000020",
        "customer_id": "CUST-000020",
        "amount_cents": 5_000,
        "description": "Laptop dropped on a train",
        "incident_date": "2026-01-02",
    }
    answer = httpx.post(
        f"{estate['claims-api'].url}/claims",
        json=claim,
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "X-Caller": "test"},
    )

    lines = {
        process.name: line
        for process in estate.values()
        for line in process.log_lines()
        if line["trace_id"] == TRACE_ID
    }

    assert answer.headers["x-trace-id"] == TRACE_ID
    assert set(lines) == {"claims-api", "policy-api", "customer-api", "fraud-detection"}
    intake = lines["claims-api"]
    assert (intake["parent_span_id"], intake["caller"]) == (PARENT_ID, "test")
    assert (intake["route"], intake["status"]) == ("/claims", 201)
    assert intake["duration_ms"] > 0
    for name in ("policy-api", "customer-api", "fraud-detection"):
        assert lines[name]["parent_span_id"] == intake["span_id"]
        assert lines[name]["caller"] == "claims-api"


def test_a_request_without_traceparent_gets_a_fresh_trace(estate):
    answer = httpx.get(f"{estate['policy-api'].url}/policies/POL-000021")

    trace_id = answer.headers["x-trace-id"]
    logged = [
        line
        for line in estate["policy-api"].log_lines()
        if line["trace_id"] == trace_id
    ]
    assert len(trace_id) == 32
    assert [line["route"] for line in logged] == ["/policies/{policy_id}"]
    assert set(logged[0]) >= {"time", "service", "route", "status", "duration_ms"}

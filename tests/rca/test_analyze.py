"""The root-cause walk on fabricated evidence: one test per symptom."""

import itertools

import pytest

from harness.rca.analyze import analyse
from harness.rca.evidence import EdgeStats, Evidence, ServiceStats, Span, Window
from harness.rca.scoring import injected_faults, is_correct

GRAPH = {
    "customer-api": ("identity-verification", "crm"),
    "policy-api": ("customer-api", "payment-api"),
    "claims-api": ("policy-api", "customer-api", "payment-api", "fraud-detection"),
    "payment-api": ("policy-api", "claims-api", "customer-api", "payment-gateway"),
}
OBJECTIVES = {
    "customer-api": (0.99, 0.3, 0.95),
    "policy-api": (0.99, 0.5, 0.95),
    "claims-api": (0.99, 0.8, 0.95),
    "payment-api": (0.995, 0.5, 0.95),
}
HEALTHY = ServiceStats(requests=100)
QUIET_EDGE = EdgeStats(ok=50, duration_sum_s=0.2, duration_count=50)


def evidence(window=None, edges=None, spans=(), spans_baseline=()) -> Evidence:
    """The estate healthy everywhere, except what the test says."""
    routes = [f"{s}_to_{d}" for s, deps in GRAPH.items() for d in deps]
    return Evidence(
        graph=GRAPH,
        objectives=OBJECTIVES,
        window={**{s: HEALTHY for s in GRAPH}, **(window or {})},
        baseline={s: HEALTHY for s in GRAPH},
        edges={**{r: QUIET_EDGE for r in routes}, **(edges or {})},
        edges_baseline={r: QUIET_EDGE for r in routes},
        spans=list(spans),
        spans_baseline=list(spans_baseline),
    )


def fault(kind, route="", service="", **attributes):
    fields = {"fault": "f", "kind": kind, "route": route, "service": service}
    return injected_faults([{"kind": "fault_injected", "fields": attributes | fields}])


_ids = itertools.count()


def span(service, route, start, end, status=200, parent=None):
    return Span(
        service,
        route,
        status,
        end,
        end - start,
        "t" * 32,
        f"{next(_ids):016x}",
        parent.span_id if parent else None,
    )


def claims_trace(customer_gap_s: float, status: int = 200) -> list[Span]:
    """A claim: policy, then customer (answer delayed by the gap), then fraud."""
    claim = span("claims-api", "/claims", 0.0, 0.03 + customer_gap_s, status)
    return [
        claim,
        span("policy-api", "/policies/{id}", 0.001, 0.005, parent=claim),
        span("customer-api", "/customers/{id}", 0.006, 0.01, parent=claim),
        span(
            "fraud-detection",
            "/score",
            0.011 + customer_gap_s,
            0.02 + customer_gap_s,
            parent=claim,
        ),
    ]


def test_edge_latency_names_the_callee_via_the_route_with_the_trace_share():
    slow_edge = EdgeStats(ok=40, timeouts=10, duration_sum_s=60, duration_count=50)
    found = analyse(
        evidence(
            window={"claims-api": ServiceStats(requests=80, slow=40, errors=4)},
            edges={"claims-api_to_customer-api": slow_edge},
            spans=[s for _ in range(9) for s in claims_trace(1.5)] + claims_trace(0.0),
            spans_baseline=[s for _ in range(5) for s in claims_trace(0.0)],
        )
    )

    guess = found["guess"]
    assert (guess["component"], guess["via"], guess["symptom"]) == (
        "customer-api",
        "claims-api_to_customer-api",
        "latency",
    )
    assert guess["confidence"] == 1.0
    assert "100% of claims-api's slow or failed spans (9 of 9)" in guess["summary"]
    assert any("mean attempt 1.200 s" in line for line in found["evidence"])
    truth = fault("latency", route="claims-api_to_customer-api", latency_ms=1500)
    assert is_correct(guess, truth) is True


def test_a_refused_route_is_the_callee_down_via_that_route():
    refused = EdgeStats(ok=30, errors=30, duration_sum_s=0.1, duration_count=60)
    found = analyse(
        evidence(
            window={"claims-api": ServiceStats(requests=60, errors=30)},
            edges={"claims-api_to_policy-api": refused},
        )
    )

    guess = found["guess"]
    assert (guess["component"], guess["via"], guess["symptom"]) == (
        "policy-api",
        "claims-api_to_policy-api",
        "down",
    )
    assert is_correct(guess, fault("outage", route="claims-api_to_policy-api"))


def test_a_bad_deploy_is_the_service_itself_behind_its_callers():
    answered_503 = EdgeStats(ok=10, errors=40, duration_count=50, duration_sum_s=0.2)
    found = analyse(
        evidence(
            window={
                "policy-api": ServiceStats(requests=100, errors=80),
                "claims-api": ServiceStats(requests=50, errors=40),
            },
            edges={"claims-api_to_policy-api": answered_503},
        )
    )

    guess = found["guess"]
    assert (guess["component"], guess["via"], guess["symptom"]) == (
        "policy-api",
        None,
        "errors",
    )
    assert guess["confidence"] == 1.0
    assert any("none of its dependency edges" in s for s in found["evidence"])
    assert is_correct(guess, fault("bad_deploy", service="policy-api"))


def test_a_crashed_service_is_named_down_from_its_callers_failures():
    refused = EdgeStats(ok=5, errors=45, duration_count=50, duration_sum_s=0.1)
    found = analyse(
        evidence(
            window={
                "customer-api": ServiceStats(requests=3, down=True),
                "claims-api": ServiceStats(requests=50, errors=45),
                "policy-api": ServiceStats(requests=50, errors=30),
            },
            edges={
                "claims-api_to_customer-api": refused,
                "policy-api_to_customer-api": refused,
            },
        )
    )

    guess = found["guess"]
    assert (guess["component"], guess["via"], guess["symptom"]) == (
        "customer-api",
        None,
        "down",
    )
    assert any("scrape failed" in s for s in found["evidence"])
    assert is_correct(guess, fault("kill", service="customer-api"))


def test_an_external_outage_absorbed_by_a_fallback_is_still_named():
    refused = EdgeStats(ok=0, errors=40, duration_count=40, duration_sum_s=0.1)
    found = analyse(evidence(edges={"claims-api_to_fraud-detection": refused}))

    guess = found["guess"]
    assert (guess["component"], guess["via"]) == (
        "fraud-detection",
        "claims-api_to_fraud-detection",
    )
    assert found["evidence"][0].startswith("no SLO burned")
    assert is_correct(guess, fault("outage", route="claims-api_to_fraud-detection"))


def test_an_external_outage_that_burns_its_caller_ends_at_the_external():
    refused = EdgeStats(ok=0, errors=40, duration_count=40, duration_sum_s=0.1)
    found = analyse(
        evidence(
            window={"customer-api": ServiceStats(requests=80, errors=40)},
            edges={"customer-api_to_identity-verification": refused},
        )
    )

    assert found["guess"]["component"] == "identity-verification"
    assert found["guess"]["via"] == "customer-api_to_identity-verification"


def test_nothing_broken_is_a_null_guess_scored_right_for_a_control_run():
    found = analyse(evidence())

    guess = found["guess"]
    assert guess["component"] is None and found["candidates"] == []
    assert guess["confidence"] == 1.0
    assert "no service answered a request with a 5xx" in found["evidence"][1]
    control = fault("latency", route="claims-api_to_payment-api", latency_ms=1)
    assert is_correct(guess, control) is True
    assert is_correct(guess, fault("kill", service="claims-api")) is False


def test_a_few_errors_below_the_floor_do_not_burn():
    found = analyse(
        evidence(window={"claims-api": ServiceStats(requests=50, errors=2)})
    )

    assert found["guess"]["component"] is None
    assert found["guess"]["confidence"] == 0.0
    assert "closest to burning was claims-api, at 400%" in found["evidence"][1]


def test_two_troubled_edges_share_the_vote_by_their_trace_share():
    slow = EdgeStats(ok=50, duration_sum_s=50, duration_count=50)
    found = analyse(
        evidence(
            window={"claims-api": ServiceStats(requests=80, slow=40)},
            edges={
                "claims-api_to_customer-api": slow,
                "claims-api_to_payment-api": slow,
            },
            spans=[s for _ in range(10) for s in claims_trace(1.5)],
            spans_baseline=[s for _ in range(5) for s in claims_trace(0.0)],
        )
    )

    scores = {c["component"]: c["score"] for c in found["candidates"]}
    # Every slow claim waits next to its customer-api child; none calls payment-api.
    assert scores["customer-api"] > 0.8 > scores["payment-api"]
    assert found["guess"]["confidence"] == scores["customer-api"]


@pytest.mark.parametrize(
    ("guess", "faults", "correct"),
    [
        (
            {"component": "policy-api", "via": "claims-api_to_policy-api"},
            fault("latency", route="claims-api_to_customer-api", latency_ms=900),
            False,
        ),
        (
            {"component": "customer-api", "via": "policy-api_to_customer-api"},
            fault("latency", route="claims-api_to_customer-api", latency_ms=900),
            False,
        ),
        (
            {"component": "customer-api", "via": None},
            fault("outage", route="claims-api_to_customer-api"),
            False,
        ),
        (
            {"component": None, "via": None},
            fault("outage", route="claims-api_to_customer-api"),
            False,
        ),
        (
            {"component": "claims-api", "via": None},
            fault("latency", route="claims-api_to_payment-api", latency_ms=1),
            False,
        ),
        ({"component": None, "via": None}, [], None),
    ],
)
def test_a_wrong_guess_is_scored_wrong(guess, faults, correct):
    assert is_correct(guess, faults) is correct


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="window to_s=5.0 must be after from_s=10.0"):
        Window(10.0, 5.0, 0.0)


def test_the_walk_follows_a_burning_callee_to_the_deepest_troubled_edge():
    failing = EdgeStats(ok=20, errors=30, duration_count=50, duration_sum_s=0.2)
    slow = EdgeStats(ok=50, duration_sum_s=45, duration_count=50)
    found = analyse(
        evidence(
            window={
                "claims-api": ServiceStats(requests=50, errors=30),
                "policy-api": ServiceStats(requests=100, errors=40, slow=50),
            },
            edges={
                "claims-api_to_policy-api": failing,
                "policy-api_to_customer-api": slow,
            },
        )
    )

    guess = found["guess"]
    assert (guess["component"], guess["via"]) == (
        "customer-api",
        "policy-api_to_customer-api",
    )
    assert found["evidence"][1].startswith("claims-api_to_policy-api: 30 of 50")
    assert found["evidence"][-1].startswith("policy-api_to_customer-api")

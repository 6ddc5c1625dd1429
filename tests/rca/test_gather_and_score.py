"""Evidence from Prometheus answers and request logs; windows; scoring."""

import json

import pytest

from harness.rca import fault_windows
from harness.rca.evidence import Window
from harness.rca.gather import edge_stats, read_spans, service_stats
from harness.rca.scoring import (
    injected_faults,
    rca_accuracy,
    scored,
    truth_component,
)


class FakePrometheus:
    """Answers each query by the metric it names; remembers the queries."""

    def __init__(self, answers: dict[str, list]):
        self.answers = answers
        self.queries: list[str] = []

    def query(self, expr: str) -> list:
        self.queries.append(expr)
        for needle, samples in self.answers.items():
            if needle in expr:
                return samples
        return []


WINDOW = Window(20.0, 40.0, 1_000_000.0)


def test_service_stats_read_errors_slow_requests_and_down_from_prometheus():
    api = FakePrometheus(
        {
            'code=~"5.."': [({"service": "claims-api"}, 8.0)],
            "http_requests_total": [({"service": "claims-api"}, 80.0)],
            "_bucket": [
                ({"service": "claims-api", "le": "0.5"}, 50.0),
                ({"service": "claims-api", "le": "0.8"}, 60.0),
                ({"service": "claims-api", "le": "+Inf"}, 80.0),
            ],
            "min_over_time(up": [({"job": "claims-api"}, 0.0)],
        }
    )

    stats = service_stats(api, WINDOW, {"claims-api": (0.99, 0.8, 0.95)})

    claims = stats["claims-api"]
    assert (claims.requests, claims.errors, claims.slow, claims.down) == (
        80.0,
        8.0,
        20.0,
        True,
    )
    assert all("[20000ms] @ 1000040.000" in q for q in api.queries)


def test_edge_stats_group_outcomes_and_durations_by_route():
    edge = {"service": "claims-api", "dependency": "customer-api"}
    api = FakePrometheus(
        {
            "dependency_requests_total": [
                ({**edge, "outcome": "ok"}, 10.0),
                ({**edge, "outcome": "timeout"}, 5.0),
                ({**edge, "outcome": "fallback"}, 7.0),
            ],
            "_sum": [(edge, 6.0)],
            "_count": [(edge, 15.0)],
        }
    )

    stats = edge_stats(api, WINDOW)["claims-api_to_customer-api"]

    assert (stats.ok, stats.timeouts, stats.calls) == (10.0, 5.0, 15.0)
    assert stats.mean_s == pytest.approx(0.4)


def test_read_spans_keeps_the_window_and_skips_a_line_cut_short(tmp_path):
    def line(time: str, span_id: str) -> str:
        return json.dumps(
            {
                "time": time,
                "service": "claims-api",
                "method": "POST",
                "route": "/claims",
                "status": 503,
                "duration_ms": 1500.0,
                "trace_id": "a" * 32,
                "span_id": span_id,
                "parent_span_id": None,
            }
        )

    window = Window(0.0, 10.0, 1_780_000_000.0)  # 2026-05-28T20:26:40Z
    (tmp_path / "claims-api.log").write_text(
        "\n".join(
            [
                line("2026-05-28T20:26:45.000Z", "1" * 16),
                line("2026-05-28T20:27:45.000Z", "2" * 16),  # after the window
                '{"time":"2026-05-28T20:26:46.000Z","service":"claims',
            ]
        )
        + "\n"
    )

    spans = read_spans(tmp_path, window)

    assert [s.span_id for s in spans] == ["1" * 16]
    assert spans[0].duration_s == 1.5 and spans[0].status == 503


def test_fault_windows_run_from_the_first_fault_to_the_last_rollback():
    times = {
        "load_started": [5.0],
        "fault_injected": [20.0, 25.0],
        "fault_rolled_back": [40.0, 45.0],
    }

    window, baseline = fault_windows(times, now_s=60.0, lag_s=2.0, unix_offset_s=1.0)

    assert (window.from_s, window.to_s) == (20.0, 47.0)
    assert (baseline.from_s, baseline.to_s) == (7.0, 19.0)
    assert fault_windows({"load_started": [5.0]}, 60.0, 2.0, 0.0) is None


def test_ground_truth_per_fault_family():
    assert (
        truth_component({"kind": "outage", "route": "claims-api_to_fraud-detection"})
        == "fraud-detection"
    )
    assert truth_component({"kind": "crash", "service": "policy-api"}) == "policy-api"
    assert (
        truth_component({"kind": "latency", "route": "a_to_b", "latency_ms": 1}) is None
    )
    assert (
        truth_component(
            {"kind": "latency", "route": "a_to_b", "latency_ms": 3, "jitter_ms": 3}
        )
        == "b"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"kind": "outage", "route": "claims-api"},
            "route 'claims-api' is not of the form",
        ),
        (
            {"kind": "kill", "fault": "x"},
            "fault 'x' names neither a route nor a service",
        ),
    ],
)
def test_a_fault_without_a_usable_target_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        truth_component(fields)


def test_scored_adds_the_injected_faults_and_the_verdict():
    analysis = {"guess": {"component": "policy-api", "via": None}}
    events = [
        {
            "kind": "fault_injected",
            "fields": {
                "fault": "bad",
                "kind": "bad_deploy",
                "route": "",
                "service": "policy-api",
            },
        },
        {"kind": "fault_rolled_back", "fields": {"fault": "bad"}},
    ]

    result = scored(analysis, events)

    assert result["injected"] == [
        {
            "fault": "bad",
            "kind": "bad_deploy",
            "route": None,
            "service": "policy-api",
            "component": "policy-api",
        }
    ]
    assert result["correct"] is True
    assert injected_faults(events[1:]) == []


def test_rca_accuracy_counts_scored_runs_only():
    journals = [
        {"rca": {"correct": True}},
        {"rca": {"correct": False}},
        {"rca": {"correct": None}},
        {"rca": None},
        {},
    ]

    assert rca_accuracy(journals) == (1, 2)

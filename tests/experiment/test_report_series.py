"""The report's series: Prometheus range queries and the load's per-second counts."""

import itertools
import json
from dataclasses import replace

import httpx
import pytest

from harness.errors import StackError
from harness.experiment.config_record import git_commit, run_config
from harness.experiment.series import (
    capture_prometheus_series,
    grid_points,
    load_points,
    report_queries,
)
from harness.load.results import JourneyCounts
from harness.observe.prometheus import PrometheusAPI
from harness.report.journal import Journal


def test_report_queries_estimate_percentiles_from_the_service_histogram():
    queries = report_queries("claims-api", 5)

    assert queries["latency_p95_s"] == (
        "histogram_quantile(0.95, sum by (le) (rate("
        'http_request_duration_seconds_bucket{service="claims-api"}[5s])))'
    )
    assert set(queries) == {
        "latency_p50_s",
        "latency_p95_s",
        "latency_p99_s",
        "throughput_per_s",
    }
    assert queries["throughput_per_s"] == (
        'sum(rate(http_requests_total{service="claims-api"}[5s]))'
    )


def test_grid_points_fill_missing_steps_and_nan_with_none():
    result = [({}, [(1000.0, 0.5), (1002.0, float("nan")), (1003.0, 2.0)])]

    points = grid_points(result, start_unix=1000.0, end_s=4.2, step_s=1.0)

    assert points == [(0.0, 0.5), (1.0, None), (2.0, None), (3.0, 2.0), (4.0, None)]
    assert grid_points([], 1000.0, 1.0, 1.0) == [(0.0, None), (1.0, None)]
    with pytest.raises(StackError, match="2 series"):
        grid_points([({}, []), ({}, [])], 1000.0, 1.0, 1.0)


def test_capture_asks_prometheus_over_the_run_and_stops_at_a_failure(
    tmp_path,
):
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        asked.append(request.url.params)
        if "0.99" in query:
            return httpx.Response(400, json={"status": "error", "error": "bad"})
        start = float(request.url.params["start"])
        values = [[start, "0.25"], [start + 1, "NaN"]]
        return httpx.Response(
            200,
            json={
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [{"metric": {}, "values": values}],
                },
            },
        )

    clock = itertools.chain([100.0], itertools.repeat(103.0))
    journal = Journal(tmp_path, "run", clock=lambda: next(clock))
    api = PrometheusAPI("http://prometheus", transport=httpx.MockTransport(answer))

    capture_prometheus_series(api, journal, ["claims-api", "policy-api"], 5, 1)

    assert asked and all(p["step"] == "1" for p in asked)
    assert float(asked[0]["end"]) - float(asked[0]["start"]) == pytest.approx(3.0)
    assert sorted(journal.series) == [
        "claims-api:latency_p50_s",
        "claims-api:latency_p95_s",
    ]
    assert len(asked) == 3, "nothing is asked after the failed query"
    assert journal.series["claims-api:latency_p50_s"] == [
        (0.0, 0.25),
        (1.0, None),
        (2.0, None),
        (3.0, None),
    ]
    journal.close()


def _journeys(**changes) -> JourneyCounts:
    counts = JourneyCounts(
        model="open",
        journeys={"file_claim": 1.0},
        arrival_process="poisson",
        offered_rate_per_s=10.0,
        users=None,
        think_time_s=0.0,
        max_in_flight=50,
        arrivals_due=30,
        started=27,
        dropped=0,
        completed=27,
        failed=0,
        elapsed_s=3.0,
        in_flight_peak=3,
        schedule_lag_max_ms=1.0,
        stopped_cleanly=True,
        started_per_second=((1000, 9), (1002, 10)),
        by_journey={},
    )
    return replace(counts, **changes)


def test_load_points_per_second_on_the_journal_clock():
    series = load_points(_journeys(), start_unix=990.0)

    assert series["load:achieved_per_s"] == [(10.5, 9.0), (11.5, 0.0), (12.5, 10.0)]
    assert series["load:offered_per_s"] == [(10.5, 10.0), (11.5, 10.0), (12.5, 10.0)]


def test_a_closed_model_has_no_offered_series_and_no_counts_no_series():
    closed = load_points(_journeys(offered_rate_per_s=None, model="closed"), 990.0)

    assert list(closed) == ["load:achieved_per_s"]
    assert load_points(_journeys(started_per_second=()), 990.0) == {}


def test_run_config_holds_every_config_file_and_the_options(tmp_path):
    (tmp_path / "config" / "runbooks").mkdir(parents=True)
    (tmp_path / "config" / "estate.yaml").write_text("services: {}\n")
    (tmp_path / "config" / "runbooks" / "a.yaml").write_text("name: a\n")
    experiment = tmp_path / "x.yaml"
    experiment.write_text("name: x\n")

    config = run_config(
        experiment, tmp_path / "config", {"without_alerts": ["A"]}, repo=tmp_path
    )

    assert config["experiment_yaml"] == "name: x\n"
    assert config["files"] == {
        "config/estate.yaml": "services: {}\n",
        "config/runbooks/a.yaml": "name: a\n",
    }
    assert config["options"] == {"without_alerts": ["A"]}
    assert config["git_commit"] is None, "tmp_path is no git checkout"
    assert config["harness_version"]
    json.dumps(config)


def test_git_commit_of_this_checkout_is_a_sha():
    from harness.experiment.config_record import REPO_ROOT

    commit = git_commit(REPO_ROOT)

    assert commit is not None and len(commit) == 40

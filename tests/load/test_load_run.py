"""Real Locust runs against fake services on 127.0.0.1, each bounded in time.

Each run offers at most a few hundred journeys and lasts at most 10 s.
"""

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from harness.errors import ConfigError, HarnessError
from harness.load.arrivals import count_due, seeded_offsets
from harness.load.results import LoadResult
from harness.load.runner import LoadRun, LoadRunState
from harness.load.settings import ACCEPTED_RECORDS_SUFFIX, LoadSettings
from harness.stack.ports import LOOPBACK, free_port

from .fake_services import FakeService

CUSTOMERS = "GET /customers/{id}"
POLICIES = "GET /policies/{id}"
CLAIMS = "POST /claims"
DROPPED = "journey dropped: max_in_flight"

MakeSettings = Callable[..., LoadSettings]
MakeRun = Callable[[LoadSettings, int], LoadRun]


def run_to_end(make_run: MakeRun, settings: LoadSettings, run_time_s: int):
    return make_run(settings, run_time_s).start().wait()


def assert_rate_held(result: LoadResult, relative_tolerance: float) -> None:
    journeys = result.journeys
    offered = journeys.offered_rate_per_s
    achieved = journeys.achieved_arrival_rate_per_s
    assert achieved == pytest.approx(offered, rel=relative_tolerance), journeys
    # Every arrival the schedule held was started or dropped, none skipped;
    # tolerance one: the one falling due in the instant the run stops.
    assert 0 <= journeys.arrivals_due - journeys.arrivals <= 1, journeys


def test_poisson_arrivals_hold_the_offered_rate(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    settings = settings_for(arrival_rate_per_s=30.0, random_seed=11)

    result = run_to_end(load_run, settings, 10)

    journeys = result.journeys
    # A Poisson count has standard deviation sqrt(expected); allow four.
    expected = journeys.offered_count
    assert_rate_held(result, relative_tolerance=4 / math.sqrt(expected))
    # And the starts follow the seeded schedule to within the arrival at the edge.
    schedule = seeded_offsets("poisson", 30.0, settings.random_seed)
    assert abs(journeys.started - count_due(schedule, journeys.elapsed_s)) <= 1
    assert journeys.dropped == 0
    # Tolerance: arrivals may start late on a busy machine, but never by half
    # a second, which would blur the one-second counts the experiments read.
    assert journeys.schedule_lag_max_ms < 500
    assert result.aggregated.failure_count == 0
    assert [s.rejected_claims for s in services.values()] == [[], [], []]
    assert result.requests[CLAIMS].request_count == journeys.completed


def test_counts_match_what_the_services_served(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    result = run_to_end(load_run, settings_for(arrival_rate_per_s=20.0), 3)

    for name, service in [
        (CUSTOMERS, services["customer-api"]),
        (POLICIES, services["policy-api"]),
        (CLAIMS, services["claims-api"]),
    ]:
        served = service.served[name]
        # Journeys cut off by the stop were served but never reported.
        recorded = result.requests[name].request_count
        assert served - result.journeys.interrupted <= recorded <= served
    assert result.stats_are_final
    assert {row.name for row in result.history} >= {CUSTOMERS, POLICIES, CLAIMS}


def test_slow_answers_do_not_slow_arrivals(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    for service in services.values():
        service.delay_s = 0.3
    settings = settings_for(arrival_rate_per_s=20.0, arrival_process="uniform")

    result = run_to_end(load_run, settings, 6)

    # A closed model would start about 20 / (3 x 0.3 s) fewer journeys here.
    assert_rate_held(result, relative_tolerance=0.05)
    assert result.journeys.in_flight_peak >= 15
    assert result.aggregated.failure_count == 0
    assert result.requests[CUSTOMERS].median_ms >= 300
    # Every request waited out the delay; none failed, so both histograms agree.
    latency = result.as_dict()["latency_ms"]
    assert latency["success"]["p50"] >= 300
    assert latency["all"] == latency["success"]
    assert result.latencies.all.count == result.aggregated.request_count


def test_answers_past_the_timeout_are_failures(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    services["policy-api"].delay_s = 1.5
    settings = settings_for(
        arrival_rate_per_s=10.0, arrival_process="uniform", request_timeout_s=0.5
    )

    result = run_to_end(load_run, settings, 3)

    policies = result.requests[POLICIES]
    assert policies.request_count > 0
    assert policies.failure_count == policies.request_count
    [failure] = [f for f in result.failures if f.name == POLICIES]
    assert "no answer within request_timeout_s = 0.5 s" in failure.error
    assert failure.occurrences == policies.failure_count
    assert result.latencies.timeouts == policies.failure_count
    assert result.latencies.connection_errors == 0
    # A journey stops at its first failed step.
    assert services["claims-api"].served[CLAIMS] == 0
    assert_rate_held(result, relative_tolerance=0.1)


def test_refused_connections_are_failures(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    targets = {name: service.url for name, service in services.items()}
    targets["customer-api"] = f"http://{LOOPBACK}:{free_port()}"
    settings = settings_for(targets=targets, arrival_rate_per_s=10.0)

    result = run_to_end(load_run, settings, 2)

    customers = result.requests[CUSTOMERS]
    assert customers.request_count > 0
    assert customers.failure_count == customers.request_count
    assert "ConnectionRefusedError" in result.failures[0].error
    assert result.journeys.failed == customers.failure_count
    assert result.latencies.connection_errors == customers.failure_count
    assert services["policy-api"].served[POLICIES] == 0


def test_arrivals_beyond_max_in_flight_are_counted_failures(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    for service in services.values():
        service.delay_s = 0.5
    settings = settings_for(
        arrival_rate_per_s=10.0, arrival_process="uniform", max_in_flight=2
    )

    result = run_to_end(load_run, settings, 3)

    journeys = result.journeys
    dropped = result.requests[DROPPED]
    assert journeys.dropped > 0
    assert journeys.in_flight_peak == 2
    assert dropped.failure_count == dropped.request_count == journeys.dropped
    assert any("2 journeys already in flight" in f.error for f in result.failures)
    # Most arrivals were dropped; had they counted as 0 ms answers, the median
    # of the aggregate would be 0 instead of the half second every answer took.
    assert journeys.dropped > journeys.started
    assert result.aggregated.median_ms >= 450
    assert_rate_held(result, relative_tolerance=0.1)


def test_stop_ends_the_run_early_and_still_reports(
    settings_for: MakeSettings, load_run: MakeRun
) -> None:
    run = load_run(settings_for(arrival_rate_per_s=20.0), 60).start()
    time.sleep(2.5)
    # Headless Locust serves nothing: it may connect out, never listen.
    sockets = psutil.Process(run.pid).net_connections(kind="inet")
    assert [s.laddr for s in sockets if s.status == psutil.CONN_LISTEN] == []

    began = time.monotonic()
    result = run.stop()

    assert time.monotonic() - began < 5
    assert run.state is LoadRunState.FINISHED
    assert not run.process.running()
    assert result.stats_are_final
    assert result.journeys.stopped_cleanly
    assert result.journeys.started > 20
    assert result.aggregated.request_count > 0
    claims = result.requests[CLAIMS]
    assert claims.median_ms <= claims.p95_ms <= claims.p99_ms
    assert result.history
    with pytest.raises(HarnessError, match="is finished; stop"):
        run.stop()


def test_run_that_was_never_started_cannot_be_stopped(
    settings_for: MakeSettings, load_run: MakeRun
) -> None:
    run = load_run(settings_for(), 5)

    with pytest.raises(HarnessError, match="is created; stop\\(\\) needs a running"):
        run.stop()


def test_folder_of_an_earlier_run_is_refused(
    settings_for: MakeSettings, load_run: MakeRun
) -> None:
    run = load_run(settings_for(), 5)
    run.out_dir.mkdir(parents=True)
    (run.out_dir / "locust_journeys.json").write_text("{}")

    with pytest.raises(ConfigError, match="already holds load results"):
        run.start()

    assert run.state is LoadRunState.CREATED


def test_every_claim_answered_201_is_written_down_for_the_integrity_checks(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    run = load_run(settings_for(arrival_rate_per_s=20.0), 2)

    result = run.start().wait()

    lines = Path(f"{run.csv_prefix}{ACCEPTED_RECORDS_SUFFIX}").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"kind": "claims", "id": "CLM-1"}
    ] * result.requests[CLAIMS].request_count


def test_closed_model_throughput_is_bounded_by_users_and_think_time(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    for service in services.values():
        service.delay_s = 0.1
    settings = settings_for(arrival_rate_per_s=None, users=4, think_time_s=0.2)

    result = run_to_end(load_run, settings, 4)

    journeys = result.journeys
    # Each user's cycle is at least three 0.1 s answers and 0.2 s of thought.
    most_per_s = 4 / (3 * 0.1 + 0.2)
    assert journeys.achieved_journeys_per_s <= most_per_s * 1.05, journeys
    # Only a loaded machine slows it; half the bound leaves room for that.
    assert journeys.achieved_journeys_per_s >= most_per_s / 2, journeys
    assert journeys.model == "closed"
    assert journeys.stopped_cleanly
    assert result.stats_are_final
    assert journeys.offered_rate_per_s is None
    assert journeys.in_flight_peak == 4
    assert journeys.dropped == 0
    assert journeys.failed == 0
    assert result.requests[CLAIMS].request_count == journeys.completed
    assert result.as_dict()["by_journey"] == {
        "file_a_claim": {
            "started": journeys.started,
            "completed": journeys.completed,
            "failed": 0,
        }
    }


def test_closed_model_counts_refused_connections_as_failed_journeys(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    targets = {name: service.url for name, service in services.items()}
    targets["policy-api"] = f"http://{LOOPBACK}:{free_port()}"
    settings = settings_for(targets=targets, arrival_rate_per_s=None, users=2)

    result = run_to_end(load_run, settings, 2)

    outcomes = result.journeys.by_journey["file_a_claim"]
    assert outcomes.failed > 0
    assert outcomes.completed == 0
    assert outcomes.failed == result.requests[POLICIES].failure_count
    assert services["claims-api"].served[CLAIMS] == 0


def test_a_customer_registered_unverified_is_a_failed_journey(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    services["customer-api"].identity_status = "pending"
    settings = settings_for(
        journeys={"register_a_customer": 1}, arrival_rate_per_s=10.0
    )
    run = load_run(settings, 2)

    result = run.start().wait()

    outcomes = result.journeys.by_journey["register_a_customer"]
    assert outcomes.started > 0
    assert outcomes.completed == 0
    assert outcomes.failed == outcomes.started - outcomes.interrupted
    [failure] = result.failures
    assert "answer's identity_status is not 'verified'" in failure.error
    assert services["customer-api"].served["POST /auth/tokens"] == 0
    # The service did store it: the integrity checks must look for it.
    lines = Path(f"{run.csv_prefix}{ACCEPTED_RECORDS_SUFFIX}").read_text().splitlines()
    assert len(lines) == result.requests["POST /customers"].request_count


def test_registered_customers_sign_in(
    settings_for: MakeSettings, load_run: MakeRun, services: dict[str, FakeService]
) -> None:
    settings = settings_for(
        journeys={"register_a_customer": 1}, arrival_rate_per_s=10.0
    )

    result = run_to_end(load_run, settings, 2)

    outcomes = result.journeys.by_journey["register_a_customer"]
    assert outcomes.completed > 0
    assert outcomes.failed == 0
    assert services["customer-api"].served["POST /auth/tokens"] == outcomes.completed

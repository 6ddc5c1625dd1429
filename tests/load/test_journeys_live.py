"""Each journey in a short real Locust run against the real mocks on 127.0.0.1.

A journey's success and failure are counted from what the services answered,
and what they stored is read back through the mocks' admin routes.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.integrity import StoredRecords, read_accepted_ids
from harness.load.results import LoadResult
from harness.load.runner import LoadRun
from harness.load.settings import ACCEPTED_RECORDS_SUFFIX, LoadSettings

from .real_mocks import mock_processes

pytestmark = pytest.mark.live

RUN_TIME_S = 3
Estate = dict[str, "mock_processes.MockProcess"]


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Iterator[Estate]:
    """All eight mocks calling one another directly, started once for the module."""
    launcher = mock_processes.Launcher(tmp_path_factory.mktemp("journeys"))
    configs = mock_processes.estate_configs(launcher.run_dir)
    try:
        processes = launcher.start_all(configs.values())
        yield {process.name: process for process in processes}
    finally:
        launcher.stop_all()


def run_load(estate: Estate, out_dir: Path, **fields) -> tuple[LoadRun, LoadResult]:
    settings = LoadSettings(
        targets={name: process.url for name, process in estate.items()},
        random_seed=5,
        **fields,
    )
    run = LoadRun(settings, out_dir, RUN_TIME_S)
    return run, run.start().wait()


def accepted(run: LoadRun, kind: str) -> list[str]:
    return read_accepted_ids(Path(f"{run.csv_prefix}{ACCEPTED_RECORDS_SUFFIX}"), kind)


def stored(estate: Estate, service: str, kind: str, id_field: str) -> dict[str, dict]:
    urls = {name: process.url for name, process in estate.items()}
    records = StoredRecords(urls, mock_processes.ADMIN_TOKEN)
    try:
        return {r[id_field]: r for r in records.all(service, kind)}
    finally:
        records.close()


def assert_all_succeeded(result: LoadResult, journey: str) -> None:
    outcomes = result.journeys.by_journey[journey]
    assert outcomes.completed > 0, result.failures
    assert outcomes.failed == 0, result.failures
    assert result.aggregated.failure_count == 0, result.failures


def test_view_policy_reads_seeded_policies(estate: Estate, tmp_path: Path) -> None:
    _, result = run_load(
        estate, tmp_path, journeys={"view_policy": 1}, arrival_rate_per_s=10.0
    )

    assert_all_succeeded(result, "view_policy")
    assert set(result.requests) == {"GET /policies/{id}", "GET /policies/{id}/status"}


def test_buy_a_policy_stores_every_policy_it_was_sold(
    estate: Estate, tmp_path: Path
) -> None:
    run, result = run_load(
        estate, tmp_path, journeys={"buy_a_policy": 1}, arrival_rate_per_s=5.0
    )

    assert_all_succeeded(result, "buy_a_policy")
    sold = accepted(run, "policies")
    policies = stored(estate, "policy-api", "policies", "policy_id")
    assert len(sold) >= result.journeys.completed
    assert all(policies[policy_id]["status"] == "active" for policy_id in sold)


def test_register_a_customer_refuses_while_identity_verification_is_down(
    tmp_path: Path,
) -> None:
    launcher = mock_processes.Launcher(tmp_path / "mocks")
    configs = mock_processes.estate_configs(launcher.run_dir)
    wanted = ("customer-api", "identity-verification", "crm")
    try:
        processes = launcher.start_all(configs[name] for name in wanted)
        estate = {process.name: process for process in processes}
        _register_while_up(estate, tmp_path / "up")
        estate["identity-verification"].stop()
        _register_while_identity_verification_is_down(estate, tmp_path / "down")
    finally:
        launcher.stop_all()


def _register_while_up(estate: Estate, out_dir: Path) -> None:
    run, result = run_load(
        estate, out_dir, journeys={"register_a_customer": 1}, arrival_rate_per_s=5.0
    )

    assert_all_succeeded(result, "register_a_customer")
    registered = accepted(run, "customers")
    customers = stored(estate, "customer-api", "customers", "customer_id")
    outcomes = result.journeys.by_journey["register_a_customer"]
    # A journey cut off by the stop may have had its customer accepted.
    assert outcomes.completed <= len(registered) <= outcomes.started
    assert all(customers[c]["identity_status"] == "verified" for c in registered)
    sign_ins = result.requests["POST /auth/tokens"].request_count
    assert outcomes.completed <= sign_ins <= len(registered)


def _register_while_identity_verification_is_down(
    estate: Estate, out_dir: Path
) -> None:
    before = stored(estate, "customer-api", "customers", "customer_id")

    run, result = run_load(
        estate, out_dir, journeys={"register_a_customer": 1}, arrival_rate_per_s=5.0
    )

    outcomes = result.journeys.by_journey["register_a_customer"]
    assert outcomes.started > 0
    assert outcomes.completed == 0
    assert outcomes.failed == outcomes.started - outcomes.interrupted
    signups = result.requests["POST /customers"]
    assert signups.failure_count == signups.request_count > 0
    assert "POST /auth/tokens" not in result.requests
    assert accepted(run, "customers") == []
    assert stored(estate, "customer-api", "customers", "customer_id") == before


def test_closed_model_mixes_journeys_by_weight(estate: Estate, tmp_path: Path) -> None:
    _, result = run_load(
        estate,
        tmp_path,
        journeys={"view_policy": 3, "pay_a_premium": 1, "file_a_claim": 1},
        users=4,
        think_time_s=0.1,
    )

    journeys = result.journeys
    assert journeys.model == "closed"
    assert journeys.failed == 0, result.failures
    assert journeys.in_flight_peak <= 4
    assert journeys.achieved_journeys_per_s > 0
    views = journeys.by_journey["view_policy"].started
    others = journeys.started - views
    # 3 of 5 journeys are views; over about a hundred draws, well above half.
    assert views > others
    assert all(o.started > 0 for o in journeys.by_journey.values())

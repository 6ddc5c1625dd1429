"""Real journeys against the real mocks, then every invariant: none is broken."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mock_processes import ADMIN_TOKEN, Launcher, MockProcess, estate_configs

from harness.integrity import StoredRecords, check_all, read_accepted_ids
from harness.load.runner import LoadRun
from harness.load.settings import ACCEPTED_RECORDS_SUFFIX, LoadSettings

RUN_TIME_S = 3


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[dict[str, MockProcess]]:
    launcher = Launcher(tmp_path_factory.mktemp("loaded"))
    try:
        processes = launcher.start_all(estate_configs(launcher.run_dir).values())
        yield {process.name: process for process in processes}
    finally:
        launcher.stop_all()


def _run(estate, journey: str, out_dir) -> tuple[LoadRun, object]:
    settings = LoadSettings(
        targets={name: process.url for name, process in estate.items()},
        journeys={journey: 1},
        arrival_rate_per_s=20.0,
        random_seed=7,
    )
    run = LoadRun(settings, out_dir, RUN_TIME_S)
    return run, run.start().wait()


@pytest.mark.parametrize("journey", ["file_a_claim", "pay_a_premium"])
def test_a_journey_leaves_every_invariant_holding(loaded, journey, tmp_path):
    run, result = _run(loaded, journey, tmp_path / "load")

    accepted_path = Path(f"{run.csv_prefix}{ACCEPTED_RECORDS_SUFFIX}")
    kind = "claims" if journey == "file_a_claim" else "payments"
    accepted = read_accepted_ids(accepted_path, kind)
    records = StoredRecords({n: p.url for n, p in loaded.items()}, ADMIN_TOKEN)
    results = {
        r.name: r
        for r in check_all(records, read_accepted_ids(accepted_path, "claims"))
    }

    assert result.journeys.completed > 0
    # A journey cut off by the stop may have had its record accepted.
    journeys = result.journeys
    assert (
        journeys.completed <= len(accepted) <= journeys.completed + journeys.interrupted
    )
    assert all(r.held for r in results.values()), results
    if journey == "pay_a_premium":
        # Every journey sent its payment twice; each key charged once.
        assert results["keys_charged_once"].checked >= 2 * len(accepted)
        assert results["ledger_reconciles"].checked >= len(accepted)
    else:
        assert results["accepted_claims_stored"].checked == len(accepted)

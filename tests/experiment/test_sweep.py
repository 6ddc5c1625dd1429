"""The dependency sweep: generated experiments, what counts as broken, the table."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.deadlines import load_checked
from harness.experiment.sweep import (
    SweepSettings,
    broken_slos,
    dependency_edges,
    run_sweep,
    single_points_of_failure,
    table,
    write_experiments,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


def test_every_dependency_edge_is_swept_and_no_front_door(estate):
    edges = dependency_edges(estate)

    assert "claims-api_to_customer-api" in edges
    assert "payment-api_to_payment-gateway" in edges
    assert not [e for e in edges if e.startswith("client_to_")]
    assert len(edges) == sum(
        len(s.calls) + len(s.externals) for s in estate.services.values()
    )


def test_each_generated_experiment_is_a_valid_experiment_file(estate, tmp_path):
    written = write_experiments(estate, SweepSettings(), tmp_path)

    assert len(written) == 2 * len(dependency_edges(estate))
    for edge, kind, path in written:
        experiment = load_checked(path, estate)
        (fault,) = experiment.faults
        assert (fault.route, fault.kind) == (edge, kind)
        assert {s.service for s in experiment.measured.slos} == set(estate.slos)
        assert set(experiment.steady_state_services) == set(estate.slos)


def test_an_unknown_edge_or_kind_is_refused_by_name(estate, tmp_path):
    with pytest.raises(ConfigError, match="'client_to_claims-api'.*known: "):
        write_experiments(
            estate, SweepSettings(edges=("client_to_claims-api",)), tmp_path
        )
    with pytest.raises(ConfigError, match="'reset'"):
        write_experiments(estate, SweepSettings(kinds=("reset",)), tmp_path)


def _journal(**series) -> dict:
    return {"series": {name: points for name, points in series.items()}}


def test_broken_slos_name_the_objective_and_count_only_after_injection(estate):
    ok = [[t, 0.0] for t in range(0, 20)]
    busy = [[t, 5.0] for t in range(0, 20)]
    journal = {
        "series": {
            **{f"{s}:error_ratio": ok for s in estate.slos},
            **{f"{s}:slow_ratio": ok for s in estate.slos},
            **{f"{s}:request_rate": busy for s in estate.slos},
        }
    }
    # Errors before the injection at 10 s do not count.
    journal["series"]["claims-api:error_ratio"] = [[5, 0.5], [12, 0.0]]
    assert broken_slos(estate, journal, injected_s=10) == []

    journal["series"]["claims-api:error_ratio"] = [[5, 0.0], [12, 0.5]]
    journal["series"]["policy-api:slow_ratio"] = [[12, 0.9]]
    journal["series"]["customer-api:request_rate"] = [[11, 5.0], [12, 0.0]]
    assert broken_slos(estate, journal, injected_s=10) == [
        "claims-api availability",
        "customer-api dark",
        "policy-api latency",
    ]


def test_a_ratio_exactly_at_the_objective_is_not_broken(estate):
    slo = estate.slos["claims-api"]
    at = 1 - slo.availability_objective
    journal = _journal(**{"claims-api:error_ratio": [[12, at]]})
    assert broken_slos(estate, journal, injected_s=10) == []
    journal = _journal(**{"claims-api:error_ratio": [[12, at * 1.01]]})
    assert broken_slos(estate, journal, injected_s=10) == ["claims-api availability"]


def _outcome(tmp_path: Path, name: str, status: str, series: dict) -> SimpleNamespace:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "journal.json").write_text(json.dumps({"series": series}))
    verdict = SimpleNamespace(
        status=SimpleNamespace(value=status),
        reason="",
        measurements={"fault_injected_s": 10.0},
    )
    return SimpleNamespace(verdict=verdict, report_dir=folder, interrupted=False)


def test_a_sweep_runs_each_file_and_ranks_the_edges_that_broke_slos(estate, tmp_path):
    settings = SweepSettings(
        edges=("claims-api_to_customer-api", "customer-api_to_crm")
    )
    ran = []

    def run(path: Path):
        ran.append(path.name)
        if path.name == "claims-api_to_customer-api-outage.yaml":
            series = {"claims-api:error_ratio": [[11, 0.6]]}
            return _outcome(tmp_path, path.stem, "failed", series)
        return _outcome(tmp_path, path.stem, "passed", {})

    results = run_sweep(estate, settings, tmp_path / "experiments", run)

    assert sorted(ran) == [
        "claims-api_to_customer-api-latency.yaml",
        "claims-api_to_customer-api-outage.yaml",
        "customer-api_to_crm-latency.yaml",
        "customer-api_to_crm-outage.yaml",
    ]
    assert single_points_of_failure(results) == [
        ("claims-api_to_customer-api", ["claims-api availability"])
    ]
    assert "claims-api availability" in table(results)

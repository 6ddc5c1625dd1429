"""A game day checks every file first and stops when interrupted."""

from pathlib import Path

import pytest
import yaml

from harness import gameday
from harness.errors import ConfigError
from harness.experiment.runner import RunOptions, RunResult
from harness.experiment.verdict import Status, Verdict

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "claims-customer-latency.yaml"


def copy_experiment(folder: Path, name: str, **changes) -> Path:
    data = yaml.safe_load(EXPERIMENT.read_text())
    data.update(name=name, **changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class FakeEstate:
    """Stands in for the shared estate: counts starts and who borrowed it."""

    started: list["FakeEstate"] = []

    def __init__(self, estate, work_dir):
        self.borrowers = []
        self.stopped = False

    def __enter__(self):
        FakeEstate.started.append(self)
        return self

    def __exit__(self, *exc_info):
        self.stopped = True


@pytest.fixture
def runs(monkeypatch):
    calls = []
    FakeEstate.started = []

    def fake_run(path, options, shared=None):
        shared.borrowers.append(path.stem)
        calls.append(path.stem)
        interrupted = len(calls) == 1 and path.stem.startswith("stop")
        status = Status.ERROR if interrupted else Status.PASSED
        return RunResult(
            path.stem, "id", None, Verdict(status, reason="r"), interrupted=interrupted
        )

    monkeypatch.setattr(gameday, "run_experiment", fake_run)
    monkeypatch.setattr(gameday, "SharedEstate", FakeEstate)
    return calls


def test_every_experiment_of_a_game_day_borrows_one_estate(tmp_path, runs):
    copy_experiment(tmp_path, "a-first")
    copy_experiment(tmp_path, "b-second")

    gameday.run_gameday([tmp_path], "gameday", RunOptions(reports_dir=tmp_path / "r"))

    assert [e.borrowers for e in FakeEstate.started] == [["a-first", "b-second"]]
    assert FakeEstate.started[0].stopped


def test_an_invalid_file_stops_the_game_day_before_anything_runs(tmp_path, runs):
    copy_experiment(tmp_path, "a-good")
    copy_experiment(
        tmp_path, "b-bad", load={"journey": "nope", "arrival_rate_per_s": 1}
    )

    with pytest.raises(ConfigError, match="(?s)did not start.*field 'load.journey'"):
        gameday.run_gameday([tmp_path], "gameday", RunOptions(reports_dir=tmp_path))

    assert runs == []


def test_an_interrupted_run_ends_the_game_day(tmp_path, runs):
    copy_experiment(tmp_path, "stop-first")
    copy_experiment(tmp_path, "then-this")

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=tmp_path / "r")
    )

    assert runs == ["stop-first"]
    assert summary.interrupted and summary.exit_code == 2
    assert "stopped early" in summary.path.read_text()


def test_only_tagged_experiments_run(tmp_path, runs):
    copy_experiment(tmp_path, "tagged")
    copy_experiment(tmp_path, "untagged", tags=["ci"])

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=tmp_path / "r")
    )

    assert runs == ["tagged"]
    assert summary.exit_code == 0


def test_a_misspelt_tags_field_stops_the_game_day_instead_of_dropping_the_file(
    tmp_path, runs
):
    copy_experiment(tmp_path, "a-good")
    misspelt = copy_experiment(tmp_path, "b-misspelt")
    data = yaml.safe_load(misspelt.read_text())
    data["tag"] = data.pop("tags")
    misspelt.write_text(yaml.safe_dump(data))

    with pytest.raises(ConfigError, match="(?s)did not start.*b-misspelt.*'tag'"):
        gameday.run_gameday([tmp_path], "gameday", RunOptions(reports_dir=tmp_path))

    assert runs == []


def test_every_bad_file_is_listed_even_untagged_and_unparsable(tmp_path, runs):
    copy_experiment(tmp_path, "a-good")
    (tmp_path / "b-empty.yaml").write_text("")
    (tmp_path / "c-alias.yaml").write_text("a: &x 1\nb: *x\n")

    with pytest.raises(ConfigError) as refused:
        gameday.run_gameday([tmp_path], "gameday", RunOptions(reports_dir=tmp_path))

    assert "b-empty.yaml" in str(refused.value)
    assert "c-alias.yaml" in str(refused.value)
    assert runs == []

"""A game day checks every file first and stops when interrupted."""

from pathlib import Path

import pytest
import yaml

from harness import cli, gameday
from harness.errors import ConfigError
from harness.experiment.runner import RunOptions, RunResult
from harness.experiment.verdict import Status, Verdict
from harness.report.history import read_history
from tests.report.gameday_fixtures import journal, write_run

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


@pytest.fixture
def journaled(monkeypatch):
    """Fake runs that leave a run folder with a journal, failing "fail-*" files."""
    monkeypatch.setattr(gameday, "SharedEstate", FakeEstate)
    monkeypatch.setattr(gameday, "git_commit", lambda repo: "c0ffee")

    def fake_run(path, options, shared=None):
        status = "failed" if path.stem.startswith("fail") else "passed"
        data = journal(name=path.stem, status=status, rca=status == "passed")
        run_dir = write_run(Path(options.reports_dir), data)
        verdict = Verdict(Status(status))
        return RunResult(path.stem, data["run_id"], run_dir, verdict)

    monkeypatch.setattr(gameday, "run_experiment", fake_run)


def test_a_game_day_writes_its_page_history_and_trends(tmp_path, journaled):
    copy_experiment(tmp_path, "a-first")
    copy_experiment(tmp_path, "fail-second")
    reports = tmp_path / "r"

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=reports)
    )

    assert summary.page == summary.path.parent / "index.html"
    page = summary.page.read_text()
    assert '<tr data-experiment="a-first">' in page
    assert 'href="../20261205-040000-a-first-ab12/summary.md"' in page
    # passed 1/2, detection 2/2, recovery 2/2, rca 1/2; no budget figures
    assert 'data-score="73.5"' in page and "c0ffee" in page
    history = read_history(reports / "history")
    assert len(history.records) == 1
    assert [e["verdict"] for e in history.records[0]["experiments"]] == [
        "passed",
        "failed",
    ]
    assert (reports / "history" / "index.html").is_file()
    assert "| fail-second | failed |" in summary.path.read_text()


def test_a_corrupt_history_is_reported_on_the_page_not_fatal(tmp_path, journaled):
    copy_experiment(tmp_path, "a-first")
    reports = tmp_path / "r"
    (reports / "history").mkdir(parents=True)
    (reports / "history" / "gamedays.jsonl").write_text("{half a record\n")

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=reports)
    )

    assert "gamedays.jsonl:1: skipped: not JSON" in summary.page.read_text()
    assert len(read_history(reports / "history").records) == 1


def test_a_history_that_cannot_be_written_costs_nothing_else(
    tmp_path, journaled, caplog
):
    copy_experiment(tmp_path, "a-first")
    reports = tmp_path / "r"
    reports.mkdir()
    (reports / "history").write_text("a file where the folder should be")

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=reports)
    )

    assert summary.page.is_file() and summary.exit_code == 0
    assert "game day history not updated" in caplog.text


def test_an_interrupted_game_day_page_lists_what_did_not_run(tmp_path, runs):
    copy_experiment(tmp_path, "stop-first")
    copy_experiment(tmp_path, "then-this")

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=tmp_path / "r")
    )

    page = summary.page.read_text()
    assert "The game day stopped early" in page
    assert '<tr data-experiment="then-this">' in page
    assert '<td class="not-run">not run</td>' in page


def test_the_gameday_command_prints_the_page_path_last(tmp_path, journaled, capsys):
    copy_experiment(tmp_path, "a-first")
    copy_experiment(tmp_path, "fail-second")

    code = cli.main(["gameday", str(tmp_path), "--reports", str(tmp_path / "r")])

    lines = capsys.readouterr().out.splitlines()
    page = lines[-1].removeprefix("game day page: ")
    assert page.endswith("index.html") and Path(page).is_file()
    assert "resilience score: 73.5 / 100" in lines
    assert code == 1  # the worst verdict: failed


def test_the_plan_reaches_every_run_and_names_the_roles(tmp_path, runs, monkeypatch):
    from harness.gameday_plan import load_plan

    seen = []
    fake = gameday.run_experiment
    monkeypatch.setattr(
        gameday,
        "run_experiment",
        lambda path, options, shared=None: (
            seen.append(options.plan) or fake(path, options, shared)
        ),
    )
    copy_experiment(tmp_path, "a-first")
    plan = load_plan(REPO / "config" / "gameday-plan.example.yaml")
    options = RunOptions(reports_dir=tmp_path / "r", plan=plan)

    summary = gameday.run_gameday([tmp_path], "gameday", options)

    assert seen == [plan]
    for page in (summary.path, summary.page):
        text = page.read_text()
        assert f"incident commander: {plan.incident_commander};" in text
        assert "game-day plan" in text and "to be filled in" not in text


def test_without_a_plan_the_game_day_roles_are_to_be_filled_in(tmp_path, runs):
    copy_experiment(tmp_path, "a-first")

    summary = gameday.run_gameday(
        [tmp_path], "gameday", RunOptions(reports_dir=tmp_path / "r")
    )

    assert "technical lead: to be filled in (no --plan given)" in (
        summary.path.read_text()
    )

"""What `harness run`, `gameday` and `sweep` print: text, quiet and JSON modes."""

import json
from pathlib import Path

import pytest

from harness import cli, gameday
from harness.experiment import runner
from harness.experiment.runner import RunResult
from harness.experiment.verdict import Finding, Status, Verdict
from harness.report.progress import ProgressDisplay

REPO = Path(__file__).resolve().parents[1]
CONTROL = str(REPO / "experiments" / "control-run.yaml")
LATENCY = str(REPO / "experiments" / "claims-customer-latency.yaml")
ALERT = "ClaimsApiAvailabilityBurnRate[page]"


class Deadline:
    total_s = 17.24


def result_of(path: Path, status: Status, reports: Path) -> RunResult:
    checks = []
    if status is Status.FAILED:
        checks = [Finding("alert fires", "within 17.24 s", "never", held=False)]
    verdict = Verdict(
        status,
        checks,
        reason="r" if status is Status.ERROR else "",
        measurements={
            "fault_injected_s": 21.4,
            "time_to_detect_s": {ALERT: 5.4},
            "time_to_recover_s": 11.7,
        },
    )
    run_id = f"20261205-000000-{path.stem}-abcd"
    return RunResult(
        path.stem, run_id, reports / run_id, verdict, {"detect": {ALERT: Deadline()}}
    )


@pytest.fixture
def runs(monkeypatch, tmp_path):
    """run_experiment and the shared estate replaced: each file's verdict is
    looked up by its stem, and the options each run got are kept."""
    verdicts = {"control-run": Status.PASSED}
    seen_options = []

    def fake_run(path, options, shared=None):
        seen_options.append(options)
        return result_of(Path(path), verdicts[Path(path).stem], tmp_path)

    class FakeEstate:
        def __init__(self, estate, work_dir):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            pass

    monkeypatch.setattr(runner, "run_experiment", fake_run)
    monkeypatch.setattr("harness.experiment.estate.SharedEstate", FakeEstate)
    return verdicts, seen_options


def test_json_mode_prints_one_document_with_every_run(runs, capsys, tmp_path):
    verdicts, _ = runs
    verdicts["claims-customer-latency"] = Status.FAILED

    code = cli.main(["run", CONTROL, LATENCY, "--format", "json"])

    document = json.loads(capsys.readouterr().out)  # the whole stdout, strictly
    assert code == 1 and document["exit_code"] == 1
    first, second = document["runs"]
    assert first["experiment"] == "control-run"
    assert first["verdict"] == "passed" and first["exit_code"] == 0
    assert first["run_id"] == "20261205-000000-control-run-abcd"
    assert first["time_to_detect_s"] == {ALERT: 5.4}
    assert first["detect_deadline_s"] == {ALERT: 17.24}
    assert first["time_to_recover_s"] == 11.7
    run_dir = tmp_path / first["run_id"]
    assert first["report_dir"] == str(run_dir)
    assert first["summary"] == str(run_dir / "summary.md")
    assert first["journal"] == str(run_dir / "journal.json")
    assert second["verdict"] == "failed" and second["reason"] == ""
    assert second["failed_checks"] == [
        {
            "expectation": "alert fires",
            "predicted": "within 17.24 s",
            "observed": "never",
            "held": False,
        }
    ]


def test_json_mode_of_a_file_that_cannot_run_says_why(capsys, tmp_path):
    code = cli.main(["run", str(tmp_path / "nope.yaml"), "--format", "json"])

    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert code == 2
    assert run["verdict"] == "error" and "nope.yaml: cannot read" in run["reason"]
    assert run["run_id"] is None and run["summary"] is None


def test_json_mode_of_a_refused_command_still_prints_a_document(capsys, tmp_path):
    code = cli.main(["gameday", str(tmp_path), "--format", "json"])

    out = capsys.readouterr()
    document = json.loads(out.out)
    assert code == 2 and document["exit_code"] == 2 and document["runs"] == []
    assert "has tag 'gameday'" in document["error"]
    assert "has tag 'gameday'" in out.err


def test_text_mode_prints_each_verdict_then_the_table(runs, capsys, tmp_path):
    verdicts, _ = runs
    verdicts["claims-customer-latency"] = Status.FAILED

    code = cli.main(["run", CONTROL, LATENCY])

    out = capsys.readouterr().out
    assert code == 1
    assert "verdict: failed\n- alert fires" in out
    assert f"time to detect {ALERT}: 5.40 s (computed deadline 17.24 s)" in out
    table = out.split("\n\n")[-1].splitlines()
    assert (
        table[0].split()
        == "experiment verdict time to detect time to recover report".split()
    )
    assert table[2].split()[:4] == ["control-run", "passed", "5.4", "s"]
    assert table[3].split()[:2] == ["claims-customer-latency", "failed"]
    assert table[3].endswith("summary.md")


def test_quiet_mode_prints_the_table_only(runs, capsys):
    for flags in (["-q", "run", CONTROL], ["run", CONTROL, "--quiet"]):
        code = cli.main(flags)

        out = capsys.readouterr()
        assert code == 0
        lines = out.out.splitlines()
        assert len(lines) == 3, out.out
        assert lines[0].startswith("experiment") and set(lines[1]) == {"-", " "}
        assert lines[2].startswith("control-run  passed")
        assert out.err == ""


def test_quiet_mode_puts_a_failure_on_stderr(runs, capsys):
    verdicts, _ = runs
    verdicts["claims-customer-latency"] = Status.FAILED

    code = cli.main(["run", "-q", LATENCY])

    out = capsys.readouterr()
    assert code == 1
    assert out.err.startswith("claims-customer-latency: verdict: failed")
    assert "verdict:" not in out.out and len(out.out.splitlines()) == 3


def test_exit_code_is_the_worst_verdict(runs, capsys):
    verdicts, _ = runs
    verdicts["claims-customer-latency"] = Status.ERROR
    assert cli.main(["run", "-q", CONTROL, LATENCY]) == 2
    verdicts["claims-customer-latency"] = Status.PASSED
    assert cli.main(["run", "-q", CONTROL, LATENCY]) == 0


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        ([], False),  # auto, and the test's stderr is no terminal
        (["--progress", "off"], False),
        (["--progress", "on"], True),
        (["--progress", "on", "--format", "json"], True),
    ],
)
def test_progress_flag_chooses_whether_runs_are_shown(runs, capsys, flags, shown):
    _, seen_options = runs

    cli.main(["run", CONTROL, *flags])

    (listeners,) = [options.journal_listeners for options in seen_options]
    assert bool(listeners) is shown
    if shown:
        (display,) = listeners
        assert isinstance(display, ProgressDisplay) and not display.tty


def test_progress_auto_is_on_for_a_terminal_unless_quiet(runs, capsys, monkeypatch):
    _, seen_options = runs
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)

    cli.main(["run", CONTROL])
    cli.main(["run", CONTROL, "-q"])

    assert [len(o.journal_listeners) for o in seen_options] == [1, 0]


@pytest.mark.parametrize(
    ("flag", "value", "allowed"),
    [
        ("--format", "xml", "'text', 'json'"),
        ("--progress", "maybe", "'auto', 'on', 'off'"),
    ],
)
def test_a_bad_flag_value_names_the_flag_value_and_choices(
    capsys, flag, value, allowed
):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", CONTROL, flag, value])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: invalid choice: '{value}' (choose from {allowed})" in err


def test_gameday_json_mode_carries_the_runs_and_the_report(
    monkeypatch, capsys, tmp_path
):
    summary = gameday.GamedaySummary(
        tmp_path / "summary.md",
        [result_of(Path(CONTROL), Status.PASSED, tmp_path)],
    )
    monkeypatch.setattr(gameday, "run_gameday", lambda paths, tag, options: summary)

    code = cli.main(["gameday", "--format", "json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["gameday_report"] == str(tmp_path / "summary.md")
    assert document["stopped_early"] is None
    assert [run["experiment"] for run in document["runs"]] == ["control-run"]


def test_sweep_json_mode_carries_runs_edges_and_single_points_of_failure(
    runs, monkeypatch, capsys, tmp_path
):
    from harness.experiment import sweep

    def fake_sweep(estate, settings, folder, run, on_result):
        outcome = run(Path(CONTROL))
        result = sweep.EdgeResult(
            "claims-api_to_customer-api",
            "outage",
            "failed",
            ["claims-api availability"],
            report=str(outcome.report_dir),
        )
        on_result(result)
        return [result]

    monkeypatch.setattr(sweep, "run_sweep", fake_sweep)
    monkeypatch.setattr(sweep, "write_report", lambda folder, *_: folder / "sweep.md")

    code = cli.main(["sweep", "--reports", str(tmp_path), "--format", "json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["exit_code"] == 0
    assert [run["experiment"] for run in document["runs"]] == ["control-run"]
    assert document["edges"][0]["broken"] == ["claims-api availability"]
    assert document["single_points_of_failure"] == [
        {"edge": "claims-api_to_customer-api", "breaks": ["claims-api availability"]}
    ]
    assert document["report"].endswith("sweep.md")


def test_sweep_list_in_json_mode_is_one_document(capsys, tmp_path):
    edge = "claims-api_to_customer-api"

    code = cli.main(
        [
            "sweep",
            "--list",
            "--edge",
            edge,
            "--reports",
            str(tmp_path),
            "--format",
            "json",
        ]
    )

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [Path(path).name for path in document["experiments"]] == [
        f"{edge}-outage.yaml",
        f"{edge}-latency.yaml",
    ]


def test_a_run_prints_the_path_of_each_report_it_wrote(runs, capsys, tmp_path):
    run_dir = result_of(Path(CONTROL), Status.PASSED, tmp_path).report_dir
    run_dir.mkdir(parents=True)
    for name in ("summary.md", "report.html", "postmortem.md"):
        (run_dir / name).write_text("x")

    assert cli.main(["run", CONTROL, "--progress", "off"]) == 0

    out = capsys.readouterr().out
    for name in ("summary.md", "report.html", "postmortem.md"):
        assert f"report: {run_dir / name}" in out


def test_a_report_that_was_not_written_is_not_printed(runs, capsys, tmp_path):
    assert cli.main(["run", CONTROL, "--progress", "off"]) == 0

    out = capsys.readouterr().out
    assert "summary.md" in out
    assert "postmortem.md" not in out and "report.html" not in out

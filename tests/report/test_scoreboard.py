"""A scoreboard row reads every optional journal key and survives its absence."""

from harness.experiment.runner import RunResult
from harness.experiment.verdict import Finding, Status, Verdict
from harness.observe.timing import Deadline
from harness.report.scoreboard import outcome_from_journal, outcome_of
from tests.report.gameday_fixtures import ALERT, journal, write_run


def test_a_row_reads_detection_recovery_budget_and_rca():
    row = outcome_from_journal(journal(budget=[0.25, 1.4, None], rca=False))

    assert row.time_to_detect_s == 5.0
    assert row.detections[0].deadline_s == 17.0
    assert row.detections[0].within_deadline is True
    assert row.recovered_within_deadline is True
    assert row.budget_consumed_ratio == 1.4 and row.budget_kept is False
    assert row.rca_correct is False


def test_absent_impact_and_rca_leave_them_unknown():
    row = outcome_from_journal(journal())

    assert row.budget_consumed_ratio is None and row.budget_kept is None
    assert row.rca_correct is None


def test_an_rca_that_does_not_apply_is_unknown_not_wrong():
    assert outcome_from_journal(journal(rca=None)).rca_correct is None
    assert outcome_from_journal(journal(rca=True)).rca_correct is True


def test_a_late_or_missing_alert_and_a_slow_recovery_miss_their_deadlines():
    late = outcome_from_journal(journal(detect_s=20.0, recover_s=40.0))
    never = outcome_from_journal(journal(detect_s=None, recover_s=None))

    assert late.detections[0].within_deadline is False
    assert late.recovered_within_deadline is False
    assert never.detections[0].within_deadline is False
    assert never.time_to_detect_s is None
    assert never.recovered_within_deadline is False


def test_a_run_without_recovery_expectation_has_none_to_meet():
    data = journal(recover_s=None, recover_deadline_s=None)

    assert outcome_from_journal(data).recovered_within_deadline is None


def test_foreign_values_in_a_journal_are_ignored_not_fatal():
    data = journal()
    data["verdict"]["measurements"]["time_to_recover_s"] = "soon"
    data["impact"] = ["not", "a", "dict"]
    data["rca"] = "yes"
    data["deadlines"] = None

    row = outcome_from_journal(data)

    assert row.time_to_recover_s is None
    assert row.budget_consumed_ratio is None and row.rca_correct is None
    assert row.detections[0].deadline_s is None


def test_a_row_links_the_pages_the_run_wrote_relative_to_the_game_day(tmp_path):
    run_dir = write_run(tmp_path, journal(), pages=("summary.md", "report.html"))
    result = RunResult("x", run_dir.name, run_dir, Verdict(Status.PASSED))

    row = outcome_of(result, tmp_path / "gameday-20261205-040000")

    assert dict(row.links) == {
        "report.html": f"../{run_dir.name}/report.html",
        "summary.md": f"../{run_dir.name}/summary.md",
    }


def test_a_run_without_a_readable_journal_is_shown_from_its_verdict(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "journal.json").write_text("{not json")
    verdict = Verdict(
        Status.ERROR,
        checks=[Finding("alert A fires", "within 9 s", "never")],
        reason="the estate did not start",
        measurements={"time_to_detect_s": {}},
    )
    result = RunResult(
        "x", "run", run_dir, verdict, {"detect": {ALERT: Deadline({"a": 9})}}
    )

    row = outcome_of(result, tmp_path)

    assert row.status == "error" and row.reason == "the estate did not start"
    assert row.detections[0].deadline_s == 9.0
    assert row.detections[0].within_deadline is False
    assert row.findings == ("alert A fires: predicted within 9 s; observed never",)


def test_an_invalid_experiment_has_a_row_without_links(tmp_path):
    result = RunResult("bad", "", None, Verdict(Status.ERROR, reason="invalid"))

    row = outcome_of(result, tmp_path)

    assert row.status == "error" and row.links == ()

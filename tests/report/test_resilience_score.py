"""Each term of the resilience score moves it, and errors never read as passes."""

import pytest

from harness.report.resilience_score import TERMS, resilience_score
from harness.report.scoreboard import Detection, Outcome, not_run, outcome_from_journal
from tests.report.gameday_fixtures import journal


def perfect(**changes) -> Outcome:
    fields = dict(
        experiment="x",
        status="passed",
        detections=(Detection("A[page]", 5.0, 10.0),),
        expects_recovery=True,
        time_to_recover_s=10.0,
        recover_deadline_s=20.0,
        budget_consumed_ratio=0.5,
        rca_correct=True,
    )
    fields.update(changes)
    return Outcome(**fields)


def score(*outcomes) -> float | None:
    return resilience_score(list(outcomes)).value


def test_the_weights_add_up_to_one():
    assert sum(term.weight for term in TERMS) == pytest.approx(1.0)


def test_a_game_day_where_everything_held_scores_100():
    assert score(perfect(), perfect()) == 100.0


@pytest.mark.parametrize(
    "term, worse",
    [
        ("passed", {"status": "failed"}),
        ("detection", {"detections": (Detection("A[page]", 12.0, 10.0),)}),
        ("recovery", {"time_to_recover_s": 25.0}),
        ("budget", {"budget_consumed_ratio": 1.5}),
        ("rca", {"rca_correct": False}),
    ],
)
def test_each_term_moves_the_score_by_its_weighted_share(term, worse):
    weight = next(t.weight for t in TERMS if t.name == term)

    result = resilience_score([perfect(), perfect(**worse)])

    assert result.value == pytest.approx(100 - 100 * weight / 2, abs=0.05)
    held = {t.term.name: (t.held, t.counted) for t in result.terms}
    assert held[term] == (1, 2)


@pytest.mark.parametrize("status", ["error", "aborted"])
def test_an_experiment_that_errored_counts_as_not_passed(status):
    errored = perfect(status=status, detections=(Detection("A[page]", None, 10.0),))

    result = resilience_score([perfect(), errored])

    passed = next(t for t in result.terms if t.term.name == "passed")
    detection = next(t for t in result.terms if t.term.name == "detection")
    assert (passed.held, passed.counted) == (1, 2)
    assert (detection.held, detection.counted) == (1, 2)
    assert result.errored == 1
    assert result.value < 100


def test_an_errored_run_with_no_journal_still_lowers_the_score():
    assert score(perfect(), Outcome("broken", "error", reason="invalid")) < 100


def test_a_term_with_nothing_counted_is_left_out_not_scored_zero():
    bare = perfect(expects_recovery=False, budget_consumed_ratio=None, rca_correct=None)

    result = resilience_score([bare])

    assert result.value == 100.0
    counted = {t.term.name: t.counted for t in result.terms}
    assert counted == {
        "passed": 1,
        "detection": 1,
        "recovery": 0,
        "budget": 0,
        "rca": 0,
    }


def test_only_the_terms_that_apply_share_the_weights():
    bare = perfect(
        status="failed",
        detections=(),
        expects_recovery=False,
        budget_consumed_ratio=None,
        rca_correct=None,
    )

    assert score(bare) == 0.0


def test_experiments_a_stopped_game_day_never_ran_are_not_scored():
    result = resilience_score([perfect(), not_run("later")])

    assert result.value == 100.0
    assert result.experiments == 1


def test_no_experiment_gives_no_score():
    assert score() is None
    assert score(not_run("a")) is None


def test_the_score_reads_a_fabricated_journal_end_to_end():
    good = outcome_from_journal(journal(budget=[0.2, 0.9], rca=True))
    bad = outcome_from_journal(
        journal(status="failed", detect_s=30.0, recover_s=None, budget=[1.2], rca=False)
    )

    assert score(good) == 100.0
    assert score(bad) == 0.0
    assert score(good, bad) == 50.0


def test_a_run_stopped_early_is_not_scored_on_what_it_never_reached():
    stopped = journal(status="error", detect_s=None, recover_s=None)
    stopped["events"] = [
        {"kind": "interrupted", "t_s": 30.0, "fields": {"signal": "SIGTERM"}}
    ]
    unstopped = journal(status="failed", detect_s=None, recover_s=None)

    stopped_score = resilience_score([outcome_from_journal(stopped)])
    failed_score = resilience_score([outcome_from_journal(unstopped)])

    def counted(score, name):
        return next(t.counted for t in score.terms if t.term.name == name)

    assert counted(stopped_score, "recovery") == 0
    assert counted(stopped_score, "detection") == 0
    assert counted(failed_score, "recovery") == 1
    assert counted(failed_score, "detection") == 1


def test_a_run_broken_on_purpose_is_counted_and_named():
    broken = journal(status="failed", detect_s=None)
    broken["deliberate_breakage"] = {"alert_rules_removed": ["ClaimsApiBurn"]}

    outcome = outcome_from_journal(broken)
    score = resilience_score([outcome, outcome_from_journal(journal())])

    assert outcome.deliberately_broken == ("alert rule ClaimsApiBurn removed",)
    assert score.broken == 1 and score.as_dict()["deliberately_broken"] == 1

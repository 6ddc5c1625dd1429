"""The game day page and summary.md, from fabricated journals."""

import re
from html import escape

from harness.report.gameday_page import (
    GamedayView,
    render_gameday_markdown,
    render_gameday_page,
)
from harness.report.resilience_score import FORMULA, resilience_score
from harness.report.scoreboard import Outcome, not_run, outcome_from_journal
from tests.report.gameday_fixtures import journal


def view(outcomes, **changes) -> GamedayView:
    fields = dict(
        stamp="20261205-040000",
        tag="gameday",
        outcomes=outcomes,
        score=resilience_score(outcomes),
        git_commit="0123abc",
    )
    fields.update(changes)
    return GamedayView(**fields)


def row_of(page: str, experiment: str) -> str:
    match = re.search(rf'<tr data-experiment="{experiment}">.*?</tr>', page, re.S)
    assert match, f"no row for {experiment}"
    return match.group(0)


def test_a_passed_run_shows_detection_recovery_budget_rca_and_links():
    good = outcome_from_journal(
        journal(budget=[0.42], rca=True),
        links=[
            ("report.html", "../r1/report.html"),
            ("summary.md", "../r1/summary.md"),
        ],
    )

    page = render_gameday_page(view([good]))

    row = row_of(page, "claims-customer-latency")
    assert '<td class="passed">passed</td>' in row
    assert '<span class="held">5.0 s / 17.0 s</span>' in row
    assert '<td class="held">12.0 s / 30.0 s</td>' in row
    assert '<td class="held">42 %</td>' in row
    assert '<td class="held">right</td>' in row
    assert '<a href="../r1/report.html">report.html</a>' in row
    assert 'data-score="100.0"' in page


def test_a_failed_run_shows_what_missed_its_deadline_and_what_did_not_hold():
    bad = outcome_from_journal(
        journal(status="failed", detect_s=None, recover_s=45.0, budget=[1.5], rca=False)
    )

    page = render_gameday_page(view([bad]))

    row = row_of(page, "claims-customer-latency")
    assert '<td class="failed">failed</td>' in row
    assert '<span class="missed">never / 17.0 s</span>' in row
    assert '<td class="missed">45.0 s / 30.0 s</td>' in row
    assert '<td class="missed">150 %</td>' in row
    assert '<td class="missed">wrong</td>' in row
    assert "What did not hold" in page and "observed never" in page
    assert 'data-score="0.0"' in page


def test_absent_budget_and_rca_are_a_dash():
    page = render_gameday_page(view([outcome_from_journal(journal())]))

    row = row_of(page, "claims-customer-latency")
    assert row.count('<td class="">-</td>') == 2


def test_an_errored_run_is_flagged_and_not_scored_as_a_pass():
    errored = Outcome("broken", "error", reason="the estate did not start")
    good = outcome_from_journal(journal())

    page = render_gameday_page(view([good, errored]))

    assert '<td class="error">error</td>' in row_of(page, "broken")
    assert "the estate did not start" in row_of(page, "broken")
    assert "1 experiment(s) ended in error" in page
    assert 'data-score="100.0"' not in page


def test_an_interrupted_game_day_says_so_and_lists_what_did_not_run():
    first = outcome_from_journal(journal(status="error", reason="SIGINT"))
    outcomes = [first, not_run("control-run")]

    page = render_gameday_page(view(outcomes, interrupted="SIGINT"))
    markdown = render_gameday_markdown(view(outcomes, interrupted="SIGINT"))

    assert "The game day stopped early: SIGINT" in page
    assert "1 experiment(s) did not run and are not scored" in page
    assert '<td class="not-run">not run</td>' in row_of(page, "control-run")
    assert "The game day stopped early: SIGINT." in markdown
    assert "| control-run | not run |" in markdown


def test_the_page_states_the_formula_and_every_term():
    page = render_gameday_page(view([outcome_from_journal(journal(rca=True))]))

    assert escape(FORMULA) in page
    for name in ("passed", "detection", "recovery", "budget", "rca"):
        assert f"<td>{name}</td>" in page
    assert "left out" in page  # budget: no journal carries it


def test_the_page_is_self_contained():
    page = render_gameday_page(view([outcome_from_journal(journal())]))

    assert "Content-Security-Policy" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page


def test_names_from_journals_are_escaped():
    hostile = outcome_from_journal(journal(name="<script>alert(1)</script>"))

    page = render_gameday_page(view([hostile]))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_summary_markdown_has_the_score_and_every_column():
    good = outcome_from_journal(
        journal(budget=[0.5], rca=True), links=[("summary.md", "../r1/summary.md")]
    )

    markdown = render_gameday_markdown(view([good]))

    assert "Resilience score: 100.0 / 100" in markdown
    assert (
        "| claims-customer-latency | passed | 5.0 s / 17.0 s "
        "(ClaimsApiAvailabilityBurnRate[page]) | 12.0 s / 30.0 s | 50 % | right "
        "| ../r1/summary.md |" in markdown
    )


def test_summary_markdown_states_the_formula_and_the_rca_accuracy():
    right = outcome_from_journal(journal(budget=[0.5], rca=True))
    wrong = outcome_from_journal(journal(budget=[0.5], rca=False))

    markdown = render_gameday_markdown(view([right, wrong, right]))

    assert "score = 100 × Σ(weight × share)" in markdown
    assert "- rca (weight 0.1): 2 of 3 root-cause guesses" in markdown


def test_a_game_day_with_a_run_broken_on_purpose_says_so_on_both_pages():
    broken = journal(status="failed", detect_s=None)
    broken["deliberate_breakage"] = {"runbooks_disabled": ["claims-customer-fallback"]}

    shown = view([outcome_from_journal(broken)])

    assert "runbook claims-customer-fallback disabled" in render_gameday_page(shown)
    assert "Broken on purpose in 1 experiment(s)" in render_gameday_markdown(shown)
    unbroken = view([outcome_from_journal(journal())])
    assert "broken on purpose" not in render_gameday_page(unbroken).lower()

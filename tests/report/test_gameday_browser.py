"""The game day's pages render in headless Chromium without a script error."""

import pytest

from harness.report.gameday_page import GamedayView, render_gameday_page
from harness.report.history import append_record, gameday_record, read_history
from harness.report.resilience_score import resilience_score
from harness.report.scoreboard import Outcome, not_run, outcome_from_journal
from harness.report.trends_page import score_chart, write_trends
from tests.browser import render, require_chromium
from tests.report.gameday_fixtures import journal


@pytest.fixture(autouse=True)
def chromium():
    return require_chromium()


def outcomes() -> list[Outcome]:
    return [
        outcome_from_journal(journal(budget=[0.3], rca=True)),
        outcome_from_journal(journal(name="slow", status="failed", detect_s=40.0)),
        Outcome("broken", "error", reason="the estate did not start"),
        not_run("later"),
    ]


def test_the_checker_sees_a_script_error_and_a_blocked_fetch(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head>"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'\"></head><body>"
        '<img src="https://example.invalid/x.png">'
        "<script>document.body.setAttribute('data-drawn', '1'); nope();</script>"
        "</body></html>"
    )

    rendered = render(page)

    assert rendered.body["data-drawn"] == "1"
    assert any("nope is not defined" in e for e in rendered.errors), rendered.errors
    assert any("blocked by CSP" in e for e in rendered.errors), rendered.errors


def test_the_game_day_page_draws_without_errors(tmp_path):
    records = [
        gameday_record(
            f"20261205-0{h}0000", "gameday", outcomes(), resilience_score(outcomes())
        )
        for h in range(4, 7)
    ]
    view = GamedayView(
        "20261205-060000",
        "gameday",
        outcomes(),
        resilience_score(outcomes()),
        interrupted="SIGINT",
        trend_chart=score_chart(records),
    )
    page = tmp_path / "index.html"
    page.write_text(render_gameday_page(view))

    rendered = render(page)

    assert rendered.errors == []
    assert rendered.body["data-charts"] == "1"
    assert rendered.body["data-charts-drawn"] == "1"


@pytest.mark.parametrize("game_days", [1, 5])
def test_the_trends_page_draws_every_chart_without_errors(tmp_path, game_days):
    for hour in range(game_days):
        record = gameday_record(
            f"20261205-{10 + hour}0000",
            "gameday",
            outcomes(),
            resilience_score(outcomes()),
        )
        append_record(tmp_path, record)
    (tmp_path / "gamedays.jsonl").open("a").write("{broken\n")

    rendered = render(write_trends(tmp_path))

    assert read_history(tmp_path).warnings  # the broken line is skipped, not fatal
    assert rendered.errors == []
    assert rendered.body["data-charts"] == "4"  # score, and three experiments
    assert rendered.body["data-charts-drawn"] == "4"

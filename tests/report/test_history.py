"""Game day history: appended, read back past bad lines, drawn as trends."""

import json
import logging
import re

import pytest

from harness.report.history import (
    HISTORY_FILE,
    append_record,
    gameday_record,
    read_history,
)
from harness.report.resilience_score import resilience_score
from harness.report.scoreboard import (
    Detection,
    Outcome,
    not_run,
    outcome_from_journal,
)
from harness.report.svg_chart import Line, line_chart
from harness.report.trends_page import render_trends, write_trends
from tests.report.gameday_fixtures import journal


def record(stamp: str, detect_s=5.0, recover_s=12.0, status="passed") -> dict:
    outcomes = [
        outcome_from_journal(
            journal(status=status, detect_s=detect_s, recover_s=recover_s, rca=True)
        ),
        outcome_from_journal(
            journal(name="control-run", recover_s=None, recover_deadline_s=None)
        ),
        not_run("never-ran"),
    ]
    return gameday_record(
        stamp, "gameday", outcomes, resilience_score(outcomes), git_commit="abc123"
    )


def test_a_record_carries_each_experiments_times_verdict_and_the_score():
    data = record("20261205-040000")

    assert data["stamp"] == "20261205-040000" and data["git_commit"] == "abc123"
    assert data["score"] == 100.0
    assert [e["experiment"] for e in data["experiments"]] == [
        "claims-customer-latency",
        "control-run",
    ]
    first = data["experiments"][0]
    assert first == {
        "experiment": "claims-customer-latency",
        "run_id": "20261205-040000-claims-customer-latency-ab12",
        "verdict": "passed",
        "time_to_detect_s": 5.0,
        "detect_alert": "ClaimsApiAvailabilityBurnRate[page]",
        "detect_deadline_s": 17.0,
        "time_to_recover_s": 12.0,
        "recover_deadline_s": 30.0,
        "budget_consumed_ratio": None,
        "rca_correct": True,
        "deliberately_broken": [],
        "stopped_by": None,
    }
    assert data["deliberately_broken"] == 0
    assert data["score_terms"]["passed"] == {"held": 2, "counted": 2, "weight": 0.35}


def test_the_detection_in_a_record_pairs_the_first_alert_with_its_deadline():
    outcome = Outcome(
        "x",
        "failed",
        detections=(
            Detection("Slow[ticket]", 30.0, 60.0),
            Detection("Fast[page]", 8.0, 10.0),
            Detection("Never[page]", None, 5.0),
        ),
    )
    silent = Outcome("y", "failed", detections=(Detection("Never[page]", None, 5.0),))

    record = gameday_record("s", "t", [outcome, silent], resilience_score([outcome]))

    first, none_seen = record["experiments"]
    assert (first["detect_alert"], first["time_to_detect_s"]) == ("Fast[page]", 8.0)
    assert first["detect_deadline_s"] == 10.0
    assert none_seen["time_to_detect_s"] is None
    assert none_seen["detect_deadline_s"] == 5.0


def test_a_record_rounds_away_float_noise():
    noisy = Outcome(
        "x", "passed", detections=(Detection("A", 5.28199999, 17.240000000000002),)
    )

    entry = gameday_record("s", "t", [noisy], resilience_score([noisy]))["experiments"][
        0
    ]

    assert json.dumps(entry["detect_deadline_s"]) == "17.24"
    assert entry["time_to_detect_s"] == 5.282


def test_records_are_appended_and_read_back_in_stamp_order(tmp_path):
    append_record(tmp_path, record("20261205-050000"))
    append_record(tmp_path, record("20261205-040000", status="failed"))

    history = read_history(tmp_path)

    assert [r["stamp"] for r in history.records] == [
        "20261205-040000",
        "20261205-050000",
    ]
    assert history.warnings == []
    assert len((tmp_path / HISTORY_FILE).read_text().splitlines()) == 2


def test_no_history_file_is_an_empty_history(tmp_path):
    history = read_history(tmp_path / "none")

    assert history.records == [] and history.warnings == []


@pytest.mark.parametrize(
    "line, why",
    [
        ('{"kind": "harness-gameday", "stamp": ', "not JSON"),
        ("[1, 2]", "not a JSON object but list"),
        ('{"kind": "deploy", "stamp": "x"}', "field 'kind' is 'deploy'"),
        (
            '{"kind": "harness-gameday", "version": 9, "stamp": "x"}',
            "field 'version' is 9",
        ),
        (
            '{"kind": "harness-gameday", "version": 1, "stamp": 5, "experiments": []}',
            "field 'stamp' is 5",
        ),
        (
            '{"kind": "harness-gameday", "version": 1, "stamp": "x", "score": "high",'
            ' "experiments": []}',
            "field 'score' is 'high'",
        ),
        (
            '{"kind": "harness-gameday", "version": 1, "stamp": "x",'
            ' "experiments": [{"name": "a"}]}',
            "field 'experiments'",
        ),
    ],
)
def test_a_corrupt_or_foreign_line_is_skipped_naming_file_and_line(
    tmp_path, caplog, line, why
):
    append_record(tmp_path, record("20261205-040000"))
    with (tmp_path / HISTORY_FILE).open("a") as stream:
        stream.write(line + "\n")
    append_record(tmp_path, record("20261205-050000"))

    with caplog.at_level(logging.WARNING):
        history = read_history(tmp_path)

    assert [r["stamp"] for r in history.records] == [
        "20261205-040000",
        "20261205-050000",
    ]
    assert len(history.warnings) == 1
    assert history.warnings[0].startswith(f"{tmp_path / HISTORY_FILE}:2: skipped: ")
    assert why in history.warnings[0]
    assert f"{HISTORY_FILE}:2" in caplog.text


def test_undecodable_bytes_are_one_skipped_line_not_a_lost_history(tmp_path):
    append_record(tmp_path, record("20261205-040000"))
    with (tmp_path / HISTORY_FILE).open("ab") as stream:
        stream.write(b"\xff\xfe\x00garbage\n")

    history = read_history(tmp_path)

    assert len(history.records) == 1
    assert ":2: skipped: not JSON" in history.warnings[0]


def charts_in(page: str) -> list[str]:
    return re.findall(r'<svg class="chart".*?</svg>', page, re.S)


def test_trends_with_one_game_day_draw_single_points():
    append = [record("20261205-040000")]

    page = render_trends(_history(append))

    charts = charts_in(page)
    assert len(charts) == 3  # the score, and two experiments
    assert 'data-points="1"' in charts[0]
    assert "<polyline" not in charts[0]  # one point has no line
    assert "<circle" in charts[0]


def test_trends_with_many_game_days_draw_lines_with_gaps(tmp_path):
    for hour, detect in zip(
        range(10, 16), (5.0, 6.0, None, 7.0, 4.0, 5.5), strict=True
    ):
        append_record(tmp_path, record(f"20261205-{hour}0000", detect_s=detect))
    (tmp_path / HISTORY_FILE).open("a").write("not json\n")

    path = write_trends(tmp_path)

    page = path.read_text()
    latency = next(c for c in charts_in(page) if "claims-customer-latency" in c)
    assert 'data-points="23"' in latency  # 5 detections, 6 recoveries, 6 + 6 deadlines
    assert latency.count("<polyline") == 5  # detect split by the gap: 2, + 3 lines
    assert "History lines skipped" in page and f"{HISTORY_FILE}:7" in page
    assert '<a href="../gameday-20261205-150000/index.html">' in page


def test_trends_with_no_game_day_say_so():
    page = render_trends(_history([]))

    assert "No game day is recorded yet" in page
    assert charts_in(page) == []


def test_a_chart_without_a_value_says_no_data():
    chart = line_chart("t", ["a", "b"], [Line("x", (None, None))], "s")

    assert 'data-points="0"' in chart and "no data" in chart


def test_chart_points_scale_to_the_axis():
    chart = line_chart("t", ["a", "b", "c"], [Line("x", (0.0, 50.0, 100.0))], "", 100)

    ys = [float(y) for y in re.findall(r'cy="([\d.]+)"', chart)]
    assert ys[0] > ys[1] > ys[2]  # larger values are drawn higher
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2])


def _history(records):
    from harness.report.history import History

    return History(json.loads(json.dumps(records)), [])


def test_many_game_days_label_some_x_positions_and_always_the_last():
    labels = [f"d{i:02d}" for i in range(20)]

    chart = line_chart("t", labels, [Line("x", tuple(range(20)))], "s")

    shown = re.findall(r'text-anchor="(?:middle|end)">(d\d\d)<', chart)
    assert shown[0] == "d00" and shown[-1] == "d19"
    assert len(shown) <= 7

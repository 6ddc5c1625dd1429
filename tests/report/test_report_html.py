"""report.html: the verdict first, charts from the series, every text inert."""

import base64
import hashlib
import json
import re
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.errors import ReportError
from harness.experiment.runner import RunResult
from harness.experiment.verdict import Finding, Status, Verdict
from harness.observe.timing import Deadline
from harness.report.html import (
    fault_windows,
    markers,
    render_report_html,
    write_report_html,
)
from harness.report.journal import Journal
from harness.report.rerender import load_journal, rerender, summary_from_journal
from harness.report.summary import render_summary
from tests.report.html_page import chart_data, journal, points_in_fault_windows

SECTIONS = (
    "verdict",
    "charts",
    "timeline",
    "detect",
    "budget",
    "integrity",
    "rca",
    "load",
    "config",
)


def test_a_passed_run_shows_every_section_and_no_banner():
    page = render_report_html(journal("passed"))

    positions = [page.index(f'id="{section}"') for section in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    assert 'id="banner"' not in page
    assert '<p class="status status-passed">PASSED</p>' in page


def test_a_failed_run_shows_its_banner_with_reason_and_broken_expectations_first():
    page = render_report_html(journal("failed"))

    banner = page.index('id="banner"')
    assert banner < page.index('id="charts"') < page.index('id="timeline"')
    section = page[banner : page.index("</section>", banner)]
    assert "FAILED" in section and "alert did not fire in time" in section
    assert "alert ClaimsApiAvailabilityBurnRate[page] fires" in section
    assert "no alert fires during the steady state" not in section


@pytest.mark.parametrize("status", ["error", "aborted"])
def test_error_and_aborted_runs_have_a_banner_too(status):
    page = render_report_html(journal(status))

    assert f"<h2>{status.upper()}</h2>" in page


def test_markup_in_the_journal_stays_text():
    attack = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'
    data = journal("failed", hypothesis=attack)
    data["events"][1]["fields"]["fault"] = attack
    data["verdict"]["reason"] = attack
    data["series"][f"{attack}:error_ratio"] = [[0.0, 1.0]]

    page = render_report_html(data)

    assert page.count("<script") == 2, "only the data and the page's own script"
    assert "<img" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)" in page
    assert chart_data(page)["windows"][0]["fault"] == attack


def test_only_the_pages_own_script_may_run():
    page = render_report_html(journal())

    script = re.search(r"<script>(.*)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


def test_charts_per_affected_service_and_for_the_load():
    data = chart_data(render_report_html(journal()))

    assert [c["id"] for c in data["charts"]] == [
        "claims-api-error_ratio",
        "claims-api-latency",
        "claims-api-throughput",
        "load-journeys",
    ]
    latency = data["charts"][1]
    assert [line["label"] for line in latency["lines"]] == [
        "latency_p50_s",
        "latency_p95_s",
        "latency_p99_s",
    ]
    assert "estimates" in latency["title"]
    assert all(n > 0 for n in points_in_fault_windows(data).values())


def test_a_run_without_series_says_so_instead_of_drawing():
    data = journal()
    data["series"] = {}

    page = render_report_html(data)

    assert chart_data(page)["charts"] == []
    assert "No series were measured" in page


def test_fault_windows_pair_injection_with_rollback_or_run_end():
    data = journal()
    data["events"].insert(
        3, {"kind": "fault_injected", "t_s": 21.0, "fields": {"fault": "other"}}
    )

    windows = fault_windows(data)

    assert [(w["fault"], w["from_s"], w["to_s"]) for w in windows] == [
        ("slow", 20.0, 30.0),
        ("other", 21.0, 40.0),
    ]


def test_markers_are_alert_states_runbook_actions_and_rollbacks():
    data = journal()
    data["events"].append(
        {
            "kind": "alert_notified",
            "t_s": 34.0,
            "fields": {"alertname": "A", "status": "resolved", "repeat": True},
        }
    )
    data["events"].append(
        {"kind": "alert_notified", "t_s": 35.0, "fields": {"status": "firing"}}
    )

    found = [(m["kind"], m["t_s"]) for m in markers(data)]

    assert found == [
        ("alert_pending", 22.0),
        ("alert_firing", 24.0),
        ("runbook_action", 25.0),
        ("fault_rolled_back", 30.0),
        ("alert_resolved", 33.0),
    ]


def test_time_to_detect_is_shown_beside_its_floor_and_deadline():
    passed = render_report_html(journal("passed"))
    failed = render_report_html(journal("failed"))

    row = re.search(r"<tr><td>ClaimsApiAvailabilityBurnRate\[page\].*?</tr>", passed)
    assert "2.50 s" in row.group(0) and "17.24 s" in row.group(0)
    assert "4.82 s" in row.group(0) and "<td>yes</td>" in row.group(0)
    assert "9.50 s" in passed
    row = re.search(r"<tr><td>ClaimsApiAvailabilityBurnRate\[page\].*?</tr>", failed)
    assert "never" in row.group(0) and "<td>no</td>" in row.group(0)
    resolved = passed.split("resolved after the last rollback")[1]
    assert "<td>31.80 s</td><td>33.00 s</td><td>3.00 s</td>" in resolved
    assert "<td>31.80 s</td><td>never</td><td>-</td>" in failed


def test_the_timeline_has_summary_kinds_only():
    data = journal()
    data["events"].append(
        {"kind": "some_internal_detail", "t_s": 39.0, "fields": {"x": 1}}
    )

    page = render_report_html(data)
    timeline = page[page.index('id="timeline"') : page.index('id="detect"')]

    assert "fault_injected" in timeline and "fault=slow" in timeline
    assert "some_internal_detail" not in timeline


def test_optional_parts_say_when_they_are_missing():
    page = render_report_html(journal())

    assert "Error budget consumed" in page and "Not measured for this run" in page
    assert "No guess was made for this run" in page
    assert "The configuration was not recorded" in page


def test_budget_rca_load_and_config_render_when_present():
    data = journal("failed")
    data["impact"] = {
        "budget": [
            {
                "slo": "claims-api-availability",
                "service": "claims-api",
                "sli": "availability",
                "target": 0.999,
                "good": 990.0,
                "bad": 10.0,
                "total": 1000.0,
                "allowed_bad": 1.0,
                "consumed_ratio": 10.0,
                "period_fraction": 0.0001,
            }
        ]
    }
    data["rca"] = {
        "guess": {"component": "customer-api", "symptom": "latency", "confidence": 0.8},
        "evidence": ["p95 of claims-api_to_customer-api rose to 1.2 s"],
        "injected": [{"fault": "slow", "kind": "latency", "component": "customer-api"}],
        "correct": False,
        "method": "ranked edges",
    }
    data["load"].update(
        under_offered=True,
        latency_ms={"all": {"p50": 12, "p99": 900}, "success": {"p50": 11, "p99": 40}},
        latency_note="estimates from histogram buckets",
    )
    data["config"] = {
        "experiment_yaml": "name: claims-customer-latency\n",
        "files": {"config/estate.yaml": "services: <none>\n"},
        "options": {"without_alerts": []},
        "harness_version": "0.1.0",
        "git_commit": None,
    }

    page = render_report_html(data)

    assert "claims-api-availability" in page and "1000.0%" in page
    assert "The guess was: <b>WRONG</b>" in page and "ranked edges" in page
    assert "less than 80% of the offered load" in page
    assert "<td>success</td><td>11</td><td>40</td>" in page
    assert "<summary>config/estate.yaml</summary><pre>services: &lt;none&gt;" in page
    assert "<summary>experiment file</summary>" in page


def test_an_old_or_partial_journal_still_renders():
    page = render_report_html({"schema_version": 2, "run_id": "r", "events": "?"})

    assert "UNKNOWN" in page and 'id="banner"' in page


def test_write_report_html_and_harness_report(tmp_path, capsys):
    (tmp_path / "journal.json").write_text(json.dumps(journal("failed")))

    assert main(["report", str(tmp_path)]) == 0

    assert "report.html" in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text()
    assert page == render_report_html(journal("failed"))
    assert (
        (tmp_path / "summary.md")
        .read_text()
        .startswith("# claims-customer-latency: FAILED")
    )
    assert write_report_html(tmp_path, journal()) == tmp_path / "report.html"
    assert rerender(tmp_path) == [
        tmp_path / "summary.md",
        tmp_path / "report.html",
        tmp_path / "postmortem.md",
    ]


def test_summary_from_the_journal_is_the_summary_the_run_wrote(tmp_path):
    recorded = Journal(tmp_path, "run-1")
    recorded.record("run_started", experiment="x", runbooks_disabled=["r"])
    recorded.record("fault_injected", fault="slow", route="a_to_b")
    recorded.record("alert_notified", alertname="A", status="firing", service="s")
    recorded.record(
        "integrity_checked",
        results=[
            {
                "name": "n",
                "held": False,
                "checked": 3,
                "violations": 1,
                "examples": ["k|1"],
            }
        ],
    )
    checks = [Finding("alert A fires", "within 9 s", "never", held=False)]
    verdict = Verdict(Status.FAILED, checks, "", {"time_to_detect_s": {}})
    result = RunResult(
        "x",
        "run-1",
        tmp_path,
        verdict,
        {"detect": {"A[page]": Deadline({"fault_effect_s": 1.0, "scrape_s": 2.0})}},
    )
    load = SimpleNamespace(as_dict=lambda: {"requests": 10, "by_journey": {}})
    written = render_summary(
        result, recorded, SimpleNamespace(hypothesis="h <b>"), load
    )
    recorded.write(
        {
            "experiment": "x",
            "hypothesis": "h <b>",
            "verdict": {
                "status": "failed",
                "reason": "",
                "checks": [vars(c) for c in checks],
                "measurements": verdict.measurements,
            },
            "deadlines": {
                "detect": {
                    "A[page]": {
                        "total_s": 3.0,
                        "terms": {"fault_effect_s": 1.0, "scrape_s": 2.0},
                    }
                }
            },
            "load": load.as_dict(),
        }
    )
    recorded.close()

    again = summary_from_journal(load_journal(tmp_path))

    assert "alert A fires" in again and "k\\|1" in again
    assert again == written


def test_harness_report_names_a_missing_or_broken_journal(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path / 'journal.json'}: no such file" in capsys.readouterr().err

    (tmp_path / "journal.json").write_text("{not json")
    with pytest.raises(ReportError, match=r"journal\.json: not valid JSON"):
        load_journal(tmp_path)

    (tmp_path / "journal.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"journal\.json: holds a JSON list"):
        load_journal(tmp_path)


@pytest.mark.parametrize("odd", [None, "text", 3, [], {}, [None], {"x": None}])
@pytest.mark.parametrize(
    "key",
    [
        "verdict",
        "deadlines",
        "load",
        "integrity",
        "events",
        "series",
        "impact",
        "rca",
        "config",
        "deliberate_breakage",
    ],
)
def test_any_shape_of_an_optional_part_still_renders_the_rest(key, odd):
    data = journal("failed")
    data[key] = odd

    page = render_report_html(data)

    assert 'id="timeline"' in page and 'id="config"' in page


@pytest.mark.parametrize("odd", [None, "text", 3, [None], {"x": None}])
@pytest.mark.parametrize(
    "path",
    [
        ("verdict", "checks"),
        ("verdict", "measurements"),
        ("deadlines", "detect"),
        ("deadlines", "floor"),
        ("load", "latency_ms"),
        ("events", 1, "fields"),
    ],
)
def test_any_shape_inside_a_part_still_renders(path, odd):
    data = journal("failed")
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = odd

    assert 'id="config"' in render_report_html(data)


def test_nan_in_a_series_is_drawn_as_no_data():
    data = journal()
    data["series"]["claims-api:error_ratio"] = [[0.0, float("nan")], [1.0, 0.5]]

    charts = chart_data(render_report_html(data))["charts"]

    assert charts[0]["lines"][0]["points"] == [[0.0, None], [1.0, 0.5]]


def test_detection_before_its_floor_is_within_the_deadline_not_a_failure():
    from tests.report.html_page import journal as fabricated

    data = fabricated("passed")
    key = next(iter(data["deadlines"]["detect"]))
    floor = data["deadlines"]["floor"][key]["total_s"]
    data["verdict"]["measurements"]["time_to_detect_s"][key] = floor / 2
    data["verdict"]["measurements"]["recover_deadline_s"] = 24.73

    page = render_report_html(data)

    assert "NO: before its floor" not in page
    assert "yes (before the floor, which assumes full windows)" in page
    assert "24.73 s" in page
    late = {**data}
    late["verdict"] = {
        **data["verdict"],
        "measurements": {
            **data["verdict"]["measurements"],
            "time_to_detect_s": {key: data["deadlines"]["detect"][key]["total_s"] + 1},
        },
    }
    assert "NO: after its deadline" in render_report_html(late)


def test_harness_report_refuses_a_json_object_that_is_not_a_journal(tmp_path, capsys):
    (tmp_path / "journal.json").write_text('{"name": "pkg", "version": "1.0.0"}')

    assert main(["report", str(tmp_path)]) == 2

    err = capsys.readouterr().err
    assert "schema_version, run_id, events missing" in err
    assert not (tmp_path / "report.html").exists()


def test_harness_report_redacts_what_an_edited_journal_holds(tmp_path):
    from tests.report.html_page import journal as fabricated

    data = fabricated("passed")
    data["roles"] = {"incident_commander": "pat@planted.example"}
    data["hypothesis"] = "call +44 7700 900123 when claims-api slows"
    (tmp_path / "journal.json").write_text(json.dumps(data))

    assert main(["report", str(tmp_path)]) == 0

    for name in ("summary.md", "report.html", "postmortem.md"):
        text = (tmp_path / name).read_text()
        assert "pat@planted.example" not in text, name
        assert "7700 900123" not in text, name
    assert "[redacted:email]" in (tmp_path / "postmortem.md").read_text()

"""summary.md: what a reader of a run needs, from the journal and the verdict."""

from harness.experiment.runner import RunResult
from harness.experiment.verdict import Status, Verdict
from harness.report.journal import Journal
from harness.report.summary import render_summary


def _timeline_rows(text: str) -> list[str]:
    timeline = text.split("## Timeline", 1)[1]
    return [line for line in timeline.splitlines() if line.startswith("| ")][2:]


def test_the_timeline_shows_an_interrupt_and_a_lost_fault(tmp_path):
    journal = Journal(tmp_path, "run-1")
    journal.record("fault_injected", fault="slow", route="a_to_b")
    journal.record("fault_lost", fault="slow", route="a_to_b", found="gone")
    journal.record("interrupted", signal="SIGINT")
    journal.record("some_internal_detail", value=1)
    result = RunResult(
        "exp", "run-1", tmp_path, Verdict(Status.ERROR, reason="interrupted by SIGINT")
    )

    rows = _timeline_rows(render_summary(result, journal, None, None))

    kinds = [row.split("|")[2].strip() for row in rows]
    assert kinds == ["fault_injected", "fault_lost", "interrupted"]
    assert "signal=SIGINT" in rows[2]
    assert "found=gone" in rows[1]


def test_alerts_notified_show_their_context_once(tmp_path):
    from harness.report.journal import Journal
    from harness.report.summary import _alerts, _timeline

    journal = Journal(tmp_path, "run")
    for repeat in (False, True):
        journal.record(
            "alert_notified",
            alertname="ClaimsApiAvailabilityBurnRate",
            status="firing",
            service="claims-api",
            severity="page",
            repeat=repeat,
            labels={"team": "claims-platform"},
            annotations={
                "summary": "claims-api: 100% of requests failed",
                "runbook": "config/runbooks/claims-customer-fallback.yaml",
                "recent_changes": "In the last 1m: toxics: latency on x|y",
            },
        )

    table = "\n".join(_alerts(journal))
    timeline = "\n".join(_timeline(journal))

    assert table.count("ClaimsApiAvailabilityBurnRate (claims-api)") == 1
    assert "claims-platform" in table and "latency on x\\|y" in table
    assert "recent_changes" not in timeline and "claims-platform" not in timeline
    journal.close()


LOAD = {
    "requests": 1000,
    "failures": 40,
    "model": "open",
    "percentiles": [50, 95, 99, 99.9],
    "latency_ms": {
        "all": {"p50": 12.04, "p95": 480.2, "p99": 2001.0, "p99.9": 2004.5},
        "success": {"p50": 11.9, "p95": 40.3, "p99": 88.0, "p99.9": None},
    },
    "latency_note": "estimates from histogram buckets 2% wide (log-spaced): each "
    "is within about 1% of the exact percentile of the samples",
    "latency_samples": {"all": 1000, "success": 960},
    "timeouts": 30,
    "connection_errors": 10,
    "offered_per_s": 10.0,
    "achieved_per_s": 7.1,
    "achieved_ratio": 0.71,
    "under_offered": True,
    "rate_note": "open model: 7.10 journeys started per s against 10 offered (71%)",
}


def test_the_load_section_shows_both_latencies_as_estimates_and_the_flag():
    from harness.report.summary import render_load

    text = "\n".join(render_load(LOAD))

    assert "Response times in ms, estimates from histogram buckets 2% wide" in text
    assert "| requests | count | p50 | p95 | p99 | p99.9 |" in text
    assert "| all | 1000 | 12.0 | 480.2 | 2001.0 | 2004.5 |" in text
    assert "| successful | 960 | 11.9 | 40.3 | 88.0 | - |" in text
    assert "30 timed out and 10 lost their connection" in text
    assert "**Flag: the load achieved under 80% of its offered rate" in text
    assert "Rate: open model: 7.10 journeys started per s" in text


def test_the_load_section_has_no_flag_when_the_rate_held():
    from harness.report.summary import render_load

    text = "\n".join(
        render_load({**LOAD, "achieved_ratio": 0.95, "under_offered": False})
    )

    assert "Flag" not in text
    assert "Rate: open model" in text


def test_a_closed_run_is_flagged_against_its_steady_state():
    from harness.report.summary import render_load

    closed = {**LOAD, "model": "closed", "offered_per_s": None, "achieved_ratio": 0.4}

    text = "\n".join(render_load(closed))

    assert "under 80% of its steady-state rate (achieved_ratio 0.4)" in text


def test_the_load_section_of_an_older_journal_has_only_its_totals():
    from harness.report.summary import render_load

    text = "\n".join(render_load({"requests": 10, "failures": 0, "p95_ms_estimate": 3}))

    assert "p95_ms_estimate: 3" in text
    assert "Response times" not in text
    assert "Flag" not in text


def test_root_cause_section_shows_guess_evidence_injected_and_right_or_wrong():
    from harness.report.summary import root_cause_section

    rca = {
        "guess": {
            "component": "customer-api",
            "via": "claims-api_to_customer-api",
            "symptom": "latency",
            "confidence": 0.93,
            "summary": "customer-api, via claims-api_to_customer-api latency",
        },
        "evidence": ["93% of claims-api's slow or failed spans wait on customer-api"],
        "injected": [
            {
                "fault": "slow",
                "kind": "latency",
                "route": "claims-api_to_customer-api",
                "service": None,
                "component": "customer-api",
            }
        ],
        "correct": True,
    }

    right = "\n".join(root_cause_section(rca))
    wrong = "\n".join(root_cause_section({**rca, "correct": False}))

    assert "## Root cause (analysis)" in right
    assert "customer-api, latency, via claims-api_to_customer-api" in right
    assert "(confidence 93%)" in right
    assert "- Evidence: 93% of claims-api's" in right
    assert "slow (latency on claims-api_to_customer-api -> customer-api)" in right
    assert "- Guess was: right" in right
    assert "- Guess was: **wrong**" in wrong
    assert root_cause_section(None) == []
    nothing = "\n".join(
        root_cause_section({"guess": {"component": None}, "correct": None})
    )
    assert "Guess: nothing is broken" in nothing and "not scored" in nothing

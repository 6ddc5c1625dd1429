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

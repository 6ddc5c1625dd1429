"""postmortem.md: a blameless draft, its action items, roles and error budget."""

import copy
import json
import re
from pathlib import Path

import pytest

from harness.config import load_estate
from harness.errors import ConfigError
from harness.gameday_plan import load_plan, roles_of
from harness.report.impact import budget_entry, impact_of
from harness.report.postmortem import (
    NO_ACTION_ITEMS,
    SECTIONS,
    action_items,
    render_postmortem,
    write_postmortem,
)

REPO = Path(__file__).resolve().parents[2]
ALERT = "ClaimsApiAvailabilityBurnRate[page]"
FAULT_S, ROLLED_BACK_S = 20.0, 50.0


def event(kind: str, t_s: float, /, **fields) -> dict:
    return {"kind": kind, "t_s": t_s, "wall": f"2026-12-05T04:00:{t_s:06.3f}+00:00",
            "fields": fields}  # fmt: skip


def check(expectation: str, held: bool, predicted="p", observed="o") -> dict:
    return {
        "expectation": expectation,
        "predicted": predicted,
        "observed": observed,
        "held": held,
    }


def passing_journal() -> dict:
    """A run where every expectation held, as the runner writes it."""
    return {
        "schema_version": 2,
        "run_id": "20261205-040000-claims-customer-latency-ab12",
        "experiment": "claims-customer-latency",
        "hypothesis": "Claims stay available when customer-api is slow.",
        "source": "experiments/claims-customer-latency.yaml",
        "deliberate_breakage": {},
        "verdict": {
            "status": "passed",
            "reason": "",
            "checks": [
                check(f"alert {ALERT} fires", True, observed="notified after 9.50 s"),
                check("runbook claims-customer-fallback runs", True),
                check("SLO claims-api breaks, then recovers", True),
            ],
            "measurements": {
                "fault_injected_s": FAULT_S,
                "time_to_detect_s": {ALERT: 9.5},
                "detect_deadline_s": {ALERT: 17.2},
                "time_to_recover_s": 14.0,
                "slo_back_s": 34.0,
                "slo": {"breached_s": 22.0},
            },
        },
        "deadlines": {"detect": {ALERT: {"total_s": 17.2, "terms": {}}}},
        "load": {
            "requests": 1000,
            "failures": 40,
            "offered_journeys_per_s": 8.0,
            "achieved_journey_starts_per_s": 7.9,
            "by_journey": {
                "file_a_claim": {"started": 100, "completed": 90, "failed": 10},
                "view_a_policy": {"started": 50, "completed": 50, "failed": 0},
            },
        },
        "integrity": [
            {
                "name": "keys_charged_once",
                "held": True,
                "checked": 12,
                "violations": 0,
                "examples": [],
            },
        ],  # fmt: skip
        "impact": {
            "requests": 1000,
            "failed_requests": 40,
            "journeys": {
                "file_a_claim": {"started": 100, "completed": 90, "failed": 10},
                "view_a_policy": {"started": 50, "completed": 50, "failed": 0},
            },
            "journeys_affected": ["file_a_claim"],
            "budget": [
                {
                    "slo": "claims-api-availability",
                    "service": "claims-api",
                    "sli": "availability",
                    "target": 0.99,
                    "good": 960.0,
                    "bad": 40.0,
                    "total": 1000.0,
                    "allowed_bad": 10.0,
                    "consumed_ratio": 4.0,
                    "period_fraction": 0.005556,
                    "window": {"from_s": 5.0, "to_s": 65.0},
                },
            ],
        },  # fmt: skip
        "roles": roles_of(None),
        "events": [
            event("run_started", 0.0, experiment="claims-customer-latency"),
            event(
                "fault_injected",
                FAULT_S,
                fault="slow-customer",
                kind="latency",
                route="claims-api_to_customer-api",
                attributes={"latency_ms": 1500},
            ),
            event("detected", 29.5, alertname="ClaimsApiAvailabilityBurnRate"),
            event(
                "triaged",
                30.0,
                alertname="DependencySlow",
                service="claims-api",
                dependency="customer-api",
            ),
            event("mitigated", 31.0, runbook="claims-customer-fallback"),
            event("resolved", 40.0),
            event("fault_rolled_back", ROLLED_BACK_S, fault="slow-customer"),
            event("run_finished", 70.0, verdict="passed"),
        ],  # fmt: skip
        "series": {"slo_ok:claims-api": [[49.0, 1.0], [60.0, 1.0], [69.0, 1.0]]},
    }


def failing_journal() -> dict:
    """One run that shows every kind of problem an action item is made from."""
    journal = passing_journal()
    journal["verdict"] = {
        "status": "failed",
        "reason": "",
        "checks": [
            check(f"alert {ALERT} fires", False, observed="notified after 48.00 s"),
            check(
                "alert PolicyApiLatencyBurnRate[ticket] fires",
                False,
                observed="never notified",
            ),
            check(
                "runbook claims-customer-fallback runs",
                False,
                observed="it failed: 503",
            ),
            check(
                "SLO claims-api breaks, then recovers",
                False,
                observed="it did not hold 5 s",
            ),
            check("invariant keys_charged_once holds", False),
            check(
                "runbook policy-bad-deploy-rollback runs",
                False,
                observed="it never ran: skipped (disabled)",
            ),
            check(
                "the pager opens the expected incidents",
                False,
                predicted="exactly 1 incident(s)",
                observed="2 incident(s)",
            ),
        ],  # fmt: skip
        "measurements": {
            "fault_injected_s": FAULT_S,
            "time_to_detect_s": {ALERT: 48.0},
            "detect_deadline_s": {ALERT: 30.0},
            "slo": {"breached_s": 23.5},
        },
    }
    journal["deadlines"]["detect"]["PolicyApiLatencyBurnRate[ticket]"] = {
        "total_s": 61.0,
        "terms": {},
    }
    journal["integrity"] = [
        {"name": "keys_charged_once", "held": False, "checked": 40, "violations": 3,
         "examples": ["key k-1 charged twice"]},
    ]  # fmt: skip
    journal["load"]["achieved_journey_starts_per_s"] = 4.96
    journal["deliberate_breakage"] = {
        "runbooks_disabled": ["policy-bad-deploy-rollback"]
    }
    journal["events"] += [
        event("runbook_failed", 31.0, runbook="claims-customer-fallback",
              action_index=1, action="set_fallback", error="503 from claims-api"),
        event("halted", 45.0, condition="error_ratio", service="payment-api",
              observed=0.6, threshold=0.5),
    ]  # fmt: skip
    journal["events"] = [e for e in journal["events"] if e["kind"] != "resolved"]
    journal["series"]["slo_ok:payment-api"] = [[49.0, 1.0], [60.0, 0.0], [69.0, 0.0]]
    journal["rca"] = {
        "guess": {"component": "policy-api", "via": None, "symptom": "errors",
                  "confidence": 0.4, "summary": "policy-api answers errors."},
        "evidence": ["policy-api 5xx ratio 12%"],
        "injected": [{"fault": "slow-customer", "kind": "latency",
                      "route": "claims-api_to_customer-api", "service": "claims-api",
                      "component": "customer-api"}],
        "correct": False,
        "method": "edge scoring",
    }  # fmt: skip
    return journal


def section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# Sections


def test_every_section_is_present_once_in_order():
    text = render_postmortem(passing_journal())

    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)

    assert headings == list(SECTIONS)
    assert text.startswith("# Postmortem (draft): claims-customer-latency\n")


def test_the_timeline_has_the_lifecycle_between_injection_and_rollback():
    text = section(render_postmortem(passing_journal()), "Timeline")

    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]
    described = [row.split("|")[3].strip().split(":")[0] for row in rows]

    assert described == [
        "Fault injected",
        "Detected",
        "Triaged",
        "Mitigated",
        "Resolved",
        "Fault slow-customer rolled back",
    ]
    assert "Not reached" not in text


def test_a_stage_never_reached_is_named():
    text = section(render_postmortem(failing_journal()), "Timeline")

    assert "Not reached: resolved." in text


def test_impact_shows_failed_requests_journeys_and_budget():
    text = section(render_postmortem(passing_journal()), "Impact")

    assert "Failed requests: 40 of 1000 (4.0%)." in text
    assert "Journeys affected: file_a_claim (10 of 100 failed)." in text
    assert "| claims-api-availability | availability | 99.00% | 40 / 1000 | 10 |" in (
        text
    )
    assert "| 4.00x | 0.556% |" in text


def test_an_early_death_renders_every_section_without_impact():
    journal = {
        "schema_version": 2,
        "run_id": "r",
        "experiment": "e",
        "verdict": {"status": "error", "reason": "Prometheus is not installed"},
        "events": [event("run_started", 0.0)],
        "series": {},
    }

    text = render_postmortem(journal)

    assert re.findall(r"^## (.+)$", text, flags=re.MULTILINE) == list(SECTIONS)
    assert "Not measured" in section(text, "Impact")
    items = section(text, "Action items")
    assert "The run ended error before it could judge the hypothesis: Prometheus" in (
        items
    )


def test_the_wording_is_blameless():
    text = render_postmortem(failing_journal()).lower()

    for phrase in ("human error", "should have", "careless", "negligen", "fault of"):
        assert phrase not in text


def test_write_postmortem_writes_the_rendered_draft(tmp_path):
    path = write_postmortem(tmp_path, passing_journal())

    assert path == tmp_path / "postmortem.md"
    assert path.read_text() == render_postmortem(passing_journal())


# Action items


def items_by_kind(journal: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in action_items(journal):
        found.setdefault(item.kind, []).append(item.text)
    return found


EXPECTED_ITEMS = {
    "detected_late": (
        f"{ALERT} was notified 48.0 s after the fault against a computed deadline "
        "of 30.0 s (18.0 s late)"
    ),
    "alert_never_fired": "PolicyApiLatencyBurnRate[ticket] never fired after the "
    "fault (deadline 61.0 s)",
    "runbook_failed": "Runbook claims-customer-fallback failed at action 1 "
    "(set_fallback) at t=31.0 s: 503 from claims-api",
    "integrity_broken": "Data invariant keys_charged_once broken: 3 violation(s) "
    "among 40 checked (for example key k-1 charged twice)",
    "slo_never_recovered": "The SLO of claims-api breached at t=23.5 s and never "
    "recovered",
    "halted": "halted at t=45.0 s by its error_ratio condition on payment-api: "
    "observed 0.6 against a threshold of 0.5",
    "load_under_offered": "The load achieved only 62% of its offered rate (4.96 of "
    "8.00 journeys/s)",
    "rca_missed": "pointed at policy-api (errors, confidence 40%) while the injected "
    "cause was customer-api via claims-api_to_customer-api",
    "runbook_not_run": "Runbook policy-bad-deploy-rollback did not run as expected: "
    "it never ran: skipped (disabled) (it was disabled for this run on purpose)",
    "expectation_failed": "Expectation 'the pager opens the expected incidents' did "
    "not hold (predicted exactly 1 incident(s); observed 2 incident(s))",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_ITEMS))
def test_each_kind_of_problem_makes_a_concrete_action_item(kind):
    found = items_by_kind(failing_journal())

    assert any(EXPECTED_ITEMS[kind] in text for text in found.get(kind, [])), found


@pytest.mark.parametrize("kind", sorted(EXPECTED_ITEMS))
def test_a_passing_run_makes_no_action_item_of_any_kind(kind):
    assert kind not in items_by_kind(passing_journal())


def test_an_slo_still_burning_at_the_end_is_an_action_item():
    texts = items_by_kind(failing_journal())["slo_never_recovered"]

    assert any(
        t.startswith("The SLO of payment-api was still breached at the end of the "
                     "run, 19.0 s after the last fault was rolled back")
        for t in texts
    )  # fmt: skip


def test_a_failed_expectation_already_explained_is_not_repeated():
    found = items_by_kind(failing_journal())

    generic = " ".join(found["expectation_failed"])
    assert len(found["expectation_failed"]) == 1
    assert "runbook claims-customer-fallback runs" not in generic
    assert ALERT not in generic


def test_an_alert_removed_on_purpose_says_so():
    journal = failing_journal()
    journal["deliberate_breakage"] = {
        "alert_rules_removed": ["PolicyApiLatencyBurnRate"]
    }

    (text,) = items_by_kind(journal)["alert_never_fired"]

    assert "its rule was removed for this run on purpose" in text


def test_the_load_ratio_of_the_extended_load_format_is_used():
    journal = passing_journal()
    journal["load"] = {"achieved_ratio": 0.5, "offered_per_s": 8.0,
                       "achieved_per_s": 4.0}  # fmt: skip

    (text,) = items_by_kind(journal)["load_under_offered"]

    assert "only 50% of its offered rate (4.00 of 8.00 journeys/s)" in text


def test_a_passed_run_has_no_action_items_and_says_what_went_well():
    text = render_postmortem(passing_journal())

    assert section(text, "Action items").strip() == NO_ACTION_ITEMS
    well = section(text, "What went well")
    assert (
        f"{ALERT} was notified 9.5 s after the fault, within its 17.2 s deadline"
        in (well)
    )
    assert "The SLO was back 14.0 s after the fault was injected." in well
    assert "All 1 data invariants held over 12 stored items checked." in well
    assert "Every injected fault was read back as rolled back." in well
    assert "The load achieved 99% of its offered rate." in well
    # Every expectation held; the budget its fault spent is still said.
    assert (
        section(text, "What did not go well")
        .strip()
        .startswith("- claims-api-availability used 4.00x the error budget")
    )


def test_a_failed_run_lists_its_items_as_open_tasks():
    text = section(render_postmortem(failing_journal()), "Action items")

    lines = [line for line in text.splitlines() if line]
    assert len(lines) == len(action_items(failing_journal()))
    assert all(line.startswith("- [ ] ") for line in lines)


# Root cause


def test_root_cause_names_the_injected_fault_and_the_rca_guess():
    text = section(render_postmortem(failing_journal()), "Root cause")

    assert "slow-customer (latency, latency_ms 1500) on claims-api_to_customer-api" in (
        text
    )
    assert "policy-api answers errors. (confidence 40%; it does not name" in text
    assert "- policy-api 5xx ratio 12%" in text


def test_root_cause_without_rca_says_so():
    text = section(render_postmortem(passing_journal()), "Root cause")

    assert "No automated root-cause analysis is in this journal." in text


# Roles


def write_plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


PLAN = """\
incident_commander: Claims on-call lead
communications_lead: Duty manager
technical_lead: Platform SRE
date: 2026-12-05
participants: [claims team]
"""


def test_roles_come_from_the_plan(tmp_path):
    plan = load_plan(write_plan(tmp_path, PLAN))
    journal = passing_journal()
    journal["roles"] = roles_of(plan)

    text = section(render_postmortem(journal), "Incident roles")

    assert "| Incident commander | Claims on-call lead |" in text
    assert "| Communications lead | Duty manager |" in text
    assert "| Technical lead | Platform SRE |" in text
    assert f"From the game-day plan {tmp_path / 'plan.yaml'}." in text
    assert "Game day: 2026-12-05." in text
    assert "to be filled in" not in text


def test_without_a_plan_the_roles_are_to_be_filled_in():
    text = section(render_postmortem(passing_journal()), "Incident roles")

    assert text.count("| to be filled in |") == 3
    assert "No game-day plan named the roles" in text


def test_roles_without_a_plan_are_null():
    assert roles_of(None) == {
        "incident_commander": None,
        "communications_lead": None,
        "technical_lead": None,
        "source": None,
    }


def test_the_example_plan_is_valid():
    plan = load_plan(REPO / "config" / "gameday-plan.example.yaml")

    assert plan.incident_commander and plan.communications_lead
    assert plan.technical_lead and plan.participants


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PLAN + "pager: x\n",
            "plan.yaml:6: unknown field 'pager'; accepted fields: communications_lead,"
            " date, incident_commander, participants, scribe, technical_lead",
        ),
        (
            PLAN.replace("Platform SRE", "42"),
            "plan.yaml:3: field 'technical_lead' is 42; expected a non-empty string",
        ),
        (
            PLAN.replace("Duty manager", "[a, b]"),
            "field 'communications_lead' is ['a', 'b']; expected a non-empty string",
        ),
        (
            PLAN.replace("Claims on-call lead", "''"),
            "field 'incident_commander' is ''; expected a non-empty string",
        ),
        (
            PLAN.replace("technical_lead: Platform SRE\n", ""),
            "field 'technical_lead' is missing; expected a non-empty string",
        ),
        (
            PLAN + "scribe: true\n",
            "field 'scribe' is true; expected a non-empty string",
        ),
        (
            PLAN.replace("[claims team]", "[claims team, 3]"),
            "field 'participants' is ['claims team', 3]; expected a list of names",
        ),
        ("- a\n- b\n", "field '(document)' is ['a', 'b']; expected a mapping"),
    ],
)
def test_a_bad_plan_is_refused_naming_field_and_value(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_plan(write_plan(tmp_path, text))

    assert message in str(caught.value)


@pytest.mark.parametrize("command", ["run", "gameday"])
def test_the_cli_refuses_a_bad_plan_before_anything_runs(tmp_path, capsys, command):
    from harness.cli import main

    plan = write_plan(tmp_path, PLAN + "pager: x\n")
    experiment = REPO / "experiments" / "claims-customer-latency.yaml"
    argv = [command, str(experiment), "--plan", str(plan)]

    code = main([*argv, "--reports", str(tmp_path / "reports")])

    assert code == 2
    assert "plan.yaml:6: unknown field 'pager'" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


# Error budget


@pytest.fixture(scope="module")
def claims_availability():
    estate = load_estate(REPO / "config")
    return next(
        o for o in estate.slo_specs.objectives if o.name == "claims-api-availability"
    )


def test_budget_consumed_is_bad_over_what_the_traffic_allowed(claims_availability):
    entry = budget_entry(claims_availability, 30.0, 1000.0, (5.0, 65.0), 60, 2592000)

    assert entry["allowed_bad"] == pytest.approx(10.0)
    assert entry["consumed_ratio"] == pytest.approx(3.0)
    assert entry["good"] == pytest.approx(970.0)


def test_budget_period_fraction_matches_the_burn_rate_arithmetic(claims_availability):
    # A burn rate of 14.4 for one production hour spends 2% of a 30-day
    # budget; at a compression of 60 a run minute stands for that hour.
    entry = budget_entry(claims_availability, 144.0, 1000.0, (0.0, 60.0), 60, 2592000)

    assert entry["consumed_ratio"] == pytest.approx(14.4)
    assert entry["period_fraction"] == pytest.approx(0.02)


def test_budget_without_traffic_is_null_never_zero(claims_availability):
    entry = budget_entry(claims_availability, 0.0, 0.0, (0.0, 60.0), 60, 2592000)

    assert entry["consumed_ratio"] is None and entry["period_fraction"] is None
    assert entry["allowed_bad"] == 0.0


def test_impact_lists_the_journeys_with_failures():
    impact = impact_of(passing_journal()["load"], [])

    assert impact["requests"] == 1000 and impact["failed_requests"] == 40
    assert impact["journeys_affected"] == ["file_a_claim"]
    assert impact_of(None, None) is None


def test_a_journal_round_trip_renders_the_same(tmp_path):
    journal = failing_journal()
    again = json.loads(json.dumps(copy.deepcopy(journal)))

    assert render_postmortem(again) == render_postmortem(journal)


def test_the_timeline_times_each_stage_when_it_was_reached():
    journal = passing_journal()
    for entry in journal["events"]:
        if entry["kind"] == "detected":
            entry["wall"] = "2026-12-05T04:01:10.000+00:00"  # written after the run

    text = section(render_postmortem(journal), "Timeline")

    assert "| 29.50 | 2026-12-05T04:00:29.500+00:00 | Detected:" in text


def test_measure_budget_asks_prometheus_for_the_sli_counts_over_the_run():
    import httpx

    from harness.observe.prometheus import PrometheusAPI
    from harness.report.impact import measure_budget

    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        asked.append(query)
        bad = 'code=~"5.."' in query or " - (" in query
        # claims-api burns; payment-api (not watched) has a few errors too;
        # customer-api is watched and clean; policy-api is neither.
        value = {"claims-api": 30.0 if bad else 1000.0,
                 "payment-api": 2.0 if bad else 500.0,
                 "customer-api": 0.0 if bad else 800.0}  # fmt: skip
        service = re.search(r'service="([^"]+)"', query).group(1)
        if service not in value:
            result = []
        else:
            result = [
                {"metric": {"service": service}, "value": [0, str(value[service])]}
            ]
        return httpx.Response(
            200, json={"status": "success",
                       "data": {"resultType": "vector", "result": result}}
        )  # fmt: skip

    estate = load_estate(REPO / "config")
    api = PrometheusAPI(
        "http://prometheus.invalid", transport=httpx.MockTransport(answer)
    )

    entries = measure_budget(api, estate, ["claims-api", "customer-api"], (5.0, 65.2))

    by_slo = {entry["slo"]: entry for entry in entries}
    assert by_slo["claims-api-availability"]["consumed_ratio"] == pytest.approx(3.0)
    assert by_slo["claims-api-availability"]["window"] == {"from_s": 5.0, "to_s": 65.2}
    assert by_slo["customer-api-availability"]["consumed_ratio"] == 0.0
    assert "payment-api-availability" in by_slo, "bad events outside the watched set"
    assert not any(entry["service"] == "policy-api" for entry in entries)
    assert all("[61s]" in query for query in asked)
    latency = by_slo["claims-api-latency"]
    assert latency["allowed_bad"] == pytest.approx(0.05 * 1000)


def test_a_postmortem_that_fails_costs_no_other_report(tmp_path, monkeypatch, caplog):
    from harness.experiment import runner
    from harness.experiment.runner import RunOptions, run_experiment

    def broken(run_dir, journal):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(runner, "write_postmortem", broken)
    monkeypatch.setenv("PATH", str(tmp_path))  # no Prometheus: the run ends at once

    result = run_experiment(
        REPO / "experiments" / "claims-customer-latency.yaml",
        RunOptions(reports_dir=tmp_path / "reports"),
    )

    assert (result.report_dir / "summary.md").exists()
    assert (result.report_dir / "journal.json").exists()
    assert not (result.report_dir / "postmortem.md").exists()
    assert "postmortem.md not written" in caplog.text


def test_harness_report_writes_the_postmortem_again_from_the_journal(tmp_path, capsys):
    from harness.cli import main

    (tmp_path / "journal.json").write_text(json.dumps(failing_journal()))

    assert main(["report", str(tmp_path)]) == 0

    assert f"wrote {tmp_path / 'postmortem.md'}" in capsys.readouterr().out
    written = (tmp_path / "postmortem.md").read_text()
    assert written == render_postmortem(failing_journal())


def test_a_closed_model_slowing_under_the_fault_is_no_load_action_item():
    journal = passing_journal()
    journal["load"] = {"achieved_ratio": 0.4, "offered_per_s": None,
                       "achieved_per_s": 3.0, "under_offered": True}  # fmt: skip

    assert "load_under_offered" not in items_by_kind(journal)


def test_an_slo_seen_breached_only_just_after_the_rollback_is_no_action_item():
    journal = failing_journal()
    rollback_s = max(
        e["t_s"] for e in journal["events"] if e["kind"] == "fault_rolled_back"
    )
    journal["series"]["slo_ok:payment-api"] = [[rollback_s + 0.2, 0.0]]

    texts = items_by_kind(journal).get("slo_never_recovered", [])

    assert not any("payment-api was still breached" in t for t in texts)


def test_a_budget_overspent_is_said_to_have_gone_badly():
    journal = passing_journal()
    journal["impact"]["budget"][0]["consumed_ratio"] = 11.85
    journal["impact"]["budget"][0]["period_fraction"] = 0.0123

    badly = section(render_postmortem(journal), "What did not go well")

    assert "used 11.85x the error budget its traffic allowed" in badly
    assert "(1.23% of the budget period)" in badly


def test_journal_text_cannot_add_headings_or_raw_html_to_the_draft():
    journal = failing_journal()
    journal["hypothesis"] = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    for check in journal["verdict"]["checks"]:
        check["observed"] = "never\n# injected heading"

    text = render_postmortem(journal)

    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert "\n# injected heading" not in text
    assert text.count("\n# ") == 0 and text.startswith("# Postmortem")

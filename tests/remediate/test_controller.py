"""The controller runs a runbook once per alert, within its cooldown and cap."""

import dataclasses
import threading
from pathlib import Path

from harness.config import Escalation, Runbook, RunbookAction
from harness.remediate.actions import ActionResult
from harness.remediate.controller import RemediationController
from harness.report.journal import Journal

ALERT = "ClaimsApiAvailabilityBurnRate"
FALLBACK = RunbookAction(
    "set_fallback",
    {"service": "claims-api", "dependency": "customer-api", "mode": "cache"},
)
RESTART = RunbookAction("restart", {"service": "claims-api"})
RUNBOOK = Runbook(
    name="fallback",
    description="",
    answers=(ALERT,),
    actions=(FALLBACK,),
    enabled=True,
    path=Path("x.yaml"),
)


class RecordingExecutor:
    """Stands in for the admin API, which the controller's logic does not need."""

    def __init__(self, fail_on: str | None = None):
        self.calls = []
        self.fail_on = fail_on

    def run(self, action):
        self.calls.append(action)
        if action.action == self.fail_on:
            raise RuntimeError("admin API refused")
        return ActionResult(action.action, "claims-api->customer-api", {})


class RecordingPager:
    def __init__(self):
        self.pages = []

    def escalate(self, runbook, alertname, attempts):
        self.pages.append((runbook.name, alertname, attempts))
        return {"team": runbook.escalate.team, "integration": "pagerduty"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def controller(tmp_path, executor, runbook=RUNBOOK, **kwargs):
    journal = Journal(tmp_path, "t")
    ctl = RemediationController({runbook.name: runbook}, executor, journal, **kwargs)
    return ctl, journal


def fire(ctl, fingerprint, labels=None):
    ctl.on_alert(ALERT, fingerprint, "firing", labels)
    # Each run finishes before the next alert, as it would in minutes of time.
    for future in ctl._futures:
        future.result(timeout=10)


def test_repeated_notifications_run_the_runbook_once(tmp_path):
    executor = RecordingExecutor()
    ctl, journal = controller(tmp_path, executor)

    for _ in range(5):
        ctl.on_alert(ALERT, "fp1", "firing")
    ctl.shutdown()

    assert len(executor.calls) == 1
    assert len(journal.events("runbook_finished")) == 1


def test_resolved_and_unrelated_alerts_run_nothing(tmp_path):
    executor = RecordingExecutor()
    ctl, _ = controller(tmp_path, executor)

    ctl.on_alert(ALERT, "fp1", "resolved")
    ctl.on_alert("PolicyApiLatencyBurnRate", "fp2", "firing")
    ctl.shutdown()

    assert executor.calls == []


def test_a_runbook_answers_only_alerts_with_its_labels(tmp_path):
    executor = RecordingExecutor()
    runbook = dataclasses.replace(RUNBOOK, match=(("service", "claims-api"),))
    ctl, _ = controller(tmp_path, executor, runbook)

    fire(ctl, "fp1", {"service": "policy-api"})
    fire(ctl, "fp2")
    assert executor.calls == []

    fire(ctl, "fp3", {"service": "claims-api"})
    ctl.shutdown()
    assert len(executor.calls) == 1


def test_a_disabled_runbook_is_recorded_as_skipped(tmp_path):
    executor = RecordingExecutor()
    ctl, journal = controller(tmp_path, executor, disabled=("fallback",))

    ctl.on_alert(ALERT, "fp1", "firing")
    ctl.shutdown()

    assert executor.calls == []
    assert journal.first("runbook_skipped", runbook="fallback").fields["reason"] == (
        "disabled"
    )


def test_actions_stop_at_the_first_that_fails_and_the_failure_is_recorded(tmp_path):
    executor = RecordingExecutor(fail_on="set_fallback")
    runbook = dataclasses.replace(RUNBOOK, actions=(FALLBACK, RESTART))
    ctl, journal = controller(tmp_path, executor, runbook)

    ctl.on_alert(ALERT, "fp1", "firing")
    ctl.shutdown()

    assert [a.action for a in executor.calls] == ["set_fallback"]
    assert journal.events("runbook_finished") == []
    failed = journal.first("runbook_failed").fields
    assert failed["action_index"] == 0
    assert "admin API refused" in failed["error"]
    audit = journal.first("runbook_action").fields
    assert audit["result"] == "failed"
    assert audit["target"] == "claims-api->customer-api"


def test_each_action_is_audited_with_target_and_result(tmp_path):
    runbook = dataclasses.replace(RUNBOOK, actions=(FALLBACK, RESTART))
    ctl, journal = controller(tmp_path, RecordingExecutor(), runbook)

    ctl.on_alert(ALERT, "fp1", "firing")
    ctl.shutdown()

    audits = [e.fields for e in journal.events("runbook_action")]
    assert [(a["action"], a["result"]) for a in audits] == [
        ("set_fallback", "ok"),
        ("restart", "ok"),
    ]


def test_a_second_alert_within_the_cooldown_is_skipped(tmp_path):
    clock = Clock()
    executor = RecordingExecutor()
    runbook = dataclasses.replace(RUNBOOK, cooldown_s=60, max_attempts=5)
    ctl, journal = controller(tmp_path, executor, runbook, clock=clock)

    fire(ctl, "fp1")
    clock.now += 59
    fire(ctl, "fp2")
    clock.now += 2
    fire(ctl, "fp3")
    ctl.shutdown()

    assert len(executor.calls) == 2
    skipped = journal.events("runbook_skipped")
    assert [e.fields["reason"] for e in skipped] == ["cooldown"]
    assert skipped[0].fields["fingerprint"] == "fp2"


def test_past_max_attempts_the_runbook_escalates_once_and_never_runs_again(
    tmp_path,
):
    executor, pager = RecordingExecutor(), RecordingPager()
    runbook = dataclasses.replace(
        RUNBOOK, max_attempts=2, escalate=Escalation("claims-platform")
    )
    ctl, journal = controller(tmp_path, executor, runbook, escalator=pager)

    for index in range(6):
        fire(ctl, f"fp{index}")
    ctl.shutdown()

    assert len(executor.calls) == 2
    assert pager.pages == [("fallback", ALERT, 2)]
    escalated = journal.first("runbook_escalated").fields
    assert escalated["result"] == "ok"
    assert escalated["team"] == "claims-platform"
    reasons = [e.fields["reason"] for e in journal.events("runbook_skipped")]
    assert reasons == ["escalated"] * 3


def test_without_an_escalation_a_capped_runbook_is_skipped(tmp_path):
    executor = RecordingExecutor()
    ctl, journal = controller(tmp_path, executor, escalator=RecordingPager())

    fire(ctl, "fp1")
    fire(ctl, "fp2")
    ctl.shutdown()

    assert len(executor.calls) == 1
    assert journal.first("runbook_skipped").fields["reason"] == "max_attempts"


def test_a_dry_run_records_every_action_and_changes_nothing(tmp_path):
    executor = RecordingExecutor()
    runbook = dataclasses.replace(RUNBOOK, actions=(FALLBACK, RESTART), dry_run=True)
    ctl, journal = controller(tmp_path, executor, runbook)

    ctl.on_alert(ALERT, "fp1", "firing")
    ctl.shutdown()

    assert executor.calls == []
    audits = [e.fields for e in journal.events("runbook_action")]
    assert [(a["target"], a["result"]) for a in audits] == [
        ("claims-api->customer-api", "dry_run"),
        ("claims-api", "dry_run"),
    ]
    assert audits[0]["would"] == FALLBACK.params
    assert journal.events("runbook_finished") == []
    assert journal.first("runbook_rehearsed", runbook="fallback") is not None


def test_an_alert_while_the_runbook_runs_does_not_start_it_twice(tmp_path):

    release = threading.Event()

    class SlowExecutor(RecordingExecutor):
        def run(self, action):
            release.wait(10)
            return super().run(action)

    executor = SlowExecutor()
    runbook = dataclasses.replace(RUNBOOK, max_attempts=5)
    ctl, journal = controller(tmp_path, executor, runbook)

    ctl.on_alert(ALERT, "fp1", "firing")
    ctl.on_alert(ALERT, "fp2", "firing")
    release.set()
    ctl.shutdown()

    assert len(executor.calls) == 1
    assert journal.first("runbook_skipped").fields["reason"] == "running"

"""The controller runs a runbook once per alert, however often it hears of it."""

from pathlib import Path

from harness.config import Runbook, RunbookAction
from harness.remediate.actions import ActionResult
from harness.remediate.controller import RemediationController
from harness.report.journal import Journal

RUNBOOK = Runbook(
    name="fallback",
    description="",
    answers=("ClaimsApiAvailabilityBurnRate",),
    actions=(
        RunbookAction(
            "set_fallback",
            {"service": "claims-api", "dependency": "customer-api", "mode": "cache"},
        ),
    ),
    enabled=True,
    path=Path("x.yaml"),
)


class RecordingExecutor:
    """Stands in for the admin API, which the controller's logic does not need."""

    def __init__(self, fail: bool = False):
        self.calls = []
        self.fail = fail

    def run(self, action):
        self.calls.append(action)
        if self.fail:
            raise RuntimeError("admin API refused")
        return ActionResult(action.action, "claims-api->customer-api", {})


def controller(tmp_path, executor, disabled=()):
    journal = Journal(tmp_path, "t")
    return RemediationController(
        {"fallback": RUNBOOK}, executor, journal, disabled=disabled
    ), journal


def test_repeated_notifications_run_the_runbook_once(tmp_path):
    executor = RecordingExecutor()
    ctl, journal = controller(tmp_path, executor)

    for _ in range(5):
        ctl.on_alert("ClaimsApiAvailabilityBurnRate", "fp1", "firing")
    ctl.shutdown()

    assert len(executor.calls) == 1
    assert len(journal.events("runbook_finished")) == 1


def test_resolved_and_unrelated_alerts_run_nothing(tmp_path):
    executor = RecordingExecutor()
    ctl, _ = controller(tmp_path, executor)

    ctl.on_alert("ClaimsApiAvailabilityBurnRate", "fp1", "resolved")
    ctl.on_alert("PolicyApiLatencyBurnRate", "fp2", "firing")
    ctl.shutdown()

    assert executor.calls == []


def test_a_disabled_runbook_is_recorded_as_skipped(tmp_path):
    executor = RecordingExecutor()
    ctl, journal = controller(tmp_path, executor, disabled=("fallback",))

    ctl.on_alert("ClaimsApiAvailabilityBurnRate", "fp1", "firing")
    ctl.shutdown()

    assert executor.calls == []
    assert journal.first("runbook_skipped", runbook="fallback").fields["reason"] == (
        "disabled"
    )


def test_a_failing_action_is_recorded_not_finished(tmp_path):
    ctl, journal = controller(tmp_path, RecordingExecutor(fail=True))

    ctl.on_alert("ClaimsApiAvailabilityBurnRate", "fp1", "firing")
    ctl.shutdown()

    assert journal.events("runbook_finished") == []
    assert "admin API refused" in journal.first("runbook_failed").fields["error"]

"""Building the controller, its executor and its escalator for one running estate."""

from collections.abc import Iterable

from harness.config import Estate
from harness.remediate.actions import ActionExecutor, Restarter
from harness.remediate.controller import RemediationController
from harness.remediate.escalation import Escalator
from harness.report.journal import Journal


def build_remediation(
    estate: Estate,
    service_urls: dict[str, str],
    admin_token: str,
    journal: Journal,
    stack: Restarter | None = None,
    pager_url: str | None = None,
    disabled: Iterable[str] = (),
) -> tuple[RemediationController, ActionExecutor]:
    """The controller and the executor whose undo_all() ends the experiment.

    service_urls holds every mock a runbook may act on (services and
    externals); without a pager_url a capped runbook is skipped, not escalated.
    """
    executor = ActionExecutor(service_urls, admin_token, stack=stack)
    escalator = Escalator(pager_url, estate.alerting) if pager_url else None
    controller = RemediationController(
        estate.runbooks, executor, journal, disabled=disabled, escalator=escalator
    )
    return controller, executor

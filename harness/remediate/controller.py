"""The remediation controller: alert notifications in, runbooks run once each.

Alertmanager repeats a notification every repeat_interval while an alert
fires, and may deliver one twice; the controller acts once per alert
fingerprint, however often it hears of it.
"""

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from harness.config import Runbook
from harness.remediate.actions import ActionExecutor
from harness.report.journal import Journal

log = logging.getLogger(__name__)


class RemediationController:
    """Runs the runbook that answers a firing alert, once per fingerprint."""

    def __init__(
        self,
        runbooks: dict[str, Runbook],
        executor: ActionExecutor,
        journal: Journal,
        disabled: Iterable[str] = (),
    ):
        self.runbooks = runbooks
        self.executor = executor
        self.journal = journal
        self.disabled = set(disabled)
        self._handled: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="runbook")
        self._futures: list[Future] = []

    def answering(self, alertname: str) -> list[Runbook]:
        return [rb for rb in self.runbooks.values() if alertname in rb.answers]

    def on_alert(self, alertname: str, fingerprint: str, status: str) -> None:
        """Called for every alert in every notification; cheap and non-blocking."""
        if status != "firing":
            return
        with self._lock:
            if fingerprint in self._handled:
                return
            self._handled.add(fingerprint)
        for runbook in self.answering(alertname):
            if not runbook.enabled or runbook.name in self.disabled:
                self.journal.record(
                    "runbook_skipped",
                    runbook=runbook.name,
                    alert=alertname,
                    reason="disabled",
                )
                continue
            self._futures.append(
                self._pool.submit(self._run, runbook, alertname, fingerprint)
            )

    def _run(self, runbook: Runbook, alertname: str, fingerprint: str) -> None:
        self.journal.record(
            "runbook_started",
            runbook=runbook.name,
            alert=alertname,
            fingerprint=fingerprint,
        )
        try:
            for action in runbook.actions:
                result = self.executor.run(action)
                self.journal.record(
                    "runbook_action",
                    runbook=runbook.name,
                    action=result.action,
                    target=result.target,
                    result="ok",
                    **result.detail,
                )
        except Exception as exc:
            log.warning("runbook %s failed", runbook.name, exc_info=True)
            self.journal.record(
                "runbook_failed", runbook=runbook.name, alert=alertname, error=str(exc)
            )
            return
        self.journal.record("runbook_finished", runbook=runbook.name, alert=alertname)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Let running runbooks finish, then stop taking new ones."""
        for future in list(self._futures):
            try:
                future.result(timeout=timeout_s)
            except Exception:
                log.warning("runbook did not finish cleanly", exc_info=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

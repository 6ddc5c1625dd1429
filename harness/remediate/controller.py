"""The remediation controller: alert notifications in, bounded runbook runs out.

Alertmanager repeats a notification every repeat_interval while an alert
fires, and may deliver one twice; the controller acts once per alert
fingerprint, however often it hears of it. Across fingerprints a runbook is
bounded by its own fields:

    firing alert ─► disabled? ──────────────► runbook_skipped (disabled)
                    running already? ────────► runbook_skipped (running)
                    max_attempts used? ──────► runbook_escalated (or skipped)
                    within cooldown_s? ──────► runbook_skipped (cooldown)
                    otherwise ───────────────► runbook_started, actions in order,
                                               runbook_finished or runbook_failed
                                               (runbook_rehearsed when dry_run)

so no alert, however it flaps, can make a runbook loop.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from harness.config import Runbook, RunbookAction
from harness.remediate.actions import ActionResult, action_target
from harness.report.journal import Journal

log = logging.getLogger(__name__)


class Executor(Protocol):
    def run(self, action: RunbookAction) -> ActionResult: ...


class Pager(Protocol):
    def escalate(self, runbook: Runbook, alertname: str, attempts: int) -> dict: ...


@dataclass
class _Tally:
    """What one runbook has done in this experiment."""

    attempts: int = 0
    last_started: float | None = None
    running: bool = False
    escalated: bool = False


class RemediationController:
    """Runs the runbooks that answer a firing alert, within their bounds."""

    def __init__(
        self,
        runbooks: dict[str, Runbook],
        executor: Executor,
        journal: Journal,
        disabled: Iterable[str] = (),
        escalator: Pager | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.runbooks = runbooks
        self.executor = executor
        self.journal = journal
        self.disabled = set(disabled)
        self.escalator = escalator
        self._clock = clock
        self._handled: set[str] = set()
        self._tallies = {name: _Tally() for name in runbooks}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="runbook")
        self._futures: list[Future] = []

    def answering(
        self, alertname: str, labels: dict[str, str] | None = None
    ) -> list[Runbook]:
        labels = labels or {}
        return [
            rb for rb in self.runbooks.values() if rb.answers_alert(alertname, labels)
        ]

    def on_alert(
        self,
        alertname: str,
        fingerprint: str,
        status: str,
        labels: dict[str, str] | None = None,
    ) -> None:
        """Called for every alert in every notification; cheap and non-blocking.

        Without labels, a runbook that matches on labels does not answer.
        """
        if status != "firing":
            return
        with self._lock:
            if fingerprint in self._handled:
                return
            self._handled.add(fingerprint)
        for runbook in self.answering(alertname, labels):
            self._answer(runbook, alertname, fingerprint)

    def _answer(self, runbook: Runbook, alertname: str, fingerprint: str) -> None:
        with self._lock:
            decision = self._decide(runbook)
        if decision == "run":
            self._futures.append(
                self._pool.submit(self._run, runbook, alertname, fingerprint)
            )
        elif decision == "escalate":
            self._futures.append(
                self._pool.submit(self._escalate, runbook, alertname, fingerprint)
            )
        else:
            self.journal.record(
                "runbook_skipped",
                runbook=runbook.name,
                alert=alertname,
                fingerprint=fingerprint,
                reason=decision,
            )

    def _decide(self, runbook: Runbook) -> str:
        """run, escalate, or the reason to skip; the caller holds the lock."""
        tally = self._tallies[runbook.name]
        if not runbook.enabled or runbook.name in self.disabled:
            return "disabled"
        if tally.running:
            return "running"
        if tally.attempts >= runbook.max_attempts:
            if runbook.escalate is None or self.escalator is None:
                return "max_attempts"
            if tally.escalated:
                return "escalated"
            tally.escalated = True
            return "escalate"
        now = self._clock()
        if tally.last_started is not None:
            if now - tally.last_started < runbook.cooldown_s:
                return "cooldown"
        tally.attempts += 1
        tally.last_started = now
        tally.running = True
        return "run"

    def _run(self, runbook: Runbook, alertname: str, fingerprint: str) -> None:
        attempt = self._tallies[runbook.name].attempts
        self.journal.record(
            "runbook_started",
            runbook=runbook.name,
            alert=alertname,
            fingerprint=fingerprint,
            attempt=attempt,
            dry_run=runbook.dry_run,
        )
        try:
            failed = self._actions(runbook)
        finally:
            with self._lock:
                self._tallies[runbook.name].running = False
        if failed is not None:
            index, error = failed
            self.journal.record(
                "runbook_failed",
                runbook=runbook.name,
                alert=alertname,
                action_index=index,
                action=runbook.actions[index].action,
                error=error,
            )
            return
        # A rehearsal changed nothing, so it must never count as mitigation.
        kind = "runbook_rehearsed" if runbook.dry_run else "runbook_finished"
        self.journal.record(kind, runbook=runbook.name, alert=alertname)

    def _actions(self, runbook: Runbook) -> tuple[int, str] | None:
        """Carry out the actions in order; (index, error) of the first that failed."""
        for index, action in enumerate(runbook.actions):
            fields = {"runbook": runbook.name, "index": index, "action": action.action}
            if runbook.dry_run:
                self.journal.record(
                    "runbook_action",
                    **fields,
                    target=action_target(action),
                    result="dry_run",
                    would=dict(action.params),
                )
                continue
            try:
                result = self.executor.run(action)
            except Exception as exc:
                log.warning("runbook %s: action %s failed", runbook.name, index)
                self.journal.record(
                    "runbook_action",
                    **fields,
                    target=action_target(action),
                    result="failed",
                    detail={"error": str(exc)},
                )
                return index, str(exc)
            self.journal.record(
                "runbook_action",
                **fields,
                target=result.target,
                result="ok",
                detail=result.detail,
            )
        return None

    def _escalate(self, runbook: Runbook, alertname: str, fingerprint: str) -> None:
        attempts = self._tallies[runbook.name].attempts
        fields = {
            "runbook": runbook.name,
            "alert": alertname,
            "fingerprint": fingerprint,
            "attempts": attempts,
        }
        try:
            paged = self.escalator.escalate(runbook, alertname, attempts)
        except Exception as exc:
            log.warning("runbook %s: escalation failed", runbook.name, exc_info=True)
            self.journal.record(
                "runbook_escalated", **fields, result="failed", error=str(exc)
            )
            return
        self.journal.record("runbook_escalated", **fields, result="ok", **paged)

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Let running runbooks finish, then stop taking new ones."""
        for future in list(self._futures):
            try:
                future.result(timeout=timeout_s)
            except Exception:
                log.warning("runbook did not finish cleanly", exc_info=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

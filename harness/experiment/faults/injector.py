"""Injecting faults, checking they took effect, and always taking them back.

Each fault is written to the run's ledger before it is applied, read back
from what applied it (the proxy, the mock's admin API, the process table),
then looked for in Prometheus within a deadline from the monitoring config.
A fault that cannot be applied, read back or seen is a FaultError: the run
ends as an error, never as a pass.
"""

import logging

from harness.errors import APICallError, FaultError, StackError
from harness.experiment.fault_schema import FaultSpec
from harness.experiment.faults.app import AppFaults
from harness.experiment.faults.effects import EffectProbe
from harness.experiment.faults.ledger import (
    LIVE,
    LOST,
    REMEDIED,
    ROLLED_BACK,
    FaultLedger,
)
from harness.experiment.faults.network import NetworkFaults
from harness.experiment.faults.process import ProcessController, ProcessFaults
from harness.proxy.client import ToxiproxyClient
from harness.report.journal import Journal
from harness.stack.mock_admin import MockAdminClient

log = logging.getLogger(__name__)

# What the harness's own calls may raise; anything else is a bug, not a fault.
_CALL_ERRORS = (APICallError, StackError)


# Runbook actions that take a fault of a kind away on purpose: mitigation, not
# something changing the estate behind the harness's back.
REMEDIES = {"bad_deploy": "rollback"}


class FaultLost(FaultError):
    """A fault the harness applied vanished before its rollback."""


class FaultInjector:
    """Applies experiment faults of every family and takes them back."""

    def __init__(
        self,
        proxy: ToxiproxyClient,
        ledger: FaultLedger,
        journal: Journal,
        *,
        admin: dict[str, MockAdminClient] | None = None,
        processes: ProcessController | None = None,
        effects: EffectProbe | None = None,
    ):
        self.proxy = proxy
        self.ledger = ledger
        self.journal = journal
        self.effects = effects
        admin = admin or {}
        self._drivers = {"network": NetworkFaults(proxy), "app": AppFaults(admin)}
        if processes is not None:
            self._drivers["process"] = ProcessFaults(processes, admin)
        self._applied: dict[str, tuple[FaultSpec, dict]] = {}
        self._complete: set[str] = set()  # applied and read back whole
        self.lost_faults: list[str] = []

    def _driver(self, fault: FaultSpec):
        driver = self._drivers.get(fault.family)
        if driver is None:
            raise FaultError(
                f"fault {fault.name!r} ({fault.where}) is a {fault.kind} fault, "
                "but this run has no process controller to carry it out"
            )
        return driver

    def inject(self, fault: FaultSpec) -> None:
        driver = self._driver(fault)
        self._open(fault, driver)
        try:
            applied = driver.apply(fault)
            self._applied[fault.name] = (fault, applied)
            self.ledger.update(fault.name, **applied)
            drift = driver.drift(fault, applied)
        except _CALL_ERRORS as exc:
            raise FaultError(
                f"fault {fault.name!r} ({fault.where}) could not be "
                f"applied on {fault.target}: {exc}"
            ) from exc
        if drift is not None:
            raise FaultError(
                f"fault {fault.name!r} on {fault.target} is not live after it "
                f"was applied: {drift}"
            )
        self._complete.add(fault.name)
        self.ledger.mark(fault.name, LIVE)
        effect = self._effect(fault, driver)
        self.journal.record(
            "fault_injected",
            fault=fault.name,
            kind=fault.kind,
            target=fault.target,
            route=fault.route,
            service=fault.service,
            effect_query=effect.query if effect else None,
            effect_seen_after_s=effect.seen_after_s if effect else None,
            **fault.attributes,
        )

    def _open(self, fault: FaultSpec, driver) -> None:
        try:
            undo = driver.undo_record(fault)
        except _CALL_ERRORS as exc:
            raise FaultError(
                f"fault {fault.name!r} ({fault.where}): cannot read {fault.target} "
                f"before applying it: {exc}"
            ) from exc
        self.ledger.open(fault, undo)
        # Held before apply: a fault half-applied when the call failed is
        # still rolled back.
        self._applied[fault.name] = (fault, {})

    def _effect(self, fault: FaultSpec, driver):
        if self.effects is None:
            return None
        query = driver.effect_query(fault)
        if query is None:
            return None
        try:
            effect = self.effects.wait(*query)
        except _CALL_ERRORS as exc:
            raise FaultError(
                f"fault {fault.name!r} on {fault.target}: cannot ask Prometheus "
                f"whether it shows: {exc}"
            ) from exc
        if effect is None:
            raise FaultError(
                f"fault {fault.name!r} on {fault.target} was applied, but its "
                f"effect never showed in Prometheus within "
                f"{self.effects.deadline_s:g} s (query: {query[0]})"
            )
        return effect

    def check_live(self) -> list[str]:
        """Faults that vanished or changed before their rollback.

        A fault removed behind the harness's back would make everything
        measured afterwards look like recovery, so each one found is recorded
        and reported, never ignored.
        """
        lost = []
        for name, (fault, applied) in list(self._applied.items()):
            try:
                drift = self._driver(fault).drift(fault, applied)
            except _CALL_ERRORS as exc:
                raise FaultError(f"cannot read {fault.target}: {exc}") from exc
            if drift is not None and not self._remedied(fault, drift):
                self._lose(fault, drift)
                lost.append(name)
        return lost

    def _remedied(self, fault: FaultSpec, drift: str) -> bool:
        """True when a runbook action took the fault away; recorded as such."""
        action = REMEDIES.get(fault.kind)
        injected = self.journal.first("fault_injected", fault=fault.name)
        if action is None or injected is None:
            return False
        remedy = next(
            (
                e
                for e in self.journal.events("runbook_action")
                if e.t_s >= injected.t_s
                and e.fields.get("action") == action
                and e.fields.get("result") == "ok"
                and e.fields.get("target") == fault.service
            ),
            None,
        )
        if remedy is None:
            return False
        self._applied.pop(fault.name, None)
        self._complete.discard(fault.name)
        self._driver(fault).forget(fault)
        self.ledger.mark(fault.name, REMEDIED)
        self.journal.record(
            "fault_remedied",
            fault=fault.name,
            target=fault.target,
            runbook=remedy.fields.get("runbook", ""),
            action=action,
            found=drift,
        )
        return True

    def _lose(self, fault: FaultSpec, drift: str) -> None:
        self._applied.pop(fault.name, None)
        self._complete.discard(fault.name)
        self._driver(fault).forget(fault)
        self.lost_faults.append(fault.name)
        self.ledger.mark(fault.name, LOST)
        self.journal.record(
            "fault_lost",
            fault=fault.name,
            target=fault.target,
            route=fault.route,
            found=drift,
        )
        log.error(
            "fault %s on %s was changed behind the harness's back: %s",
            fault.name,
            fault.target,
            drift,
        )

    def rollback(self, fault_name: str) -> None:
        if fault_name not in self._applied:
            return
        fault, applied = self._applied[fault_name]
        driver = self._driver(fault)
        complete = fault_name in self._complete
        try:
            drift = driver.drift(fault, applied) if complete else None
            if drift is not None and self._remedied(fault, drift):
                return
            if drift is not None:
                self._lose(fault, drift)
                raise FaultLost(
                    f"fault {fault.name!r} on {fault.target} was changed "
                    f"before its rollback ({drift}): something else changed "
                    "it, so nothing measured after that is about this fault"
                )
            if complete or not driver.gone(fault, applied):
                outcome = driver.take_off(fault, applied)
            else:
                # Applying failed before anything took hold.
                outcome = {"never_applied": True}
            gone = driver.gone(fault, applied)
        except _CALL_ERRORS as exc:
            raise FaultError(
                f"fault {fault.name!r} on {fault.target} could "
                f"not be rolled back: {exc}"
            ) from exc
        if not gone:
            raise FaultError(
                f"fault {fault.name!r} on {fault.target} is still live "
                "after its rollback"
            )
        del self._applied[fault_name]
        self._complete.discard(fault_name)
        self.ledger.mark(fault.name, ROLLED_BACK)
        self.journal.record(
            "fault_rolled_back",
            fault=fault.name,
            target=fault.target,
            route=fault.route,
            **outcome,
        )

    def rollback_all(self) -> list[str]:
        """Roll back everything still applied; return what could not be."""
        stuck = []
        for name in list(self._applied):
            try:
                self.rollback(name)
            except FaultLost:
                continue
            except Exception:
                log.error("fault %s could not be rolled back", name, exc_info=True)
                stuck.append(name)
        return stuck

    @property
    def live(self) -> list[str]:
        return list(self._applied)

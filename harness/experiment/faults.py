"""Injecting faults, and always taking them back.

Each fault is written to the run's ledger on disk before it is applied and
marked rolled back only once the proxy confirms it is gone, so whatever kills
the harness, the ledger says what may still be live and where.
"""

import json
import logging
import threading
from pathlib import Path

from harness.errors import FaultError, ProxyAPIError
from harness.experiment.schema import FaultSpec
from harness.proxy.client import ToxiproxyClient
from harness.report.journal import Journal

log = logging.getLogger(__name__)


class FaultLedger:
    """Faults applied by one run, kept on disk as JSON."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}

    def open(self, fault: FaultSpec, proxy_api: str, handle: str) -> None:
        with self._lock:
            self._entries[fault.name] = {
                "fault": fault.name,
                "kind": fault.kind,
                "route": fault.route,
                "proxy_api": proxy_api,
                "handle": handle,
                "state": "applying",
            }
            self._save()

    def close(self, fault_name: str) -> None:
        with self._lock:
            self._entries[fault_name]["state"] = "rolled_back"
            self._save()

    def live(self) -> list[dict]:
        with self._lock:
            return [
                dict(e) for e in self._entries.values() if e["state"] != "rolled_back"
            ]

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(list(self._entries.values()), indent=2))
        tmp.replace(self.path)


class FaultInjector:
    """Applies experiment faults through the Toxiproxy API of one run."""

    def __init__(self, proxy: ToxiproxyClient, ledger: FaultLedger, journal: Journal):
        self.proxy = proxy
        self.ledger = ledger
        self.journal = journal
        self._applied: dict[str, FaultSpec] = {}

    def inject(self, fault: FaultSpec) -> None:
        handle = f"harness-{fault.name}"
        self.ledger.open(fault, self.proxy.base_url, handle)
        self._applied[fault.name] = fault
        try:
            getattr(self, f"_apply_{fault.kind}")(fault, handle)
            self._verify(fault, handle, live=True)
        except ProxyAPIError as exc:
            raise FaultError(
                f"fault {fault.name!r} ({fault.where}) could not be "
                f"applied on route {fault.route}: {exc}"
            ) from exc
        self.journal.record(
            "fault_injected",
            fault=fault.name,
            kind=fault.kind,
            route=fault.route,
            **fault.attributes,
        )

    def _apply_latency(self, fault: FaultSpec, handle: str) -> None:
        self.proxy.add_toxic(
            fault.route,
            "latency",
            name=handle,
            stream="downstream",
            attributes={
                "latency": int(fault.attributes["latency_ms"]),
                "jitter": int(fault.attributes["jitter_ms"]),
            },
        )

    def _apply_outage(self, fault: FaultSpec, handle: str) -> None:
        self.proxy.update_proxy(fault.route, enabled=False)

    def _verify(self, fault: FaultSpec, handle: str, live: bool) -> None:
        """Read the proxy back: a fault that did not apply must never pass silently."""
        proxy = self.proxy.get_proxy(fault.route)
        if fault.kind == "outage":
            present = proxy["enabled"] is False
        else:
            present = any(t["name"] == handle for t in proxy["toxics"])
        if present != live:
            state = "still live" if present else "not live"
            raise FaultError(
                f"fault {fault.name!r} on route {fault.route} is "
                f"{state} after it was {'applied' if live else 'removed'}"
            )

    def rollback(self, fault_name: str) -> None:
        fault = self._applied.pop(fault_name, None)
        if fault is None:
            return
        handle = f"harness-{fault.name}"
        try:
            if fault.kind == "outage":
                self.proxy.update_proxy(fault.route, enabled=True)
            else:
                self._remove_toxic(fault.route, handle)
            self._verify(fault, handle, live=False)
        except ProxyAPIError as exc:
            self._applied[fault_name] = fault
            raise FaultError(
                f"fault {fault.name!r} on route {fault.route} could "
                f"not be rolled back: {exc}"
            ) from exc
        self.ledger.close(fault.name)
        self.journal.record("fault_rolled_back", fault=fault.name, route=fault.route)

    def _remove_toxic(self, route: str, handle: str) -> None:
        try:
            self.proxy.remove_toxic(route, handle)
        except ProxyAPIError as exc:
            if exc.status != 404:
                raise

    def rollback_all(self) -> list[str]:
        """Roll back everything still applied; return what could not be."""
        stuck = []
        for name in list(self._applied):
            try:
                self.rollback(name)
            except Exception:
                log.error("fault %s could not be rolled back", name, exc_info=True)
                stuck.append(name)
        return stuck

    @property
    def live(self) -> list[str]:
        return list(self._applied)

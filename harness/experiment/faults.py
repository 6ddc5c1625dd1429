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


class FaultLost(FaultError):
    """A fault the harness applied vanished from the proxy before its rollback."""


class FaultLedger:
    """Faults applied by one run, kept on disk as JSON.

    States: applying (written before the proxy is asked), live (read back from
    the proxy), rolled_back (read back as gone), lost (found gone before the
    harness removed it: something else changed the proxy).
    """

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

    def mark(self, fault_name: str, state: str) -> None:
        with self._lock:
            self._entries[fault_name]["state"] = state
            self._save()

    def live(self) -> list[dict]:
        with self._lock:
            return [
                dict(e)
                for e in self._entries.values()
                if e["state"] not in ("rolled_back", "lost")
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
        self.lost_faults: list[str] = []

    def inject(self, fault: FaultSpec) -> None:
        self.ledger.open(fault, self.proxy.base_url, _handle(fault))
        self._applied[fault.name] = fault
        try:
            getattr(self, f"_apply_{fault.kind}")(fault)
            live = self._is_live(fault)
        except ProxyAPIError as exc:
            raise FaultError(
                f"fault {fault.name!r} ({fault.where}) could not be "
                f"applied on route {fault.route}: {exc}"
            ) from exc
        if not live:
            raise FaultError(
                f"fault {fault.name!r} on route {fault.route} is not live on the "
                "proxy after it was applied"
            )
        self.ledger.mark(fault.name, "live")
        self.journal.record(
            "fault_injected",
            fault=fault.name,
            kind=fault.kind,
            route=fault.route,
            **fault.attributes,
        )

    def _apply_latency(self, fault: FaultSpec) -> None:
        self.proxy.add_toxic(
            fault.route,
            "latency",
            name=_handle(fault),
            stream="downstream",
            attributes={
                "latency": int(fault.attributes["latency_ms"]),
                "jitter": int(fault.attributes["jitter_ms"]),
            },
        )

    def _apply_outage(self, fault: FaultSpec) -> None:
        self.proxy.update_proxy(fault.route, enabled=False)

    def _is_live(self, fault: FaultSpec) -> bool:
        return self._drift(fault) is None

    def _drift(self, fault: FaultSpec) -> str | None:
        """Read the proxy back: None when it holds the fault exactly as applied.

        Otherwise, what differs: a fault changed behind the harness's back (a
        toxic's attributes, a route disabled or enabled) is as much not this
        experiment's fault as one removed.
        """
        proxy = self.proxy.get_proxy(fault.route)
        if fault.kind == "outage":
            return None if proxy["enabled"] is False else "the route is enabled"

        if proxy["enabled"] is False and not self._outage_on(fault.route):
            return "the route was disabled"
        toxic = next((t for t in proxy["toxics"] if t["name"] == _handle(fault)), None)
        if toxic is None:
            return f"toxic {_handle(fault)} is gone"
        expected = {
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {
                "latency": int(fault.attributes["latency_ms"]),
                "jitter": int(fault.attributes["jitter_ms"]),
            },
        }
        found = {key: toxic.get(key) for key in expected}
        if found != expected:
            return f"toxic {_handle(fault)} is now {found}, applied as {expected}"
        return None

    def _outage_on(self, route: str) -> bool:
        return any(
            other.kind == "outage" and other.route == route
            for other in self._applied.values()
        )

    def check_live(self) -> list[str]:
        """Faults that vanished from the proxy before their rollback.

        A fault removed behind the harness's back would make everything
        measured afterwards look like recovery, so each one found is recorded
        and reported, never ignored.
        """
        lost = []
        for name, fault in list(self._applied.items()):
            try:
                drift = self._drift(fault)
            except ProxyAPIError as exc:
                raise FaultError(f"cannot read route {fault.route}: {exc}") from exc
            if drift is not None:
                self._lose(fault, drift)
                lost.append(name)
        return lost

    def _lose(self, fault: FaultSpec, drift: str) -> None:
        self._applied.pop(fault.name, None)
        self.lost_faults.append(fault.name)
        self.ledger.mark(fault.name, "lost")
        self.journal.record(
            "fault_lost", fault=fault.name, route=fault.route, found=drift
        )
        log.error(
            "fault %s on route %s was changed behind the harness's back: %s",
            fault.name,
            fault.route,
            drift,
        )

    def rollback(self, fault_name: str) -> None:
        fault = self._applied.get(fault_name)
        if fault is None:
            return
        try:
            drift = self._drift(fault)
            if drift is not None:
                self._lose(fault, drift)
                raise FaultLost(
                    f"fault {fault.name!r} on route {fault.route} was changed "
                    f"before its rollback ({drift}): something else changed the "
                    "proxy, so nothing measured after that is about this fault"
                )
            self._take_off(fault)
            gone = not self._is_live(fault)
        except ProxyAPIError as exc:
            raise FaultError(
                f"fault {fault.name!r} on route {fault.route} could "
                f"not be rolled back: {exc}"
            ) from exc
        if not gone:
            raise FaultError(
                f"fault {fault.name!r} on route {fault.route} is still live "
                "after its rollback"
            )
        del self._applied[fault_name]
        self.ledger.mark(fault.name, "rolled_back")
        self.journal.record("fault_rolled_back", fault=fault.name, route=fault.route)

    def _take_off(self, fault: FaultSpec) -> None:
        if fault.kind == "outage":
            self.proxy.update_proxy(fault.route, enabled=True)
        else:
            self.proxy.remove_toxic(fault.route, _handle(fault))

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


def _handle(fault: FaultSpec) -> str:
    """The toxic's name on the proxy, which marks it as this harness's."""
    return f"harness-{fault.name}"

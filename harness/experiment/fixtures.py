"""What Python experiments use, through the pytest fixtures of the same names.

`estate` lends the shared estate, clean and with fresh monitoring, to one
test; `faults` injects through the same injector and ledger as YAML
experiments and rolls back at teardown; `load` offers Locust load; `alerts`
waits on the real Alertmanager's notifications to the webhook sink.
"""

import logging
import math
from contextlib import ExitStack
from pathlib import Path

from harness.errors import ConfigError
from harness.experiment.estate import ExperimentEstate, SharedEstate
from harness.experiment.fault_schema import MAX_PHASE_S, FaultSpec, parse_fault_entry
from harness.experiment.faults.factory import local_faults
from harness.fields import Fields
from harness.load.runner import LoadRun
from harness.load.settings import JOURNEY_TARGETS, LoadSettings
from harness.observe.pager import journal_entry
from harness.observe.webhook import AlertEvent
from harness.report.journal import Journal
from harness.stack.mock_admin import MockAdminClient
from harness.yamlfile import Located

log = logging.getLogger(__name__)


class EstateHandle:
    """The running estate as one Python experiment sees it."""

    def __init__(self, shared: SharedEstate, run_dir: Path, name: str):
        self.shared = shared
        self.run_dir = Path(run_dir)
        self.name = name
        self.journal = Journal(self.run_dir, name)
        self._exit = ExitStack()
        self.lent: ExperimentEstate = self._exit.enter_context(
            shared.experiment(self.run_dir, self._on_alert, self._on_page)
        )
        self.endpoints = self.lent.endpoints
        self.proxy = self.lent.proxy

    def admin(self, mock: str) -> MockAdminClient:
        """The admin client of one mock; close it, or use it in a with block."""
        urls = {**self.endpoints.services, **self.endpoints.externals}
        if mock not in urls:
            raise ConfigError(f"mock {mock!r}: no such mock; known: {', '.join(urls)}")
        return MockAdminClient(urls[mock], self.endpoints.admin_token)

    def _on_alert(self, event: AlertEvent) -> None:
        self.journal.record(
            "alert_notified",
            alertname=event.alertname,
            status=event.status,
            fingerprint=event.fingerprint,
            repeat=event.repeat,
        )

    def _on_page(self, event) -> None:
        kind, fields = journal_entry(event, self.shared.estate.alerting.tickets.key)
        self.journal.record(kind, **fields)

    def close(self) -> None:
        self._exit.close()
        self.journal.close()


class Faults:
    """Inject faults by the YAML fields; every one is rolled back at close()."""

    def __init__(self, handle: EstateHandle):
        self.handle = handle
        self._faults = local_faults(
            handle.lent.stack,
            handle.endpoints,
            handle.shared.estate.observability,
            handle.journal,
            handle.run_dir / "ledger.json",
        )
        self.injector = self._faults.injector

    def inject(self, name: str, kind: str, **fields) -> FaultSpec:
        """Inject one fault, written as in YAML: inject("slow", "latency",
        route="claims-api_to_customer-api", latency_ms=1500); the same kinds,
        fields and checks. It stays until rollback() or teardown."""
        entry = {"name": name, "kind": kind, "duration_s": MAX_PHASE_S, **fields}
        where = Path(f"<Python experiment {self.handle.name}, fault {name!r}>")
        doc = Fields(Located(where, {"faults": [entry]}, {}))
        fault = parse_fault_entry(doc.items("faults")[0], self.handle.shared.estate)
        self.injector.inject(fault)
        return fault

    def rollback(self, name: str) -> None:
        self.injector.rollback(name)

    def close(self) -> list[str]:
        """Roll back what is live; return the faults that could not be."""
        try:
            return self.injector.rollback_all()
        finally:
            self._faults.close()


class Load:
    """One Locust load at a time, at an open-model arrival rate."""

    def __init__(self, handle: EstateHandle):
        self.handle = handle
        self.run: LoadRun | None = None
        self._count = 0

    def start(
        self,
        journey: str = "file_a_claim",
        arrival_rate_per_s: float = 4.0,
        run_time_s: float = 600,
    ) -> LoadRun:
        if journey not in JOURNEY_TARGETS:
            raise ConfigError(
                f"load journey {journey!r} is unknown; known: "
                + ", ".join(sorted(JOURNEY_TARGETS))
            )
        self.stop()
        self._count += 1
        settings = LoadSettings(
            targets=dict(self.handle.endpoints.front),
            journeys={journey: 1.0},
            arrival_rate_per_s=arrival_rate_per_s,
            customers=self.handle.shared.estate.seed.customers,
        )
        out_dir = self.handle.run_dir / f"load-{self._count}"
        self.run = LoadRun(settings, out_dir, run_time_s=math.ceil(run_time_s))
        self.run.start()
        self.handle.shared.track_load(self.run.pid)
        self.handle.journal.record("load_started", journey=journey, pid=self.run.pid)
        return self.run

    def stop(self):
        """Stop the load if it runs; return its result, or None."""
        if self.run is None:
            return None
        run, self.run = self.run, None
        self.handle.journal.record("load_stopped")
        return run.stop()


class Alerts:
    """Alert notifications the real Alertmanager sent during this experiment."""

    def __init__(self, handle: EstateHandle):
        self.sink = handle.shared.sink

    def wait_for(
        self, alertname: str, status: str = "firing", timeout_s: float = 120
    ) -> AlertEvent:
        """The first notification of alertname with status; TimeoutError if none."""
        return self.sink.wait_for(
            lambda e: e.alertname == alertname and e.status == status, timeout_s
        )

    def notified(self) -> list[AlertEvent]:
        return self.sink.events()

    def assert_none(self) -> None:
        names = sorted({e.alertname for e in self.sink.events()})
        assert not names, f"expected no alert notified; notified: {', '.join(names)}"

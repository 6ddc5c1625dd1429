"""The fault injector of one running local estate."""

from pathlib import Path

from harness.config import Observability
from harness.experiment.faults.effects import EffectProbe, effect_deadline_s
from harness.experiment.faults.injector import FaultInjector
from harness.experiment.faults.ledger import FaultLedger
from harness.experiment.faults.process import LocalProcesses
from harness.observe.prometheus import PrometheusAPI
from harness.report.journal import Journal
from harness.stack.local import Endpoints, LocalStack
from harness.stack.mock_admin import MockAdminClient


class EstateFaults:
    """The injector with the clients it uses, closed together."""

    def __init__(self, injector: FaultInjector, processes: LocalProcesses, clients):
        self.injector = injector
        self.processes = processes
        self._clients = clients

    def close(self) -> None:
        for client in self._clients:
            client.close()


def local_faults(
    stack: LocalStack,
    endpoints: Endpoints,
    observability: Observability,
    journal: Journal,
    ledger_path: Path,
) -> EstateFaults:
    """Everything faults need from a LocalStack that is up, recorded in the ledger."""
    ledger = FaultLedger(ledger_path)
    for name, pid in endpoints.pids.items():
        ledger.started(name, pid)
    # Known only once the estate is up: a harness killed during start-up
    # leaves its routes on an external proxy for removal by hand.
    if endpoints.proxy_kind == "external":
        ledger.created_routes(endpoints.proxy_api, stack.created_routes)
    admin = {
        name: MockAdminClient(url, endpoints.admin_token)
        for name, url in {**endpoints.services, **endpoints.externals}.items()
    }
    prometheus = PrometheusAPI(endpoints.prometheus)
    processes = LocalProcesses(stack, on_started=ledger.started)
    injector = FaultInjector(
        stack.proxy,
        ledger,
        journal,
        admin=admin,
        processes=processes,
        effects=EffectProbe(prometheus, effect_deadline_s(observability)),
    )
    return EstateFaults(injector, processes, [*admin.values(), prometheus])

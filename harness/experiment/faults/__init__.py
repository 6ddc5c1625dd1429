"""Faults of every kind: applied, seen to take effect, and always taken back.

- injector: the one object a run uses (inject, check_live, rollback);
- network, app, process: one module per family and what carries it out;
- effects: seeing a fault in Prometheus within a deadline;
- ledger: what is live, on disk, and the sweep of ledgers of dead runs;
- factory: the injector for a running local estate.
"""

from harness.experiment.faults.injector import FaultInjector, FaultLost
from harness.experiment.faults.ledger import FaultLedger, sweep_stale

__all__ = ["FaultInjector", "FaultLedger", "FaultLost", "sweep_stale"]

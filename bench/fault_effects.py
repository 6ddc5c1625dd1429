"""How long each fault kind takes to apply, to show in Prometheus, and to undo.

One local estate, with no load; each kind is injected once, on claims-api or
its route to customer-api unless the kind needs another target, then rolled
back. Run with `python -m bench.fault_effects`; it prints a Markdown table.
"""

import tempfile
import time
from pathlib import Path

from harness.config import load_estate
from harness.experiment.fault_schema import FaultSpec
from harness.experiment.faults.effects import effect_deadline_s
from harness.experiment.faults.factory import local_faults
from harness.report.journal import Journal
from harness.stack.local import LocalStack

REPO = Path(__file__).resolve().parents[1]
ROUTE = "claims-api_to_customer-api"
# kind, route, service, fields
CASES = [
    ("latency", ROUTE, "", {"latency_ms": 100, "jitter_ms": 0}),
    ("reset", ROUTE, "", {}),
    ("blackhole", ROUTE, "", {}),
    ("bandwidth", ROUTE, "", {"rate_kbps": 5}),
    ("outage", ROUTE, "", {}),
    ("error", "", "claims-api", {}),
    ("slow", "", "claims-api", {"delay_ms": 50}),
    ("bad_deploy", "", "policy-api", {"version": "2", "error_rate": 0.5}),
    ("pool_exhaustion", "", "claims-api", {"dependency": "fraud-detection"}),
    ("loop_block", "", "claims-api", {"block_ms": 100}),
    ("concurrency_cap", "", "claims-api", {"max_in_flight": 5}),
    ("cpu_burn", "", "crm", {"threads": 1}),
    ("kill", "", "customer-api", {"signal": "KILL"}),
    ("crash", "", "crm", {"exit_code": 1, "after_ms": 0}),
]


def main() -> None:
    estate = load_estate(REPO / "config")
    run_dir = Path(tempfile.mkdtemp(prefix="fault-effects-"))
    stack = LocalStack(estate, run_dir, "http://127.0.0.1:9/")
    endpoints = stack.start()
    (run_dir / "endpoints.json").write_text(endpoints.as_json())
    faults = local_faults(
        stack,
        endpoints,
        estate.observability,
        Journal(run_dir, "bench"),
        run_dir / "ledger.json",
    )
    try:
        rows = [
            _measure(faults.injector, index, case) for index, case in enumerate(CASES)
        ]
    finally:
        stack.stop()
        faults.close()
    deadline_s = effect_deadline_s(estate.observability)
    print(f"Effect deadline: {deadline_s:g} s.\n")
    print("| kind | inject (s) | effect seen after (s) | rollback (s) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _measure(injector, index: int, case) -> list[str]:
    kind, route, service, fields = case
    fault = FaultSpec(f"bench-{index}", kind, route, 0, 10, fields, "bench", service)
    start = time.monotonic()
    injector.inject(fault)
    inject_s = time.monotonic() - start
    seen_s = injector.journal.events("fault_injected")[-1].fields["effect_seen_after_s"]
    start = time.monotonic()
    injector.rollback(fault.name)
    rollback_s = time.monotonic() - start
    seen = "echo only" if seen_s is None else f"{seen_s:.2f}"
    return [kind, f"{inject_s:.2f}", seen, f"{rollback_s:.2f}"]


if __name__ == "__main__":
    main()

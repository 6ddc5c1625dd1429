"""Fabricated journals and run folders for the game day's pages."""

import json
from pathlib import Path

ALERT = "ClaimsApiAvailabilityBurnRate[page]"


def journal(
    name: str = "claims-customer-latency",
    status: str = "passed",
    detect_s: float | None = 5.0,
    detect_deadline_s: float = 17.0,
    recover_s: float | None = 12.0,
    recover_deadline_s: float | None = 30.0,
    budget: list[float | None] | None = None,
    rca: bool | None | str = "absent",
    reason: str = "",
) -> dict:
    """A journal.json as the runner writes it, with the optional keys chosen."""
    measurements = {"fault_injected_s": 20.0, "time_to_detect_s": {}}
    if detect_s is not None:
        measurements["time_to_detect_s"][ALERT] = detect_s
    if recover_s is not None:
        measurements["time_to_recover_s"] = recover_s
    if recover_deadline_s is not None:
        measurements["recover_deadline_s"] = recover_deadline_s
    checks = [
        {
            "expectation": f"alert {ALERT} fires",
            "predicted": f"within {detect_deadline_s} s",
            "observed": "never" if detect_s is None else f"after {detect_s} s",
            "held": detect_s is not None and detect_s <= detect_deadline_s,
        }
    ]
    if recover_deadline_s is not None:
        checks.append(
            {
                "expectation": "SLO claims-api breaks, then recovers",
                "predicted": "back within 20 s of mitigation",
                "observed": "back",
                "held": recover_s is not None,
            }
        )
    data = {
        "schema_version": 2,
        "run_id": f"20261205-040000-{name}-ab12",
        "experiment": name,
        "verdict": {
            "status": status,
            "reason": reason,
            "checks": checks,
            "measurements": measurements,
        },
        "deadlines": {"detect": {ALERT: {"total_s": detect_deadline_s, "terms": {}}}},
        "events": [],
        "series": {},
    }
    if budget is not None:
        data["impact"] = {
            "requests": 100,
            "failed_requests": 3,
            "budget": [
                {"slo": f"slo-{i}", "service": "claims-api", "consumed_ratio": ratio}
                for i, ratio in enumerate(budget)
            ],
        }
    if rca != "absent":
        data["rca"] = {"guess": {"component": "customer-api"}, "correct": rca}
    return data


def write_run(reports: Path, data: dict, pages=("summary.md",)) -> Path:
    """A run folder holding data as journal.json and the named pages."""
    run_dir = reports / data["run_id"]
    run_dir.mkdir(parents=True)
    (run_dir / "journal.json").write_text(json.dumps(data))
    for page in pages:
        (run_dir / page).write_text(f"# {page}\n")
    return run_dir

"""Halts, `harness abort` and pytest-timeout stop a real run, and it rolls back.

These start the whole estate on 127.0.0.1, so each takes about a minute.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.experiment.runner import RunOptions, run_experiment
from harness.experiment.verdict import Status
from tests.test_live_experiment import alive, assert_cleaned_up

REPO = Path(__file__).resolve().parents[1]
# Long enough that a halt, an abort or a timeout, not the schedule, ends it.
OUTAGE_S = 150

pytestmark = pytest.mark.live


def outage_experiment(tmp_path: Path, halt: list | None = None) -> Path:
    data = {
        "name": "claims-customer-outage",
        "hypothesis": "An outage of customer-api for claims-api burns claims' SLO.",
        "load": {"journey": "file_a_claim", "arrival_rate_per_s": 4},
        "steady_state": {"duration_s": 15, "slos": ["claims-api"]},
        "faults": [
            {
                "name": "customer-down-for-claims",
                "kind": "outage",
                "route": "claims-api_to_customer-api",
                "start_after_s": 0,
                "duration_s": OUTAGE_S,
            }
        ],
        "expect": {"alerts": [{"name": "ClaimsApiAvailabilityBurnRate"}]},
    }
    if halt is not None:
        data["halt"] = halt
    path = tmp_path / "outage.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def events(report_dir: Path, kind: str) -> list[dict]:
    journal = json.loads((report_dir / "journal.json").read_text())
    return [e for e in journal["events"] if e["kind"] == kind]


def test_a_halt_condition_stops_the_run_long_before_its_fault_would_end(tmp_path):
    path = outage_experiment(
        tmp_path, halt=[{"error_ratio": {"service": "claims-api", "above": 0.05}}]
    )

    result = run_experiment(path, RunOptions(reports_dir=tmp_path / "reports"))

    assert result.verdict.status is Status.ABORTED, result.verdict.explain()
    assert "halt condition error_ratio of claims-api tripped" in result.verdict.reason
    (halted,) = events(result.report_dir, "halted")
    assert halted["fields"]["observed"] > 0.05
    assert halted["fields"]["threshold"] == 0.05
    (injected,) = events(result.report_dir, "fault_injected")
    (rolled_back,) = events(result.report_dir, "fault_rolled_back")
    # Without the halt the fault would have stayed for OUTAGE_S.
    assert rolled_back["t_s"] - injected["t_s"] < OUTAGE_S / 2
    assert rolled_back["t_s"] >= halted["t_s"]
    assert_cleaned_up(result.report_dir)
    summary = (result.report_dir / "summary.md").read_text()
    assert "| halted |" in summary


def harness_env(tmp_path: Path) -> dict:
    # Its own runs folder: abort must reach this test's run, and no other.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(REPO)}


def wait_for_event(reports: Path, kind: str, timeout_s: float) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for stream in reports.glob("*/journal.jsonl"):
            if f'"kind": "{kind}"' in stream.read_text():
                return stream.parent
        time.sleep(0.5)
    raise AssertionError(f"no {kind} event within {timeout_s} s under {reports}")


def test_harness_abort_stops_a_running_experiment_and_rolls_back(tmp_path):
    env = harness_env(tmp_path)
    reports = tmp_path / "reports"
    run = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(outage_experiment(tmp_path))]
        + ["--reports", str(reports)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        report_dir = wait_for_event(reports, "fault_injected", timeout_s=180)

        abort = subprocess.run(
            [sys.executable, "-m", "harness.cli", "abort", "--grace-s", "120"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

        assert abort.returncode == 0, abort.stdout + abort.stderr
        assert f"{report_dir.name} (pid {run.pid}): stopped" in abort.stdout
        assert run.wait(timeout=10) == 2
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    verdict = json.loads((report_dir / "journal.json").read_text())["verdict"]
    assert verdict["status"] == "aborted"
    assert verdict["reason"] == "aborted by harness abort"
    (interrupted,) = events(report_dir, "interrupted")
    assert interrupted["fields"] == {"signal": "SIGTERM", "by": "harness abort"}
    assert_cleaned_up(report_dir)
    assert list((tmp_path / "runtime").rglob("*.json")) == []


INNER_TEST = """
import pytest
from pathlib import Path
from harness.experiment.runner import RunOptions, run_experiment

@pytest.mark.timeout({timeout_s}, method="signal")
def test_outage():
    run_experiment(Path({experiment!r}), RunOptions(reports_dir=Path({reports!r})))
"""


def test_a_run_killed_by_pytest_timeout_still_rolls_back(tmp_path):
    reports = tmp_path / "reports"
    inner = tmp_path / "test_inner.py"
    inner.write_text(
        INNER_TEST.format(
            # Estate start and the 15 s steady state take 25 to 40 s here.
            timeout_s=60,
            experiment=str(outage_experiment(tmp_path)),
            reports=str(reports),
        )
    )

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(inner)],
        env=harness_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1, result.stdout[-2000:]
    assert "Timeout" in result.stdout
    (report_dir,) = reports.iterdir()
    stream = (report_dir / "journal.jsonl").read_text()
    assert '"kind": "fault_injected"' in stream, "the timeout came before the fault"
    assert '"kind": "fault_rolled_back"' in stream
    ledger = json.loads((report_dir / "ledger.json").read_text())["faults"]
    assert ledger and all(entry["state"] == "rolled_back" for entry in ledger)
    pids = json.loads((report_dir / "endpoints.json").read_text())["pids"]
    assert [name for name, pid in pids.items() if alive(pid)] == []


def test_the_timeline_marks_detection_triage_mitigation_and_resolution(tmp_path):
    experiment = REPO / "experiments" / "claims-customer-latency.yaml"

    result = run_experiment(experiment, RunOptions(reports_dir=tmp_path))

    assert result.verdict.status is Status.PASSED, result.verdict.explain()
    stages = {
        kind: events(result.report_dir, kind)
        for kind in ("detected", "triaged", "mitigated", "resolved")
    }
    assert all(len(found) == 1 for found in stages.values()), stages
    (detected,), (triaged,), (mitigated,), (resolved,) = stages.values()
    (injected,) = events(result.report_dir, "fault_injected")
    assert injected["t_s"] <= detected["t_s"] <= mitigated["t_s"] <= resolved["t_s"]
    assert detected["fields"] == {"alertname": "ClaimsApiAvailabilityBurnRate"}
    # The cause alert blames claims-api's calls to customer-api.
    assert triaged["fields"]["service"] == "claims-api"
    assert triaged["fields"]["dependency"] == "customer-api"
    assert mitigated["fields"] == {"runbook": "claims-customer-fallback"}
    summary = (result.report_dir / "summary.md").read_text()
    for kind in stages:
        assert f"| {kind} |" in summary

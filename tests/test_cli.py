"""The command line: exit codes and messages for bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def harness(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def test_a_missing_experiment_file_is_exit_2_naming_the_file(tmp_path):
    result = harness("run", str(tmp_path / "nope.yaml"), "--reports", str(tmp_path))

    assert result.returncode == 2
    assert "nope.yaml: cannot read" in result.stdout


def test_several_files_are_all_checked_before_any_runs(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\n")

    result = harness(
        "run",
        "experiments/control-run.yaml",
        str(bad),
        str(tmp_path / "nope.yaml"),
        "--reports",
        str(tmp_path / "reports"),
    )

    assert result.returncode == 2
    assert "nothing was run" in result.stdout
    assert "bad.yaml:1: field 'hypothesis' is missing" in result.stdout
    assert "nope.yaml: cannot read" in result.stdout
    assert not (tmp_path / "reports").exists(), "no estate may have started"


def test_a_sweep_of_an_unknown_edge_is_refused_naming_it(tmp_path):
    result = harness("sweep", "--edge", "client_to_claims-api", "--list")

    assert result.returncode == 2
    assert "--edge 'client_to_claims-api': not a dependency edge" in result.stderr
    result = harness("sweep", "--rate", "0")
    assert result.returncode == 2
    assert "'0' is out of range; accepted: 0.1 to 200" in result.stderr


def test_a_bad_port_names_the_flag_and_value():
    result = harness("proxy", "serve", "--port", "abc")

    assert result.returncode == 2
    assert "--port" in result.stderr and "'abc'" in result.stderr


def test_an_unknown_command_is_refused():
    result = harness("explode")

    assert result.returncode == 2
    assert "invalid choice: 'explode'" in result.stderr


def test_validate_accepts_the_library_and_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\n")

    good = harness("validate", *map(str, (REPO / "experiments").glob("*.yaml")))
    refused = harness("validate", str(bad))

    assert good.returncode == 0, good.stderr
    assert refused.returncode == 2
    assert f"{bad}:1: field 'name' is 'Bad Name'" in refused.stderr


@pytest.mark.live
def test_up_prints_endpoints_that_work_and_stops_everything_on_ctrl_c(tmp_path):
    up = _start_up(tmp_path, subprocess.DEVNULL)
    try:
        endpoints = _endpoints(up)
        customer = httpx.get(
            f"{endpoints['front']['customer-api']}/customers/CUST-000001", timeout=5
        )
        targets = httpx.get(
            f"{endpoints['prometheus']}/api/v1/query", params={"query": "up"}, timeout=5
        ).json()["data"]["result"]
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0
    finally:
        if up.poll() is None:
            up.kill()

    assert customer.status_code == 200
    assert customer.json()["customer_id"] == "CUST-000001"
    jobs = {target["metric"]["job"]: target["value"][1] for target in targets}
    assert len(jobs) == 10
    assert jobs["claims-api"] == "1"
    assert jobs["fault-proxy"] == "1"
    assert jobs["synthetic"] == "1"
    for name, pid in endpoints["pids"].items():
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid), name


def _start_up(run_dir: Path, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", "--json"]
        + ["--run-dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=REPO,
    )


def _endpoints(up: subprocess.Popen, timeout_s: float = 90) -> dict:
    """The JSON harness up prints once the estate is up."""
    text = ""
    deadline = time.monotonic() + timeout_s
    while not text.endswith("}\n") and time.monotonic() < deadline:
        text += up.stdout.readline()
    return json.loads(text)


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


@pytest.mark.live
def test_up_reports_a_crashed_mock_and_restarts_it_on_sighup(tmp_path):
    stderr_path = tmp_path / "up.err"
    with open(stderr_path, "w") as stderr:
        up = _start_up(tmp_path / "run", stderr)
    try:
        endpoints = _endpoints(up)
        claims = endpoints["services"]["claims-api"]
        admin = {"Authorization": f"Bearer {endpoints['admin_token']}"}
        crashed_pid = endpoints["pids"]["claims-api"]
        before = httpx.get(f"{claims}/claims/CLM-000001", timeout=5).status_code

        crash = httpx.post(
            f"{claims}/admin/faults", json={"kind": "crash"}, headers=admin, timeout=5
        )
        reported = _wait_for(stderr_path, "exited with code", 20)
        os.kill(endpoints["harness_pid"], signal.SIGHUP)
        restarted = _wait_for(stderr_path, "restarted claims-api", 30)
        after = httpx.get(f"{claims}/healthz", timeout=5).status_code
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0
    finally:
        if up.poll() is None:
            up.kill()

    assert crash.status_code == 202
    assert reported and f"pid {crashed_pid}) exited" in reported
    assert restarted
    assert after == 200
    assert before in (200, 404)


def _wait_for(path: Path, text: str, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.2)
    return None

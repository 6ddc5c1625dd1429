"""The run registry: entries per run, abort by verified PID, kill and sweep."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import StackError
from harness.experiment.registry import (
    RunEntry,
    RunRegistration,
    abort_all,
    process_start_time,
    registered,
    runs_folder,
)

# A child that rolls back (here: writes a file) on SIGTERM, then exits.
OBEYS = """
import signal, sys, time
def stop(signum, frame):
    open(sys.argv[1], "w").write("rolled back")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""
# A child that ignores SIGTERM: only SIGKILL stops it.
IGNORES = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def children():
    started = []

    def start(code: str, *args: str) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
        )
        started.append(child)
        assert child.stdout.readline().strip() == "ready"
        return child

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


def register(folder: Path, run_id: str, pid: int, run_dir: Path) -> None:
    entry = RunEntry(
        run_id, pid, process_start_time(pid), str(run_dir), str(run_dir / "l.json")
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.json").write_text(json.dumps(vars(entry)))


def test_the_folder_is_per_user_under_the_runtime_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert runs_folder() == tmp_path / "resilience-harness" / "runs"

    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runs_folder().parent.name == f"resilience-harness-{os.getuid()}"


def test_a_run_registers_itself_and_removes_its_entry(tmp_path):
    registration = RunRegistration("run-1", tmp_path / "reports/run-1", tmp_path)

    registration.register()
    (entry,) = registered(tmp_path)

    assert entry.pid == os.getpid() and entry.is_running()
    assert entry.ledger.endswith("reports/run-1/ledger.json")
    assert registration.abort_reason() is None
    registration.remove()
    assert registered(tmp_path) == []


def test_a_runs_folder_others_can_write_is_refused(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)

    with pytest.raises(StackError, match=r"writable by others \(mode 777\)"):
        RunRegistration("run-1", tmp_path / "run-1", folder).register()
    with pytest.raises(StackError, match="remove it"):
        registered(folder)


def test_nothing_registered_means_nothing_to_abort(tmp_path):
    assert abort_all(tmp_path, grace_s=1) == []


def test_abort_terminates_a_run_that_then_cleans_up(tmp_path, children):
    marker = tmp_path / "marker"
    child = children(OBEYS, str(marker))
    register(tmp_path, "run-a", child.pid, tmp_path / "run-a")

    (outcome,) = abort_all(tmp_path, grace_s=10)

    assert (outcome.run_id, outcome.outcome, outcome.stopped_cleanly) == (
        "run-a",
        "stopped",
        True,
    )
    assert marker.read_text() == "rolled back"
    assert (tmp_path / "run-a.abort").read_text() == "harness abort"


def test_a_run_that_does_not_stop_is_killed_and_its_ledger_swept(tmp_path, children):
    child = children(IGNORES)
    register(tmp_path, "run-b", child.pid, tmp_path / "run-b")
    swept = []

    (outcome,) = abort_all(tmp_path, grace_s=0.5, sweep=swept.append)

    assert outcome.outcome == "killed" and not outcome.stopped_cleanly
    assert child.wait(timeout=5) == -signal.SIGKILL
    assert swept == [tmp_path / "run-b"]
    assert registered(tmp_path) == []


def test_a_reused_pid_is_never_signalled(tmp_path, children):
    child = children(IGNORES)
    entry = RunEntry("run-c", child.pid, "1", str(tmp_path), str(tmp_path / "l"))
    (tmp_path / "run-c.json").write_text(json.dumps(vars(entry)))

    (outcome,) = abort_all(tmp_path, grace_s=0.5, sweep=lambda d: None)

    assert outcome.outcome == "gone"
    assert child.poll() is None  # still alive: it is not the process that registered
    assert registered(tmp_path) == []


def test_the_start_time_of_a_zombie_or_missing_process_is_none(children):
    child = children(IGNORES)
    child.kill()
    child.stdout.close()
    # Not yet waited for: a zombie.
    time.sleep(0.3)
    assert process_start_time(child.pid) is None
    child.wait()
    assert process_start_time(child.pid) is None


def harness_abort(runtime: Path, *args: str) -> subprocess.CompletedProcess:
    # Its own runtime folder: the command must not reach any other run.
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "abort", *args],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_abort_with_nothing_running_exits_0(tmp_path):
    result = harness_abort(tmp_path)

    assert (result.returncode, result.stdout) == (0, "no experiment is running\n")


def test_abort_exits_1_when_a_run_had_to_be_killed(tmp_path, children):
    child = children(IGNORES)
    register(tmp_path / "resilience-harness/runs", "run-d", child.pid, tmp_path)

    result = harness_abort(tmp_path, "--grace-s", "0.5")

    assert result.returncode == 1, result.stderr
    assert result.stdout == f"run-d (pid {child.pid}): killed\n"


def test_abort_refuses_a_negative_grace_time(tmp_path):
    result = harness_abort(tmp_path, "--grace-s", "-1")

    assert result.returncode == 2
    assert "--grace-s is -1; expected a number of seconds >= 0" in result.stderr

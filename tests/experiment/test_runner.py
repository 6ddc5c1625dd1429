"""The runner never passes what it could not do."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness.experiment.runner import (
    ExperimentRun,
    RunOptions,
    _signals_requested,
    run_experiment,
)
from harness.experiment.verdict import Status

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "experiments" / "claims-customer-latency.yaml"


def test_missing_prometheus_is_an_error_saying_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path / "r"))

    assert result.verdict.status is Status.ERROR
    assert "apt-get install --no-install-recommends prometheus" in (
        result.verdict.reason
    )
    assert "brew install prometheus alertmanager" in result.verdict.reason
    assert (result.report_dir / "summary.md").exists()
    page = (result.report_dir / "report.html").read_text()
    assert 'id="banner"' in page and "apt-get install" in page
    config = json.loads((result.report_dir / "journal.json").read_text())["config"]
    assert config["experiment_yaml"] == EXPERIMENT.read_text()
    assert "config/runbooks/claims-customer-fallback.yaml" in config["files"]


def test_an_unknown_alert_to_drop_is_refused_before_anything_starts(tmp_path):
    result = run_experiment(
        EXPERIMENT, RunOptions(reports_dir=tmp_path, without_alerts=("Nope",))
    )

    assert result.verdict.status is Status.ERROR
    assert "--without-alert 'Nope': no such alert" in result.verdict.reason


def test_a_signal_is_noted_never_raised_where_it_lands():
    # Raised from the handler, it could land in the logging module's fork
    # handlers while a process starts, be swallowed, and leave a lock held.
    with _signals_requested() as requested:
        os.kill(os.getpid(), signal.SIGTERM)
        subprocess.run(["true"], check=True)  # a fork after the signal
        os.kill(os.getpid(), signal.SIGINT)

    assert requested == ["SIGTERM", "SIGINT"]


def test_a_signal_during_estate_start_stops_the_run_before_any_fault(
    tmp_path, monkeypatch
):
    def start_then_signalled(self):
        os.kill(os.getpid(), signal.SIGTERM)
        subprocess.run(["true"], check=True)
        raise_if_started.append(True)
        return started(self)

    raise_if_started: list = []
    started = ExperimentRun._start_estate
    monkeypatch.setattr(
        ExperimentRun, "_start_estate", lambda self: start_then_signalled(self)
    )
    monkeypatch.setattr(
        ExperimentRun, "_start_watchers", lambda self, e: pytest.fail("went on")
    )
    monkeypatch.setattr(
        ExperimentRun, "_run_faults", lambda self: pytest.fail("went on")
    )

    result = run_experiment(EXPERIMENT, RunOptions(reports_dir=tmp_path))

    assert raise_if_started == [True]
    assert result.verdict.status is Status.ERROR
    assert result.verdict.reason == "interrupted by SIGTERM"
    assert result.interrupted
    journal = (result.report_dir / "journal.json").read_text()
    assert '"fault_injected"' not in journal

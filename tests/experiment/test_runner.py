"""The runner never passes what it could not do."""

from pathlib import Path

from harness.experiment.runner import RunOptions, run_experiment
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


def test_an_unknown_alert_to_drop_is_refused_before_anything_starts(tmp_path):
    result = run_experiment(
        EXPERIMENT, RunOptions(reports_dir=tmp_path, without_alerts=("Nope",))
    )

    assert result.verdict.status is Status.ERROR
    assert "--without-alert 'Nope': no such alert" in result.verdict.reason

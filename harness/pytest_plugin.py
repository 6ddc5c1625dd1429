"""pytest front door: every experiment YAML under experiments/ is a test.

`pytest experiments/` runs each file as one test that passes only on a
"passed" verdict; a failed, aborted or error verdict fails the test with the
expectations that did not hold. Missing Prometheus or Alertmanager is an
error verdict, never a skip. A run stopped by Ctrl-C or SIGTERM stops the
session, after the run has rolled back its faults.
"""

import logging
from pathlib import Path

import pytest

TAG_MARKERS = {
    "ci": "experiment tagged ci: runs in every CI build",
    "gameday": "experiment tagged gameday: part of scheduled game days",
    "slow": "experiment tagged slow",
}
REPORTS_KEY = pytest.StashKey[list]()

log = logging.getLogger(__name__)


def pytest_addoption(parser):
    group = parser.getgroup("resilience-harness")
    group.addoption(
        "--harness-reports",
        type=Path,
        default=None,
        help="where experiment run folders are written",
    )


def pytest_configure(config):
    for name, text in TAG_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "experiments":
        return ExperimentFile.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter, config):
    runs = config.stash.get(REPORTS_KEY, [])
    if runs:
        terminalreporter.section("experiment reports")
        for name, status, report in runs:
            terminalreporter.write_line(f"{status:<8} {name}: {report}")


class ExperimentFailed(Exception):
    """The experiment ran and its verdict was not 'passed'."""


class ExperimentFile(pytest.File):
    def collect(self):
        item = ExperimentItem.from_parent(self, name=self.path.stem)
        for tag in _tags(self.path):
            if tag in TAG_MARKERS:
                item.add_marker(tag)
        yield item


def _tags(path: Path) -> list:
    """Tags for markers; a file that cannot be read still becomes a (failing) test."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    tags = data.get("tags", []) if isinstance(data, dict) else []
    return tags if isinstance(tags, list) else []


class ExperimentItem(pytest.Item):
    def runtest(self):
        # Imported here so that loading the plugin costs nothing for suites
        # that run no experiment.
        from harness.experiment.runner import RunOptions, run_experiment

        reports = self.config.getoption("--harness-reports")
        options = RunOptions(reports_dir=reports) if reports else RunOptions()
        result = run_experiment(self.path, options)
        if result.interrupted:
            raise KeyboardInterrupt(result.verdict.reason)
        report = f"{result.report_dir}/summary.md" if result.report_dir else "none"
        log.info("report: %s", report)
        self.user_properties.append(("report", report))
        self.config.stash.setdefault(REPORTS_KEY, []).append(
            (self.name, result.verdict.status.value, report)
        )
        if result.verdict.status.value != "passed":
            raise ExperimentFailed(f"{result.verdict.explain()}\nreport: {report}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ExperimentFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"experiment: {self.name}"

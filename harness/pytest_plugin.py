"""pytest front door: every experiment YAML under experiments/ is a test.

`pytest experiments/` runs each file as one test that passes only on a
"passed" verdict; a failed, aborted or error verdict fails the test with the
expectations that did not hold. Missing Prometheus or Alertmanager is an
error verdict, never a skip.
"""

import logging
from pathlib import Path

import pytest

TAG_MARKERS = {
    "ci": "experiment tagged ci: runs in every CI build",
    "gameday": "experiment tagged gameday: part of scheduled game days",
    "slow": "experiment tagged slow",
}


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


class ExperimentFailed(Exception):
    """The experiment ran and its verdict was not 'passed'."""


class ExperimentFile(pytest.File):
    def collect(self):
        import yaml

        data = yaml.safe_load(self.path.read_text()) or {}
        item = ExperimentItem.from_parent(self, name=self.path.stem)
        tags = data.get("tags", []) if isinstance(data, dict) else []
        for tag in tags if isinstance(tags, list) else []:
            if tag in TAG_MARKERS:
                item.add_marker(tag)
        yield item


class ExperimentItem(pytest.Item):
    def runtest(self):
        # Imported here so that loading the plugin costs nothing for suites
        # that run no experiment.
        from harness.experiment.runner import RunOptions, run_experiment

        reports = self.config.getoption("--harness-reports")
        options = RunOptions(reports_dir=reports) if reports else RunOptions()
        result = run_experiment(self.path, options)
        logging.getLogger(__name__).info("report: %s", result.report_dir)
        self.user_properties.append(("report", str(result.report_dir)))
        if result.verdict.status.value != "passed":
            raise ExperimentFailed(
                f"{result.verdict.explain()}\nreport: {result.report_dir}/summary.md"
            )

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ExperimentFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"experiment: {self.name}"

"""pytest front door: every experiment YAML under experiments/ is a test.

`pytest experiments/` runs each file as one test that passes only on a
"passed" verdict; a failed, aborted or error verdict fails the test with the
expectations that did not hold. Missing Prometheus or Alertmanager is an
error verdict, never a skip. A run stopped by Ctrl-C or SIGTERM stops the
session, after the run has rolled back its faults.

One estate is started for the whole session, on first use, and stopped when
the session ends (Ctrl-C included); each experiment borrows it clean, with a
fresh Prometheus and Alertmanager. Python experiments use the fixtures
`estate`, `faults`, `load` and `alerts` (see docs/experiments.md).
"""

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

# Every test under an experiments/ folder, YAML or Python, is an experiment:
# `-m "ci or not experiment"` runs the harness's own tests and the CI subset.
EXPERIMENT_MARKER = "experiment"
TAG_MARKERS = {
    "ci": "experiment tagged ci: runs in every CI build",
    "gameday": "experiment tagged gameday: part of scheduled game days",
    "slow": "experiment tagged slow",
}
REPORTS_KEY = pytest.StashKey[list]()
ESTATE_KEY = pytest.StashKey["SessionEstate"]()

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
    config.addinivalue_line(
        "markers", f"{EXPERIMENT_MARKER}: an experiment (any file under experiments/)"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.parent.name == "experiments":
            item.add_marker(EXPERIMENT_MARKER)
    config.stash[ESTATE_KEY] = SessionEstate(config)


def pytest_unconfigure(config):
    # Runs on every way out of the session, Ctrl-C included.
    holder = config.stash.get(ESTATE_KEY, None)
    if holder is not None:
        holder.stop()


class SessionEstate:
    """The session's one estate, started when the first experiment needs it."""

    def __init__(self, config):
        self.config = config
        self.shared = None

    def options(self):
        from harness.experiment.runner import RunOptions

        reports = self.config.getoption("--harness-reports")
        return RunOptions(reports_dir=reports) if reports else RunOptions()

    def get(self):
        from harness.config import load_estate
        from harness.experiment.estate import EstateState, SharedEstate

        if self.shared is None or self.shared.state is not EstateState.UP:
            self.stop()
            options = self.options()
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            work_dir = Path(options.reports_dir) / f"estate-{stamp}"
            self.shared = SharedEstate(load_estate(options.config_dir), work_dir)
            self.shared.start()
        return self.shared

    def stop(self) -> None:
        if self.shared is not None:
            self.shared.stop()
            self.shared = None


@pytest.fixture
def estate(request):
    """The running estate, clean, with fresh monitoring, for one experiment."""
    from harness.experiment.fixtures import EstateHandle

    holder = request.config.stash[ESTATE_KEY]
    name = request.node.name.replace("/", "_").replace("[", "_").strip("]")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = Path(holder.options().reports_dir) / f"{stamp}-{name}"
    handle = EstateHandle(holder.get(), run_dir, name)
    yield handle
    handle.close()


@pytest.fixture
def faults(estate):
    """Inject faults; every one still live is rolled back at teardown."""
    from harness.experiment.fixtures import Faults

    injected = Faults(estate)
    yield injected
    stuck = injected.close()
    assert not stuck, f"faults could not be rolled back: {stuck}"


@pytest.fixture
def load(estate):
    """Start and stop Locust load on the estate's front routes."""
    from harness.experiment.fixtures import Load

    offered = Load(estate)
    yield offered
    offered.stop()


@pytest.fixture
def alerts(estate):
    """Wait for an alert notification, or assert none, from the real Alertmanager."""
    from harness.experiment.fixtures import Alerts

    return Alerts(estate)


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
        from harness.experiment.runner import run_experiment

        holder = self.config.stash[ESTATE_KEY]
        result = run_experiment(self.path, holder.options(), holder.get())
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

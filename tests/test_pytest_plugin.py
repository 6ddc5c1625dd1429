"""The pytest front door: experiment items, markers, JUnit XML, one estate.

The runner and the estate are replaced by fakes in the inner session: what is
tested here is the plugin's wiring, not an experiment.
"""

import textwrap
import xml.etree.ElementTree as ET

pytest_plugins = ["pytester"]

CONFTEST = """
from pathlib import Path

import pytest

from harness import pytest_plugin
from harness.experiment import runner
from harness.experiment.verdict import Finding, Status, Verdict

STARTED = []
BORROWED = []


class FakeEstate:
    def stop(self):
        STARTED.append("stopped")
        Path("estates.txt").write_text(
            f"{len({shared for _, shared in BORROWED})} {' '.join(STARTED)}"
        )


def fake_get(self):
    if self.shared is None:
        STARTED.append("started")
        self.shared = FakeEstate()
    return self.shared


def fake_run(path, options, shared=None):
    BORROWED.append((path.stem, id(shared)))
    held = path.stem.startswith("good")
    finding = Finding(
        expectation="alert X fires",
        predicted="within 12.0 s",
        observed="never",
        held=held,
    )
    status = Status.PASSED if held else Status.FAILED
    return runner.RunResult(
        path.stem, "id", options.reports_dir / path.stem, Verdict(status, [finding])
    )


# Experiment items take no fixtures: the fakes are in place for the session.
PATCH = pytest.MonkeyPatch()


def pytest_sessionstart(session):
    PATCH.setattr(pytest_plugin.SessionEstate, "get", fake_get)
    PATCH.setattr(runner, "run_experiment", fake_run)


def pytest_sessionfinish(session):
    PATCH.undo()
"""

EXPERIMENT = """
name: {name}
hypothesis: something holds
tags: [{tags}]
"""


def make_session(pytester):
    pytester.makeconftest(CONFTEST)
    folder = pytester.mkdir("experiments")
    for name, tags in (
        ("good-one", "ci"),
        ("bad-one", "ci, gameday"),
        ("slow-one", "slow"),
    ):
        text = textwrap.dedent(EXPERIMENT).format(name=name, tags=tags)
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_experiments_share_one_estate_and_write_junit_xml(pytester, tmp_path):
    folder = make_session(pytester)
    junit = tmp_path / "junit.xml"

    result = pytester.runpytest_inprocess(
        folder, "-m", "ci", f"--junitxml={junit}", "--harness-reports", str(tmp_path)
    )

    result.assert_outcomes(passed=1, failed=1, deselected=1)
    borrowed = (pytester.path / "estates.txt").read_text()
    assert borrowed == "1 started stopped", "one estate, started once, stopped"
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"good-one", "bad-one"}
    failure = cases["bad-one"].find("failure").text
    assert "alert X fires" in failure
    assert "within 12.0 s" in failure and "never" in failure
    assert f"report: {tmp_path / 'bad-one'}/summary.md" in failure
    properties = cases["good-one"].find("properties")
    assert properties[0].get("name") == "report"

"""Fixtures for load tests: fake services on 127.0.0.1 and runs that always stop."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.load.runner import LoadRun, LoadRunState
from harness.load.settings import LoadSettings

from .fake_services import SERVICE_NAMES, FakeService


@pytest.fixture
def services() -> Iterator[dict[str, FakeService]]:
    started = {name: FakeService(name).start() for name in SERVICE_NAMES}
    yield started
    for service in started.values():
        service.stop()


@pytest.fixture
def settings_for(
    services: dict[str, FakeService],
) -> Callable[..., LoadSettings]:
    """Settings aimed at the fake services, with any field overridden."""

    def make(**overrides: Any) -> LoadSettings:
        fields: dict[str, Any] = {
            "targets": {name: service.url for name, service in services.items()},
            "request_timeout_s": 2.0,
            "arrival_rate_per_s": 4.0,
        }
        fields.update(overrides)
        return LoadSettings(**fields)

    return make


@pytest.fixture
def load_run(tmp_path: Path) -> Iterator[Callable[..., LoadRun]]:
    """Make LoadRuns in tmp_path; any still running at teardown is stopped."""
    runs: list[LoadRun] = []

    def make(settings: LoadSettings, run_time_s: int) -> LoadRun:
        run = LoadRun(settings, tmp_path / f"run-{len(runs)}", run_time_s)
        runs.append(run)
        return run

    yield make
    for run in runs:
        if run.state is LoadRunState.RUNNING:
            run.stop()

"""Fixtures for the mock service tests: real processes on 127.0.0.1."""

from collections.abc import Callable, Iterator

import pytest
from mock_processes import FakeDependency, Launcher, MockProcess, estate_configs


@pytest.fixture
def launcher(tmp_path) -> Iterator[Launcher]:
    started = Launcher(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def estate(tmp_path_factory) -> Iterator[dict[str, MockProcess]]:
    """All eight services calling one another directly, shared by read-mostly tests."""
    launcher = Launcher(tmp_path_factory.mktemp("estate"))
    configs = estate_configs(launcher.run_dir)
    try:
        processes = launcher.start_all(configs.values())
        yield {process.name: process for process in processes}
    finally:
        launcher.stop_all()


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeDependency]]:
    """Make started FakeDependency servers; all are stopped after the test."""
    made: list[FakeDependency] = []

    def make(answers=None, delay_s: float = 0.0) -> FakeDependency:
        dependency = FakeDependency(answers or {}, delay_s).start()
        made.append(dependency)
        return dependency

    yield make
    for dependency in made:
        dependency.stop()

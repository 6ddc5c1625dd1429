import pytest

from harness.config import Estate, load_estate
from harness.observe import Binaries, find_binaries


@pytest.fixture(scope="session")
def estate() -> Estate:
    return load_estate()


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    # Not a skip: without the real promtool these tests prove nothing.
    return find_binaries()

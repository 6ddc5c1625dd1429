"""Every port a stack uses is distinct, reserved in one batch."""

from pathlib import Path

import pytest

from harness.config import load_estate
from harness.stack.local import LocalStack

REPO = Path(__file__).resolve().parents[2]


def test_ports_never_repeat_within_a_stack(tmp_path):
    estate = load_estate(REPO / "config")
    stack = LocalStack(estate, tmp_path, "http://127.0.0.1:9/")
    needed = len(estate.services) + len(estate.externals) + len(estate.routes) + 3

    ports = [stack._port() for _ in range(needed)]

    assert len(set(ports)) == needed
    with pytest.raises(StopIteration):
        stack._port()

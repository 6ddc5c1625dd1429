"""A mock crashed by its admin API comes back on its port with its data."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.config import load_estate
from harness.errors import MockAdminError, StackError
from harness.stack.local import LocalStack
from harness.stack.mock_admin import MockAdminClient

REPO = Path(__file__).resolve().parents[2]
EXTERNALS = ("identity-verification", "crm")


@pytest.fixture
def stack(tmp_path) -> Iterator[LocalStack]:
    """customer-api and its two externals, called directly instead of by route."""
    estate = load_estate(REPO / "config")
    stack = LocalStack(estate, tmp_path, "http://127.0.0.1:9/")
    ports = {name: stack._port() for name in ("customer-api", *EXTERNALS)}
    routes = {
        estate.route_for("customer-api", name).name: f"127.0.0.1:{ports[name]}"
        for name in EXTERNALS
    }
    try:
        stack._start_mocks(ports, routes)
        yield stack
    finally:
        stack.stop()


def _url(stack: LocalStack, name: str) -> str:
    return f"http://127.0.0.1:{stack.mock_ports[name]}"


def _wait_exited(stack: LocalStack, name: str, timeout_s: float) -> int:
    process = next(p for p in stack.processes if p.name == name)
    deadline = time.monotonic() + timeout_s
    while process.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.running(), f"{name} still running after {timeout_s} s"
    return process.popen.returncode


def test_a_crashed_mock_restarts_on_its_port_and_finds_its_records(stack):
    url = _url(stack, "customer-api")
    created = httpx.post(
        f"{url}/customers",
        json={
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "date_of_birth": "1976-12-09",
        },  # fmt: skip
    )
    old_pid = next(p.pid for p in stack.processes if p.name == "customer-api")

    with MockAdminClient(url, stack.admin_token) as admin:
        crash = admin.add_fault("crash", exit_code=9)
    exit_code = _wait_exited(stack, "customer-api", timeout_s=5)
    restarted = stack.restart_mock("customer-api")
    found = httpx.get(f"{url}/customers/{created.json()['customer_id']}")

    assert created.status_code == 201
    assert crash["kind"] == "crash"
    assert exit_code == 9
    assert restarted.pid != old_pid
    assert found.status_code == 200
    assert found.json()["email"] == "grace@example.com"


def test_a_running_mock_is_stopped_by_pid_and_started_again(stack):
    with MockAdminClient(_url(stack, "crm"), stack.admin_token) as admin:
        admin.add_fault("slow", delay_ms=10)
        restarted = stack.restart_mock("crm")
        faults_after = admin.faults()

    assert restarted.running()
    # Faults live in the process's memory; a new process starts with none.
    assert faults_after == []


def test_an_unknown_mock_cannot_be_restarted(stack):
    with pytest.raises(StackError, match="customer-api, identity-verification"):
        stack.restart_mock("billing-api")


def test_the_admin_client_names_method_path_status_and_message(stack):
    with MockAdminClient(_url(stack, "crm"), stack.admin_token) as admin:
        with pytest.raises(MockAdminError) as refused:
            admin.add_fault("slow", delay_ms=-1)
        with pytest.raises(MockAdminError) as missing:
            admin.remove_fault("fault-99")
    with MockAdminClient(_url(stack, "crm"), "wrong-token") as stranger:
        with pytest.raises(MockAdminError) as unauthorized:
            stranger.faults()
    with MockAdminClient("http://127.0.0.1:9", "token") as nowhere:
        with pytest.raises(MockAdminError) as unreachable:
            nowhere.faults()

    assert (refused.value.method, refused.value.path) == ("POST", "/admin/faults")
    assert refused.value.status == 422
    assert "delay_ms=-1" in refused.value.message
    assert missing.value.status == 404
    assert unauthorized.value.status == 401
    assert unreachable.value.status == 0
    assert isinstance(unreachable.value.__cause__, httpx.HTTPError)

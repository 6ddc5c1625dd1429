"""Faults go through a real proxy, are read back, and always come off."""

import json

import pytest

from harness.errors import FaultError
from harness.experiment.faults import FaultInjector, FaultLedger, FaultLost
from harness.experiment.schema import FaultSpec
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from harness.report.journal import Journal

ROUTE = "claims-api_to_customer-api"


def fault(kind="latency", route=ROUTE, **attributes) -> FaultSpec:
    attributes = attributes or (
        {"latency_ms": 800, "jitter_ms": 0} if kind == "latency" else {}
    )
    return FaultSpec("slow", kind, route, 0, 10, attributes, "x.yaml:3")


@pytest.fixture
def proxy():
    with ProxyServerThread() as server:
        client = ToxiproxyClient(server.api_url)
        client.create_proxy(ROUTE, "127.0.0.1:0", "127.0.0.1:9")
        yield client
        client.close()


@pytest.fixture
def injector(proxy, tmp_path):
    return FaultInjector(
        proxy, FaultLedger(tmp_path / "ledger.json"), Journal(tmp_path, "t")
    )


def test_latency_is_live_then_gone(proxy, injector, tmp_path):
    injector.inject(fault())
    toxics = proxy.toxics(ROUTE)
    assert [(t["type"], t["attributes"]["latency"]) for t in toxics] == [
        ("latency", 800)
    ]
    assert (
        json.loads((tmp_path / "ledger.json").read_text())["faults"][0]["state"]
        == "live"
    )

    injector.rollback("slow")

    assert proxy.toxics(ROUTE) == []
    assert json.loads((tmp_path / "ledger.json").read_text())["faults"][0]["state"] == (
        "rolled_back"
    )
    assert injector.journal.first("fault_rolled_back") is not None


def test_an_outage_disables_the_route_and_rollback_enables_it(proxy, injector):
    injector.inject(fault("outage"))
    assert proxy.get_proxy(ROUTE)["enabled"] is False

    assert injector.rollback_all() == []
    assert proxy.get_proxy(ROUTE)["enabled"] is True


def test_a_fault_the_proxy_refuses_is_an_error_and_stays_in_the_ledger(
    injector, tmp_path
):
    with pytest.raises(FaultError, match="could not be applied on route nowhere"):
        injector.inject(fault(route="nowhere"))

    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert ledger["faults"][0]["state"] == "applying", "written before it was applied"
    assert injector.journal.first("fault_injected") is None


def test_a_toxic_removed_behind_the_harness_back_is_lost_not_rolled_back(
    proxy, injector, tmp_path
):
    injector.inject(fault())
    proxy.remove_toxic(ROUTE, "harness-slow")

    assert injector.check_live() == ["slow"]
    assert injector.lost_faults == ["slow"]
    assert injector.rollback_all() == []
    assert injector.journal.first("fault_rolled_back") is None
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert ledger["faults"][0]["state"] == "lost"


def test_rollback_of_a_vanished_fault_says_so(proxy, injector):
    injector.inject(fault())
    proxy.remove_toxic(ROUTE, "harness-slow")

    with pytest.raises(FaultLost, match="toxic harness-slow is gone"):
        injector.rollback("slow")


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ({"attributes": {"latency": 0}}, "'latency': 0"),
        ({"attributes": {"jitter": 500}}, "'jitter': 500"),
        ({"toxicity": 0.5}, "'toxicity': 0.5"),
    ],
)
def test_a_toxic_changed_behind_the_harness_back_is_lost(
    proxy, injector, change, found
):
    injector.inject(fault())
    proxy.update_toxic(ROUTE, "harness-slow", **change)

    assert injector.check_live() == ["slow"]
    lost = injector.journal.first("fault_lost").fields["found"]
    assert found in lost
    assert "applied as" in lost


def test_a_route_disabled_under_a_latency_fault_is_lost(proxy, injector):
    injector.inject(fault())
    proxy.update_proxy(ROUTE, enabled=False)

    assert injector.check_live() == ["slow"]
    found = injector.journal.first("fault_lost").fields["found"]
    assert found == "the route was disabled"


def test_a_route_enabled_under_an_outage_is_lost(proxy, injector):
    injector.inject(fault(kind="outage"))
    proxy.update_proxy(ROUTE, enabled=True)

    assert injector.check_live() == ["slow"]
    found = injector.journal.first("fault_lost").fields["found"]
    assert found == "the route is enabled"


def test_an_untouched_fault_stays_live(proxy, injector):
    injector.inject(fault())

    assert injector.check_live() == []
    assert injector.check_live() == []

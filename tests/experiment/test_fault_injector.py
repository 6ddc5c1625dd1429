"""The injector with faked mocks, processes and Prometheus: effects, rollbacks."""

import json

import pytest

from harness.errors import FaultError, MockAdminError
from harness.experiment.fault_schema import FaultSpec
from harness.experiment.faults import FaultInjector, FaultLedger
from harness.experiment.faults.effects import EffectProbe
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from harness.report.journal import Journal

ROUTE = "claims-api_to_customer-api"


def spec(name, kind, route="", service="", **attributes) -> FaultSpec:
    return FaultSpec(name, kind, route, 0, 10, attributes, "x.yaml:3", service)


class FakePrometheus:
    """Answers each query with the samples its function gives; records queries."""

    def __init__(self, answer=lambda query: [({}, 1.0)]):
        self.answer = answer
        self.queries: list[str] = []

    def query(self, expr: str):
        self.queries.append(expr)
        if expr.startswith("up{"):
            return [({"job": "x"}, 1.0)]
        return self.answer(expr)


class FakeAdmin:
    """One mock's admin API, in memory."""

    base_url = "http://127.0.0.1:9"

    def __init__(self):
        self.active: dict[str, dict] = {}
        self.calls: list[str] = []

    def add_fault(self, kind, **fields):
        fault_id = f"fault-{len(self.calls)}"
        self.calls.append(f"add {kind} {fields.get('duration_s')}")
        self.active[fault_id] = {"id": fault_id, "kind": kind, **fields}
        return self.active[fault_id]

    def fault(self, fault_id):
        if fault_id not in self.active:
            raise MockAdminError("GET", "/admin/faults/x", 404, "not active")
        return self.active[fault_id]

    def remove_fault(self, fault_id):
        self.calls.append(f"delete {fault_id}")
        return self.fault(fault_id) and self.active.pop(fault_id)

    def rollback(self):
        self.calls.append("rollback")
        self.active = {
            k: v for k, v in self.active.items() if v["kind"] != "bad_deploy"
        }


class FakeProcesses:
    def __init__(self):
        self.pids = {"customer-api": 100}
        self.restarts: list[str] = []

    def pid(self, name):
        return self.pids.get(name)

    def port(self, name):
        return 9  # the discard port: nothing listens on it here

    def kill(self, name, signum):
        return self.pids.pop(name)

    def wait_exit(self, name, timeout_s):
        return name not in self.pids

    def restart(self, name):
        self.restarts.append(name)
        self.pids[name] = 200
        return 200


@pytest.fixture
def proxy():
    with ProxyServerThread() as server:
        client = ToxiproxyClient(server.api_url)
        client.create_proxy(ROUTE, "127.0.0.1:0", "127.0.0.1:9")
        yield client
        client.close()


def injector_with(tmp_path, proxy=None, prometheus=None, deadline_s=0.5):
    admin = FakeAdmin()
    processes = FakeProcesses()
    injector = FaultInjector(
        proxy,
        FaultLedger(tmp_path / "ledger.json"),
        Journal(tmp_path, "t"),
        admin={"claims-api": admin},
        processes=processes,
        effects=EffectProbe(prometheus or FakePrometheus(), deadline_s),
    )
    return injector, admin, processes


def ledger(tmp_path) -> list[dict]:
    return json.loads((tmp_path / "ledger.json").read_text())["faults"]


def test_a_fault_whose_effect_never_shows_is_an_error_and_is_rolled_back(
    tmp_path,
):
    never = FakePrometheus(answer=lambda query: [])
    injector, admin, _ = injector_with(tmp_path, prometheus=never)

    with pytest.raises(FaultError, match="effect never showed in Prometheus"):
        injector.inject(spec("errors", "error", service="claims-api"))

    assert 'mock_faults_active{service="claims-api",kind="error"}' in never.queries[-1]
    assert injector.journal.first("fault_injected") is None
    assert injector.rollback_all() == []
    assert admin.active == {}
    assert ledger(tmp_path)[0]["state"] == "rolled_back"


def test_an_application_fault_ends_by_itself_after_a_margin_and_is_deleted(tmp_path):
    injector, admin, _ = injector_with(tmp_path)

    injector.inject(spec("errors", "error", service="claims-api", status_code=503))

    assert admin.calls == ["add error 70.0"], "duration 10 s plus a 60 s margin"
    entry = ledger(tmp_path)[0]
    assert (entry["state"], entry["fault_id"]) == ("live", "fault-0")
    assert entry["admin_url"] == FakeAdmin.base_url
    assert "token" not in json.dumps(entry).lower()
    injected = injector.journal.first("fault_injected")
    assert injected.fields["effect_seen_after_s"] is not None

    injector.rollback("errors")

    assert admin.calls[-1] == "delete fault-0"
    assert ledger(tmp_path)[0]["state"] == "rolled_back"


def test_a_bad_deploy_is_rolled_back_through_the_deploy_route(tmp_path):
    injector, admin, _ = injector_with(tmp_path)
    injector.inject(spec("deploy", "bad_deploy", service="claims-api", version="2"))

    injector.rollback("deploy")

    assert admin.calls[-1] == "rollback"
    assert admin.active == {}


def test_a_mock_fault_removed_behind_the_harness_back_is_lost(tmp_path):
    injector, admin, _ = injector_with(tmp_path)
    injector.inject(spec("errors", "error", service="claims-api"))
    admin.active.clear()

    assert injector.check_live() == ["errors"]
    assert ledger(tmp_path)[0]["state"] == "lost"


def test_a_bad_deploy_a_runbook_rolled_back_is_remedied_not_lost(tmp_path):
    injector, admin, _ = injector_with(tmp_path)
    injector.inject(spec("deploy", "bad_deploy", service="claims-api", version="2"))
    admin.rollback()
    injector.journal.record(
        "runbook_action",
        runbook="claims-rollback",
        action="rollback",
        target="claims-api",
        result="ok",
    )

    assert injector.check_live() == []
    assert injector.lost_faults == []
    assert ledger(tmp_path)[0]["state"] == "remedied"
    remedied = injector.journal.first("fault_remedied")
    assert remedied.fields["runbook"] == "claims-rollback"
    injector.rollback("deploy")  # at the fault's end: nothing left to take off
    assert admin.calls[-1] == "rollback"


@pytest.mark.parametrize(
    "action",
    [
        # A rollback that failed, or of another service, or another action,
        # does not explain the fault's disappearance.
        {"action": "rollback", "target": "claims-api", "result": "failed"},
        {"action": "rollback", "target": "policy-api", "result": "ok"},
        {"action": "restart", "target": "claims-api", "result": "ok"},
    ],
)
def test_a_bad_deploy_gone_without_its_rollback_is_lost(tmp_path, action):
    injector, admin, _ = injector_with(tmp_path)
    injector.inject(spec("deploy", "bad_deploy", service="claims-api", version="2"))
    admin.rollback()
    injector.journal.record("runbook_action", runbook="r", **action)

    assert injector.check_live() == ["deploy"]
    assert ledger(tmp_path)[0]["state"] == "lost"


def test_a_first_n_error_that_removed_itself_is_not_lost(tmp_path):
    injector, admin, _ = injector_with(tmp_path)
    injector.inject(spec("three", "error", service="claims-api", first_n=3))
    admin.active.clear()

    assert injector.check_live() == []
    injector.rollback("three")
    assert ledger(tmp_path)[0]["state"] == "rolled_back"


def test_a_loop_block_that_blocks_once_is_seen_by_what_it_affected(tmp_path):
    prometheus = FakePrometheus()
    injector, admin, _ = injector_with(tmp_path, prometheus=prometheus)
    injector.inject(spec("block", "loop_block", service="claims-api", block_ms=100))
    admin.active.clear()  # it blocked once and removed itself

    assert "increase(mock_fault_affected_requests_total" in prometheus.queries[-1]
    assert injector.check_live() == []
    injector.rollback("block")
    assert ledger(tmp_path)[0]["state"] == "rolled_back"


def test_a_killed_mock_is_restarted_by_the_rollback(tmp_path):
    prometheus = FakePrometheus()
    injector, _, processes = injector_with(tmp_path, prometheus=prometheus)

    injector.inject(spec("kill", "kill", service="customer-api", signal="KILL"))

    assert processes.pid("customer-api") is None
    assert ledger(tmp_path)[0]["pid"] == 100
    assert 'up{job="customer-api"}' in prometheus.queries[-1]
    injector.rollback("kill")
    assert processes.restarts == ["customer-api"]
    rolled = injector.journal.first("fault_rolled_back")
    assert (rolled.fields["already_running"], rolled.fields["pid"]) == (False, 200)


def test_a_mock_a_runbook_restarted_is_not_restarted_again(tmp_path):
    injector, _, processes = injector_with(tmp_path)
    injector.inject(spec("kill", "kill", service="customer-api", signal="KILL"))
    processes.pids["customer-api"] = 300  # a runbook started it again

    assert injector.check_live() == [], "a restart by remediation is not a lost fault"
    injector.rollback("kill")

    assert processes.restarts == []
    rolled = injector.journal.first("fault_rolled_back")
    assert (rolled.fields["already_running"], rolled.fields["pid"]) == (True, 300)


def test_a_mock_that_does_not_exit_is_an_error(tmp_path):
    injector, _, processes = injector_with(tmp_path)
    processes.kill = lambda name, signum: 100  # the signal is ignored

    with pytest.raises(FaultError, match="still runs"):
        injector.inject(spec("kill", "kill", service="customer-api", signal="TERM"))


@pytest.mark.parametrize(
    ("kind", "attributes", "toxic"),
    [
        ("reset", {}, ("reset_peer", "upstream", {"timeout": 0})),
        ("blackhole", {}, ("timeout", "upstream", {"timeout": 0})),
        ("bandwidth", {"rate_kbps": 4}, ("bandwidth", "downstream", {"rate": 4})),
    ],
)
def test_network_faults_are_toxics_read_back_and_seen(
    tmp_path, proxy, kind, attributes, toxic
):
    prometheus = FakePrometheus()
    injector, _, _ = injector_with(tmp_path, proxy=proxy, prometheus=prometheus)

    injector.inject(spec("net", kind, route=ROUTE, **attributes))

    found = proxy.toxics(ROUTE)
    assert [(t["type"], t["stream"], t["attributes"]) for t in found] == [toxic]
    assert f'proxy="{ROUTE}",type="{toxic[0]}"' in prometheus.queries[-1]
    injector.rollback("net")
    assert proxy.toxics(ROUTE) == []


def test_an_outage_is_checked_by_the_proxy_echo_alone(tmp_path, proxy):
    prometheus = FakePrometheus(answer=lambda query: [])
    injector, _, _ = injector_with(tmp_path, proxy=proxy, prometheus=prometheus)

    injector.inject(spec("down", "outage", route=ROUTE))

    assert prometheus.queries == []
    assert injector.journal.first("fault_injected").fields["effect_query"] is None
    assert injector.rollback_all() == []


def test_without_scraped_proxy_metrics_a_toxic_is_checked_by_echo(tmp_path, proxy):
    prometheus = FakePrometheus(answer=lambda query: [])
    prometheus.query = lambda expr: []  # nothing scrapes the proxy
    injector, _, _ = injector_with(tmp_path, proxy=proxy, prometheus=prometheus)

    injector.inject(spec("net", "reset", route=ROUTE))

    injected = injector.journal.first("fault_injected")
    assert injected.fields["effect_seen_after_s"] is None
    assert injector.rollback_all() == []

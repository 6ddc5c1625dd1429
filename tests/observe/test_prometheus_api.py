import socket
import time

import httpx
import pytest

from harness.errors import StackError
from harness.observe import AlertmanagerProcess, PrometheusAPI, PrometheusProcess
from harness.stack.ports import free_port, free_ports


def test_an_unreachable_prometheus_is_a_stack_error_with_its_cause():
    with PrometheusAPI(f"http://127.0.0.1:{free_port()}", timeout_s=1) as api:
        with pytest.raises(StackError, match="did not answer GET /api/v1/query") as e:
            api.query("up")

    assert isinstance(e.value.__cause__, httpx.ConnectError)


def test_a_bad_without_name_fails_before_anything_starts(estate, binaries, tmp_path):
    with pytest.raises(ValueError, match="ClaimsApiHighErorRate"):
        PrometheusProcess(
            tmp_path,
            free_port(),
            estate,
            {"claims-api": ["127.0.0.1:9"]},
            "http://127.0.0.1:9093",
            without_alerts=["ClaimsApiHighErorRate"],
            binaries=binaries,
        )


@pytest.mark.live
def test_queries_against_a_real_prometheus(estate, binaries, claims_target, tmp_path):
    prometheus_port, alertmanager_port = free_ports(2)
    prometheus = PrometheusProcess(
        tmp_path,
        prometheus_port,
        estate,
        {"claims-api": [claims_target.address]},
        f"http://127.0.0.1:{alertmanager_port}",
        binaries=binaries,
    )

    with prometheus, prometheus.api(timeout_s=2) as api:
        assert api.scalar("vector(1) * 2") == 2.0
        assert api.query("scalar(vector(3))") == [({}, 3.0)]
        assert api.scalar('up{job="no-such-job"}') is None
        # Only claims-api is scraped: other services' no-data alerts may be
        # pending, none may fire this early.
        alerts = api.alerts()
        assert all({"labels", "state"} <= set(a) for a in alerts)
        assert [a for a in alerts if a["state"] == "firing"] == []
        with pytest.raises(StackError, match="bad_data"):
            api.query("rate(")
        now = time.time()
        [(labels, points)] = api.query_range("vector(2)", now - 2, now, 1)
        assert labels == {} and [v for _, v in points] == [2.0, 2.0, 2.0]
        assert points[-1][0] == pytest.approx(now, abs=0.01)
        assert api.query_range('up{job="no-such-job"}', now - 2, now, 1) == []
        with pytest.raises(StackError, match="expected at most one"):
            api.scalar('vector(1) or label_replace(vector(2), "x", "y", "", "")')
        with pytest.raises(StackError, match="not-scraped: no target yet"):
            api.wait_targets_up(["not-scraped"], timeout_s=0.3)
        with pytest.raises(StackError, match="already started"):
            prometheus.start()

    assert not prometheus.process.running()


@pytest.mark.live
def test_a_server_that_cannot_bind_fails_with_its_log(estate, binaries, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        alertmanager = AlertmanagerProcess(
            tmp_path,
            taken.getsockname()[1],
            "http://127.0.0.1:9/",
            estate.observability,
            binaries=binaries,
        )
        with pytest.raises(StackError, match="alertmanager exited with code"):
            alertmanager.start(timeout_s=10)

    assert not alertmanager.process.running()

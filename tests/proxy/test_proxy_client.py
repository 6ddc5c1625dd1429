"""ToxiproxyClient: every call against a real server, and how failures surface."""

import httpx
import pytest

from harness.errors import ProxyAPIError
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread


def test_version(api: ToxiproxyClient) -> None:
    assert api.version() == "2.12.0"


def test_proxy_calls_round_trip(api: ToxiproxyClient, echo_upstream: str) -> None:
    created = api.create_proxy("orders db", "127.0.0.1:0", echo_upstream)
    shown = api.get_proxy("orders db")
    listed = api.proxies()
    disabled = api.update_proxy("orders db", enabled=False)
    api.delete_proxy("orders db")

    assert created["name"] == "orders db"
    assert shown == created
    assert listed == {"orders db": created}
    assert disabled == {**created, "enabled": False}
    assert api.proxies() == {}


def test_populate_returns_the_proxies_as_served(
    api: ToxiproxyClient, echo_upstream: str
) -> None:
    wanted = [{"name": "a", "listen": "127.0.0.1:0", "upstream": echo_upstream}]

    populated = api.populate(wanted)

    assert populated == [api.get_proxy("a")]


def test_toxic_calls_round_trip(api: ToxiproxyClient, echo_proxy: dict) -> None:
    added = api.add_toxic("echo", "latency", {"latency": 50}, name="slow")
    listed = api.toxics("echo")
    updated = api.update_toxic("echo", "slow", {"jitter": 10}, toxicity=0.5)
    api.remove_toxic("echo", "slow")

    assert added == {
        "name": "slow",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 50, "jitter": 0},
    }
    assert listed == [added]
    assert updated["attributes"] == {"latency": 50, "jitter": 10}
    assert updated["toxicity"] == 0.5
    assert api.toxics("echo") == []


def test_reset_enables_and_clears(api: ToxiproxyClient, echo_proxy: dict) -> None:
    api.add_toxic("echo", "timeout", {"timeout": 0}, stream="upstream")
    api.update_proxy("echo", enabled=False)

    api.reset()

    assert api.get_proxy("echo") == echo_proxy


def test_a_refusal_raises_with_method_path_status_and_message(
    api: ToxiproxyClient,
) -> None:
    with pytest.raises(ProxyAPIError) as refused:
        api.get_proxy("missing")

    error = refused.value
    assert (error.method, error.path) == ("GET", "/proxies/missing")
    assert (error.status, error.message) == (404, "proxy not found")


def test_a_bad_toxic_raises_with_the_server_explanation(
    api: ToxiproxyClient, echo_proxy: dict
) -> None:
    with pytest.raises(ProxyAPIError) as refused:
        api.add_toxic("echo", "latency", {"latency": -3})

    assert refused.value.status == 400
    assert "'latency'" in refused.value.message
    assert "-3" in refused.value.message


def test_an_unreachable_server_raises_status_0_with_the_cause(dead_port: int) -> None:
    with ToxiproxyClient(f"http://127.0.0.1:{dead_port}", timeout_s=1.0) as client:
        with pytest.raises(ProxyAPIError) as failed:
            client.proxies()

    assert failed.value.status == 0
    assert isinstance(failed.value.__cause__, httpx.ConnectError)


def test_clients_of_two_servers_do_not_share_state(
    api: ToxiproxyClient, echo_upstream: str
) -> None:
    with ProxyServerThread() as other_server:
        with ToxiproxyClient(other_server.api_url) as other:
            other.create_proxy("only-here", "127.0.0.1:0", echo_upstream)

            assert "only-here" in other.proxies()
            assert "only-here" not in api.proxies()

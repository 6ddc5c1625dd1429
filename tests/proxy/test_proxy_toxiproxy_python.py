"""The unchanged toxiproxy-python package drives this server as it drives Toxiproxy.

toxiproxy-python 0.1.1 keeps the server's host and port as class attributes of
its APIConsumer and changes them in Toxiproxy.update_api_consumer(); the
fixture puts the old values back so no other test sees them changed.
"""

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from harness.proxy.client import ToxiproxyClient


@pytest.fixture
def toxiproxy(api: ToxiproxyClient) -> Iterator[Toxiproxy]:
    address = urlsplit(api.base_url)
    before = (APIConsumer.host, APIConsumer.port)
    server = Toxiproxy()
    server.update_api_consumer(address.hostname, address.port)
    yield server
    APIConsumer.host, APIConsumer.port = before


def test_it_creates_a_proxy_and_lists_it(
    toxiproxy: Toxiproxy, api: ToxiproxyClient, echo_upstream: str
) -> None:
    proxy = toxiproxy.create(upstream=echo_upstream, name="compat")

    listed = toxiproxy.proxies()

    assert toxiproxy.running()
    assert toxiproxy.version() == b'{"version": "2.12.0"}\n'
    assert list(listed) == ["compat"]
    assert listed["compat"].listen == proxy.listen == api.get_proxy("compat")["listen"]
    assert listed["compat"].upstream == echo_upstream
    assert listed["compat"].enabled is True


def test_it_manages_toxics_and_takes_a_proxy_down(
    toxiproxy: Toxiproxy, api: ToxiproxyClient, echo_upstream: str
) -> None:
    proxy = toxiproxy.create(upstream=echo_upstream, name="compat")

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    toxics = proxy.toxics()
    with proxy.down():
        down = toxiproxy.get_proxy("compat").enabled
    proxy.destroy_toxic("latency_downstream")

    assert toxics["latency_downstream"].attributes == {"latency": 100, "jitter": 0}
    assert down is False
    assert api.get_proxy("compat")["enabled"] is True
    assert api.toxics("compat") == []


def test_it_populates_resets_and_destroys(
    toxiproxy: Toxiproxy, api: ToxiproxyClient, echo_upstream: str
) -> None:
    wanted = {"name": "a", "listen": "127.0.0.1:0", "upstream": echo_upstream}
    created = toxiproxy.populate([wanted])
    api.add_toxic("a", "timeout", {"timeout": 0})

    reset = toxiproxy.reset()
    toxics_after_reset = api.toxics("a")
    toxiproxy.destroy_all()

    assert [proxy.name for proxy in created] == ["a"]
    assert reset is True
    assert toxics_after_reset == []
    assert api.proxies() == {}

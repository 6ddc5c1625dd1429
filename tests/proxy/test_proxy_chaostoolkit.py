"""The unchanged chaostoolkit-toxiproxy extension drives this server like Toxiproxy.

The extension reads the server's address from the Chaos Toolkit configuration
(``toxiproxy_host`` and ``toxiproxy_port``). Its create_proxy and modify_proxy
write the bound port to the configuration and to os.environ as ``<name>_PORT``;
the fixture lets monkeypatch put the environment back afterwards.
"""

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from chaoslib.activity import run_activity
from chaostoxi.proxy import actions as proxy_actions
from chaostoxi.proxy import probes as proxy_probes
from chaostoxi.toxic import actions as toxic_actions

from harness.proxy.client import ToxiproxyClient

LATENCY_MS = 200
TOLERANCE_S = 0.05


@pytest.fixture
def configuration(
    api: ToxiproxyClient, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict]:
    address = urlsplit(api.base_url)
    for name in ("ctk", "other"):
        monkeypatch.delenv(f"{name}_PORT", raising=False)
    yield {"toxiproxy_host": address.hostname, "toxiproxy_port": address.port}


@pytest.fixture
def ctk_proxy(configuration: dict, echo_upstream: str) -> dict:
    """A proxy named "ctk" to the echo server, made by the extension."""
    host, port = echo_upstream.rsplit(":", 1)
    created = proxy_actions.create_proxy(
        proxy_name="ctk",
        upstream_host=host,
        upstream_port=int(port),
        listen_host="127.0.0.1",
        listen_port=0,
        configuration=configuration,
    )
    assert created is True
    return {"listen": f"127.0.0.1:{configuration['ctk_PORT']}"}


def _refused(proxy: dict) -> bool:
    host, port = proxy["listen"].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_create_proxy_reports_the_bound_port_and_carries_traffic(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient, echo_upstream, wire
) -> None:
    served = api.get_proxy("ctk")

    assert served["listen"] == ctk_proxy["listen"]
    assert configuration["ctk_PORT"] != "0"
    assert served["upstream"] == echo_upstream
    wire.round_trip(wire.connect(ctk_proxy), b"through the proxy")


def test_probes_read_the_proxy_as_served(
    ctk_proxy: dict, configuration: dict, echo_upstream: str
) -> None:
    def attribute(name: str) -> object:
        return proxy_probes.get_proxy_attribute("ctk", name, configuration)

    assert proxy_probes.proxy_exist("ctk", configuration) is True
    assert proxy_probes.proxy_exist("missing", configuration) is False
    assert attribute("enabled") is True
    assert attribute("upstream") == echo_upstream
    assert attribute("listen") == ctk_proxy["listen"]
    assert attribute("toxics") == []
    assert proxy_probes.get_proxy_attribute("missing", "enabled", configuration) is None


def test_disable_and_enable_take_the_route_down_and_up(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient, wire
) -> None:
    assert proxy_actions.disable_proxy("ctk", configuration) is True
    down = api.get_proxy("ctk")["enabled"]
    refused_while_down = _refused(ctk_proxy)
    assert proxy_actions.enable_proxy("ctk", configuration) is True

    assert down is False
    assert refused_while_down
    assert api.get_proxy("ctk")["enabled"] is True
    assert configuration["ctk_PORT"] == ctk_proxy["listen"].rsplit(":", 1)[1]
    wire.round_trip(wire.connect(ctk_proxy), b"back up")


def test_modify_proxy_moves_the_upstream(
    ctk_proxy: dict, configuration: dict, http_upstream: str, wire
) -> None:
    assert proxy_actions.modify_proxy(
        "ctk", upstream_address=http_upstream, configuration=configuration
    )

    sock = wire.connect(ctk_proxy)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: ctk\r\n\r\n")
    answer = b""
    while not answer.endswith(b"hello"):
        answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.")


def test_modify_proxy_of_an_unknown_proxy_fails(configuration: dict) -> None:
    with pytest.raises(AssertionError):
        proxy_actions.modify_proxy(
            "missing", enabled=False, configuration=configuration
        )


def test_a_latency_toxic_delays_traffic_until_it_is_deleted(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient, wire
) -> None:
    sock = wire.connect(ctk_proxy)
    added = toxic_actions.create_latency_toxic(
        "ctk", "slow", latency=LATENCY_MS, configuration=configuration
    )
    slowed_s = wire.round_trip(sock, b"slow")
    served = api.toxics("ctk")
    deleted = toxic_actions.delete_toxic("ctk", "slow", configuration)
    fast_s = wire.round_trip(sock, b"fast")

    assert added is True
    assert served == [
        {
            "name": "slow",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {"latency": LATENCY_MS, "jitter": 0},
        }
    ]
    assert slowed_s >= LATENCY_MS / 1000 - TOLERANCE_S
    assert deleted is True
    assert fast_s < LATENCY_MS / 1000 - TOLERANCE_S
    assert api.toxics("ctk") == []


@pytest.mark.parametrize(
    ("action", "arguments", "toxic_type", "attributes"),
    [
        (
            "create_bandwith_degradation_toxic",
            {"rate": 64},
            "bandwidth",
            {"rate": 64},
        ),
        (
            "create_slow_connection_close_toxic",
            {"delay": 300},
            "slow_close",
            {"delay": 300},
        ),
        ("create_timeout_toxic", {"timeout": 1500}, "timeout", {"timeout": 1500}),
        (
            "create_slicer_toxic",
            {"average_size": 8, "size_variation": 2, "delay": 10},
            "slicer",
            {"average_size": 8, "size_variation": 2, "delay": 10},
        ),
        ("create_limiter_toxic", {"bytes_limit": 4}, "limit_data", {"bytes": 4}),
    ],
)
def test_each_toxic_action_installs_its_toxic(
    ctk_proxy: dict,
    configuration: dict,
    api: ToxiproxyClient,
    action: str,
    arguments: dict,
    toxic_type: str,
    attributes: dict,
) -> None:
    create = getattr(toxic_actions, action)

    assert create("ctk", "fault", configuration=configuration, **arguments) is True

    assert api.toxics("ctk") == [
        {
            "name": "fault",
            "type": toxic_type,
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": attributes,
        }
    ]


def test_a_limiter_toxic_cuts_the_answer_at_its_limit(
    ctk_proxy: dict, configuration: dict, wire
) -> None:
    toxic_actions.create_limiter_toxic("ctk", "cut", 4, configuration=configuration)
    sock = wire.connect(ctk_proxy)

    sock.sendall(b"0123456789")

    assert wire.receive_until_closed(sock) == b"0123"


def test_create_toxic_takes_stream_toxicity_and_no_attributes(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient, wire
) -> None:
    added = toxic_actions.create_toxic(
        "ctk",
        "requests_vanish",
        "timeout",
        stream="upstream",
        toxicity=0.0,
        configuration=configuration,
    )

    assert added is True
    assert api.toxics("ctk") == [
        {
            "name": "requests_vanish",
            "type": "timeout",
            "stream": "upstream",
            "toxicity": 0.0,
            "attributes": {"timeout": 0},
        }
    ]
    # A toxicity of 0 never acts, so the echo still answers.
    wire.round_trip(wire.connect(ctk_proxy), b"untouched")


def test_a_refused_toxic_fails_the_action_and_changes_nothing(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient
) -> None:
    toxic_actions.create_latency_toxic("ctk", "slow", 10, configuration=configuration)
    before = api.get_proxy("ctk")

    # chaostoolkit-toxiproxy 0.3.1 reads the name of the toxic it got back
    # without checking that it got one, so a refusal surfaces as a TypeError.
    with pytest.raises(TypeError):
        toxic_actions.create_toxic(
            "ctk", "bad", "lag", attributes={}, configuration=configuration
        )
    with pytest.raises(TypeError):
        toxic_actions.create_latency_toxic(
            "ctk", "slow", latency=20, configuration=configuration
        )

    assert api.get_proxy("ctk") == before
    assert toxic_actions.delete_toxic("ctk", "missing", configuration) is False


def test_create_proxy_on_a_port_in_use_fails(
    configuration: dict, api: ToxiproxyClient, echo_upstream: str, busy_port: int
) -> None:
    host, port = echo_upstream.rsplit(":", 1)

    with pytest.raises(AssertionError):
        proxy_actions.create_proxy(
            "other",
            host,
            int(port),
            "127.0.0.1",
            busy_port,
            configuration=configuration,
        )

    assert api.proxies() == {}
    assert "other_PORT" not in configuration


def test_reset_enables_proxies_and_removes_toxics(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient, wire
) -> None:
    toxic_actions.create_timeout_toxic("ctk", "stall", 0, configuration=configuration)
    proxy_actions.disable_proxy("ctk", configuration)

    assert proxy_actions.reset(configuration) is True

    assert api.get_proxy("ctk")["enabled"] is True
    assert api.toxics("ctk") == []
    wire.round_trip(wire.connect(ctk_proxy), b"after reset")


def test_delete_proxy_stops_the_route(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient
) -> None:
    proxy_actions.delete_proxy("ctk", configuration)

    assert api.proxies() == {}
    assert proxy_probes.proxy_exist("ctk", configuration) is False
    assert _refused(ctk_proxy)


def test_actions_run_from_an_experiment_activity(
    ctk_proxy: dict, configuration: dict, api: ToxiproxyClient, wire
) -> None:
    activity = {
        "type": "action",
        "name": "slow-responses",
        "provider": {
            "type": "python",
            "module": "chaostoxi.toxic.actions",
            "func": "create_latency_toxic",
            "arguments": {
                "for_proxy": "ctk",
                "toxic_name": "slow",
                "latency": LATENCY_MS,
            },
        },
    }
    probe = {
        "type": "probe",
        "name": "route-exists",
        "provider": {
            "type": "python",
            "module": "chaostoxi.proxy.probes",
            "func": "proxy_exist",
            "arguments": {"proxy_name": "ctk"},
        },
    }
    sock = wire.connect(ctk_proxy)

    added = run_activity(activity, configuration, {})
    started = time.monotonic()
    wire.round_trip(sock, b"x")
    elapsed_s = time.monotonic() - started

    assert added is True
    assert run_activity(probe, configuration, {}) is True
    assert [toxic["name"] for toxic in api.toxics("ctk")] == ["slow"]
    assert elapsed_s >= LATENCY_MS / 1000 - TOLERANCE_S

"""Bytes through real proxies: integrity, toxics, timing, open connections.

Timings are asserted within explicit bounds. The lower bound allows CLOCK_SLACK_S
because event-loop timers may fire up to a clock tick early; the upper bound
allows TOLERANCE_S for thread scheduling on a loaded machine.
"""

import hashlib
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection

import pytest

from harness.proxy.client import ToxiproxyClient

CLOCK_SLACK_S = 0.01
TOLERANCE_S = 0.2
API_DEADLINE_S = 1.0


def _timed(call, *args, **kwargs) -> float:
    started = time.monotonic()
    call(*args, **kwargs)
    return time.monotonic() - started


def _closed_by_proxy(sock: socket.socket) -> bool:
    """True when the socket sees EOF or a reset instead of data."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _echo_through(proxy: dict, payload: bytes) -> bytes:
    host, port = proxy["listen"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sender = threading.Thread(target=_send_and_half_close, args=(sock, payload))
        sender.start()
        received = bytearray()
        while data := sock.recv(65536):
            received += data
        sender.join()
    return bytes(received)


def _send_and_half_close(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)


def test_bytes_arrive_intact_over_many_concurrent_connections(echo_proxy) -> None:
    rng = random.Random(20240605)
    payloads = [rng.randbytes(rng.randint(1, 400_000)) for _ in range(48)]

    with ThreadPoolExecutor(max_workers=24) as pool:
        echoed = list(pool.map(lambda p: _echo_through(echo_proxy, p), payloads))

    for sent, received in zip(payloads, echoed, strict=True):
        assert len(received) == len(sent)
        assert hashlib.sha256(received).digest() == hashlib.sha256(sent).digest()


def test_bytes_keep_their_order_under_jittered_latency(api, echo_proxy, wire) -> None:
    for stream in ("upstream", "downstream"):
        api.add_toxic("echo", "latency", {"latency": 30, "jitter": 25}, stream)
    sock = wire.connect(echo_proxy)
    pieces = [bytes([n]) * 512 for n in range(100)]

    for piece in pieces:
        sock.sendall(piece)
        time.sleep(0.001)  # separate writes, so the proxy sees separate chunks
    received = wire.receive(sock, 512 * 100)

    assert received == b"".join(pieces)


def test_latency_delays_each_round_trip_within_tolerance(api, echo_proxy, wire):
    api.add_toxic("echo", "latency", {"latency": 300})
    sock = wire.connect(echo_proxy)

    round_trips = [wire.round_trip(sock, b"ping") for _ in range(3)]

    for seconds in round_trips:
        assert 0.3 - CLOCK_SLACK_S <= seconds <= 0.3 + TOLERANCE_S


def test_latency_on_the_upstream_side_delays_requests(api, echo_proxy, wire):
    api.add_toxic("echo", "latency", {"latency": 200}, stream="upstream")
    sock = wire.connect(echo_proxy)

    seconds = wire.round_trip(sock, b"ping")

    assert 0.2 - CLOCK_SLACK_S <= seconds <= 0.2 + TOLERANCE_S


def test_latency_is_counted_from_arrival_so_a_stream_stays_pipelined(
    api, echo_proxy, wire
) -> None:
    api.add_toxic("echo", "latency", {"latency": 300})
    sock = wire.connect(echo_proxy)

    started = time.monotonic()
    for _ in range(5):
        sock.sendall(b"x" * 100)
        time.sleep(0.05)
    wire.receive(sock, 500)
    elapsed = time.monotonic() - started

    # Paid once per chunk, five chunks would take 1.5 s; pipelined, the last
    # one, sent at about 0.2 s, is back at about 0.5 s.
    assert 0.5 - CLOCK_SLACK_S <= elapsed <= 0.5 + TOLERANCE_S


def test_toxicity_zero_never_acts(api, echo_proxy, wire) -> None:
    api.add_toxic("echo", "latency", {"latency": 1000}, toxicity=0.0)
    sock = wire.connect(echo_proxy)

    assert wire.round_trip(sock, b"ping") <= TOLERANCE_S


def test_adding_changing_and_removing_a_toxic_reach_an_open_connection(
    api, echo_proxy, wire
) -> None:
    sock = wire.connect(echo_proxy)
    before = wire.round_trip(sock, b"ping")

    api.add_toxic("echo", "latency", {"latency": 300})
    added = wire.round_trip(sock, b"ping")
    api.update_toxic("echo", "latency_downstream", {"latency": 600})
    changed = wire.round_trip(sock, b"ping")
    api.remove_toxic("echo", "latency_downstream")
    removed = wire.round_trip(sock, b"ping")

    assert before <= TOLERANCE_S
    assert 0.3 - CLOCK_SLACK_S <= added <= 0.3 + TOLERANCE_S
    assert 0.6 - CLOCK_SLACK_S <= changed <= 0.6 + TOLERANCE_S
    assert removed <= TOLERANCE_S


def test_removing_a_latency_releases_the_data_it_holds(api, echo_proxy, wire):
    api.add_toxic("echo", "latency", {"latency": 5000})
    sock = wire.connect(echo_proxy)
    sock.sendall(b"held")
    time.sleep(0.2)

    started = time.monotonic()
    removal_s = _timed(api.remove_toxic, "echo", "latency_downstream")
    echoed = wire.receive(sock, 4)
    released_s = time.monotonic() - started

    assert echoed == b"held"
    assert removal_s <= API_DEADLINE_S
    assert released_s <= TOLERANCE_S


def test_timeout_zero_stalls_until_removed_and_removal_closes(api, echo_proxy, wire):
    api.add_toxic("echo", "timeout", {"timeout": 0})
    sock = wire.connect(echo_proxy)
    sock.sendall(b"ping")
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(4)

    removal_s = _timed(api.remove_toxic, "echo", "timeout_downstream")
    sock.settimeout(API_DEADLINE_S)

    assert removal_s <= API_DEADLINE_S
    assert _closed_by_proxy(sock)


def test_timeout_closes_the_connection_after_its_delay(api, echo_proxy, wire):
    api.add_toxic("echo", "timeout", {"timeout": 300})
    started = time.monotonic()
    sock = wire.connect(echo_proxy)
    sock.sendall(b"ping")

    closed = _closed_by_proxy(sock)
    elapsed = time.monotonic() - started

    assert closed
    assert 0.3 - CLOCK_SLACK_S <= elapsed <= 0.3 + TOLERANCE_S


def test_reset_peer_answers_data_with_a_tcp_reset(api, echo_proxy, wire) -> None:
    api.add_toxic("echo", "reset_peer", {"timeout": 0})
    sock = wire.connect(echo_proxy)
    sock.sendall(b"ping")

    with pytest.raises(ConnectionResetError):
        sock.recv(4)


def test_reset_peer_waits_its_timeout_before_the_reset(api, echo_proxy, wire):
    api.add_toxic("echo", "reset_peer", {"timeout": 300})
    sock = wire.connect(echo_proxy)

    started = time.monotonic()
    sock.sendall(b"ping")
    with pytest.raises(ConnectionResetError):
        sock.recv(4)
    elapsed = time.monotonic() - started

    assert 0.3 - CLOCK_SLACK_S <= elapsed <= 0.3 + TOLERANCE_S


def test_limit_data_closes_once_the_limit_went_through(api, echo_proxy, wire):
    api.add_toxic("echo", "limit_data", {"bytes": 10})
    sock = wire.connect(echo_proxy)
    sock.sendall(bytes(range(100)))

    assert wire.receive_until_closed(sock) == bytes(range(10))


def test_bandwidth_paces_the_data(api, echo_proxy, wire) -> None:
    api.add_toxic("echo", "bandwidth", {"rate": 200})
    sock = wire.connect(echo_proxy)
    payload = random.Random(7).randbytes(100_000)

    seconds = wire.round_trip(sock, payload)

    # 100 000 bytes at 200 KB/s (1 KB = 1000 bytes) take 0.5 s.
    assert 0.5 - CLOCK_SLACK_S <= seconds <= 0.5 + TOLERANCE_S


def test_slicer_spreads_the_data_without_changing_it(api, echo_proxy, wire):
    attributes = {"average_size": 100, "size_variation": 20, "delay": 10_000}
    api.add_toxic("echo", "slicer", attributes)
    sock = wire.connect(echo_proxy)
    payload = random.Random(11).randbytes(2000)

    seconds = wire.round_trip(sock, payload)

    # At most 120 bytes a slice, so at least 16 pauses of 10 ms.
    assert 0.16 - CLOCK_SLACK_S <= seconds <= 0.25 + TOLERANCE_S


def test_slow_close_holds_back_the_close(api, echo_proxy, wire) -> None:
    api.add_toxic("echo", "slow_close", {"delay": 300})
    sock = wire.connect(echo_proxy)
    sock.sendall(b"bye")
    sock.shutdown(socket.SHUT_WR)

    echoed = wire.receive(sock, 3)
    echoed_at = time.monotonic()
    rest = wire.receive_until_closed(sock)
    held_s = time.monotonic() - echoed_at

    assert (echoed, rest) == (b"bye", b"")
    assert 0.3 - CLOCK_SLACK_S - TOLERANCE_S <= held_s <= 0.3 + TOLERANCE_S


def test_a_dead_upstream_is_accepted_then_closed(api, wire, dead_port) -> None:
    proxy = api.create_proxy("dead", "127.0.0.1:0", f"127.0.0.1:{dead_port}")

    sock = wire.connect(proxy)
    sock.settimeout(API_DEADLINE_S)

    assert _closed_by_proxy(sock)


def test_disable_closes_connections_and_enable_rebinds_the_port_with_its_toxics(
    api, echo_proxy, wire
) -> None:
    api.add_toxic("echo", "latency", {"latency": 300})
    open_before = wire.connect(echo_proxy)

    disabled = api.update_proxy("echo", enabled=False)
    open_before.settimeout(API_DEADLINE_S)
    assert _closed_by_proxy(open_before)
    with pytest.raises(ConnectionRefusedError):
        wire.connect(echo_proxy)

    enabled = api.update_proxy("echo", enabled=True)
    seconds = wire.round_trip(wire.connect(echo_proxy), b"ping")

    assert disabled["enabled"] is False
    assert enabled["listen"] == echo_proxy["listen"]
    assert [t["name"] for t in enabled["toxics"]] == ["latency_downstream"]
    assert 0.3 - CLOCK_SLACK_S <= seconds <= 0.3 + TOLERANCE_S


def test_reset_answers_at_once_with_keep_alive_connections_held(
    api: ToxiproxyClient, http_upstream: str
) -> None:
    proxy = api.create_proxy("web", "127.0.0.1:0", http_upstream)
    api.create_proxy("down", "127.0.0.1:0", http_upstream, enabled=False)
    host, port = proxy["listen"].rsplit(":", 1)
    connections = [HTTPConnection(host, int(port), timeout=5) for _ in range(10)]
    for connection in connections:
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"hello"
    api.add_toxic("web", "timeout", {"timeout": 0})
    api.add_toxic("web", "latency", {"latency": 1000}, stream="upstream")

    reset_s = _timed(api.reset)

    for connection in connections:
        connection.close()
    assert reset_s <= API_DEADLINE_S
    assert all(p["enabled"] and not p["toxics"] for p in api.proxies().values())


def test_the_api_answers_within_a_second_under_traffic(api, echo_proxy) -> None:
    api.add_toxic("echo", "latency", {"latency": 20, "jitter": 10})
    api.add_toxic("echo", "bandwidth", {"rate": 2000}, stream="upstream")
    payloads = [random.Random(n).randbytes(300_000) for n in range(16)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        traffic = [pool.submit(_echo_through, echo_proxy, p) for p in payloads]
        time.sleep(0.05)
        calls = [
            _timed(api.proxies),
            _timed(api.add_toxic, "echo", "timeout", {"timeout": 0}, "upstream", 0.0),
            _timed(api.update_toxic, "echo", "latency_downstream", {"latency": 30}),
            _timed(api.remove_toxic, "echo", "timeout_upstream"),
            _timed(api.get_proxy, "echo"),
        ]
        echoed = [future.result(timeout=30) for future in traffic]

    assert max(calls) <= API_DEADLINE_S
    assert echoed == payloads

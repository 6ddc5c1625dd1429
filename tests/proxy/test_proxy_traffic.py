"""Bytes through real proxies: integrity, proxy life cycle, and an API that answers.

Toxics, one by one, are in test_proxy_toxics.py.

The integrity tests draw their sizes and bytes from a seed that is printed, and
named in every failure; PROXY_TRAFFIC_SEED=<seed> replays the same traffic.
"""

import hashlib
import math
import os
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPConnection

import pytest

from harness.proxy.client import ToxiproxyClient

SEED_VARIABLE = "PROXY_TRAFFIC_SEED"
CONNECTIONS_AT_ONCE = 200
LARGEST_PAYLOAD_BYTES = 4_000_000
# Generous: the whole exchange takes a few seconds; past this, bytes are stuck.
EXCHANGE_DEADLINE_S = 60.0
SEND_BYTES = 256 * 1024

CLOCK_SLACK_S = 0.01
TOLERANCE_S = 0.15
# A hang detector, not a speed measurement: an API call answers in milliseconds,
# so one that takes a second is waiting on traffic it must never wait on.
API_DEADLINE_S = 1.0


@dataclass
class _Exchange:
    """One connection that sends a request, half-closes, and reads to the end."""

    sock: socket.socket
    request: bytes
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    error: str | None = None
    finished: bool = False

    def send_some(self, selector: selectors.BaseSelector) -> None:
        try:
            self.sent += self.sock.send(memoryview(self.request)[self.sent :])
        except BlockingIOError:
            return
        except OSError as exc:
            self.finish(selector, f"send failed after {self.sent} bytes: {exc!r}")
            return

        if self.sent == len(self.request):
            self.sock.shutdown(socket.SHUT_WR)
            selector.modify(self.sock, selectors.EVENT_READ, self)

    def receive_some(self, selector: selectors.BaseSelector) -> None:
        try:
            data = self.sock.recv(SEND_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self.finish(selector, f"receive failed: {exc!r}")
            return

        if data:
            self.received += data
        else:
            self.finish(selector)

    def finish(self, selector: selectors.BaseSelector, error: str | None = None):
        self.error = error
        self.finished = True
        selector.unregister(self.sock)


def _exchange_at_once(proxy: dict, requests: list[bytes]) -> list[_Exchange]:
    """Open one connection per request, all before any byte is sent, and run them.

    One thread drives every socket, so all the connections carry data at once.
    """
    host, port = proxy["listen"].rsplit(":", 1)
    exchanges = []
    try:
        for request in requests:
            sock = socket.create_connection((host, int(port)), timeout=5)
            exchanges.append(_Exchange(sock, request))
        _pump(exchanges)
    finally:
        for exchange in exchanges:
            exchange.sock.close()
    return exchanges


def _pump(exchanges: list[_Exchange]) -> None:
    deadline = time.monotonic() + EXCHANGE_DEADLINE_S
    with selectors.DefaultSelector() as selector:
        for exchange in exchanges:
            exchange.sock.setblocking(False)
            events = selectors.EVENT_READ | selectors.EVENT_WRITE
            selector.register(exchange.sock, events, exchange)

        while selector.get_map() and time.monotonic() < deadline:
            for key, events in selector.select(timeout=0.5):
                exchange = key.data
                if events & selectors.EVENT_WRITE and not exchange.finished:
                    exchange.send_some(selector)
                if events & selectors.EVENT_READ and not exchange.finished:
                    exchange.receive_some(selector)

    for exchange in exchanges:
        if not exchange.finished:
            exchange.error = f"unfinished after {EXCHANGE_DEADLINE_S} s"


def _payload_sizes(rng: random.Random, count: int) -> list[int]:
    """Sizes spread evenly on a log scale, always including 1 byte and the largest."""
    top = math.log(LARGEST_PAYLOAD_BYTES)
    sizes = [round(math.exp(rng.uniform(0, top))) for _ in range(count - 2)]
    sizes += [1, LARGEST_PAYLOAD_BYTES]
    rng.shuffle(sizes)
    return sizes


def _first_difference(got: bytes, wanted: bytes) -> int:
    common = min(len(got), len(wanted))
    for start in range(0, common, SEND_BYTES):
        end = min(start + SEND_BYTES, common)
        if got[start:end] != wanted[start:end]:
            return next(i for i in range(start, end) if got[i] != wanted[i])
    return common


def _differences(
    exchanges: list[_Exchange], expected: list[bytes], seed: int
) -> list[str]:
    problems = []
    for index, (exchange, wanted) in enumerate(zip(exchanges, expected, strict=True)):
        got = bytes(exchange.received)
        if exchange.error is None and got == wanted:
            continue
        problems.append(
            f"connection {index}: sent {len(exchange.request)} bytes, expected "
            f"{len(wanted)} back, got {len(got)}, first difference at byte "
            f"{_first_difference(got, wanted)}, error {exchange.error}"
        )
    if problems:
        problems.append(f"replay with {SEED_VARIABLE}={seed}")
    return problems


@pytest.fixture
def traffic_seed() -> int:
    seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().getrandbits(32))
    print(f"{SEED_VARIABLE}={seed}")  # pytest shows it beside a failure
    return seed


def test_bytes_echo_intact_over_many_connections_at_once(
    echo_proxy, traffic_seed
) -> None:
    rng = random.Random(traffic_seed)
    sizes = _payload_sizes(rng, CONNECTIONS_AT_ONCE)
    requests = [rng.randbytes(size) for size in sizes]

    exchanges = _exchange_at_once(echo_proxy, requests)

    problems = _differences(exchanges, requests, traffic_seed)
    assert not problems, "\n".join(problems)


def test_each_direction_carries_its_own_bytes_and_answers_follow_a_half_close(
    api, digest_upstream, traffic_seed
) -> None:
    proxy = api.create_proxy("digest", "127.0.0.1:0", digest_upstream)
    rng = random.Random(traffic_seed)
    bodies = [rng.randbytes(size) for size in _payload_sizes(rng, CONNECTIONS_AT_ONCE)]
    answers = [(size, rng.getrandbits(64)) for size in _payload_sizes(rng, len(bodies))]
    requests = [
        struct.pack("!QQ", size, seed) + body
        for body, (size, seed) in zip(bodies, answers, strict=True)
    ]
    expected = [
        hashlib.sha256(body).digest() + random.Random(seed).randbytes(size)
        for body, (size, seed) in zip(bodies, answers, strict=True)
    ]

    exchanges = _exchange_at_once(proxy, requests)

    problems = _differences(exchanges, expected, traffic_seed)
    assert not problems, "\n".join(problems)


def _timed(call: Callable, *args, **kwargs) -> float:
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


def test_a_dead_upstream_is_accepted_then_closed(api, wire, dead_port) -> None:
    proxy = api.create_proxy("dead", "127.0.0.1:0", f"127.0.0.1:{dead_port}")

    sock = wire.connect(proxy)
    sock.settimeout(API_DEADLINE_S)

    assert _closed_by_proxy(sock)
    assert api.get_proxy("dead")["enabled"] is True


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


def test_removing_a_timeout_that_holds_many_connections_answers_and_closes_them(
    api, held_proxy, held_upstream
) -> None:
    api.add_toxic("held", "timeout", {"timeout": 0}, stream="upstream")
    # Each join returns once the upstream accepted, so the toxic holds them all.
    pairs = [held_upstream.join(held_proxy) for _ in range(CONNECTIONS_AT_ONCE)]
    for client, _ in pairs:
        client.sendall(b"lost")
    time.sleep(0.2)

    removal_s = _timed(api.remove_toxic, "held", "timeout_upstream")
    ends = [sock for pair in pairs for sock in pair]
    for sock in ends:
        sock.settimeout(API_DEADLINE_S)

    assert removal_s <= API_DEADLINE_S
    assert all(_closed_by_proxy(sock) for sock in ends)


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_removing_a_latency_answers_and_releases_the_data_it_holds(
    api, echo_proxy, wire, stream
) -> None:
    api.add_toxic("echo", "latency", {"latency": 5000}, stream)
    sock = wire.connect(echo_proxy)
    sock.sendall(b"held")
    time.sleep(0.2)

    started = time.monotonic()
    removal_s = _timed(api.remove_toxic, "echo", f"latency_{stream}")
    echoed = wire.receive(sock, 4)
    released_s = time.monotonic() - started

    assert echoed == b"held"
    assert removal_s <= API_DEADLINE_S
    assert released_s <= TOLERANCE_S


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_changing_a_latency_answers_and_lets_the_data_it_holds_go(
    api, echo_proxy, wire, stream
) -> None:
    api.add_toxic("echo", "latency", {"latency": 5000}, stream)
    sock = wire.connect(echo_proxy)
    sock.sendall(b"held")
    time.sleep(0.2)

    started = time.monotonic()
    change_s = _timed(api.update_toxic, "echo", f"latency_{stream}", {"latency": 100})
    echoed = wire.receive(sock, 4)
    released_s = time.monotonic() - started
    next_trip_s = wire.round_trip(sock, b"next")

    assert echoed == b"held"
    assert change_s <= API_DEADLINE_S
    # As in Toxiproxy, a chunk held by a toxic that changes goes on at once.
    assert released_s <= TOLERANCE_S
    assert 0.1 - CLOCK_SLACK_S <= next_trip_s <= 0.1 + TOLERANCE_S


def test_disabling_and_deleting_proxies_that_hold_connections_answer(
    api, echo_upstream, wire
) -> None:
    held = {}
    for name in ("stalled", "slowed"):
        proxy = api.create_proxy(name, "127.0.0.1:0", echo_upstream)
        held[name] = [wire.connect(proxy) for _ in range(20)]
    api.add_toxic("stalled", "timeout", {"timeout": 0})
    api.add_toxic("slowed", "latency", {"latency": 10_000})
    for sock in held["stalled"] + held["slowed"]:
        sock.sendall(b"held")
    time.sleep(0.2)

    disable_s = _timed(api.update_proxy, "stalled", enabled=False)
    delete_s = _timed(api.delete_proxy, "slowed")
    for sock in held["stalled"] + held["slowed"]:
        sock.settimeout(API_DEADLINE_S)

    assert disable_s <= API_DEADLINE_S
    assert delete_s <= API_DEADLINE_S
    assert all(_closed_by_proxy(sock) for sock in held["stalled"] + held["slowed"])


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
    fresh = HTTPConnection(host, int(port), timeout=5)
    fresh.request("GET", "/")
    answer = fresh.getresponse().read()

    for connection in [*connections, fresh]:
        connection.close()
    assert reset_s <= API_DEADLINE_S
    assert all(p["enabled"] and not p["toxics"] for p in api.proxies().values())
    assert answer == b"hello"


def _every_api_call(api: ToxiproxyClient, http, echo_upstream: str) -> dict:
    """Call each endpoint once, on a proxy of its own; return each call's seconds."""
    spare = {"name": "spare", "listen": "127.0.0.1:0", "upstream": echo_upstream}
    return {
        "GET /version": _timed(api.version),
        "GET /metrics": _timed(http.get, "/metrics"),
        "GET /proxies": _timed(api.proxies),
        "POST /proxies": _timed(api.create_proxy, **spare),
        "GET /proxies/{}": _timed(api.get_proxy, "echo"),
        "POST /proxies/{} disable": _timed(api.update_proxy, "spare", enabled=False),
        "POST /proxies/{} enable": _timed(api.update_proxy, "spare", enabled=True),
        "POST /populate": _timed(api.populate, [{**spare, "name": "filled"}]),
        "GET toxics": _timed(api.toxics, "echo"),
        "POST toxics": _timed(
            api.add_toxic, "echo", "timeout", {"timeout": 0}, "upstream", 0.0
        ),
        "GET toxic": _timed(http.get, "/proxies/echo/toxics/timeout_upstream"),
        "POST toxic": _timed(
            api.update_toxic, "echo", "latency_downstream", {"latency": 30}
        ),
        "DELETE toxic": _timed(api.remove_toxic, "echo", "timeout_upstream"),
        "DELETE /proxies/{}": _timed(api.delete_proxy, "spare"),
        "POST /reset": _timed(api.reset),
    }


def test_every_api_call_answers_under_traffic_and_no_byte_is_lost(
    api, http, echo_proxy, echo_upstream, wire
) -> None:
    api.add_toxic("echo", "latency", {"latency": 20, "jitter": 10})
    api.add_toxic("echo", "bandwidth", {"rate": 1000}, stream="upstream")
    stalled = api.create_proxy("stalled", "127.0.0.1:0", echo_upstream)
    api.add_toxic("stalled", "timeout", {"timeout": 0})
    for sock in [wire.connect(stalled) for _ in range(20)]:
        sock.sendall(b"held")
    payloads = [random.Random(n).randbytes(1_000_000) for n in range(16)]

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        traffic = [pool.submit(_echo_through, echo_proxy, p) for p in payloads]
        time.sleep(0.1)
        seconds = _every_api_call(api, http, echo_upstream)
        busy = sum(not future.done() for future in traffic)
        echoed = [future.result(timeout=30) for future in traffic]

    slow = {call: s for call, s in seconds.items() if s > API_DEADLINE_S}
    assert not slow
    assert busy > 0, "traffic ended before the API calls did; the test proved nothing"
    assert echoed == payloads


def test_the_api_answers_while_many_connections_run_at_full_speed(
    api, echo_proxy, echo_upstream, traffic_seed
) -> None:
    api.create_proxy("other", "127.0.0.1:0", echo_upstream)
    rng = random.Random(traffic_seed)
    requests = [
        rng.randbytes(size) for size in _payload_sizes(rng, CONNECTIONS_AT_ONCE)
    ]
    exchanged = []
    traffic = threading.Thread(
        target=lambda: exchanged.extend(_exchange_at_once(echo_proxy, requests))
    )

    traffic.start()
    seconds = []
    while traffic.is_alive():
        seconds.append(_timed(api.proxies))
        seconds.append(_timed(api.add_toxic, "other", "latency", {"latency": 1}))
        seconds.append(_timed(api.remove_toxic, "other", "latency_downstream"))
    traffic.join()

    assert seconds, "traffic ended before the first API call; nothing was proved"
    assert max(seconds) <= API_DEADLINE_S
    problems = _differences(exchanged, requests, traffic_seed)
    assert not problems, "\n".join(problems)


def _churn_toxics(api: ToxiproxyClient, stream: str) -> None:
    """Add, change and remove toxics that delay bytes but must never lose them."""
    harmless = {
        "latency": ({"latency": 5, "jitter": 5}, {"latency": 10}),
        "slicer": (
            {"average_size": 4096, "size_variation": 1024, "delay": 100},
            {"average_size": 1500},
        ),
        "bandwidth": ({"rate": 20_000}, {"rate": 50_000}),
    }
    for kind, (attributes, _) in harmless.items():
        api.add_toxic("echo", kind, attributes, stream)
    for kind, (_, changes) in harmless.items():
        api.update_toxic("echo", f"{kind}_{stream}", changes)
    for kind in harmless:
        api.remove_toxic("echo", f"{kind}_{stream}")


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_toxics_come_and_go_under_traffic_without_losing_a_byte(
    api, echo_proxy, stream, traffic_seed
) -> None:
    api.add_toxic("echo", "bandwidth", {"rate": 4000}, stream, name="steady")
    rng = random.Random(traffic_seed)
    payloads = [rng.randbytes(rng.randint(500_000, 2_000_000)) for _ in range(8)]

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        traffic = [pool.submit(_echo_through, echo_proxy, p) for p in payloads]
        rounds = 0
        while not all(future.done() for future in traffic) and rounds < 100:
            _churn_toxics(api, stream)
            rounds += 1
        echoed = [future.result(timeout=30) for future in traffic]

    assert rounds > 0, "traffic ended before any toxic changed; nothing was proved"
    for index, (sent, received) in enumerate(zip(payloads, echoed, strict=True)):
        assert received == sent, (
            f"connection {index}: sent {len(sent)} bytes, got {len(received)} "
            f"back; replay with {SEED_VARIABLE}={traffic_seed}"
        )

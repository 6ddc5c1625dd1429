"""Fixtures for the fault proxy's tests: real servers on 127.0.0.1, port 0.

One proxy server runs for the whole test run (starting and stopping one costs
about 0.3 s); every test that uses it gets it back without proxies.
"""

import hashlib
import random
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread

LOOPBACK = "127.0.0.1"
SOCKET_TIMEOUT_S = 5.0


class _EchoHandler(socketserver.BaseRequestHandler):
    """Sends back every byte, then closes once the client has closed its side."""

    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            return


class _ReusableServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    # The default backlog of 5 overflows when many clients connect at once,
    # and the kernel then resets some of them: not what these tests are about.
    request_queue_size = 1024


class _ReusableHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


class _HelloHandler(BaseHTTPRequestHandler):
    """Answers every GET with a short body on a keep-alive connection."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve_in_thread(server: socketserver.BaseServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def echo_upstream() -> Iterator[str]:
    """Address of a TCP echo server."""
    yield from _serve_in_thread(_ReusableServer((LOOPBACK, 0), _EchoHandler))


@pytest.fixture(scope="session")
def http_upstream() -> Iterator[str]:
    """Address of a keep-alive HTTP/1.1 server answering "hello"."""
    yield from _serve_in_thread(_ReusableHTTPServer((LOOPBACK, 0), _HelloHandler))


@pytest.fixture(scope="session")
def proxy_server() -> Iterator[ProxyServerThread]:
    with ProxyServerThread(LOOPBACK, 0) as server:
        yield server


@pytest.fixture
def api(proxy_server: ProxyServerThread) -> Iterator[ToxiproxyClient]:
    """Client of the shared proxy server; its proxies are deleted afterwards."""
    with ToxiproxyClient(proxy_server.api_url) as client:
        yield client
        for name in client.proxies():
            client.delete_proxy(name)


@pytest.fixture
def http(api: ToxiproxyClient) -> Iterator[httpx.Client]:
    """Raw HTTP client of the same server, to check statuses and bodies."""
    with httpx.Client(base_url=api.base_url, timeout=5.0) as client:
        yield client


@pytest.fixture
def echo_proxy(api: ToxiproxyClient, echo_upstream: str) -> dict:
    return api.create_proxy("echo", f"{LOOPBACK}:0", echo_upstream)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listening socket holds for the test."""
    with socket.create_server((LOOPBACK, 0)) as sock:
        yield sock.getsockname()[1]


@pytest.fixture
def dead_port() -> int:
    """A port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.create_server((LOOPBACK, 0)) as sock:
        return sock.getsockname()[1]


class Wire:
    """Client sockets to proxies; every socket opened is closed at teardown."""

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []

    def connect(self, proxy: dict) -> socket.socket:
        host, port = proxy["listen"].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sockets.append(sock)
        return sock

    def round_trip(self, sock: socket.socket, payload: bytes) -> float:
        """Send payload to an echo, read it back, return the seconds it took."""
        started = time.monotonic()
        sock.sendall(payload)
        echoed = self.receive(sock, len(payload))
        elapsed = time.monotonic() - started
        assert echoed == payload
        return elapsed

    @staticmethod
    def receive(sock: socket.socket, size: int) -> bytes:
        received = bytearray()
        while len(received) < size:
            data = sock.recv(size - len(received))
            if not data:
                break
            received += data
        return bytes(received)

    @staticmethod
    def receive_until_closed(sock: socket.socket) -> bytes:
        received = bytearray()
        while data := sock.recv(65536):
            received += data
        return bytes(received)

    def close_all(self) -> None:
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def wire() -> Iterator[Wire]:
    sockets = Wire()
    yield sockets
    sockets.close_all()


class HeldUpstream:
    """An upstream that hands every connection it accepts to the test.

    Holding both ends of a proxied connection, a test sends either way and sees
    exactly what the proxy let through in each direction, and when.
    """

    def __init__(self, listener: socket.socket) -> None:
        self._listener = listener
        self._sockets: list[socket.socket] = []

    @property
    def address(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def join(self, proxy: dict) -> tuple[socket.socket, socket.socket]:
        """Connect a client through proxy; return it and the upstream's end."""
        host, port = proxy["listen"].rsplit(":", 1)
        client = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S)
        self._sockets.append(client)
        # The proxy dials the upstream only once it has accepted the client.
        server, _ = self._listener.accept()
        self._sockets.append(server)
        for sock in (client, server):
            sock.settimeout(SOCKET_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client, server

    def close_all(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._listener.close()


@pytest.fixture
def held_upstream() -> Iterator[HeldUpstream]:
    """An upstream whose accepted sockets the test drives itself."""
    listener = socket.create_server((LOOPBACK, 0), backlog=128)
    listener.settimeout(SOCKET_TIMEOUT_S)
    upstream = HeldUpstream(listener)
    yield upstream
    upstream.close_all()


@pytest.fixture
def held_proxy(api: ToxiproxyClient, held_upstream: HeldUpstream) -> dict:
    return api.create_proxy("held", f"{LOOPBACK}:0", held_upstream.address)


class _DigestHandler(socketserver.BaseRequestHandler):
    """Answers a body, once the client has half-closed, with its digest and data.

    The client first sends the length of the answer it wants and a seed, as two
    big-endian 64-bit numbers, then its body. The answer is the SHA-256 of the
    body followed by that many bytes drawn from random.Random(seed).
    """

    def handle(self) -> None:
        try:
            header = self._receive_exactly(16)
            answer_bytes, seed = struct.unpack("!QQ", header)
            digest = hashlib.sha256()
            while data := self.request.recv(65536):
                digest.update(data)
            self.request.sendall(digest.digest())
            self.request.sendall(random.Random(seed).randbytes(answer_bytes))
        except OSError:
            return

    def _receive_exactly(self, size: int) -> bytes:
        received = bytearray()
        while len(received) < size:
            data = self.request.recv(size - len(received))
            if not data:
                raise ConnectionError("the client closed before its header")
            received += data
        return bytes(received)


@pytest.fixture(scope="session")
def digest_upstream() -> Iterator[str]:
    """Address of a server that answers a body with its digest and fresh data."""
    yield from _serve_in_thread(_ReusableServer((LOOPBACK, 0), _DigestHandler))

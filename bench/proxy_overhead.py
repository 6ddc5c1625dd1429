"""What the embedded fault proxy adds to a small keep-alive request-response.

The reference is the same client talking straight to the same echo server,
measured in alternating batches in the same run, so drift on a busy machine
hits both sides alike. The proxy runs as its own process, as in experiments.
"""

import socket
import socketserver
import statistics
import tempfile
import threading
import time
from pathlib import Path

from harness.proxy.client import ToxiproxyClient
from harness.stack.local import embedded_proxy_argv
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.process import ManagedProcess

MESSAGE = b"x" * 128
BATCHES = 10
ROUND_TRIPS_PER_BATCH = 500
BULK_BYTES = 64 * 1024 * 1024


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _round_trips(address: tuple[str, int], count: int) -> list[float]:
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(MESSAGE)
            received = 0
            while received < len(MESSAGE):
                received += len(sock.recv(65536))
            times.append(time.perf_counter() - start)
        return times


def _bulk_seconds(address: tuple[str, int]) -> float:
    chunk = b"y" * 65536
    with socket.create_connection(address) as sock:
        start = time.perf_counter()
        reader = threading.Thread(target=_drain, args=(sock, BULK_BYTES))
        reader.start()
        for _ in range(BULK_BYTES // len(chunk)):
            sock.sendall(chunk)
        reader.join()
        return time.perf_counter() - start


def _drain(sock: socket.socket, total: int) -> None:
    received = 0
    while received < total:
        received += len(sock.recv(1 << 20))


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def run() -> str:
    echo = _EchoServer((LOOPBACK, 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    api_port = free_port()
    proxy = ManagedProcess(
        "bench-proxy",
        embedded_proxy_argv(api_port),
        log_path=Path(tempfile.gettempdir()) / f"bench-proxy-{api_port}.log",
    ).start()
    try:
        api = f"http://{LOOPBACK}:{api_port}"
        proxy.wait_http_ok(f"{api}/version")
        with ToxiproxyClient(api) as client:
            created = client.create_proxy(
                "bench", f"{LOOPBACK}:0", f"{LOOPBACK}:{echo.server_address[1]}"
            )
        host, port = created["listen"].rsplit(":", 1)
        return _measure(echo.server_address, (host, int(port)))
    finally:
        proxy.stop()
        echo.shutdown()


def _measure(direct: tuple[str, int], proxied: tuple[str, int]) -> str:
    direct_times, proxied_times = [], []
    for _ in range(BATCHES):
        direct_times += _round_trips(direct, ROUND_TRIPS_PER_BATCH)
        proxied_times += _round_trips(proxied, ROUND_TRIPS_PER_BATCH)
    direct_bulk = min(_bulk_seconds(direct) for _ in range(3))
    proxied_bulk = min(_bulk_seconds(proxied) for _ in range(3))
    rows = []
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        d = _percentile(direct_times, q) * 1e6
        p = _percentile(proxied_times, q) * 1e6
        rows.append(
            f"| round trip {label} | {d:.0f} µs | {p:.0f} µs | "
            f"+{p - d:.0f} µs | {p / d:.2f} |"
        )
    mb = BULK_BYTES / 1e6
    rows.append(
        f"| bulk echo, {mb:.0f} MB each way | {mb / direct_bulk:.0f} MB/s | "
        f"{mb / proxied_bulk:.0f} MB/s | - | {direct_bulk / proxied_bulk:.2f} "
        "of direct |"
    )
    return "\n".join(
        [
            "## Fault proxy overhead (no toxics)",
            "",
            f"{BATCHES * ROUND_TRIPS_PER_BATCH} round trips of a {len(MESSAGE)}-byte "
            "message on one keep-alive TCP connection per batch, direct and through",
            "the embedded proxy, in alternating batches; then a bulk echo.",
            "",
            "| measure | direct | through proxy | added | ratio |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            "The real Toxiproxy is not installed here, so it is not yet measured "
            "beside the embedded proxy.",
        ]
    )

"""The proxy as its own process: python -m harness.proxy, signals, flags, imports."""

import ast
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.proxy.client import ToxiproxyClient

PACKAGE = Path(__file__).resolve().parents[2] / "harness" / "proxy"
READY = re.compile(r"fault proxy API listening on (http://\S+)")
STARTUP_DEADLINE_S = 10.0
STOP_DEADLINE_S = 5.0


def _start(*flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.proxy", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _api_url(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if match := READY.search(line):
            return match.group(1)
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no ready line; exit code {process.poll()}")


@pytest.fixture
def proxy_process() -> Iterator[subprocess.Popen]:
    process = _start("--host", "127.0.0.1", "--port", "0")
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(STOP_DEADLINE_S)
    process.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_then_stops_cleanly_on_a_signal(
    proxy_process: subprocess.Popen, echo_upstream: str, signum: int
) -> None:
    with ToxiproxyClient(_api_url(proxy_process)) as client:
        proxy = client.create_proxy("p", "127.0.0.1:0", echo_upstream)
        client.add_toxic("p", "timeout", {"timeout": 0})
        version = client.version()
    port = int(proxy["listen"].rsplit(":", 1)[1])
    held = socket.create_connection(("127.0.0.1", port), timeout=STOP_DEADLINE_S)
    held.sendall(b"stalled by the timeout toxic")

    proxy_process.send_signal(signum)
    exit_code = proxy_process.wait(STOP_DEADLINE_S)
    rest_of_log = proxy_process.stderr.read()
    held_closed = _closed(held)

    assert version == "2.12.0"
    assert exit_code == 0
    assert "fault proxy stopped" in rest_of_log
    assert "Traceback" not in rest_of_log
    assert held_closed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def _closed(sock: socket.socket) -> bool:
    """EOF or a reset (the proxy may close with our bytes still unread)."""
    with sock:
        try:
            return sock.recv(1) == b""
        except ConnectionResetError:
            return True


def test_a_bad_flag_is_refused_with_what_is_accepted() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "harness.proxy", "--port", "eighty"],
        capture_output=True,
        text=True,
        timeout=STARTUP_DEADLINE_S,
    )

    assert finished.returncode == 2
    assert "port must be a whole number from 0 to 65535, got 'eighty'" in (
        finished.stderr
    )


def test_an_api_port_in_use_exits_with_an_error(busy_port: int) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "harness.proxy", "--port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=STARTUP_DEADLINE_S,
    )

    assert finished.returncode == 1
    assert f"cannot serve the proxy API on 127.0.0.1:{busy_port}" in finished.stderr


def test_the_server_imports_nothing_of_the_harness_outside_its_package() -> None:
    server_side = [path for path in PACKAGE.glob("*.py") if path.name != "client.py"]
    imported = {
        name
        for path in server_side
        for name in _imported_modules(path)
        if name.startswith("harness")
    }

    assert server_side
    assert all(name.startswith("harness.proxy") for name in imported), imported
    assert "harness.proxy.client" not in imported


def _imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_harness_proxy_serve_names_the_address_in_use(busy_port: int) -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "proxy",
            "serve",
            "--port",
            str(busy_port),
        ],
        capture_output=True,
        text=True,
        timeout=STARTUP_DEADLINE_S,
    )

    assert finished.returncode == 2
    assert f"cannot serve the proxy API on 127.0.0.1:{busy_port}" in finished.stderr
    assert "Traceback" not in finished.stderr

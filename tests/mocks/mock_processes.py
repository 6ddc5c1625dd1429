"""Mock services as real processes on 127.0.0.1, and small servers to call.

MockProcess runs `python -m mocks serve --config PATH` exactly as the harness
does, waits for /healthz, and stops the process by its PID. FakeDependency is
a threaded HTTP server a mock can be pointed at instead of a real dependency:
it answers canned JSON, optionally late, and records what it was asked.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

LOOPBACK = "127.0.0.1"
ADMIN_TOKEN = "test-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 2.5, 5.0]
SEED = {"random_seed": 20261204, "customers": 2000}
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The estate as the tests expect it: who calls whom.
CALLS = {
    "customer-api": ("identity-verification", "crm"),
    "policy-api": ("customer-api", "payment-api"),
    "claims-api": ("policy-api", "customer-api", "payment-api", "fraud-detection"),
    "payment-api": ("policy-api", "claims-api", "customer-api", "payment-gateway"),
    "identity-verification": (),
    "crm": (),
    "payment-gateway": (),
    "fraud-detection": (),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def service_config(
    name: str,
    run_dir: Path,
    dependency_urls: dict[str, str],
    timeout_s: float = 1.0,
    seed: dict | None = None,
) -> dict:
    """A config as the harness writes it, with a fresh port."""
    return {
        "service": name,
        "host": LOOPBACK,
        "port": free_port(),
        "data_dir": str(run_dir / "data"),
        "log_dir": str(run_dir / "logs"),
        "admin_token": ADMIN_TOKEN,
        "latency_buckets_s": LATENCY_BUCKETS_S,
        "dependencies": {
            dependency: {"url": url, "timeout_s": timeout_s}
            for dependency, url in dependency_urls.items()
        },
        "seed": seed or SEED,
        "version": "1.0.0",
    }


@dataclass
class MockProcess:
    """One mock service process, started from a config file."""

    config: dict
    config_path: Path
    stderr_path: Path
    process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return self.config["service"]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.config['port']}"

    @property
    def log_path(self) -> Path:
        return Path(self.config["log_dir"]) / f"{self.name}.log"

    def start(self) -> "MockProcess":
        self.config_path.write_text(json.dumps(self.config))
        with open(self.stderr_path, "ab") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mocks",
                    "serve",
                    "--config",
                    str(self.config_path),
                ],
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    def wait_healthy(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n"
                    f"{self.stderr_path.read_text()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not healthy within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM by PID, SIGKILL if it does not stop in time."""
        self.terminate()
        return self.wait_stopped(timeout_s)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)

    def wait_stopped(self, timeout_s: float = 10.0) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout_s)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def samples(self) -> list:
        """Every sample of /metrics, parsed."""
        text = httpx.get(f"{self.url}/metrics", timeout=5.0).text
        return [
            sample
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of the one sample with this name and these labels, if any."""
        for sample in self.samples():
            if sample.name == name and _has_labels(sample.labels, labels):
                return sample.value
        return None


def _has_labels(found: dict, wanted: dict) -> bool:
    return all(found.get(key) == value for key, value in wanted.items())


class Launcher:
    """Starts mock processes under one run directory and stops them all."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.processes: list[MockProcess] = []

    def prepare(self, config: dict) -> MockProcess:
        config_dir = self.run_dir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        name = config["service"]
        index = len(self.processes)
        process = MockProcess(
            config,
            config_dir / f"{name}-{index}.json",
            config_dir / f"{name}-{index}.stderr",
        )
        self.processes.append(process)
        return process

    def start(self, config: dict) -> MockProcess:
        process = self.prepare(config).start()
        process.wait_healthy()
        return process

    def start_all(self, configs: Iterable[dict]) -> list[MockProcess]:
        """Start every process first, then wait for each: faster than one by one."""
        processes = [self.prepare(config).start() for config in configs]
        for process in processes:
            process.wait_healthy()
        return processes

    def stop_all(self) -> None:
        """Signal every process first, then wait for each."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait_stopped()


def estate_configs(run_dir: Path, timeout_s: float = 2.0) -> dict[str, dict]:
    """All eight services, each calling the others directly (no fault proxy)."""
    configs = {name: service_config(name, run_dir, {}) for name in CALLS}
    for name, config in configs.items():
        config["dependencies"] = {
            dependency: {
                "url": f"http://{LOOPBACK}:{configs[dependency]['port']}",
                "timeout_s": timeout_s,
            }
            for dependency in CALLS[name]
        }
    return configs


@dataclass
class FakeDependency:
    """A dependency stand-in: canned answers by (method, path), optionally late."""

    answers: dict[tuple[str, str], tuple[int, dict]] = field(default_factory=dict)
    delay_s: float = 0.0
    requests: list[tuple[str, str, dict]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _FakeHandler)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps stop() quick; the default waits up to 0.5 s.
            kwargs={"poll_interval": 0.05},
            name="fake-dependency",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeDependency":
        self._thread.start()
        return self

    def stop(self) -> None:
        # Wake handlers sleeping out a delay, so shutdown is prompt.
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def paths(self, method: str | None = None) -> list[str]:
        return [path for seen, path, _ in self.requests if method in (None, seen)]

    def answer(self, method: str, path: str, headers: dict) -> tuple[int, dict]:
        self.requests.append((method, path, headers))
        self._stopping.wait(self.delay_s)
        return self.answers.get((method, path), (404, {"error": "not_found"}))


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._serve()

    def _serve(self) -> None:
        status, body = self.server.fake.answer(
            self.command, self.path, dict(self.headers)
        )
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The caller gave up (its timeout) before the late answer was ready.
            pass

    def log_message(self, format: str, *args) -> None:
        pass

"""How much one mock process serves on one CPU, against a bare FastAPI app.

The mock under test (customer-api) is pinned to one CPU; the load generator
and the two external stubs that its write route calls share the other. The
reference is the smallest FastAPI app on the same uvicorn settings, answering
a constant, measured the same way in the same run: the ratio is what the
mock's own work (validation, SQLite, metrics, request log, dependency calls)
costs against the framework alone.

Capacity is the rate a closed loop of connections reaches; latency is then
measured in an open loop at half that rate, from each request's scheduled
time, so a stalled server cannot hide its queue.
"""

import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.proxy.server import run_fast_value
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.process import ManagedProcess

Address = tuple[str, int]
MakeRequest = Callable[[], bytes]

CONNECTIONS = 16
WARM_UP_S = 1.0
SATURATION_S = 4.0
HALF_LOAD_S = 4.0
HALF_LOAD_CONNECTIONS = 64
CUSTOMERS = 2000
ADMIN_TOKEN = "bench-admin-token"
READ_GOAL_RPS = 2000
READ_GOAL_P99_MS = 10.0

BARE_APP = """
import sys
import uvicorn
from fastapi import FastAPI

app = FastAPI()

@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False,
            log_level="warning")
"""


@dataclass(frozen=True)
class Capacity:
    """What one route sustained: saturation rate, p99 at half of it, errors."""

    label: str
    saturation_rps: float
    half_load_rps: float
    half_load_p99_ms: float
    errors: int
    rss_mb: float


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="bench-mocks-") as workdir:
        run_dir = Path(workdir)
        generator_cpu, server_cpu = _two_cpus()
        os.sched_setaffinity(0, {generator_cpu})
        try:
            with _bare_app(run_dir, server_cpu) as (bare, bare_pid):
                reference = _measure(
                    "bare FastAPI, GET /ping", bare, _get("/ping"), bare_pid
                )
            with _customer_api(run_dir, server_cpu, generator_cpu) as (api, pid):
                read = _measure(
                    "customer-api, GET /customers/{id}", api, _read_customer, pid
                )
                write = _measure(
                    "customer-api, POST /customers (calls two external stubs)",
                    api,
                    _new_customer,
                    pid,
                )
        finally:
            os.sched_setaffinity(0, os.sched_getaffinity(0) | {server_cpu})
    return _section(reference, read, write)


def _measure(label: str, address: Address, make: MakeRequest, pid: int) -> Capacity:
    saturation_rps, errors = run_fast_value(_closed_loop(address, make))
    p99_s, half_errors = run_fast_value(_open_loop(address, make, saturation_rps / 2))
    return Capacity(
        label,
        saturation_rps,
        saturation_rps / 2,
        p99_s * 1000,
        errors + half_errors,
        _rss_mb(pid),
    )


async def _closed_loop(address: Address, make: MakeRequest) -> tuple[float, int]:
    counts = {"done": 0, "errors": 0}
    warm_until = time.perf_counter() + WARM_UP_S
    stop_at = warm_until + SATURATION_S

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(*address)
        try:
            while (now := time.perf_counter()) < stop_at:
                status = await _exchange(reader, writer, make())
                if now >= warm_until:
                    counts["done"] += 1
                    counts["errors"] += status >= 500
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return counts["done"] / SATURATION_S, counts["errors"]


async def _open_loop(
    address: Address, make: MakeRequest, rate_rps: float
) -> tuple[float, int]:
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    idle = asyncio.Queue()
    for _ in range(HALF_LOAD_CONNECTIONS):
        idle.put_nowait(await asyncio.open_connection(*address))
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        pair = await idle.get()
        try:
            status = await _exchange(*pair, make())
            errors += status >= 500
            latencies.append(time.perf_counter() - scheduled)
        finally:
            idle.put_nowait(pair)

    start = time.perf_counter()
    count = int(rate_rps * HALF_LOAD_S)
    pending = []
    for index in range(count):
        scheduled = start + index / rate_rps
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        pending.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*pending)
    while not idle.empty():
        idle.get_nowait()[1].close()
    return statistics.quantiles(latencies, n=100)[98], errors


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1])
        for line in lines
        if line.lower().startswith("content-length:")
    )
    await reader.readexactly(length)
    return status


def _get(path: str) -> MakeRequest:
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    return lambda: request


def _read_customer() -> bytes:
    customer_id = f"CUST-{random.randint(1, CUSTOMERS):06d}"
    return f"GET /customers/{customer_id} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def _new_customer() -> bytes:
    number = random.randrange(10**9)
    body = json.dumps(
        {
            "name": f"Bench Customer {number}",
            "email": f"bench{number}@example.com",
            "date_of_birth": "1980-01-01",
        }
    ).encode()
    head = (
        "POST /customers HTTP/1.1\r\nHost: bench\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@contextlib.contextmanager
def _bare_app(run_dir: Path, cpu: int) -> Iterator[tuple[Address, int]]:
    port = free_port()
    process = ManagedProcess(
        "bench-bare-app",
        [sys.executable, "-c", BARE_APP, str(port)],
        log_path=run_dir / "bare.out",
    ).start()
    try:
        os.sched_setaffinity(process.pid, {cpu})
        process.wait_http_ok(f"http://{LOOPBACK}:{port}/ping")
        yield (LOOPBACK, port), process.pid
    finally:
        process.stop()


@contextlib.contextmanager
def _customer_api(
    run_dir: Path, server_cpu: int, stub_cpu: int
) -> Iterator[tuple[Address, int]]:
    with contextlib.ExitStack() as started:
        stubs = {}
        for name in ("identity-verification", "crm"):
            port, pid = started.enter_context(_mock(run_dir, name, {}))
            os.sched_setaffinity(pid, {stub_cpu})
            stubs[name] = f"http://{LOOPBACK}:{port}"
        port, pid = started.enter_context(_mock(run_dir, "customer-api", stubs))
        os.sched_setaffinity(pid, {server_cpu})
        yield (LOOPBACK, port), pid


@contextlib.contextmanager
def _mock(
    run_dir: Path, name: str, dependencies: dict[str, str]
) -> Iterator[tuple[int, int]]:
    port = free_port()
    config = {
        "service": name,
        "host": LOOPBACK,
        "port": port,
        "data_dir": str(run_dir / "data"),
        "log_dir": str(run_dir / "logs"),
        "admin_token": ADMIN_TOKEN,
        "latency_buckets_s": [0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0],
        "dependencies": {
            dependency: {"url": url, "timeout_s": 1.0}
            for dependency, url in dependencies.items()
        },
        "seed": {"random_seed": 20261204, "customers": CUSTOMERS},
        "version": "bench",
    }
    config_path = run_dir / f"{name}.json"
    config_path.write_text(json.dumps(config))
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "mocks", "serve", "--config", str(config_path)],
        log_path=run_dir / f"{name}.out",
    ).start()
    try:
        process.wait_http_ok(f"http://{LOOPBACK}:{port}/healthz")
        yield port, process.pid
    finally:
        process.stop()


def _two_cpus() -> tuple[int, int]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError("the mock capacity bench needs two CPUs")
    return cpus[0], cpus[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _section(reference: Capacity, read: Capacity, write: Capacity) -> str:
    read_met = (
        read.saturation_rps >= READ_GOAL_RPS
        and read.half_load_p99_ms <= READ_GOAL_P99_MS
    )
    rows = [
        f"| {c.label} | {c.saturation_rps:.0f} | "
        f"{c.saturation_rps / reference.saturation_rps:.2f} | "
        f"{c.half_load_rps:.0f} | {c.half_load_p99_ms:.1f} | {c.errors} | "
        f"{c.rss_mb:.0f} |"
        for c in (reference, read, write)
    ]
    return "\n".join(
        [
            "## Mock services",
            "",
            "One mock process pinned to one CPU; the load generator (raw HTTP/1.1 "
            "keep-alive on uvloop) and the external stubs that the write route "
            f"calls on the other CPU. Saturation: {CONNECTIONS} connections in a "
            f"closed loop for {SATURATION_S:.0f} s after {WARM_UP_S:.0f} s of "
            f"warm-up. Half load: an open loop at half the saturation rate for "
            f"{HALF_LOAD_S:.0f} s over up to {HALF_LOAD_CONNECTIONS} connections, "
            "latency counted from each request's scheduled time. Memory: the "
            "process's resident set after both runs.",
            "",
            "| route | saturation (req/s) | of bare FastAPI | half load (req/s) "
            "| p99 at half load (ms) | 5xx | memory (MB) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Goal for a read route: at least {READ_GOAL_RPS} requests/s with a p99 "
            f"of at most {READ_GOAL_P99_MS:.0f} ms at half load: "
            f"{'met' if read_met else '**missed**'}.",
        ]
    )

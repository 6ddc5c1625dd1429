"""The synthetic prober against real mocks on 127.0.0.1, run as the stack runs it."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.config import Estate, load_estate
from harness.stack.local import LocalStack, synthetic_argv
from harness.stack.mock_admin import MockAdminClient
from harness.stack.ports import LOOPBACK, free_ports

REPO = Path(__file__).resolve().parents[2]
JOURNEYS = (
    "look_up_my_policy",
    "review_my_profile",
    "check_a_claim_status",
    "see_recent_transactions",
)
INTERVAL_S = 0.2
STOP_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def mocks(tmp_path_factory) -> Iterator[LocalStack]:
    """Every mock, each calling its dependencies directly (no fault proxy)."""
    estate = load_estate(REPO / "config")
    stack = LocalStack(
        estate, tmp_path_factory.mktemp("synthetic"), "http://127.0.0.1:9/"
    )
    ports = {name: stack._port() for name in stack._mock_names()}
    routes = {
        route.name: f"{LOOPBACK}:{ports[route.upstream]}"
        for route in estate.routes.values()
    }
    try:
        stack._start_mocks(ports, routes)
        yield stack
    finally:
        stack.stop()


class ProberProcess:
    """`python -m harness.observe.synthetic` as LocalStack starts it."""

    def __init__(self, estate: Estate, targets: dict[str, str], log_path: Path):
        self.port = free_ports(1)[0]
        argv = synthetic_argv(estate, self.port, targets)
        argv[argv.index("--interval-s") + 1] = str(INTERVAL_S)
        self.argv = argv
        self.log_path = log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> "ProberProcess":
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        return self

    def stop(self) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def samples(self) -> dict[tuple, float]:
        """Every sample of /metrics by (name, journey, result)."""
        text = httpx.get(f"http://{LOOPBACK}:{self.port}/metrics", timeout=5).text
        return {
            (s.name, s.labels.get("journey"), s.labels.get("result")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def wait_for_runs(self, runs: int, timeout_s: float = 15) -> dict[tuple, float]:
        """Samples once every journey has ended at least runs runs."""
        deadline = time.monotonic() + timeout_s
        while True:
            samples = self._samples_if_up()
            if samples and all(_runs(samples, j) >= runs for j in JOURNEYS):
                return samples
            if time.monotonic() > deadline or self.popen.poll() is not None:
                raise AssertionError(
                    f"fewer than {runs} runs per journey within {timeout_s} s:\n"
                    f"{self.log_path.read_text()}"
                )
            time.sleep(0.1)

    def _samples_if_up(self) -> dict[tuple, float] | None:
        try:
            return self.samples()
        except httpx.HTTPError:
            return None


def _runs(samples: dict, journey: str, result: str | None = None) -> float:
    results = [result] if result else ["success", "failure"]
    return sum(
        samples.get(("synthetic_journey_runs_total", journey, r), 0) for r in results
    )


def _targets(stack: LocalStack) -> dict[str, str]:
    return {
        name: f"http://{LOOPBACK}:{stack.mock_ports[name]}"
        for name in stack.estate.services
    }


@pytest.fixture
def prober(mocks, tmp_path) -> Iterator[ProberProcess]:
    process = ProberProcess(mocks.estate, _targets(mocks), tmp_path / "prober.out")
    yield process.start()
    process.stop()


@pytest.fixture
def admin(mocks) -> Iterator[dict[str, MockAdminClient]]:
    clients = {
        name: MockAdminClient(f"http://{LOOPBACK}:{port}", mocks.admin_token)
        for name, port in mocks.mock_ports.items()
    }
    yield clients
    for client in clients.values():
        client.clear_faults()
        client.close()


def test_every_journey_passes_against_healthy_mocks(prober):
    samples = prober.wait_for_runs(3)

    for journey in JOURNEYS:
        assert _runs(samples, journey, "failure") == 0, prober.log_path.read_text()
        assert samples[("synthetic_journey_success", journey, None)] == 1
        assert 0 < samples[("synthetic_journey_duration_seconds", journey, None)] < 1
        last_run = samples[
            ("synthetic_journey_last_run_timestamp_seconds", journey, None)
        ]
        assert time.time() - 5 < last_run <= time.time()


def test_an_error_fault_fails_the_journeys_through_that_service(prober, admin):
    admin["policy-api"].add_fault("error", status_code=503, path_prefix="/policies")
    before = prober.wait_for_runs(1)

    after = prober.wait_for_runs(int(max(_runs(before, j) for j in JOURNEYS)) + 3)

    def failures(journey: str) -> float:
        return _runs(after, journey, "failure") - _runs(before, journey, "failure")

    assert failures("look_up_my_policy") >= 3
    assert failures("check_a_claim_status") >= 3
    assert after[("synthetic_journey_success", "look_up_my_policy", None)] == 0
    assert failures("review_my_profile") == 0
    assert after[("synthetic_journey_success", "review_my_profile", None)] == 1


def test_probes_only_read(mocks, prober):
    prober.wait_for_runs(3)

    methods = set()
    for name in mocks.estate.services:
        log = Path(mocks.run_dir) / "logs" / f"{name}.log"
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        methods |= {line["method"] for line in lines if line["caller"] == "synthetic"}

    assert methods == {"GET"}


def test_sigterm_stops_the_prober_promptly_with_runs_in_flight(mocks, admin, tmp_path):
    # Every read of a customer waits 10 s: runs are in flight when it stops.
    admin["customer-api"].add_fault("slow", delay_ms=10_000)
    process = ProberProcess(mocks.estate, _targets(mocks), tmp_path / "prober.out")
    process.argv[process.argv.index("--timeout-s") + 1] = "30"
    process.start()
    _wait_serving(process)
    time.sleep(3 * INTERVAL_S)

    started = time.monotonic()
    exit_code = process.stop()

    assert time.monotonic() - started < STOP_WITHIN_S
    assert exit_code == 0, process.log_path.read_text()


def _wait_serving(process: ProberProcess, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while process._samples_if_up() is None:
        assert time.monotonic() < deadline, process.log_path.read_text()
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "70000"], "argument --port: got '70000'; expected a whole number"),
        (
            ["--port", "0", "--target", "customer-api"],
            "argument --target: got 'customer-api'; expected SERVICE=URL",
        ),
        (
            ["--port", "0", "--target", "billing-api=http://127.0.0.1:9"],
            "--target names billing-api: not a declared service; accepted: "
            "customer-api, policy-api",
        ),
        (
            ["--port", "0", "--target", "customer-api=http://127.0.0.1:9"],
            "no --target for claims-api, payment-api, policy-api",
        ),
        (
            ["--port", "0", "--interval-s", "0", "--target", "x=http://h"],
            "argument --interval-s: got '0'; expected a number of seconds",
        ),
        (
            ["--port", "0", "--host", "localhost", "--target", "x=http://h"],
            "argument --host: got 'localhost'; expected an IP address",
        ),
        (
            ["--port", "0", "--config-dir", "/no/such", "--target", "x=http://h"],
            "argument --config-dir: got '/no/such'; expected a folder",
        ),
        (["--target", "x=http://h"], "the following arguments are required: --port"),
    ],
)
def test_bad_flags_are_refused_naming_flag_value_and_what_is_accepted(flags, message):
    result = subprocess.run(
        [sys.executable, "-m", "harness.observe.synthetic", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )

    assert result.returncode == 2
    assert message in result.stderr

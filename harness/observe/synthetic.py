"""Synthetic journeys: a prober that walks read-only journeys as a user would.

    python -m harness.observe.synthetic --port 9200 \\
        --target customer-api=http://127.0.0.1:8001 --target policy-api=... \\
        [--config-dir config] [--interval-s 1] [--timeout-s 5] [--host 127.0.0.1]

Every interval_s each journey of config/synthetics.yaml starts a run, on
schedule even when the previous run has not ended (a user does not wait for
another user). A run picks a seeded customer, GETs each step through the
step's target (a front route, so faults on the route reach it), and fails at
the first answer other than the expected status, or when the whole run takes
longer than timeout_s. Only GETs are sent: the prober never writes a record.

Exported on http://host:port/metrics, each labelled by journey:

    synthetic_journey_success                     1 if the last run passed, else 0
    synthetic_journey_runs_total{result}          runs ended, success or failure
    synthetic_journey_duration_seconds            how long the last run took
    synthetic_journey_last_run_timestamp_seconds  when the last run ended

The run counters exist at 0 from start-up; the other three appear with the
first run that ends, since before it there is no last run to describe.
SIGTERM or SIGINT stops the prober: runs in flight are cancelled, not counted.

Known shortcomings: the probes are real requests, so they count in the SLO
series of the services they read (the request logs name their caller
"synthetic"); runs of one journey overlap, up to timeout_s / interval_s at
once, while a route hangs; and when the prober stops, its journeys' alerts go
silent rather than fire.
"""

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import math
import random
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import start_http_server

from harness.config import DEFAULT_CONFIG_DIR, load_estate
from harness.errors import ConfigError
from harness.synthetics_config import SyntheticJourney, Synthetics, SyntheticStep

log = logging.getLogger(__name__)

SUCCESS = "success"
FAILURE = "failure"
EXIT_CONFIG_ERROR = 2
EXIT_CANNOT_SERVE = 3
CALLER = "synthetic"


class StepFailed(Exception):
    """Why one run of a journey failed, in words fit for a log line."""


@dataclass(frozen=True)
class RunResult:
    journey: str
    passed: bool
    duration_s: float
    reason: str = ""


class ProbeMetrics:
    """The prober's metric families, in a registry of its own."""

    def __init__(self, journeys: list[str]):
        self.registry = CollectorRegistry()
        self._success = Gauge(
            "synthetic_journey_success",
            "1 if the journey's last run passed, 0 if it failed.",
            ["journey"],
            registry=self.registry,
        )
        self._runs = Counter(
            "synthetic_journey_runs",
            "Runs of the journey that ended, by result.",
            ["journey", "result"],
            registry=self.registry,
        )
        self._duration = Gauge(
            "synthetic_journey_duration_seconds",
            "How long the journey's last run took, failed or not.",
            ["journey"],
            registry=self.registry,
        )
        self._last_run = Gauge(
            "synthetic_journey_last_run_timestamp_seconds",
            "When the journey's last run ended, in Unix time.",
            ["journey"],
            registry=self.registry,
        )
        for journey in journeys:
            for result in (SUCCESS, FAILURE):
                self._runs.labels(journey, result)

    def record(self, result: RunResult) -> None:
        journey = result.journey
        self._success.labels(journey).set(1 if result.passed else 0)
        self._runs.labels(journey, SUCCESS if result.passed else FAILURE).inc()
        self._duration.labels(journey).set(result.duration_s)
        self._last_run.labels(journey).set(time.time())


class Prober:
    """Runs every journey on its schedule until stopped."""

    def __init__(
        self,
        synthetics: Synthetics,
        targets: Mapping[str, str],
        customers: int,
        random_seed: int,
        interval_s: float,
        timeout_s: float,
    ):
        self.journeys = synthetics.journeys
        self.targets = {name: url.rstrip("/") for name, url in targets.items()}
        self.customers = customers
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.metrics = ProbeMetrics(list(self.journeys))
        self._rng = random.Random(f"synthetic:{random_seed}")
        self._runs: set[asyncio.Task] = set()
        self._failing: set[str] = set()
        self._http: httpx.AsyncClient | None = None

    async def run_until(self, stop: asyncio.Event) -> None:
        """Probe until stop is set; then cancel every run still in flight."""
        self._http = httpx.AsyncClient(
            timeout=self.timeout_s,
            headers={"X-Caller": CALLER, "User-Agent": "harness-synthetic"},
            # Proxy variables must not reroute calls meant for 127.0.0.1.
            trust_env=False,
        )
        spacing_s = self.interval_s / max(1, len(self.journeys))
        schedules = [
            asyncio.create_task(self._schedule(journey, index * spacing_s, stop))
            for index, journey in enumerate(self.journeys.values())
        ]
        try:
            await stop.wait()
        finally:
            await self._cancel([*schedules, *self._runs])
            await self._http.aclose()

    async def run_once(self, journey: SyntheticJourney) -> RunResult:
        """One run of journey: every step in turn, bounded by timeout_s."""
        number = self._rng.randint(1, self.customers)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):
                for step in journey.steps:
                    await self._step(step, number)
        except StepFailed as failed:
            return RunResult(
                journey.name, False, time.monotonic() - started, str(failed)
            )
        except TimeoutError:
            reason = f"not done within timeout_s = {self.timeout_s:g} s"
            return RunResult(journey.name, False, time.monotonic() - started, reason)
        return RunResult(journey.name, True, time.monotonic() - started)

    async def _schedule(
        self, journey: SyntheticJourney, delay_s: float, stop: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + delay_s
        while not await _wait_until(stop, next_at):
            run = asyncio.create_task(self._run_and_record(journey))
            self._runs.add(run)
            run.add_done_callback(self._runs.discard)
            next_at += self.interval_s

    async def _run_and_record(self, journey: SyntheticJourney) -> None:
        result = await self.run_once(journey)
        self.metrics.record(result)
        self._note_change(result)
        log.debug(
            "journey %s %s in %.3f s %s",
            result.journey,
            SUCCESS if result.passed else FAILURE,
            result.duration_s,
            result.reason,
        )

    def _note_change(self, result: RunResult) -> None:
        if not result.passed and result.journey not in self._failing:
            self._failing.add(result.journey)
            log.warning("journey %s failing: %s", result.journey, result.reason)
        elif result.passed and result.journey in self._failing:
            self._failing.discard(result.journey)
            log.info("journey %s passing again", result.journey)

    async def _step(self, step: SyntheticStep, number: int) -> None:
        path = step.path_for(number)
        try:
            answer = await self._http.get(self.targets[step.service] + path)
        except httpx.HTTPError as exc:
            raise StepFailed(
                f"GET {step.service} {step.path}: {type(exc).__name__}: {exc}"
            ) from exc
        if answer.status_code != step.expect_status:
            raise StepFailed(
                f"GET {step.service} {step.path} answered {answer.status_code}, "
                f"expected {step.expect_status}"
            )

    async def _cancel(self, tasks: list[asyncio.Task]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _wait_until(stop: asyncio.Event, at: float) -> bool:
    """Sleep until the loop time at; True at once if stop is set meanwhile."""
    delay_s = max(0.0, at - asyncio.get_running_loop().time())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)
    return stop.is_set()


# The front door of the prober's own process


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        estate = load_estate(args.config_dir)
    except ConfigError as exc:
        log.error("config refused: %s", exc)
        return EXIT_CONFIG_ERROR
    targets = dict(args.target)
    _check_targets(parser, targets, estate.synthetics, list(estate.services))
    prober = Prober(
        estate.synthetics,
        targets,
        estate.seed.customers,
        estate.seed.random_seed,
        interval_s=args.interval_s or estate.synthetics.interval_s,
        timeout_s=args.timeout_s or estate.synthetics.timeout_s,
    )
    return _serve(prober, args.host, args.port)


def _serve(prober: Prober, host: str, port: int) -> int:
    try:
        server, _ = start_http_server(port, addr=host, registry=prober.metrics.registry)
    except OSError as exc:
        log.error("cannot serve metrics on %s:%s: %s", host, port, exc)
        return EXIT_CANNOT_SERVE
    log.info(
        "probing %s journeys every %s s (timeout %s s); metrics on %s:%s",
        len(prober.journeys),
        prober.interval_s,
        prober.timeout_s,
        host,
        server.server_port,
    )
    try:
        asyncio.run(_run_until_signalled(prober))
    finally:
        server.shutdown()
        server.server_close()
    log.info("prober stopped")
    return 0


async def _run_until_signalled(prober: Prober) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await prober.run_until(stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.observe.synthetic",
        description="Run the synthetic journeys of config/synthetics.yaml and "
        "export their results for Prometheus.",
    )
    parser.add_argument(
        "--target",
        action="append",
        required=True,
        type=_target,
        metavar="SERVICE=URL",
        help="where a service's steps go (its front route); once per service",
    )
    parser.add_argument(
        "--port", required=True, type=_port, help="port of /metrics (0: any free)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", type=_host, help="address of /metrics"
    )
    parser.add_argument(
        "--config-dir", default=DEFAULT_CONFIG_DIR, type=_directory, help="config/"
    )
    parser.add_argument(
        "--interval-s",
        type=_seconds,
        help="seconds between runs of a journey (default: interval_s of "
        "synthetics.yaml, the production value)",
    )
    parser.add_argument(
        "--timeout-s",
        type=_seconds,
        help="longest a run may take (default: timeout_s of synthetics.yaml)",
    )
    return parser


def _target(text: str) -> tuple[str, str]:
    name, _, url = text.partition("=")
    parts = urlsplit(url)
    if not name or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected SERVICE=URL with an http:// or "
            "https:// URL, such as customer-api=http://127.0.0.1:8001"
        )
    return name, url


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected a whole number from 0 to 65535"
        )
    return int(text)


def _host(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected an IP address, such as 127.0.0.1"
        ) from exc
    return text


def _directory(text: str) -> Path:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected a folder holding synthetics.yaml "
            "and the rest of the estate's config"
        )
    return Path(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.001 <= value <= 86_400:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; expected a number of seconds from 0.001 to 86400"
        )
    return value


def _check_targets(
    parser: argparse.ArgumentParser,
    targets: dict[str, str],
    synthetics: Synthetics,
    services: list[str],
) -> None:
    unknown = sorted(set(targets) - set(services))
    if unknown:
        parser.error(
            f"--target names {', '.join(unknown)}: not a declared service; "
            f"accepted: {', '.join(services)}"
        )
    needed = {
        step.service
        for journey in synthetics.journeys.values()
        for step in journey.steps
    }
    missing = sorted(needed - set(targets))
    if missing:
        parser.error(
            f"no --target for {', '.join(missing)}, which the journeys of "
            "synthetics.yaml call; give one --target SERVICE=URL for each"
        )


if __name__ == "__main__":
    raise SystemExit(main())

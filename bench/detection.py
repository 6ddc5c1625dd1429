"""Time to detect, measured over repeated faults, against its computed floor.

The estate runs for real (mocks, fault proxy, Prometheus, Alertmanager) and a
steady load reads every service. Each sample turns one service's answers
into 500s through its admin API and times the page of its availability
burn-rate alert at the webhook. The floor is what the configuration allows
at best (the windows filling plus ``for``); the deadline adds every clock's
worst case. Samples rotate over the services, so each starts on clean
windows, and the estate first runs long enough that every window pair
behaves as with a full history.
"""

import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.config import Estate, load_estate
from harness.experiment.deadlines import AlertDeadlines
from harness.observe.rules import alert_rules
from harness.observe.timing import detection_deadline, detection_floor
from harness.observe.webhook import WebhookSink
from harness.slo.rules import burn_alert_name, pair_threshold
from harness.slo.spec import AVAILABILITY
from harness.slo.timing import burn_timing
from harness.slo.variant import experiment
from harness.stack.local import LocalStack
from harness.stack.mock_admin import MockAdminClient

SERVICES = ("customer-api", "policy-api", "claims-api", "payment-api")
# A path every mock answers 404 to without calling anything: the load then
# touches only the service it reads, and a fault on one service leaves the
# others' windows clean.
PROBE_PATHS = {
    "customer-api": "/customers/bench-missing",
    "policy-api": "/policies/bench-missing",
    "claims-api": "/claims/bench-missing",
    "payment-api": "/payments/bench-missing",
}
REQUESTS_PER_S = 10
ROUNDS = 2
# Seconds a sample's fault outlives its page: the alert's for and delivery.
SAMPLE_TAIL_S = 4.0
WAIT_LIMIT_S = 120.0


@dataclass(frozen=True)
class Sample:
    service: str
    alert: str
    time_to_detect_s: float
    floor_s: float
    deadline_s: float


def run() -> str:
    estate = load_estate()
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as folder:
        samples, history_s = _measure(estate, Path(folder))
    return _section(estate, samples, history_s)


def _measure(estate: Estate, folder: Path) -> tuple[list[Sample], float]:
    deadlines = {s: _deadlines(estate, s) for s in SERVICES}
    with WebhookSink() as sink:
        stack = LocalStack(estate, folder, sink.url)
        try:
            endpoints = stack.start()
            started = time.monotonic()
            stop = threading.Event()
            load = threading.Thread(
                target=_load, args=(endpoints.front, stop), daemon=True
            )
            load.start()
            samples = []
            for round_index in range(ROUNDS):
                _wait_history(started, _needed_history_s(estate, round_index))
                for service in SERVICES:
                    admin = MockAdminClient(
                        endpoints.services[service], endpoints.admin_token
                    )
                    alert = burn_alert_name(_availability(estate, service))
                    samples.append(
                        _sample(sink, admin, service, alert, deadlines[service])
                    )
            history_s = time.monotonic() - started
            stop.set()
            load.join(timeout=5)
        finally:
            stack.stop()
    return samples, history_s


def _deadlines(estate: Estate, service: str) -> AlertDeadlines:
    obs = estate.observability
    objective = _availability(estate, service)
    timing = burn_timing(
        estate.slo_specs.policy, experiment(obs), objective, "page", error_ratio=1.0
    )
    name = burn_alert_name(objective)
    for_s = next(r.for_s for r in alert_rules(estate) if r.name == name)
    return AlertDeadlines(
        detect=detection_deadline(obs, for_s, 0.0, timing.fill_s),
        floor=detection_floor(obs, for_s, 0.0, timing.fill_s),
        resolve=None,
    )


def _availability(estate: Estate, service: str):
    return next(
        o
        for o in estate.slo_specs.objectives
        if o.service == service and o.sli == AVAILABILITY and o.journey is None
    )


def _needed_history_s(estate: Estate, earlier_rounds: int) -> float:
    """Age of the data after which the fastest page pair is the one that fires.

    A slower pair with a higher burn rate over a longer window fires first
    when its window holds little data (a young estate) or still holds the bad
    events of an earlier sample of the same service, so wait until neither
    can make it cross before the fastest pair does.
    """
    variant = experiment(estate.observability)
    needed = 0.0
    for service in SERVICES:
        objective = _availability(estate, service)
        pairs = estate.slo_specs.policy.windows_of("page")
        fills = {
            w: variant.seconds(w.long_window_s) * pair_threshold(objective, w)
            for w in pairs
        }
        fastest = min(fills.values())
        left_bad_s = earlier_rounds * (fastest + SAMPLE_TAIL_S)
        for pair, fill_s in fills.items():
            if fill_s == fastest:
                continue
            threshold = pair_threshold(objective, pair)
            needed = max(needed, (fastest * (1 - threshold) + left_bad_s) / threshold)
    return needed


def _wait_history(started: float, needed_s: float) -> None:
    remaining = needed_s - (time.monotonic() - started)
    if remaining > 0:
        print(f"detection bench: waiting {remaining:.0f} s for history")
        time.sleep(remaining)


def _sample(
    sink, admin: MockAdminClient, service: str, objective_alert: str, deadlines
) -> Sample:
    fault = admin.add_fault("error", rate=1.0, status_code=500, duration_s=WAIT_LIMIT_S)
    injected = time.monotonic()
    try:
        event = sink.wait_for(
            lambda e: (
                e.received.monotonic >= injected
                and e.alertname == objective_alert
                and e.labels.get("severity") == "page"
                and e.firing
            ),
            WAIT_LIMIT_S,
        )
    finally:
        admin.remove_fault(fault["id"])
    detect_s = event.received.monotonic - injected
    print(f"detection bench: {service} paged after {detect_s:.2f} s")
    # Let the short window clear, so the page resolves before the next one.
    time.sleep(1)
    return Sample(
        service,
        objective_alert,
        round(detect_s, 3),
        deadlines.floor.total_s,
        deadlines.detect.total_s,
    )


def _load(front: dict[str, str], stop: threading.Event) -> None:
    with httpx.Client(timeout=5.0) as client:
        period = 1 / REQUESTS_PER_S
        next_due = time.monotonic()
        while not stop.is_set():
            for service in SERVICES:
                try:
                    client.get(front[service] + PROBE_PATHS[service])
                except httpx.HTTPError:
                    pass  # a refused request is what a fault looks like here
            next_due += period
            stop.wait(max(0.0, next_due - time.monotonic()))


def _section(estate: Estate, samples: list[Sample], history_s: float) -> str:
    ratios = [s.time_to_detect_s / s.floor_s for s in samples]
    median = statistics.median(ratios)
    late = [s for s in samples if s.time_to_detect_s > s.deadline_s]
    obs = estate.observability
    lines = [
        "## Time to detect against the configuration",
        "",
        f"Availability burn-rate pages, one service at a time, {ROUNDS} rounds over "
        f"{len(SERVICES)} services ({len(samples)} samples) on a real estate under "
        f"{REQUESTS_PER_S} req/s per service; every answer turned into a 500 through "
        "the mock's admin API. Floor: the windows filling at a 100% error ratio "
        "plus `for` and group_wait, no clock waited on. Deadline: the floor plus "
        "two scrapes, an evaluation, resend delay, group interval and the "
        f"delivery tolerance (scrape {obs.scrape_interval_s:g} s, evaluation "
        f"{obs.evaluation_interval_s:g} s, compression x{obs.compression_factor:g}). "
        f"The estate ran {history_s:.0f} s in all.",
        "",
        "| service | time to detect | floor | ratio to floor | deadline |",
        "| --- | --- | --- | --- | --- |",
    ]
    for sample, ratio in zip(samples, ratios, strict=True):
        lines.append(
            f"| {sample.service} | {sample.time_to_detect_s:.2f} s | "
            f"{sample.floor_s:.2f} s | {ratio:.2f} | {sample.deadline_s:.2f} s |"
        )
    verdict = "met" if median <= 1.2 and not late else "missed"
    lines += [
        "",
        f"Median ratio to the floor: **{median:.2f}** (goal ≤ 1.2); samples past "
        f"the deadline: **{len(late)}** (goal 0). Goal {verdict}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())

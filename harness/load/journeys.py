"""Locust user journeys against the insurer's APIs, in an open or a closed model.

This file runs only inside the `locust` process (see harness.load.runner):
Locust is built on gevent, which must never share a process with asyncio.
It reads its settings from the JSON file named by HARNESS_LOAD_CONFIG.

Open model: one ArrivalDriver user starts journeys on an arrival schedule
(see harness.load.arrivals), each in its own greenlet, at most max_in_flight
at a time. Closed model: `users` ClosedModelUser users each run one journey
after another, pausing think_time_s between them. Either way each journey is
drawn from the weighted mix of the settings. Besides Locust's CSVs it writes,
next to them:

- <csv prefix>_journeys.json: arrivals, starts, drops and outcomes of journeys,
  in all and per journey, rewritten every second and once more at the end;
- <csv prefix>_accepted.jsonl: one line per record a service answered as
  created (a claim's, payment's, customer's or policy's ID), written as the
  answer arrives, so the integrity checks can look for each one after the run;
- <csv prefix>_latency.json: two response-time histograms (every request,
  successful requests) and the counts of timeouts and connection errors,
  rewritten every second and once more at the end (harness.load.latency);
- <csv prefix>_final_*.csv: Locust's stats as they stood when the test stopped.
  Locust rewrites its own CSVs only once a second and does not rewrite them at
  exit, so they can miss up to the last second of requests.

All journeys run in this one process, on one CPU core; there are no Locust
workers yet. Measured against local stand-ins, it kept 400 journeys (1200
requests) per second on schedule; past what it can keep, schedule_lag_max_ms
in the journey counts grows, which is how a run shows that the generator, not
the system under test, was slow.
"""

import csv
import io
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import gevent
from gevent.pool import Pool
from geventhttpclient.response import HTTPConnectionClosed
from locust import User, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from harness.load.arrivals import count_due, seeded_offsets
from harness.load.latency import CONNECTION_ERROR, TIMEOUT, RequestLatencies
from harness.load.settings import (
    ACCEPTED_RECORDS_SUFFIX,
    CLOSED_MODEL,
    CONFIG_ENV_VAR,
    LATENCY_SUFFIX,
    LoadSettings,
)
from harness.report.redact import Redactor

log = logging.getLogger(__name__)

DROPPED_REQUEST_TYPE = "JOURNEY"
DROPPED_REQUEST_NAME = "journey dropped: max_in_flight"
COUNTS_WRITE_INTERVAL_S = 1.0
INCIDENT_WINDOW_DAYS = 30
CLAIM_DESCRIPTIONS = (
    "Rear-ended at a junction, bumper and tail light damaged",
    "Burst pipe under the kitchen sink, flooring soaked",
    "Hail damage to the roof and a skylight",
    "Bicycle stolen from a locked garage",
    "Windscreen cracked by a stone on the motorway",
    "Laptop dropped on a train, screen broken",
)


class JourneyDropped(Exception):
    """An arrival found max_in_flight journeys running and was not started."""


@dataclass(frozen=True)
class ClaimInput:
    """What one customer files: a claim against their own policy."""

    number: int
    amount_cents: int
    description: str
    incident_date: date

    @property
    def customer_id(self) -> str:
        return f"CUST-{self.number:06d}"

    @property
    def policy_id(self) -> str:
        # Seeded data: customer CUST-<n> owns policy POL-<n>.
        return f"POL-{self.number:06d}"

    def as_claim(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "customer_id": self.customer_id,
            "amount_cents": self.amount_cents,
            "description": self.description,
            "incident_date": self.incident_date.isoformat(),
        }


def draw_claim(rng: random.Random, customers: int, today: date) -> ClaimInput:
    """Pick a customer uniformly and invent a plausible recent claim for them."""
    days_ago = rng.randrange(INCIDENT_WINDOW_DAYS)
    return ClaimInput(
        number=rng.randint(1, customers),
        amount_cents=rng.randint(10_000, 500_000),
        description=rng.choice(CLAIM_DESCRIPTIONS),
        incident_date=today - timedelta(days=days_ago),
    )


class AcceptedRecords:
    """IDs of the records services answered as created, one JSON line each."""

    def __init__(self, path: Path | None):
        # Line buffering: a line is on disk as soon as its answer arrived.
        self._file = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    def add(self, kind: str, record_id: object) -> None:
        if self._file is not None:
            self._file.write(json.dumps({"kind": kind, "id": record_id}) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class Created:
    """A step that creates a record: its kind, and the answer field naming it."""

    kind: str
    id_field: str


class StepClient:
    """Sends journey steps and records each in Locust's stats under its route."""

    def __init__(
        self,
        session: FastHttpSession,
        targets: dict[str, str],
        timeout_s: float,
        accepted: AcceptedRecords | None = None,
    ):
        self.session = session
        self.targets = {name: url.rstrip("/") for name, url in targets.items()}
        self.timeout_s = timeout_s
        self.accepted = accepted or AcceptedRecords(None)
        # Locust keeps each failure's text in its CSVs and log: no answer's
        # personal details may reach them.
        self._redactor = Redactor()

    def call(
        self,
        method: str,
        service: str,
        path: str,
        name: str,
        expected_status: int,
        body: dict[str, Any] | None = None,
        creates: Created | None = None,
        expect_fields: dict[str, Any] | None = None,
    ) -> bool:
        """Send one request; True when it answered expected_status in time."""
        answer = self.send(
            method, service, path, name, expected_status, body, creates, expect_fields
        )
        return answer is not None

    def send(
        self,
        method: str,
        service: str,
        path: str,
        name: str,
        expected_status: int,
        body: dict[str, Any] | None = None,
        creates: Created | None = None,
        expect_fields: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Send one request; its JSON answer when it succeeded, else None.

        Success is expected_status in time and, when expect_fields is given,
        an answer holding those values.
        """
        url = self.targets[service] + path
        with self.session.request(
            method, url, name=name, json=body, catch_response=True
        ) as response:
            failure = self._failure(response, expected_status)
            if failure is None:
                self._note_created(response, creates)
                answer = _json_object(response)
                failure = _field_mismatch(answer, expect_fields or {})
            if failure is None:
                return answer
            # Its own class, which says whether it timed out or lost its
            # connection; only its text is redacted.
            response.failure(type(failure)(self._redactor.text(str(failure))))
            return None

    def _note_created(self, response: Any, creates: Created | None) -> None:
        if creates is None:
            return
        try:
            record_id = response.json()[creates.id_field]
        except (ValueError, KeyError, TypeError):
            # An answer without the ID is still an answer; nothing to look for.
            log.warning(
                "created %s answered without %s", creates.kind, creates.id_field
            )
            return
        self.accepted.add(creates.kind, record_id)

    def _failure(self, response: Any, expected_status: int) -> "StepFailed | None":
        error = response.request_meta["exception"]
        if error is not None:
            return describe_error(error, expected_status, self.timeout_s)
        if response.status_code != expected_status:
            return StepFailed(
                f"HTTP {response.status_code}, expected {expected_status}"
            )
        # The socket timeouts bound each read, not the whole exchange: an
        # answer trickled out slowly is only judged here, after it arrived, so
        # it can hold its journey longer than request_timeout_s.
        elapsed_s = response.request_meta["response_time"] / 1000
        if elapsed_s > self.timeout_s:
            return StepTimedOut(
                f"answered after {elapsed_s:.1f} s, over request_timeout_s = "
                f"{self.timeout_s:g} s"
            )
        return None


class StepFailed(Exception):
    """Why a journey step failed, worded without the URL it called.

    Locust groups failures by their text; a URL holding a customer's ID would
    split one cause into a row per customer.
    """


class StepTimedOut(StepFailed):
    """The step got no whole answer within request_timeout_s."""


class StepConnectionFailed(StepFailed):
    """The connection was refused, reset or closed before a whole answer came."""


def _json_object(response: Any) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _field_mismatch(
    answer: dict[str, Any], expected: dict[str, Any]
) -> "StepFailed | None":
    for name, value in expected.items():
        if answer.get(name) != value:
            # The value found is left out: it may name a customer (see StepFailed).
            return StepFailed(f"answer's {name} is not {value!r}")
    return None


def describe_error(
    error: Exception, expected_status: int, timeout_s: float
) -> StepFailed:
    """Turn a client error into a StepFailed that names only its cause."""
    status = getattr(error, "code", None)
    if isinstance(status, int) and status > 0:
        return StepFailed(f"HTTP {status}, expected {expected_status}")
    # geventhttpclient wraps socket errors in an error that carries the URL.
    original = getattr(error, "original", None)
    cause = original if isinstance(original, BaseException) else error
    if isinstance(cause, TimeoutError | gevent.Timeout):
        return StepTimedOut(f"no answer within request_timeout_s = {timeout_s:g} s")
    detail = getattr(cause, "text", None) or str(cause)
    # A reset often reads as the connection closed mid-answer; both, and any
    # other socket error, mean the request never got its answer.
    lost = isinstance(cause, OSError | HTTPConnectionClosed)
    kind = StepConnectionFailed if lost else StepFailed
    return kind(f"{type(cause).__name__}: {detail}")


def failure_kind(error: BaseException | None) -> str | None:
    """TIMEOUT, CONNECTION_ERROR, or None for any other failure (or none)."""
    if isinstance(error, StepTimedOut):
        return TIMEOUT
    if isinstance(error, StepConnectionFailed):
        return CONNECTION_ERROR
    return None


def file_a_claim(steps: StepClient, claim: ClaimInput) -> bool:
    """Look up the customer and their policy, then file a claim; stop at a failure.

    Only status codes are checked: the journey does not yet read the bodies,
    so a policy answered for the wrong customer would pass.
    """
    return (
        steps.call(
            "GET",
            "customer-api",
            f"/customers/{claim.customer_id}",
            "GET /customers/{id}",
            200,
        )
        and steps.call(
            "GET",
            "policy-api",
            f"/policies/{claim.policy_id}",
            "GET /policies/{id}",
            200,
        )
        and steps.call(
            "POST",
            "claims-api",
            "/claims",
            "POST /claims",
            201,
            claim.as_claim(),
            creates=Created("claims", "claim_id"),
        )
    )


@dataclass(frozen=True)
class PremiumInput:
    """One premium payment: a customer's policy, an amount and a fresh key."""

    number: int
    amount_cents: int
    idempotency_key: str

    @property
    def policy_id(self) -> str:
        return f"POL-{self.number:06d}"

    def as_payment(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "amount_cents": self.amount_cents,
            "idempotency_key": self.idempotency_key,
        }


def draw_premium(rng: random.Random, customers: int, today: date) -> PremiumInput:
    """Pick a policy uniformly; the key is new for every journey of a run."""
    return PremiumInput(
        number=rng.randint(1, customers),
        amount_cents=rng.randint(1_000, 200_000),
        idempotency_key=f"premium-{today.isoformat()}-{rng.getrandbits(64):016x}",
    )


def pay_a_premium(steps: StepClient, premium: PremiumInput) -> bool:
    """Look up the policy, pay its premium, then send the payment again.

    The second send is what a client does when it did not see the first
    answer; it must answer 201 again without a second charge, which the
    integrity check keys_charged_once proves after the run.
    """
    payment = premium.as_payment()
    return (
        steps.call(
            "GET",
            "policy-api",
            f"/policies/{premium.policy_id}",
            "GET /policies/{id}",
            200,
        )
        and steps.call(
            "POST",
            "payment-api",
            "/payments",
            "POST /payments",
            201,
            payment,
            creates=Created("payments", "payment_id"),
        )
        and steps.call(
            "POST", "payment-api", "/payments", "POST /payments (retry)", 201, payment
        )
    )


FIRST_NAMES = ("Ada", "Bram", "Chiara", "Dev", "Elin", "Farid", "Grace", "Hugo")
LAST_NAMES = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Reyes", "Singh")


@dataclass(frozen=True)
class NewCustomerInput:
    """A person signing up: a unique e-mail address, so no two runs collide."""

    name: str
    email: str
    date_of_birth: date

    def as_customer(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "email": self.email,
            "date_of_birth": self.date_of_birth.isoformat(),
        }


def draw_new_customer(
    rng: random.Random, customers: int, today: date
) -> NewCustomerInput:
    """Invent an adult with a unique address; customers is unused (no seed needed)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return NewCustomerInput(
        name=f"{first} {last}",
        email=f"{first}.{last}.{rng.getrandbits(48):012x}@example.com".lower(),
        date_of_birth=today - timedelta(days=rng.randint(18 * 366, 90 * 365)),
    )


def register_a_customer(steps: StepClient, person: NewCustomerInput) -> bool:
    """Sign up (identity verified, filed with the CRM), then sign in as the customer.

    A refusal of any kind (identity verification down or refusing, the CRM
    down) is a failed journey; so is a profile answered as not verified.
    """
    customer = steps.send(
        "POST",
        "customer-api",
        "/customers",
        "POST /customers",
        201,
        person.as_customer(),
        creates=Created("customers", "customer_id"),
        expect_fields={"identity_status": "verified"},
    )
    if customer is None:
        return False
    credentials = {
        "customer_id": customer.get("customer_id"),
        "date_of_birth": person.date_of_birth.isoformat(),
    }
    return steps.call(
        "POST", "customer-api", "/auth/tokens", "POST /auth/tokens", 201, credentials
    )


@dataclass(frozen=True)
class PolicyLookup:
    """A customer looking at one of the seeded policies."""

    number: int

    @property
    def policy_id(self) -> str:
        return f"POL-{self.number:06d}"


def draw_policy_lookup(rng: random.Random, customers: int, today: date) -> PolicyLookup:
    return PolicyLookup(number=rng.randint(1, customers))


def view_policy(steps: StepClient, lookup: PolicyLookup) -> bool:
    """Read a policy, then its status; each answer must be for that policy."""
    same_policy = {"policy_id": lookup.policy_id}
    return steps.call(
        "GET",
        "policy-api",
        f"/policies/{lookup.policy_id}",
        "GET /policies/{id}",
        200,
        expect_fields=same_policy,
    ) and steps.call(
        "GET",
        "policy-api",
        f"/policies/{lookup.policy_id}/status",
        "GET /policies/{id}/status",
        200,
        expect_fields=same_policy,
    )


@dataclass(frozen=True)
class PolicyApplication:
    """A seeded customer buying a motor policy, paying by card."""

    number: int
    coverage_cents: int
    premium_cents: int
    card_token: str

    @property
    def customer_id(self) -> str:
        return f"CUST-{self.number:06d}"

    def as_policy(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "product": "motor",
            "coverage_cents": self.coverage_cents,
            "premium_cents": self.premium_cents,
            "payment_method": {"type": "card", "token": self.card_token},
        }


def draw_policy_application(
    rng: random.Random, customers: int, today: date
) -> PolicyApplication:
    """Coverage inside the motor product's limits, premium 1-3% of it."""
    coverage_cents = rng.randrange(2_500_000, 6_000_000, 100_000)
    return PolicyApplication(
        number=rng.randint(1, customers),
        coverage_cents=coverage_cents,
        premium_cents=coverage_cents * rng.randint(1, 3) // 100,
        card_token=f"tok_{rng.getrandbits(64):016x}",
    )


def buy_a_policy(steps: StepClient, application: PolicyApplication) -> bool:
    """Underwrite a new policy: policy-api checks the customer and the card.

    Known shortcoming: always a motor policy paid by card; other products
    and bank accounts get no load.

    The answer must say the policy is active; a policy left pending because
    the customer could not be checked is a failed journey.
    """
    return steps.call(
        "POST",
        "policy-api",
        "/policies",
        "POST /policies",
        201,
        application.as_policy(),
        creates=Created("policies", "policy_id"),
        expect_fields={"status": "active"},
    )


@dataclass(frozen=True)
class Journey:
    draw: Callable[[random.Random, int, date], Any]
    run: Callable[[StepClient, Any], bool]


JOURNEYS = {
    "file_a_claim": Journey(draw=draw_claim, run=file_a_claim),
    "pay_a_premium": Journey(draw=draw_premium, run=pay_a_premium),
    "register_a_customer": Journey(draw=draw_new_customer, run=register_a_customer),
    "view_policy": Journey(draw=draw_policy_lookup, run=view_policy),
    "buy_a_policy": Journey(draw=draw_policy_application, run=buy_a_policy),
}


@dataclass
class JourneyTally:
    """What happened to every journey of one run; written as JSON for the runner.

    Open model: every arrival was started or dropped. Closed model: arrivals
    and drops stay 0, as users start a journey only when their last one ended.
    """

    model: str
    journeys: dict[str, float]
    arrival_process: str | None
    offered_rate_per_s: float | None
    users: int | None
    think_time_s: float
    max_in_flight: int
    started: int = 0
    dropped: int = 0
    completed: int = 0
    failed: int = 0
    arrivals_due: int = 0
    elapsed_s: float = 0.0
    in_flight_peak: int = 0
    schedule_lag_max_ms: float = 0.0
    stopped: bool = False
    started_per_second: Counter = field(default_factory=Counter)
    # journey name -> {"started": n, "completed": n, "failed": n}
    by_journey: dict[str, Counter] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: LoadSettings) -> "JourneyTally":
        closed = settings.model == CLOSED_MODEL
        return cls(
            model=settings.model,
            journeys=dict(settings.journeys),
            arrival_process=None if closed else settings.arrival_process,
            offered_rate_per_s=settings.arrival_rate_per_s,
            users=settings.users,
            think_time_s=settings.think_time_s,
            max_in_flight=settings.users if closed else settings.max_in_flight,
            by_journey={name: Counter() for name in settings.journeys},
        )

    def journey_started(self, name: str, in_flight: int) -> None:
        self.started += 1
        self.by_journey[name]["started"] += 1
        self.started_per_second[int(time.time())] += 1
        self.in_flight_peak = max(self.in_flight_peak, in_flight)

    def journey_ended(self, name: str, succeeded: bool) -> None:
        outcome = "completed" if succeeded else "failed"
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.by_journey[name][outcome] += 1

    def as_json(self) -> str:
        data = {k: v for k, v in vars(self).items() if k != "started_per_second"}
        data["started_per_second"] = sorted(self.started_per_second.items())
        data["by_journey"] = {
            name: {key: counts[key] for key in ("started", "completed", "failed")}
            for name, counts in self.by_journey.items()
        }
        return json.dumps(data)


class JourneyMix:
    """Draws which journey to run next, by weight, and the input it runs with.

    Known shortcoming: the draw is random, so a short run with few journeys
    can stray from the weights.
    """

    def __init__(self, settings: LoadSettings, seed_label: str):
        self.settings = settings
        self.rng = random.Random(f"{seed_label}:{settings.random_seed}")

    def draw(self) -> tuple[str, Any]:
        [name] = self.rng.choices(
            self.settings.journey_names, self.settings.journey_weights
        )
        journey_input = JOURNEYS[name].draw(
            self.rng, self.settings.customers, date.today()
        )
        return name, journey_input


def run_journey(
    environment: Any, steps: StepClient, name: str, journey_input: Any
) -> bool:
    """Run one journey; a bug in the journey itself counts as its failure."""
    try:
        return JOURNEYS[name].run(steps, journey_input)
    except Exception as exc:
        log.exception("journey %s raised", name)
        environment.events.user_error.fire(
            user_instance=None, exception=exc, tb=exc.__traceback__
        )
        return False


class CountsWriter:
    """Rewrites the tally's JSON file every second, and once more at the end."""

    def __init__(self, counts: JourneyTally, path: Path | None, origin: float):
        self.counts = counts
        self.path = path
        self.origin = origin
        self.greenlet = gevent.spawn(self._every_second)

    def stop(self) -> None:
        self.greenlet.kill(block=True)

    def write(self) -> None:
        if self.path is None:
            return
        if not self.counts.stopped:
            self.counts.elapsed_s = time.monotonic() - self.origin
            self.counts.arrivals_due = self.counts.started + self.counts.dropped
        _write_atomically(self.path, self.counts.as_json())

    def _every_second(self) -> None:
        while True:
            self.write()
            gevent.sleep(COUNTS_WRITE_INTERVAL_S)


class LatencyRecorder:
    """Adds every request Locust reports to the run's histograms, and writes them.

    The file is rewritten every second, like the journey counts, and once
    more after the last journey stopped.
    """

    def __init__(self, path: Path | None):
        self.latencies = RequestLatencies()
        self.path = path
        self.greenlet = gevent.spawn(self._every_second)

    def on_request(
        self,
        request_type: str,
        response_time: float | None,
        exception: BaseException | None,
        **_kwargs: Any,
    ) -> None:
        # Dropped arrivals were never sent; they have no response time.
        if request_type == DROPPED_REQUEST_TYPE or response_time is None:
            return
        self.latencies.add(response_time, exception is None, failure_kind(exception))

    def finish(self) -> None:
        self.greenlet.kill(block=True)
        self.write()

    def write(self) -> None:
        if self.path is not None:
            _write_atomically(self.path, json.dumps(self.latencies.as_dict()))

    def _every_second(self) -> None:
        while True:
            self.write()
            gevent.sleep(COUNTS_WRITE_INTERVAL_S)


class OpenModelDriver:
    """Starts journeys on schedule, however long the earlier ones take."""

    def __init__(self, user: User, settings: LoadSettings, counts_path: Path | None):
        self.environment = user.environment
        self.settings = settings
        self.counts = JourneyTally.for_settings(settings)
        self.accepted = AcceptedRecords(
            _output_path(user.environment, ACCEPTED_RECORDS_SUFFIX)
        )
        self.steps = StepClient(
            _session(user, settings, settings.max_in_flight),
            dict(settings.targets),
            settings.request_timeout_s,
            self.accepted,
        )
        self.journeys_in_flight = Pool(settings.max_in_flight)
        self.mix = JourneyMix(settings, "journey-data")
        self.offsets = seeded_offsets(
            settings.arrival_process,
            settings.arrival_rate_per_s,
            settings.random_seed,
        )
        self.origin = time.monotonic()
        self.next_offset_s: float | None = None
        self.driver_stopped_at: float | None = None
        self.writer = CountsWriter(self.counts, counts_path, self.origin)

    def drive(self) -> None:
        self.origin = self.writer.origin = time.monotonic()
        try:
            for offset_s in self.offsets:
                self.next_offset_s = offset_s
                self._sleep_until(self.origin + offset_s)
                self.next_offset_s = None
                self._arrive()
        finally:
            # Arrivals are due only up to the moment the driver was stopped;
            # shutting the journeys down afterwards takes time of its own.
            self.driver_stopped_at = time.monotonic()

    def finish(self) -> None:
        """Stop every journey and writer, then write the final counts.

        Journeys still in flight are cut off; their unfinished requests are in
        no stats, and the counts show them as started but neither completed
        nor failed.
        """
        stopped_at = self.driver_stopped_at or time.monotonic()
        self.journeys_in_flight.kill(block=True)
        self.writer.stop()
        self.accepted.close()
        self.counts.elapsed_s = stopped_at - self.origin
        self.counts.arrivals_due = self._arrivals_due(self.counts.elapsed_s)
        self.counts.stopped = True
        self.writer.write()
        log.info(
            "journeys stopped: %s started, %s dropped, %s due in %.1f s",
            self.counts.started,
            self.counts.dropped,
            self.counts.arrivals_due,
            self.counts.elapsed_s,
        )

    def _sleep_until(self, due: float) -> None:
        delay_s = due - time.monotonic()
        if delay_s > 0:
            gevent.sleep(delay_s)
        lag_ms = (time.monotonic() - due) * 1000
        self.counts.schedule_lag_max_ms = max(self.counts.schedule_lag_max_ms, lag_ms)

    def _arrive(self) -> None:
        if self.journeys_in_flight.full():
            self._drop()
            return
        name, journey_input = self.mix.draw()
        self.journeys_in_flight.spawn(self._run_one, name, journey_input)
        self.counts.journey_started(name, len(self.journeys_in_flight))

    def _drop(self) -> None:
        self.counts.dropped += 1
        self.environment.events.request.fire(
            request_type=DROPPED_REQUEST_TYPE,
            name=DROPPED_REQUEST_NAME,
            # None keeps the drop out of the response-time percentiles.
            response_time=None,
            response_length=0,
            exception=JourneyDropped(
                f"{self.settings.max_in_flight} journeys already in flight"
            ),
            context={},
            start_time=time.time(),
        )

    def _run_one(self, name: str, journey_input: Any) -> None:
        succeeded = run_journey(self.environment, self.steps, name, journey_input)
        self.counts.journey_ended(name, succeeded)

    def _arrivals_due(self, elapsed_s: float) -> int:
        handled = self.counts.started + self.counts.dropped
        pending = self.next_offset_s
        if pending is None or pending > elapsed_s:
            return handled
        return handled + 1 + count_due(self.offsets, elapsed_s)


class ClosedModelRun:
    """What the users of a closed-model run share: settings, mix and tally.

    One is made per Locust process when the test starts, and finished when it
    stops, after every user has been stopped.
    """

    def __init__(self, environment: Any, settings: LoadSettings):
        self.environment = environment
        self.settings = settings
        self.counts = JourneyTally.for_settings(settings)
        self.accepted = AcceptedRecords(
            _output_path(environment, ACCEPTED_RECORDS_SUFFIX)
        )
        self.mix = JourneyMix(settings, "journey-data")
        self.in_flight = 0
        self.origin = time.monotonic()
        counts_path = _output_path(environment, "_journeys.json")
        self.writer = CountsWriter(self.counts, counts_path, self.origin)

    def run_one(self, steps: StepClient) -> None:
        name, journey_input = self.mix.draw()
        self.in_flight += 1
        self.counts.journey_started(name, self.in_flight)
        try:
            succeeded = run_journey(self.environment, steps, name, journey_input)
        finally:
            # A user stopped mid-journey leaves it started but not ended.
            self.in_flight -= 1
        self.counts.journey_ended(name, succeeded)

    def finish(self) -> None:
        self.writer.stop()
        self.accepted.close()
        self.counts.elapsed_s = time.monotonic() - self.origin
        self.counts.stopped = True
        self.writer.write()
        log.info(
            "journeys stopped: %s started, %s completed, %s failed in %.1f s",
            self.counts.started,
            self.counts.completed,
            self.counts.failed,
            self.counts.elapsed_s,
        )


def _session(user: User, settings: LoadSettings, concurrency: int) -> FastHttpSession:
    # FastHttpSession (geventhttpclient) yields to other greenlets while it
    # waits, keeps a connection pool that many greenlets of one user may share,
    # and costs far less CPU per request than HttpUser's requests.Session, so
    # the load generator is not what limits the arrival rate.
    return FastHttpSession(
        base_url=None,
        request_event=user.environment.events.request,
        user=user,
        concurrency=concurrency,
        network_timeout=settings.request_timeout_s,
        connection_timeout=settings.request_timeout_s,
        # A retry would hide the very failure a fault is meant to cause.
        max_retries=0,
        headers={"User-Agent": "resilience-harness-load"},
    )


class ArrivalDriver(User):
    """The one user of an open-model run: it starts every journey on schedule."""

    # One driver holds the whole schedule; a second would double the rate.
    fixed_count = 1

    def on_start(self) -> None:
        settings = LoadSettings.load(Path(os.environ[CONFIG_ENV_VAR]))
        counts_path = _output_path(self.environment, "_journeys.json")
        self.driver = OpenModelDriver(self, settings, counts_path)
        log.info(
            "journeys %s at %s per s (%s arrivals), at most %s in flight",
            dict(settings.journeys),
            settings.arrival_rate_per_s,
            settings.arrival_process,
            settings.max_in_flight,
        )

    @task
    def drive_arrivals(self) -> None:
        self.driver.drive()

    def on_stop(self) -> None:
        self.driver.finish()


class ClosedModelUser(User):
    """One of a closed-model run's users: a journey, think time, the next one.

    Known shortcoming: with think_time_s 0, a user facing a service that
    refuses connections at once starts journeys as fast as the core allows.
    """

    def on_start(self) -> None:
        self.shared: ClosedModelRun = self.environment.closed_model_run
        settings = self.shared.settings
        self.steps = StepClient(
            _session(self, settings, 1),
            dict(settings.targets),
            settings.request_timeout_s,
            self.shared.accepted,
        )

    def wait_time(self) -> float:
        return self.shared.settings.think_time_s

    @task
    def run_a_journey(self) -> None:
        self.shared.run_one(self.steps)


@events.test_start.add_listener
def start_latency_recorder(environment: Any, **_kwargs: Any) -> None:
    """Record every request's response time, in either model."""
    recorder = LatencyRecorder(_output_path(environment, LATENCY_SUFFIX))
    environment.latency_recorder = recorder
    environment.events.request.add_listener(recorder.on_request)


@events.test_stop.add_listener
def finish_latency_recorder(environment: Any, **_kwargs: Any) -> None:
    """Write the final histograms; every journey has stopped by now."""
    recorder = getattr(environment, "latency_recorder", None)
    if recorder is not None:
        recorder.finish()


@events.test_start.add_listener
def start_closed_model(environment: Any, **_kwargs: Any) -> None:
    """Give a closed-model run's users the state they share."""
    user_classes = getattr(environment, "user_classes", [])
    if ClosedModelUser not in user_classes:
        return
    settings = LoadSettings.load(Path(os.environ[CONFIG_ENV_VAR]))
    environment.closed_model_run = ClosedModelRun(environment, settings)
    log.info(
        "journeys %s with %s users, %s s think time",
        dict(settings.journeys),
        settings.users,
        settings.think_time_s,
    )


@events.test_stop.add_listener
def finish_closed_model(environment: Any, **_kwargs: Any) -> None:
    """Write the closed-model run's final counts; its users have all stopped."""
    run = getattr(environment, "closed_model_run", None)
    if run is not None:
        run.finish()


@events.test_stop.add_listener
def write_final_stats(environment: Any, **_kwargs: Any) -> None:
    """Snapshot Locust's stats now that every journey has stopped."""
    if _output_path(environment, "") is None:
        log.warning("no --csv prefix given; final stats not written")
        return
    stats_csv = StatsCSV(environment, PERCENTILES_TO_REPORT)
    writers = {
        "_final_stats.csv": stats_csv.requests_csv,
        "_final_failures.csv": stats_csv.failures_csv,
        "_final_exceptions.csv": stats_csv.exceptions_csv,
    }
    for suffix, write_rows in writers.items():
        text = io.StringIO(newline="")
        write_rows(csv.writer(text))
        _write_atomically(_output_path(environment, suffix), text.getvalue())


def _output_path(environment: Any, suffix: str) -> Path | None:
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    return Path(prefix + suffix) if prefix else None


def _write_atomically(path: Path, text: str) -> None:
    # The runner may read while a write is under way; it must see whole files.
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)

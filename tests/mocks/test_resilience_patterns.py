"""Breaker, backoff, retry budget, bulkhead and guard, on a fake clock."""

import asyncio
import random

import pytest
from prometheus_client import CollectorRegistry

from mocks.core.resilience import (
    Attempt,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    DependencyGuard,
    PolicyError,
    ResilienceMetrics,
    ResiliencePolicy,
    RetryBudget,
    Timing,
    Verdict,
    backoff_s,
    parse_policy,
)
from mocks.core.resilience.bulkhead import BulkheadFull
from mocks.core.resilience.policy import BreakerPolicy, Jitter, RetryPolicy


class FakeClock:
    """Time that moves only when told to; sleeping moves it and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _breaker(clock, **changes) -> CircuitBreaker:
    policy = BreakerPolicy(enabled=True, failure_threshold=3, open_s=5.0)
    changes = {"half_open_max_calls": 2, **changes}
    return CircuitBreaker(BreakerPolicy(**{**policy.__dict__, **changes}), clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record(breaker.admit(), failed=True)


def test_the_breaker_opens_after_consecutive_failures_only(clock):
    breaker = _breaker(clock)

    _fail(breaker, 2)
    breaker.record(breaker.admit(), failed=False)
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED

    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.admit()
    assert refused.value.retry_after_s == pytest.approx(5.0)


def test_an_open_breaker_turns_half_open_after_open_s_and_admits_a_bounded_number(
    clock,
):
    breaker = _breaker(clock)
    _fail(breaker, 3)

    clock.advance(4.999)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.001)
    assert breaker.state is BreakerState.HALF_OPEN

    first, second = breaker.admit(), breaker.admit()
    assert first.trial and second.trial
    with pytest.raises(CircuitOpen):
        breaker.admit()

    breaker.record(first, failed=False)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record(second, failed=False)
    assert breaker.state is BreakerState.CLOSED


def test_a_failed_trial_reopens_the_breaker_for_another_open_s(clock):
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(5.0)

    trial = breaker.admit()
    breaker.record(trial, failed=True)

    assert breaker.state is BreakerState.OPEN
    clock.advance(4.9)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_result_from_before_the_breaker_opened_changes_nothing(clock):
    breaker = _breaker(clock, half_open_max_calls=1)
    early = breaker.admit()
    _fail(breaker, 3)
    clock.advance(5.0)
    trial = breaker.admit()

    breaker.record(early, failed=False)

    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record(trial, failed=False)
    assert breaker.state is BreakerState.CLOSED


def test_a_disabled_breaker_never_opens(clock):
    breaker = CircuitBreaker(BreakerPolicy(enabled=False, failure_threshold=1), clock)

    _fail(breaker, 10)

    assert breaker.state is BreakerState.CLOSED


def _retry(**changes) -> RetryPolicy:
    return RetryPolicy(**{**RetryPolicy().__dict__, **changes})


def test_backoff_without_jitter_doubles_up_to_its_cap():
    policy = _retry(backoff_base_s=0.05, backoff_max_s=0.3, jitter=Jitter.NONE)
    rng = random.Random(1)

    pauses = [backoff_s(policy, n, rng) for n in range(1, 6)]

    assert pauses == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3])


@pytest.mark.parametrize(
    ("jitter", "low_share"), [(Jitter.FULL, 0.0), (Jitter.EQUAL, 0.5)]
)
def test_jittered_backoff_stays_within_its_bounds_and_spreads(jitter, low_share):
    policy = _retry(backoff_base_s=0.1, backoff_max_s=1.0, jitter=jitter)
    rng = random.Random(7)

    pauses = [backoff_s(policy, 3, rng) for _ in range(2000)]

    ceiling = 0.4
    assert all(low_share * ceiling <= pause <= ceiling for pause in pauses)
    spread = ceiling * (1 - low_share)
    # 2000 uniform draws leave neither end of the range empty.
    assert min(pauses) < low_share * ceiling + 0.05 * spread
    assert max(pauses) > ceiling - 0.05 * spread


def test_the_retry_budget_allows_a_share_of_recent_calls(clock):
    budget = RetryBudget(
        _retry(budget_ratio=0.2, budget_min_retries=1, budget_window_s=10.0), clock
    )
    for _ in range(10):
        budget.record_call()

    spent = [budget.try_spend() for _ in range(4)]

    assert spent == [True, True, True, False]


def test_the_retry_budget_forgets_calls_older_than_its_window(clock):
    budget = RetryBudget(
        _retry(budget_ratio=0.5, budget_min_retries=0, budget_window_s=10.0), clock
    )
    for _ in range(4):
        budget.record_call()
    clock.advance(10.0)

    assert budget.try_spend() is False
    budget.record_call()
    budget.record_call()
    assert budget.try_spend() is True


def _guard(clock, **policy_fields) -> tuple[DependencyGuard, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = ResilienceMetrics("claims-api", registry)
    metrics.declare("policy-api")
    policy = parse_policy(policy_fields, ResiliencePolicy())
    timing = Timing(clock=clock, sleep=clock.sleep, rng=random.Random(3))
    return DependencyGuard("policy-api", policy, metrics, timing), registry


def _counter(registry: CollectorRegistry, name: str, **labels) -> float:
    return registry.get_sample_value(
        name, {"service": "claims-api", "dependency": "policy-api", **labels}
    )


class Script:
    """Attempts that end as scripted, counting how many were made."""

    def __init__(self, *verdicts: Verdict):
        self.verdicts = list(verdicts)
        self.made = 0

    async def __call__(self) -> Attempt:
        verdict = self.verdicts[min(self.made, len(self.verdicts) - 1)]
        self.made += 1
        return Attempt(verdict, self.made)


RETRY_THREE = {
    "retry": {"max_attempts": 3, "budget_min_retries": 100, "jitter": "none"}
}


def test_transient_failures_are_retried_with_backoff_until_one_succeeds(clock):
    guard, registry = _guard(clock, **RETRY_THREE)
    script = Script(Verdict.TRANSIENT, Verdict.TRANSIENT, Verdict.OK)

    result = asyncio.run(guard.run(script, retriable=True))

    assert (result.verdict, script.made) == (Verdict.OK, 3)
    assert clock.slept == pytest.approx([0.05, 0.1])
    assert _counter(registry, "dependency_retries_total") == 2


@pytest.mark.parametrize(
    ("verdict", "retriable"),
    [(Verdict.PERMANENT, True), (Verdict.TRANSIENT, False)],
    ids=["4xx-never-retried", "non-idempotent-never-retried"],
)
def test_a_4xx_or_a_non_idempotent_call_is_tried_once(clock, verdict, retriable):
    guard, registry = _guard(clock, **RETRY_THREE)
    script = Script(verdict)

    result = asyncio.run(guard.run(script, retriable=retriable))

    assert (result.verdict, script.made) == (verdict, 1)
    assert _counter(registry, "dependency_retries_total") == 0


def test_an_exhausted_budget_stops_retries_and_is_counted(clock):
    guard, registry = _guard(
        clock,
        retry={"max_attempts": 5, "budget_min_retries": 2, "budget_ratio": 0.0},
    )

    first = Script(Verdict.TRANSIENT)
    asyncio.run(guard.run(first, retriable=True))
    second = Script(Verdict.TRANSIENT)
    asyncio.run(guard.run(second, retriable=True))

    assert (first.made, second.made) == (3, 1)
    assert _counter(registry, "dependency_retries_total") == 2
    assert _counter(registry, "dependency_retry_budget_exhausted_total") == 2


def test_retries_stop_when_the_breaker_opens_between_attempts(clock):
    guard, _ = _guard(
        clock,
        retry={"max_attempts": 5, "budget_min_retries": 100},
        breaker={"enabled": True, "failure_threshold": 2},
    )
    script = Script(Verdict.TRANSIENT)

    result = asyncio.run(guard.run(script, retriable=True))

    assert (result.verdict, script.made) == (Verdict.TRANSIENT, 2)
    assert guard.breaker_state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        asyncio.run(guard.run(Script(Verdict.OK), retriable=True))


def test_calls_beyond_the_bulkhead_are_refused_at_once_and_counted(clock):
    guard, registry = _guard(clock, bulkhead={"max_concurrent": 2})
    release = asyncio.Event()
    seen_in_flight: list[int] = []

    async def held() -> Attempt:
        await release.wait()
        return Attempt(Verdict.OK, None)

    async def scenario() -> list:
        first = asyncio.create_task(guard.run(held, retriable=True))
        second = asyncio.create_task(guard.run(held, retriable=True))
        await asyncio.sleep(0)
        seen_in_flight.append(guard.bulkhead.in_flight)
        third = await asyncio.gather(
            guard.run(held, retriable=True), return_exceptions=True
        )
        release.set()
        return [*third, *(await asyncio.gather(first, second))]

    refused, *served = asyncio.run(scenario())

    assert seen_in_flight == [2]
    assert isinstance(refused, BulkheadFull)
    assert [result.verdict for result in served] == [Verdict.OK, Verdict.OK]
    assert guard.bulkhead.in_flight == 0
    assert _counter(registry, "dependency_bulkhead_rejections_total") == 1


@pytest.mark.parametrize(
    ("raw", "field", "accepted"),
    [
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts", "an integer 1..10"),
        ({"retry": {"jitter": "some"}}, "retry.jitter", "one of: full, equal, none"),
        ({"retry": {"budget_ratio": 1.5}}, "retry.budget_ratio", "a number 0..1"),
        (
            {"retry": {"backoff_base_s": 0.5, "backoff_max_s": 0.1}},
            "retry.backoff_max_s",
            ">= backoff_base_s",
        ),
        ({"breaker": {"enabled": "yes"}}, "breaker.enabled", "true or false"),
        ({"breaker": {"open_s": -1}}, "breaker.open_s", "seconds > 0"),
        ({"bulkhead": {"max_concurrent": 0}}, "bulkhead.max_concurrent", "or null"),
        ({"bulkhead": {"limit": 3}}, "bulkhead.limit", "fields: max_concurrent"),
        ({"timeout_s": "1s"}, "timeout_s", "seconds > 0"),
        ({"retry": []}, "retry", "a JSON object"),
    ],
)
def test_a_bad_policy_value_names_the_field_value_and_what_is_accepted(
    raw, field, accepted
):
    with pytest.raises(PolicyError) as refused:
        parse_policy(raw, ResiliencePolicy())

    assert refused.value.field == field
    assert accepted in refused.value.accepted
    assert repr(refused.value.value) in str(refused.value)


def test_a_partial_policy_keeps_every_field_it_does_not_name():
    base = parse_policy({"retry": {"max_attempts": 3}}, ResiliencePolicy())

    changed = parse_policy({"retry": {"jitter": "none"}}, base)

    assert (changed.retry.max_attempts, changed.retry.jitter) == (3, Jitter.NONE)
    assert changed.breaker == base.breaker

"""Response-time histograms of a load run, and the percentiles estimated from them.

Locust's CSVs offer only fixed percentiles of times rounded to two
significant digits, so the locustfile keeps histograms of its own: one of
every request that got an answer or an error, one of the successful ones.
Their buckets are log-spaced, each upper edge BUCKET_GROWTH times its lower
edge, so a percentile read from a bucket (its geometric middle, clamped to
the smallest and largest time seen) is within about 1% of the exact
sample. This module is pure Python: the Locust process writes histograms
with it and the harness reads them back.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Each bucket's upper edge is 2% above its lower edge.
BUCKET_GROWTH = 1.02
# Known shortcoming: times below this share one bucket.
SMALLEST_BUCKET_MS = 0.01
DEFAULT_PERCENTILES = (50, 95, 99, 99.9)
MAX_PERCENTILES = 8


def percentiles_problem(value: Any) -> str | None:
    """What is wrong with a list of percentiles, or None when it can be used."""
    if not isinstance(value, list | tuple) or not value:
        return "a non-empty list of percentiles, such as [50, 95, 99, 99.9]"
    if len(value) > MAX_PERCENTILES:
        return f"at most {MAX_PERCENTILES} percentiles, such as [50, 95, 99, 99.9]"
    for index, p in enumerate(value):
        number = isinstance(p, int | float) and not isinstance(p, bool)
        if not number or not math.isfinite(p) or not 0 < p < 100:
            return f"numbers above 0 and below 100; item {index} is {p!r}"
        if p in value[:index]:
            return f"each percentile once; {p!r} is given twice"
    return None


def percentile_label(p: float) -> str:
    """p50, p95, p99.9: the key a percentile is shown under."""
    return f"p{int(p)}" if p == int(p) else f"p{float(p)!r}"


class LatencyHistogram:
    """Counts of response times in log-spaced buckets, with the exact extremes."""

    def __init__(self, growth: float = BUCKET_GROWTH):
        if not growth > 1:
            raise ValueError(f"bucket growth is {growth!r}; expected a number > 1")
        self.growth = growth
        self.counts: Counter[int] = Counter()
        self.count = 0
        self.min_ms: float | None = None
        self.max_ms: float | None = None

    @classmethod
    def of(cls, samples_ms: Iterable[float], growth: float = BUCKET_GROWTH):
        histogram = cls(growth)
        for sample in samples_ms:
            histogram.add(sample)
        return histogram

    @property
    def relative_width(self) -> float:
        """How much wider than its lower edge each bucket's upper edge is."""
        return self.growth - 1

    def add(self, value_ms: float) -> None:
        value_ms = max(0.0, float(value_ms))
        self.counts[self.bucket_of(value_ms)] += 1
        self.count += 1
        self.min_ms = value_ms if self.min_ms is None else min(self.min_ms, value_ms)
        self.max_ms = value_ms if self.max_ms is None else max(self.max_ms, value_ms)

    def bucket_of(self, value_ms: float) -> int:
        """0 below SMALLEST_BUCKET_MS; bucket i >= 1 spans [lower(i), upper(i))."""
        if value_ms < SMALLEST_BUCKET_MS:
            return 0
        return 1 + math.floor(math.log(value_ms / SMALLEST_BUCKET_MS, self.growth))

    def bounds(self, bucket: int) -> tuple[float, float]:
        if bucket == 0:
            return 0.0, SMALLEST_BUCKET_MS
        lower = SMALLEST_BUCKET_MS * self.growth ** (bucket - 1)
        return lower, lower * self.growth

    def percentile(self, p: float) -> float | None:
        """The nearest-rank p-th percentile, estimated; None with no samples."""
        if not self.count:
            return None
        rank = max(1, math.ceil(p / 100 * self.count))
        # The extremes are kept exactly; a rank that falls on one is exact.
        if rank == 1:
            return self.min_ms
        if rank >= self.count:
            return self.max_ms
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return self._estimate(bucket)
        return self.max_ms

    def percentiles(self, wanted: Sequence[float]) -> dict[str, float | None]:
        return {percentile_label(p): self._rounded(self.percentile(p)) for p in wanted}

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket_growth": self.growth,
            "smallest_bucket_ms": SMALLEST_BUCKET_MS,
            "count": self.count,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            # JSON keys are text; sorted so the file reads in time order.
            "buckets": {str(b): n for b, n in sorted(self.counts.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LatencyHistogram":
        if data["smallest_bucket_ms"] != SMALLEST_BUCKET_MS:
            raise ValueError(
                f"histogram's smallest_bucket_ms is {data['smallest_bucket_ms']!r}; "
                f"expected {SMALLEST_BUCKET_MS}"
            )
        histogram = cls(data["bucket_growth"])
        histogram.counts = Counter({int(b): n for b, n in data["buckets"].items()})
        histogram.count = data["count"]
        histogram.min_ms = data["min_ms"]
        histogram.max_ms = data["max_ms"]
        if sum(histogram.counts.values()) != histogram.count:
            raise ValueError(
                f"histogram's buckets hold {sum(histogram.counts.values())} "
                f"samples; its count says {histogram.count}"
            )
        return histogram

    def _estimate(self, bucket: int) -> float:
        lower, upper = self.bounds(bucket)
        middle = math.sqrt(lower * upper) if lower > 0 else upper / 2
        # The exact extremes are known; no estimate lies outside them.
        return min(max(middle, self.min_ms), self.max_ms)

    @staticmethod
    def _rounded(value_ms: float | None) -> float | None:
        # Three decimals of a millisecond: finer than any bucket above 0.05 ms.
        return None if value_ms is None else round(value_ms, 3)


def resolution_note(
    growth: float = BUCKET_GROWTH,
    samples: int | None = None,
    percentiles: tuple[float, ...] = (),
) -> str:
    """How precise the percentiles are, in words a report can show; with the
    sample count, also which percentiles are only the largest sample."""
    width = (growth - 1) * 100
    half = (math.sqrt(growth) - 1) * 100
    note = (
        f"estimates from histogram buckets {width:g}% wide (log-spaced): each "
        f"is within about {half:.0f}% of the exact percentile of the samples"
    )
    tail = [p for p in percentiles if samples and samples * (1 - p / 100) < 1]
    if tail:
        names = ", ".join(f"p{p:g}" for p in tail)
        note += (
            f"; with {samples} samples, {names} "
            f"{'is' if len(tail) == 1 else 'are'} only the largest sample, not an "
            "estimate of that tail"
        )
    return note


TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"


class RequestLatencies:
    """A run's two histograms, and its requests that timed out or lost a connection.

    `all` holds every request that ended, failed ones included (a timeout at
    the time it gave up); `success` only those that succeeded. Arrivals
    dropped at max_in_flight were never sent and are in neither.
    """

    def __init__(self, growth: float = BUCKET_GROWTH):
        self.all = LatencyHistogram(growth)
        self.success = LatencyHistogram(growth)
        self.timeouts = 0
        self.connection_errors = 0

    def add(
        self, response_time_ms: float, succeeded: bool, failure_kind: str | None = None
    ) -> None:
        self.all.add(response_time_ms)
        if succeeded:
            self.success.add(response_time_ms)
        elif failure_kind == TIMEOUT:
            self.timeouts += 1
        elif failure_kind == CONNECTION_ERROR:
            self.connection_errors += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "all": self.all.as_dict(),
            "success": self.success.as_dict(),
            "timeouts": self.timeouts,
            "connection_errors": self.connection_errors,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RequestLatencies":
        latencies = cls()
        latencies.all = LatencyHistogram.from_dict(data["all"])
        latencies.success = LatencyHistogram.from_dict(data["success"])
        latencies.timeouts = data["timeouts"]
        latencies.connection_errors = data["connection_errors"]
        return latencies

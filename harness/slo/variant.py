"""Production and time-compressed rule sets come from one code path.

Every duration in a generated rule (rate windows, ``for``, baselines) is
written once at its production value; a Variant divides it by the
compression factor declared in config/observability.yaml, so an experiment
sees in seconds what production sees in minutes, with the same ratios.
"""

from dataclasses import dataclass

from harness.config import Observability
from harness.errors import ConfigError
from harness.observe.durations import compact_duration

PRODUCTION = "production"
EXPERIMENT = "experiment"

# Production evaluates rules every 30 s: the interval Sloth and most teams use.
PRODUCTION_EVALUATION_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Variant:
    """One rule set: its name, how much faster than production it runs."""

    name: str
    compression_factor: float
    evaluation_interval_s: float
    scrape_interval_s: float

    def seconds(self, production_s: float) -> float:
        """A production duration as this variant runs it, rounded to whole ms."""
        return round(production_s / self.compression_factor, 3)

    def duration(self, production_s: float, field: str) -> str:
        """seconds() as a Prometheus duration string."""
        return compact_duration(self.seconds(production_s), field)

    def window(self, production_s: float, field: str) -> str:
        """A rate window: refused when it holds fewer than 4 scrapes."""
        seconds = self.seconds(production_s)
        if seconds < 4 * self.scrape_interval_s and self.name == PRODUCTION:
            raise ConfigError(
                f"field '{field}' is {production_s:g} s; expected at least 4 "
                f"scrapes of {self.scrape_interval_s:g} s (the scrape interval "
                "production rules are written for)"
            )
        if seconds < 4 * self.scrape_interval_s:
            raise ConfigError(
                f"field 'compression_factor' is {self.compression_factor:g}, which "
                f"shrinks {field} ({production_s:g} s in production) to {seconds:g} s, "
                f"fewer than 4 scrapes of {self.scrape_interval_s:g} s; accepted: a "
                "factor that leaves every window at least 4 scrape intervals long"
            )
        return compact_duration(seconds, field)


def production() -> Variant:
    return Variant(PRODUCTION, 1.0, PRODUCTION_EVALUATION_INTERVAL_S, 15.0)


def experiment(obs: Observability) -> Variant:
    return Variant(
        EXPERIMENT,
        obs.compression_factor,
        obs.evaluation_interval_s,
        obs.scrape_interval_s,
    )

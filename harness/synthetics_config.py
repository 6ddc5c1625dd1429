"""Synthetic journeys as declared in synthetics.yaml: read-only walks a user makes.

Every step is a GET through a service's front route; a path may name the
seeded customer and policy of a run as {customer_id} and {policy_id}, which
the prober fills in for each run (see harness/observe/synthetic.py).
"""

import re
import string
from dataclasses import dataclass

from harness.fields import Fields

PLACEHOLDERS = ("customer_id", "policy_id")
_JOURNEY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class SyntheticStep:
    """One GET of a journey: the service whose front route it takes, its path."""

    service: str
    path: str
    expect_status: int

    def path_for(self, number: int) -> str:
        """The path with the seeded customer and policy number filled in."""
        return self.path.format(
            customer_id=f"CUST-{number:06d}", policy_id=f"POL-{number:06d}"
        )


@dataclass(frozen=True)
class SyntheticJourney:
    """A named journey; service is the one whose users it stands for."""

    name: str
    service: str
    steps: tuple[SyntheticStep, ...]


@dataclass(frozen=True)
class Synthetics:
    """The journeys and how often (production) and how patiently each runs."""

    # A production interval: experiments divide it by compression_factor, as
    # they do the alert windows that count runs.
    interval_s: float
    # Real time in both variants: experiments do not compress latency.
    timeout_s: float
    journeys: dict[str, SyntheticJourney]


def read_synthetics(
    doc: Fields, services: list[str], alert_window_s: float, min_runs: int
) -> Synthetics:
    """The journeys of the document; interval_s must fit min_runs in the window."""
    doc.require_known(["interval_s", "timeout_s", "journeys"])
    longest_interval_s = alert_window_s / min_runs
    interval_s = doc.get(
        "interval_s",
        (int, float),
        check=lambda v: 0.001 <= v <= longest_interval_s,
        accepted=(
            f"a number of seconds from 0.001 to {longest_interval_s:g}, so that "
            f"the alert window (synthetic_journeys.window_s, {alert_window_s:g} s "
            f"in alerting_rules.yaml) holds min_runs ({min_runs}) runs"
        ),
    )
    section = doc.child("journeys")
    journeys = {name: _journey(section, name, services) for name in section.data}
    return Synthetics(
        interval_s=float(interval_s),
        timeout_s=doc.number("timeout_s", minimum=0.001, maximum=600),
        journeys=journeys,
    )


def _journey(section: Fields, name: object, services: list[str]) -> SyntheticJourney:
    if not isinstance(name, str) or not _JOURNEY_NAME.match(name):
        section.fail(
            section.here + (name,),
            name,
            "a journey name of lower-case letters, digits and _, starting with a "
            "letter, such as look_up_my_policy",
        )
    entry = section.child(name)
    entry.require_known(["service", "steps"])
    steps = [_step(step, services) for step in entry.items("steps")]
    if not steps:
        entry.fail(entry.here + ("steps",), [], "a list of at least one step")
    return SyntheticJourney(
        name=name, service=_service(entry, services), steps=tuple(steps)
    )


def _step(entry: Fields, services: list[str]) -> SyntheticStep:
    entry.require_known(["service", "path", "expect_status"])
    path = entry.get(
        "path",
        str,
        check=_is_probe_path,
        accepted=(
            "a path starting with /, whose only {placeholders} are "
            f"{', '.join('{' + name + '}' for name in PLACEHOLDERS)}"
        ),
    )
    return SyntheticStep(
        service=_service(entry, services),
        path=path,
        expect_status=entry.get(
            "expect_status",
            int,
            200,
            check=lambda v: 100 <= v <= 599,
            accepted="an HTTP status code from 100 to 599",
        ),
    )


def _service(entry: Fields, services: list[str]) -> str:
    return entry.choice("service", services)


def _is_probe_path(path: str) -> bool:
    if not path.startswith("/"):
        return False
    try:
        fields = [part[1:] for part in string.Formatter().parse(path)]
    except ValueError:
        return False
    return all(
        name in PLACEHOLDERS and not spec and conversion is None
        for name, spec, conversion in fields
        if name is not None
    )

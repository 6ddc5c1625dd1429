"""SLO specs as config/slos.yaml declares them, read into frozen values.

One Objective is one SLI with one target, for a whole service or for the
requests of one user journey; the Policy holds what every objective shares:
the budget period, the burn-rate window pairs and the low-traffic guard.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from harness.fields import Fields
from harness.yamlfile import load_located

AVAILABILITY = "availability"
LATENCY = "latency"
SLI_KINDS = (AVAILABILITY, LATENCY)
SEVERITIES = ("page", "ticket")
METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")

_SLUG = re.compile(r"^[a-z][a-z0-9-]*$")
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<route>/\S*)$")
_SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Request:
    """One route of a service, as the mocks label it: method and template."""

    method: str
    route: str

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


@dataclass(frozen=True)
class Objective:
    """One SLI and its target, such as "99% of claims answered without a 5xx"."""

    name: str
    service: str
    sli: str  # AVAILABILITY or LATENCY
    target: float
    description: str
    threshold_s: float | None = None  # LATENCY only
    journey: str | None = None
    requests: tuple[Request, ...] = ()  # empty: every request of the service
    # How long without a request before SLONoData; None: the policy's.
    no_data_for_s: float | None = None

    @property
    def error_budget(self) -> float:
        """The share of events allowed to be bad, such as 0.01."""
        return round(1 - self.target, 12)


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window pair: both windows above burn_rate fire the alert."""

    severity: str
    long_window_s: float
    short_window_s: float
    burn_rate: float
    for_s: float

    def budget_spent(self, period_s: float) -> float:
        """Share of the whole budget spent by the time the long window fires."""
        return self.burn_rate * self.long_window_s / period_s


@dataclass(frozen=True)
class Policy:
    """What every objective's alerting shares."""

    period_s: float
    windows: tuple[BurnWindow, ...]
    min_bad_events: int
    no_data_for_s: float
    dashboard_url: str
    recent_changes_s: float

    def windows_of(self, severity: str) -> tuple[BurnWindow, ...]:
        return tuple(w for w in self.windows if w.severity == severity)


@dataclass(frozen=True)
class SLOSpecs:
    policy: Policy
    objectives: tuple[Objective, ...]

    def of_service(self, service: str) -> tuple[Objective, ...]:
        return tuple(o for o in self.objectives if o.service == service)

    def service_wide(self, service: str, sli: str) -> Objective | None:
        """The objective of sli over every request of service, if declared."""
        for objective in self.of_service(service):
            if objective.sli == sli and objective.journey is None:
                return objective
        return None


def load_slo_specs(path: Path, services: list[str]) -> SLOSpecs:
    """Read slos.yaml, refusing anything unusable with its file, line and field."""
    doc = Fields(load_located(Path(path)))
    doc.require_known(
        [
            "time_window_days",
            "burn_rate_alerts",
            "min_bad_events",
            "no_data_for_s",
            "dashboard_url",
            "recent_changes_s",
            "slos",
        ]
    )
    policy = _policy(doc)
    objectives = [_objective(entry, services) for entry in doc.items("slos")]
    _refuse_repeats(doc, objectives)
    _refuse_unreachable(doc, policy, objectives)
    return SLOSpecs(policy, tuple(objectives))


def _policy(doc: Fields) -> Policy:
    period_s = doc.number("time_window_days", minimum=1, maximum=366) * _SECONDS_PER_DAY
    windows = tuple(_window(entry, period_s) for entry in doc.items("burn_rate_alerts"))
    for severity in SEVERITIES:
        if not any(w.severity == severity for w in windows):
            doc.fail(
                ("burn_rate_alerts",),
                [w.severity for w in windows],
                f"at least one window pair of each severity: {', '.join(SEVERITIES)}",
            )
    dashboard = doc.get("dashboard_url", str)
    try:
        dashboard.format(service="x", slo="y")
    except (KeyError, IndexError, ValueError):
        doc.fail(
            ("dashboard_url",),
            dashboard,
            "a URL whose only placeholders are {service} and {slo}",
        )
    return Policy(
        period_s=period_s,
        windows=windows,
        min_bad_events=doc.get(
            "min_bad_events", int, check=lambda v: v >= 1, accepted="an integer >= 1"
        ),
        no_data_for_s=doc.number("no_data_for_s", minimum=1),
        dashboard_url=dashboard,
        recent_changes_s=doc.number("recent_changes_s", minimum=1),
    )


def _window(entry: Fields, period_s: float) -> BurnWindow:
    entry.require_known(
        ["severity", "long_window_s", "short_window_s", "burn_rate", "for_s"]
    )
    long_s = entry.number("long_window_s", minimum=1, maximum=period_s)
    short_s = entry.number("short_window_s", minimum=1)
    if short_s >= long_s:
        entry.fail(
            entry.here + ("short_window_s",),
            entry.data["short_window_s"],
            f"a window shorter than long_window_s ({long_s:g})",
        )
    return BurnWindow(
        severity=entry.choice("severity", SEVERITIES),
        long_window_s=long_s,
        short_window_s=short_s,
        burn_rate=entry.number("burn_rate", minimum=0.001),
        for_s=entry.number("for_s", 0.0),
    )


def _objective(entry: Fields, services: list[str]) -> Objective:
    entry.require_known(
        [
            "name",
            "service",
            "description",
            "sli",
            "target",
            "threshold_s",
            "journey",
            "requests",
            "no_data_for_s",
        ]
    )
    sli = entry.choice("sli", SLI_KINDS)
    return Objective(
        name=entry.get(
            "name",
            str,
            check=lambda v: bool(_SLUG.match(v)),
            accepted="lower-case letters, digits and '-', such as claims-api-latency",
        ),
        service=entry.choice("service", services),
        sli=sli,
        target=entry.get(
            "target",
            (int, float),
            check=lambda v: 0 < v < 1,
            accepted="a ratio between 0 and 1, such as 0.99",
        ),
        description=entry.get("description", str),
        threshold_s=_threshold(entry, sli),
        journey=entry.get("journey", str, None),
        requests=tuple(_requests(entry)),
        no_data_for_s=entry.number("no_data_for_s", None, minimum=1),
    )


def _threshold(entry: Fields, sli: str) -> float | None:
    if sli == LATENCY:
        return entry.number("threshold_s", minimum=0.001)
    if "threshold_s" in entry.data:
        entry.fail(
            entry.here + ("threshold_s",),
            entry.data["threshold_s"],
            "no threshold_s: only a latency SLI has one",
        )
    return None


def _requests(entry: Fields) -> list[Request]:
    requests = []
    for index, text in enumerate(entry.string_list("requests", [])):
        match = _REQUEST.match(text)
        if match is None or match["method"] not in METHODS:
            entry.fail(
                entry.here + ("requests", index),
                text,
                f"a method ({', '.join(METHODS)}) and a route template, "
                "such as 'POST /claims'",
            )
        requests.append(Request(match["method"], match["route"]))
    if "journey" in entry.data and not requests:
        entry.fail(
            entry.here + ("requests",),
            entry.data.get("requests", []),
            "the requests that make up the journey, such as ['POST /claims']",
        )
    return requests


def _refuse_unreachable(doc: Fields, policy: Policy, objectives) -> None:
    """A pair whose threshold is 100% or more could never fire."""
    for index, objective in enumerate(objectives):
        for pair in policy.windows:
            threshold = pair.burn_rate * objective.error_budget
            if threshold >= 1:
                doc.fail(
                    ("slos", index, "target"),
                    objective.target,
                    f"a target whose error budget times every burn_rate stays "
                    f"under 1 (burn_rate {pair.burn_rate:g} x budget "
                    f"{objective.error_budget:g} = {threshold:g}: the alert could "
                    "never fire)",
                )


def _refuse_repeats(doc: Fields, objectives: list[Objective]) -> None:
    seen: dict[str, int] = {}
    scopes: dict[tuple, int] = {}
    for index, objective in enumerate(objectives):
        if objective.name in seen:
            doc.fail(
                ("slos", index, "name"),
                objective.name,
                f"a name not used before (entry {seen[objective.name]} has it)",
            )
        seen[objective.name] = index
        scope = (objective.service, objective.sli, objective.requests)
        if scope in scopes:
            doc.fail(
                ("slos", index),
                objective.name,
                f"one objective per service, SLI and requests (entry "
                f"{scopes[scope]} already covers them)",
            )
        scopes[scope] = index

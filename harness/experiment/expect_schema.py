"""Expectations judged from measurements: SLO states, retry amplification,
circuit-breaker trials, graceful degradation and named data invariants.

Each is read from an experiment's `expect` block and checked against the
estate before anything runs, with the file and line, the field, the value
found and what would be accepted.
"""

from dataclasses import dataclass

from harness.config import Estate
from harness.errors import ConfigError
from harness.fields import Fields
from harness.integrity import INVARIANTS

KEYS = ("slos", "amplification", "breaker", "degraded_gracefully", "integrity")
SLO_STATES = ("held", "breached_and_recovered")
# Bounds that keep every run finite, as for the rest of the experiment.
MAX_PHASE_S = 3600
MAX_AMPLIFICATION = 100.0
MAX_TRIAL_CALLS = 10_000


@dataclass(frozen=True)
class SLOState:
    service: str
    state: str  # one of SLO_STATES
    # breached_and_recovered: back within this long of the last rollback (or
    # of mitigation, when runbooks are expected), then held for hold_s.
    within_s: float | None = None
    hold_s: float = 5.0
    where: str = ""


@dataclass(frozen=True)
class Amplification:
    """Attempts the caller made at the callee per request its own clients made."""

    caller: str
    callee: str
    max_ratio: float
    where: str = ""

    @property
    def edge(self) -> str:
        return f"{self.caller}_to_{self.callee}"


@dataclass(frozen=True)
class BreakerTrials:
    """The edge's breaker opened, and each half-open let few calls through."""

    caller: str
    callee: str
    max_trial_calls: int
    where: str = ""

    @property
    def edge(self) -> str:
        return f"{self.caller}_to_{self.callee}"


@dataclass(frozen=True)
class Degradation:
    """A service kept answering (non-5xx) while a dependency was broken."""

    service: str
    min_success_ratio: float
    route: str | None = None  # one route template, such as /claims; None: all
    where: str = ""


@dataclass(frozen=True)
class MeasuredExpectations:
    slos: tuple[SLOState, ...] = ()
    amplification: tuple[Amplification, ...] = ()
    breakers: tuple[BreakerTrials, ...] = ()
    degraded_gracefully: tuple[Degradation, ...] = ()
    integrity: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(
            (
                self.slos,
                self.amplification,
                self.breakers,
                self.degraded_gracefully,
                self.integrity,
            )
        )

    @property
    def slo_services(self) -> tuple[str, ...]:
        return tuple(s.service for s in self.slos)

    @property
    def settle_s(self) -> float:
        """How long after the last rollback the run must go on to judge these."""
        recovering = [s.within_s + s.hold_s for s in self.slos if s.within_s]
        return max(recovering, default=0.0)


def load_measured(expect: Fields, estate: Estate) -> MeasuredExpectations:
    """The measured expectations of one `expect` block."""
    return MeasuredExpectations(
        slos=tuple(_slos(expect, estate)),
        amplification=tuple(_amplification(expect, estate)),
        breakers=tuple(_breakers(expect, estate)),
        degraded_gracefully=tuple(_degradations(expect, estate)),
        integrity=tuple(_integrity(expect)),
    )


def refuse_contradictions(
    expect: Fields, measured: MeasuredExpectations, recovering: str | None
) -> None:
    """An SLO cannot both hold throughout and break, then recover."""
    for index, slo in enumerate(measured.slos):
        if slo.state == "held" and slo.service == recovering:
            expect.fail(
                expect.here + ("slos", index, "state"),
                "held",
                f"breached_and_recovered, or no slo_recovered for {slo.service}: "
                "slo_recovered expects that SLO to break first",
            )


def _where(entry: Fields) -> str:
    return entry.doc.where(entry.here)


def _slos(expect: Fields, estate: Estate) -> list[SLOState]:
    obs = estate.observability
    floor_s = obs.rate_window_s + obs.scrape_interval_s
    states = []
    for entry in expect.items("slos", []):
        entry.require_known(["service", "state", "within_s", "hold_s"])
        service = entry.choice("service", estate.slos)
        state = entry.choice("state", SLO_STATES)
        if state == "held":
            for key in ("within_s", "hold_s"):
                if key in entry.data:
                    entry.fail(
                        entry.here + (key,),
                        entry.data[key],
                        "nothing when state is held: a held SLO never burns, "
                        "so there is nothing to recover",
                    )
            states.append(SLOState(service, state, where=_where(entry)))
            continue
        within_s = entry.number("within_s", minimum=0.1, maximum=MAX_PHASE_S)
        if within_s < floor_s:
            entry.fail(
                entry.here + ("within_s",),
                within_s,
                f"at least {floor_s:g} s: the SLO is measured over a "
                f"{obs.rate_window_s:g} s rate window scraped every "
                f"{obs.scrape_interval_s:g} s, so it cannot be seen back sooner",
            )
        hold_s = entry.number("hold_s", 5.0, minimum=1, maximum=MAX_PHASE_S)
        states.append(SLOState(service, state, within_s, hold_s, _where(entry)))
    _unique([s.service for s in states], "slos", expect)
    return states


def _edge(entry: Fields, estate: Estate) -> tuple[str, str]:
    """A dependency edge between two processes of the estate (no front door)."""
    edges = [name for name, r in estate.routes.items() if r.caller in estate.services]
    edge = entry.get("edge", str, accepted="a dependency edge: " + ", ".join(edges))
    if edge not in edges:
        entry.fail(
            entry.here + ("edge",), edge, "a dependency edge: " + ", ".join(edges)
        )
    route = estate.routes[edge]
    return route.caller, route.upstream


def _amplification(expect: Fields, estate: Estate) -> list[Amplification]:
    bounds = []
    for entry in expect.items("amplification", []):
        entry.require_known(["edge", "max"])
        caller, callee = _edge(entry, estate)
        max_ratio = entry.number("max", minimum=0.01, maximum=MAX_AMPLIFICATION)
        bounds.append(Amplification(caller, callee, max_ratio, _where(entry)))
    _unique([b.edge for b in bounds], "amplification", expect)
    return bounds


def _breakers(expect: Fields, estate: Estate) -> list[BreakerTrials]:
    breakers = []
    for entry in expect.items("breaker", []):
        entry.require_known(["edge", "max_trial_calls"])
        caller, callee = _edge(entry, estate)
        route = estate.routes[f"{caller}_to_{callee}"]
        if not route.resilience.get("breaker", {}).get("enabled", False):
            entry.fail(
                entry.here + ("edge",),
                route.name,
                "an edge whose breaker is enabled in config/estate.yaml: an edge "
                "without one can never open",
            )
        trials = entry.get(
            "max_trial_calls",
            int,
            check=lambda v: 1 <= v <= MAX_TRIAL_CALLS,
            accepted=f"an integer from 1 to {MAX_TRIAL_CALLS}",
        )
        breakers.append(BreakerTrials(caller, callee, trials, _where(entry)))
    _unique([b.edge for b in breakers], "breaker", expect)
    return breakers


def _degradations(expect: Fields, estate: Estate) -> list[Degradation]:
    degradations = []
    for entry in expect.items("degraded_gracefully", []):
        entry.require_known(["service", "route", "min_success_ratio"])
        service = entry.choice("service", estate.services)
        route = entry.get(
            "route",
            str,
            None,
            check=lambda v: v.startswith("/"),
            accepted="a route template of the service, such as /claims",
        )
        ratio = entry.number("min_success_ratio", minimum=0.0001, maximum=1)
        degradations.append(Degradation(service, ratio, route, _where(entry)))
    _unique([(d.service, d.route) for d in degradations], "degraded_gracefully", expect)
    return degradations


def _integrity(expect: Fields) -> list[str]:
    names = expect.get(
        "integrity",
        list,
        [],
        check=lambda v: all(isinstance(n, str) and n in INVARIANTS for n in v),
        accepted="a list of invariants: " + ", ".join(INVARIANTS),
    )
    _unique(names, "integrity", expect)
    return names


def _unique(keys: list, what: str, expect: Fields) -> None:
    seen = set()
    for key in keys:
        if key in seen:
            where = expect.doc.where(expect.here + (what,))
            raise ConfigError(f"{where}: {what} names {key!r} twice")
        seen.add(key)

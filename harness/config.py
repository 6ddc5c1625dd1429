"""The estate under test, as declared in config/.

Reads estate.yaml (services, externals, dependency edges), slos.yaml,
observability.yaml, alerting.yaml (who is paged), alerting_rules.yaml (when a
cause alert fires), synthetics.yaml and runbooks/*.yaml into frozen values,
refusing anything it cannot use with the file, line, field and value.
"""

from dataclasses import dataclass, field
from pathlib import Path

from harness.alerting import Alerting, load_alerting
from harness.alerting_rules import AlertingRules, read_alerting_rules
from harness.edge_policies import merge, read_policy
from harness.fields import Fields
from harness.runbook_config import (  # noqa: F401 - the runbook part of the estate
    RUNBOOK_ACTIONS,
    Escalation,
    Runbook,
    RunbookAction,
    check_runbook_targets,
    load_runbook,
    load_runbooks,
)
from harness.slo.spec import AVAILABILITY, LATENCY, SLOSpecs, load_slo_specs
from harness.synthetics_config import Synthetics, read_synthetics
from harness.yamlfile import load_located

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
FRONT_CALLER = "client"


@dataclass(frozen=True)
class Service:
    name: str
    team: str
    calls: tuple[str, ...]
    externals: tuple[str, ...]

    @property
    def dependencies(self) -> tuple[str, ...]:
        return self.calls + self.externals


@dataclass(frozen=True)
class Route:
    """One fault-proxy route: the caller's view of one upstream."""

    caller: str
    upstream: str
    timeout_s: float
    # Retry, breaker, bulkhead and fallback fields, as the mock config takes them.
    resilience: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.caller}_to_{self.upstream}"


@dataclass(frozen=True)
class SLO:
    service: str
    availability_objective: float
    latency_threshold_s: float
    latency_objective: float


@dataclass(frozen=True)
class Observability:
    scrape_interval_s: float
    evaluation_interval_s: float
    rate_window_s: float
    resend_delay_s: float
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    delivery_tolerance_s: float
    # Experiments run every alert window and "for" this many times faster
    # than production (config/observability.yaml).
    compression_factor: float = 1.0


@dataclass(frozen=True)
class Seed:
    random_seed: int
    customers: int


@dataclass(frozen=True)
class Estate:
    config_dir: Path
    team: str
    services: dict[str, Service]
    externals: dict[str, str]
    routes: dict[str, Route]
    slos: dict[str, SLO]
    observability: Observability
    runbooks: dict[str, Runbook]
    seed: Seed
    alerting: Alerting
    alert_rules: AlertingRules
    synthetics: Synthetics
    front_routes: bool = True
    slo_specs: SLOSpecs | None = None
    # Externals with a secondary instance (see secondary_name()).
    secondaries: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def service_edges(self) -> list[tuple[str, str]]:
        """(caller, callee) for every call between two services of the estate."""
        return [
            (service.name, callee)
            for service in self.services.values()
            for callee in service.calls
        ]

    def secondary_routes(self) -> dict[str, tuple[str, str]]:
        """Route name -> (caller, secondary) for every caller of a secondary."""
        return {
            f"{service.name}_to_{secondary_name(external)}": (
                service.name,
                external,
            )
            for service in self.services.values()
            for external in service.externals
            if external in self.secondaries
        }

    def route_for(self, caller: str, upstream: str) -> Route:
        return self.routes[f"{caller}_to_{upstream}"]

    def latency_buckets_s(self) -> list[float]:
        """Histogram edges: a ladder, every SLO and every slow-call threshold."""
        ladder = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}
        ladder |= {slo.latency_threshold_s for slo in self.slos.values()}
        if self.slo_specs is not None:
            ladder |= {
                o.threshold_s for o in self.slo_specs.objectives if o.threshold_s
            }
        timeouts_s = [route.timeout_s for route in self.routes.values()]
        ladder |= self.alert_rules.slow_call_thresholds_s(timeouts_s)
        return sorted(ladder)


def load_estate(config_dir: Path = DEFAULT_CONFIG_DIR) -> Estate:
    """Load and cross-check every file under config_dir."""
    config_dir = Path(config_dir)
    estate_doc = Fields(load_located(config_dir / "estate.yaml"))
    estate_doc.require_known(
        [
            "team",
            "services",
            "externals",
            "dependency_defaults",
            "edges",
            "front_routes",
            "seed",
        ]
    )
    externals = _externals(estate_doc)
    services = _services(estate_doc, externals)
    routes = _routes(estate_doc, services)
    slo_specs = load_slo_specs(config_dir / "slos.yaml", list(services))
    team = estate_doc.get("team", str)
    runbooks = load_runbooks(config_dir / "runbooks")
    alerting = load_alerting(
        config_dir / "alerting.yaml",
        [service.team for service in services.values()],
        fallback_team=team,
    )
    check_runbook_targets(
        runbooks,
        {
            **{name: service.dependencies for name, service in services.items()},
            **{name: () for name in externals},
        },
        list(alerting.teams),
        _secondaries(estate_doc),
        tuple(services),
    )
    observability = _observability(config_dir / "observability.yaml")
    rules = _alert_rules(config_dir / "alerting_rules.yaml", services, observability)
    return Estate(
        config_dir=config_dir,
        team=team,
        services=services,
        externals=externals,
        routes=routes,
        slos=_slos(slo_specs),
        slo_specs=slo_specs,
        observability=observability,
        runbooks=runbooks,
        seed=_seed(estate_doc.child("seed")),
        alerting=alerting,
        alert_rules=rules,
        synthetics=_synthetics(config_dir / "synthetics.yaml", services, rules),
        front_routes=estate_doc.get("front_routes", bool, True),
        secondaries=_secondaries(estate_doc),
    )


def secondary_name(external: str) -> str:
    """The process and route name of an external's secondary instance."""
    return f"{external}-secondary"


def _externals(doc: Fields) -> dict[str, str]:
    section = doc.child("externals")
    for name in section.data:
        section.child(name).require_known(["description", "secondary"])
    return {
        name: section.child(name).get("description", str, "") for name in section.data
    }


def _secondaries(doc: Fields) -> tuple[str, ...]:
    """Externals that run a second instance, for their callers to fail over to."""
    section = doc.child("externals")
    return tuple(
        name
        for name in section.data
        if section.child(name).get("secondary", bool, False)
    )


def _services(doc: Fields, externals: dict[str, str]) -> dict[str, Service]:
    section = doc.child("services")
    names = list(section.data)
    services = {}
    for name in names:
        entry = section.child(name)
        entry.require_known(["team", "calls", "externals"])
        calls = entry.string_list("calls", [])
        outside = entry.string_list("externals", [])
        for index, callee in enumerate(calls):
            if callee not in names or callee == name:
                entry.fail(
                    entry.here + ("calls", index),
                    callee,
                    f"another declared service: {', '.join(names)}",
                )
        for index, ext in enumerate(outside):
            if ext not in externals:
                entry.fail(
                    entry.here + ("externals", index),
                    ext,
                    f"a declared external: {', '.join(sorted(externals))}",
                )
        services[name] = Service(
            name, entry.get("team", str), tuple(calls), tuple(outside)
        )
    return services


def _routes(doc: Fields, services: dict[str, Service]) -> dict[str, Route]:
    defaults_entry = doc.child("dependency_defaults")
    default_timeout = defaults_entry.number("timeout_s", minimum=0.001)
    defaults = read_policy(defaults_entry)
    overrides = doc.get("edges", dict, {})
    routes = {}
    for service in services.values():
        for upstream in service.dependencies:
            name = f"{service.name}_to_{upstream}"
            routes[name] = _edge_route(doc, service.name, upstream, defaults, overrides)
    for name in overrides:
        if name not in routes:
            doc.fail(("edges", name), name, f"a declared edge: {', '.join(routes)}")
    if doc.get("front_routes", bool, True):
        for service in services:
            route = Route(FRONT_CALLER, service, default_timeout)
            routes[route.name] = route
    return routes


def _edge_route(
    doc: Fields, caller: str, upstream: str, defaults: dict, overrides: dict
) -> Route:
    name = f"{caller}_to_{upstream}"
    override = read_policy(doc.child("edges").child(name)) if name in overrides else {}
    policy = merge(defaults, override)
    timeout_s = float(policy.pop("timeout_s"))
    return Route(caller, upstream, timeout_s, policy)


def _slos(specs: SLOSpecs) -> dict[str, SLO]:
    """Per service, its service-wide availability and latency objectives."""
    slos = {}
    for objective in specs.objectives:
        service = objective.service
        availability = specs.service_wide(service, AVAILABILITY)
        latency = specs.service_wide(service, LATENCY)
        if service in slos or availability is None or latency is None:
            continue
        slos[service] = SLO(
            service=service,
            availability_objective=availability.target,
            latency_threshold_s=latency.threshold_s,
            latency_objective=latency.target,
        )
    return slos


def _observability(path: Path) -> Observability:
    doc = Fields(load_located(path))
    prom = doc.child("prometheus")
    alertmanager = doc.child("alertmanager")
    return Observability(
        scrape_interval_s=prom.number("scrape_interval_s", minimum=0.1),
        evaluation_interval_s=prom.number("evaluation_interval_s", minimum=0.1),
        rate_window_s=prom.number("rate_window_s", minimum=1),
        resend_delay_s=prom.number("resend_delay_s", minimum=0.1),
        group_wait_s=alertmanager.number("group_wait_s"),
        group_interval_s=alertmanager.number("group_interval_s", minimum=0.001),
        repeat_interval_s=alertmanager.number("repeat_interval_s", minimum=0.001),
        delivery_tolerance_s=doc.number("delivery_tolerance_s"),
        compression_factor=doc.number("compression_factor", minimum=1),
    )


def _alert_rules(
    path: Path, services: dict[str, Service], obs: Observability
) -> AlertingRules:
    return read_alerting_rules(
        Fields(load_located(path)),
        list(services),
        obs.compression_factor,
        obs.scrape_interval_s,
    )


def _synthetics(
    path: Path, services: dict[str, Service], rules: AlertingRules
) -> Synthetics:
    journeys = rules.synthetic_journeys
    return read_synthetics(
        Fields(load_located(path)), list(services), journeys.window_s, journeys.min_runs
    )


def _seed(entry: Fields) -> Seed:
    return Seed(
        random_seed=entry.get("random_seed", int),
        customers=entry.get(
            "customers", int, check=lambda v: v >= 1, accepted="an integer >= 1"
        ),
    )

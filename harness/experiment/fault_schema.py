"""Fault entries of an experiment file: every kind, its target and its fields.

Three families, by what carries the fault out:

- network (target ``route:``): the fault proxy's Toxiproxy API;
- application (target ``service:``): the mock's admin fault API;
- process (target ``service:``): a signal to the mock's process, or a crash
  asked of the mock.

Application faults are checked with the mock's own parser
(mocks.core.fault_kinds), so an experiment is refused before anything runs
with exactly the bounds the mock would refuse it with later.
"""

from dataclasses import dataclass

from harness.config import Estate
from harness.errors import ConfigError
from harness.fields import Fields
from harness.yamlfile import field_name
from mocks.core.fault_kinds import MAX_CPU_BURN_S, MAX_DURATION_S, parse_fault
from mocks.errors import Rejected

# Bounds that keep every run finite: an hour per phase, ten minutes of delay.
MAX_PHASE_S = 3600
MAX_DELAY_MS = 600_000
# The mock ends an application fault by itself this long after the experiment
# meant to roll it back, so a harness that died leaves nothing behind for long.
MOCK_MARGIN_S = 60.0

NETWORK_KINDS = {
    # kind: (attributes it takes, with defaults; None = required)
    "latency": {"latency_ms": None, "jitter_ms": 0.0},
    "outage": {},
    "reset": {},
    "blackhole": {},
    "bandwidth": {"rate_kbps": None},
}
APP_KINDS = (
    "error",
    "slow",
    "bad_deploy",
    "pool_exhaustion",
    "loop_block",
    "concurrency_cap",
    "cpu_burn",
)
PROCESS_KINDS = {"kill": ("signal",), "crash": ("exit_code", "after_ms")}
SIGNALS = ("KILL", "TERM")
FAULT_KINDS = (*NETWORK_KINDS, *APP_KINDS, *PROCESS_KINDS)
COMMON_FIELDS = ("name", "kind", "start_after_s", "duration_s")


@dataclass(frozen=True)
class FaultSpec:
    name: str
    kind: str
    route: str  # the proxy route of a network fault; "" otherwise
    start_after_s: float
    duration_s: float
    attributes: dict
    where: str
    service: str = ""  # the mock an application or process fault acts on

    @property
    def family(self) -> str:
        return family_of(self.kind)

    @property
    def target(self) -> str:
        return f"route {self.route}" if self.route else f"service {self.service}"


def family_of(kind: str) -> str:
    if kind in NETWORK_KINDS:
        return "network"
    if kind in APP_KINDS:
        return "app"
    return "process"


def parse_faults(doc: Fields, estate: Estate) -> list[FaultSpec]:
    """Every entry under faults:, checked against the estate."""
    entries = doc.items("faults")
    if not entries:
        doc.fail(("faults",), [], "at least one fault")
    faults = [parse_fault_entry(entry, estate) for entry in entries]
    _unique([f.name for f in faults], doc.doc.where(("faults",)))
    return faults


def parse_fault_entry(entry: Fields, estate: Estate) -> FaultSpec:
    kind = entry.choice("kind", FAULT_KINDS)
    family = family_of(kind)
    if family == "network":
        route, service = _route(entry, kind, estate), ""
    else:
        route, service = "", _service(entry, estate)
    start_after_s = entry.number("start_after_s", 0.0, maximum=MAX_PHASE_S)
    duration_s = entry.number("duration_s", minimum=1, maximum=MAX_PHASE_S)
    if family == "network":
        attributes = _network_attributes(entry, kind)
    elif family == "app":
        attributes = _app_attributes(entry, kind, service, duration_s, estate)
    else:
        attributes = _process_attributes(entry, kind)
    return FaultSpec(
        name=entry.get("name", str, check=is_slug, accepted=SLUG),
        kind=kind,
        route=route,
        start_after_s=start_after_s,
        duration_s=duration_s,
        attributes=attributes,
        where=entry.doc.where(entry.here),
        service=service,
    )


def _route(entry: Fields, kind: str, estate: Estate) -> str:
    entry.require_known([*COMMON_FIELDS, "route", *NETWORK_KINDS[kind]])
    route = entry.get("route", str, accepted="a route declared in config/estate.yaml")
    if route not in estate.routes:
        entry.fail(
            entry.here + ("route",),
            route,
            "a route declared in config/estate.yaml: " + ", ".join(estate.routes),
        )
    return route


def _network_attributes(entry: Fields, kind: str) -> dict:
    attributes = {}
    for key, default in NETWORK_KINDS[kind].items():
        if key == "rate_kbps":
            attributes[key] = entry.get(
                key,
                int,
                check=lambda v: 1 <= v <= 1_000_000,
                accepted="a whole number of kilobytes per second, 1 to 1000000",
            )
        elif default is None:
            attributes[key] = entry.number(key, maximum=MAX_DELAY_MS)
        else:
            attributes[key] = entry.number(key, default, maximum=MAX_DELAY_MS)
    return attributes


def _service(entry: Fields, estate: Estate) -> str:
    mocks = [*estate.services, *estate.externals]
    if "route" in entry.data:
        entry.fail(
            entry.here + ("route",),
            entry.data["route"],
            f"no route: {entry.data['kind']} faults target a service: "
            "(one of " + ", ".join(mocks) + ")",
        )
    return entry.choice("service", mocks)


def _app_attributes(
    entry: Fields, kind: str, service: str, duration_s: float, estate: Estate
) -> dict:
    """The admin API body, minus kind and duration, checked as the mock will."""
    attributes = {
        key: value
        for key, value in entry.data.items()
        if key not in (*COMMON_FIELDS, "service")
    }
    limit_s = MAX_CPU_BURN_S if kind == "cpu_burn" else MAX_DURATION_S
    if duration_s + MOCK_MARGIN_S > limit_s:
        entry.fail(
            entry.here + ("duration_s",),
            duration_s,
            f"at most {limit_s - MOCK_MARGIN_S:g} s for {kind}: the mock ends "
            f"the fault itself {MOCK_MARGIN_S:g} s after it is due, and takes "
            f"at most {limit_s} s",
        )
    body = {"kind": kind, **attributes, "duration_s": duration_s + MOCK_MARGIN_S}
    service_spec = estate.services.get(service)
    dependencies = service_spec.dependencies if service_spec else ()
    try:
        parse_fault(body, dependencies)
    except Rejected as exc:
        if exc.field in entry.data:
            entry.fail(entry.here + (exc.field,), entry.data[exc.field], exc.reason)
        raise ConfigError(
            f"{entry.doc.where(entry.here)}: field "
            f"'{field_name(entry.here + (exc.field,))}' is missing; expected "
            f"{exc.reason.removeprefix('required: ')}"
        ) from exc
    return attributes


def _process_attributes(entry: Fields, kind: str) -> dict:
    entry.require_known([*COMMON_FIELDS, "service", *PROCESS_KINDS[kind]])
    if kind == "kill":
        return {"signal": entry.choice("signal", SIGNALS, "KILL")}
    return {
        "exit_code": entry.get(
            "exit_code",
            int,
            1,
            check=lambda v: 1 <= v <= 255,
            accepted="an integer 1..255",
        ),
        "after_ms": entry.number("after_ms", 0.0, maximum=60_000),
    }


# Names become folder and file names (run folders, toxics), so they are short.
MAX_NAME_LENGTH = 64
SLUG = (
    f"1 to {MAX_NAME_LENGTH} lower-case letters, digits and dashes, such as "
    "claims-customer-latency"
)


def is_slug(value: str) -> bool:
    return (
        0 < len(value) <= MAX_NAME_LENGTH
        and value.isascii()
        and all(c.islower() or c.isdigit() or c == "-" for c in value)
    )


def _unique(names: list[str], where: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{where}: fault name {name!r} is used twice")
        seen.add(name)

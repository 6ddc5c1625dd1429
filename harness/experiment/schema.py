"""Experiment files: read, typed and checked whole before anything runs.

Every error names the file and line, the field, the value found and what
would be accepted, and nothing is injected until the whole file is valid.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.config import Estate
from harness.errors import ConfigError
from harness.experiment.expect_schema import KEYS as MEASURED_KEYS
from harness.experiment.expect_schema import (
    MeasuredExpectations,
    load_measured,
    refuse_contradictions,
)
from harness.experiment.fault_schema import SLUG, FaultSpec, is_slug, parse_faults
from harness.experiment.halt import HaltCondition, parse_halt
from harness.experiment.load_schema import LoadSpec, parse_load
from harness.fields import Fields
from harness.yamlfile import load_located

# Bounds that keep every run finite: an hour per phase.
MAX_PHASE_S = 3600
TAGS = ("ci", "gameday", "slow")


@dataclass(frozen=True)
class AlertExpectation:
    name: str
    fires: bool
    resolves: bool
    # Which rule of the name, when it has several (a burn-rate alert has a
    # page and a ticket rule); None when the name has one severity.
    severity: str | None = None
    # Share of the SLI's events the fault makes bad: the burn-rate arithmetic
    # turns it into how long the alert's windows take to fill.
    error_ratio: float = 1.0
    margin_s: float = 0.0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()  # name, text it must contain
    # Firing in Prometheus, yet never notified: an inhibition held it back.
    inhibited: bool = False
    where: str = ""  # file:line of the entry, for errors found after loading

    @property
    def key(self) -> str:
        """How reports and measurements name this expectation, such as
        ServiceDown{service=customer-api} or ClaimsApiAvailabilityBurnRate[page]."""
        key = self.name if self.severity is None else f"{self.name}[{self.severity}]"
        service = dict(self.labels).get("service")
        return key if service is None else f"{key}{{service={service}}}"


@dataclass(frozen=True)
class RunbookExpectation:
    name: str
    finished_within_s: float  # after the first notification of an alert it answers


@dataclass(frozen=True)
class SLOExpectation:
    service: str
    recovered_within_s: float  # after mitigation (the last expected runbook finished)
    hold_s: float


@dataclass(frozen=True)
class Experiment:
    name: str
    hypothesis: str
    path: Path
    tags: tuple[str, ...]
    load: LoadSpec
    steady_state_s: float
    steady_state_services: tuple[str, ...]
    faults: tuple[FaultSpec, ...]
    alerts: tuple[AlertExpectation, ...]
    runbooks: tuple[RunbookExpectation, ...]
    slo_recovered: SLOExpectation | None
    # Exactly this many pager incidents opened during the run (None: unchecked).
    pages: int | None = None
    # No alert at all may be notified during the whole run (a control run,
    # or a blip the estate's retries should absorb).
    no_alerts: bool = False
    # No alert may be notified during the steady state (alert fatigue).
    quiet_steady_state: bool = True
    # Conditions that stop the run and roll back (see harness/experiment/halt.py).
    halt: tuple[HaltCondition, ...] = ()
    # SLO states, amplification, breaker trials, degradation, data invariants.
    measured: MeasuredExpectations = MeasuredExpectations()

    @property
    def fault_window_s(self) -> float:
        return max(f.start_after_s + f.duration_s for f in self.faults)


EXPECTATIONS = ("alerts", "runbooks", "slo_recovered", "pages", "no_alerts")
TOP_FIELDS = (
    "name",
    "hypothesis",
    "tags",
    "load",
    "steady_state",
    "faults",
    "halt",
    "expect",
)
EXPECTATIONS = (
    "alerts",
    "runbooks",
    "slo_recovered",
    "pages",
    "no_alerts",
    *MEASURED_KEYS,
)


def experiment_files(paths: list[Path]) -> list[Path]:
    """Folders stand for the YAML files in them, in name order; files for
    themselves (a missing one is reported when it is read)."""
    files = []
    for path in map(Path, paths):
        files += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return files


def load_experiment(
    path: Path, estate: Estate, alert_names: Mapping[str, tuple[str, ...]] | set[str]
) -> Experiment:
    """Read and check one experiment file against the estate and its alerts.

    alert_names maps each generated alert to the severities of its rules.
    """
    if not isinstance(alert_names, Mapping):
        alert_names = {name: () for name in alert_names}
    doc = Fields(load_located(Path(path)))
    doc.require_known(TOP_FIELDS)
    # Fields are read in the order people write them, so the first error
    # reported is the first one in the file.
    name = doc.get("name", str, check=is_slug, accepted=SLUG)
    hypothesis = doc.get(
        "hypothesis",
        str,
        check=lambda v: bool(v.strip()),
        accepted="one sentence saying what should happen",
    )
    tags = tuple(_tags(doc))
    load = parse_load(doc.child("load"))
    steady = doc.child("steady_state")
    steady.require_known(["duration_s", "slos"])
    steady_state_s = steady.number("duration_s", minimum=1, maximum=MAX_PHASE_S)
    steady_services = tuple(_slo_names(steady, "slos", estate))
    faults = tuple(_faults(doc, estate))
    expect = doc.child("expect")
    expect.require_known([*EXPECTATIONS, "quiet_steady_state"])
    if not any(_expects(expect.data.get(key)) for key in EXPECTATIONS):
        # An experiment that expects nothing would pass whatever happened.
        doc.fail(
            ("expect",),
            expect.data,
            "at least one of " + ", ".join(EXPECTATIONS),
        )
    experiment = Experiment(
        name=name,
        hypothesis=" ".join(hypothesis.split()),
        path=Path(path),
        tags=tags,
        load=load,
        steady_state_s=steady_state_s,
        steady_state_services=steady_services,
        faults=faults,
        alerts=tuple(_alerts(expect, alert_names)),
        runbooks=tuple(_runbooks(expect, estate)),
        slo_recovered=_slo_recovered(expect, estate),
        pages=expect.get(
            "pages", int, None, check=lambda v: v >= 0, accepted="an integer >= 0"
        ),
        no_alerts=expect.get("no_alerts", bool, False),
        quiet_steady_state=expect.get("quiet_steady_state", bool, True),
        halt=parse_halt(doc, estate),
        measured=load_measured(expect, estate),
    )
    _refuse_contradictions(expect, experiment)
    recovering = experiment.slo_recovered and experiment.slo_recovered.service
    refuse_contradictions(expect, experiment.measured, recovering)
    return experiment


def _refuse_contradictions(expect: Fields, experiment: Experiment) -> None:
    """Expectations that cannot all hold would fail whatever the estate did."""
    if not experiment.no_alerts:
        return
    firing = [a.key for a in experiment.alerts if a.fires]
    if firing:
        expect.fail(
            expect.here + ("no_alerts",),
            True,
            f"false while alerts are expected to fire ({', '.join(firing)})",
        )
    if experiment.pages:
        expect.fail(
            expect.here + ("pages",),
            experiment.pages,
            "0 (or nothing) when no_alerts is true: a page needs an alert",
        )


def _tags(doc: Fields) -> list[str]:
    return doc.get(
        "tags",
        list,
        [],
        check=lambda v: all(t in TAGS for t in v),
        accepted=f"a list of: {', '.join(TAGS)}",
    )


def _slo_names(entry: Fields, key: str, estate: Estate) -> list[str]:
    names = entry.string_list(key, [])
    for index, name in enumerate(names):
        if name not in estate.slos:
            entry.fail(
                entry.here + (key, index),
                name,
                f"a service with an SLO: {', '.join(estate.slos)}",
            )
    return names


def _faults(doc: Fields, estate: Estate) -> list[FaultSpec]:
    return parse_faults(doc, estate)


def _expects(value) -> bool:
    # pages: 0 expects something (no page); an empty list or false does not.
    return value is not None and value is not False and value != []


def _alerts(
    expect: Fields, alert_names: Mapping[str, tuple[str, ...]]
) -> list[AlertExpectation]:
    alerts = [_alert(entry, alert_names) for entry in expect.items("alerts", [])]
    _unique(
        [a.key for a in alerts], "alert", expect.doc.where(expect.here + ("alerts",))
    )
    return alerts


ALERT_FIELDS = (
    "name",
    "severity",
    "fires",
    "resolves",
    "inhibited",
    "error_ratio",
    "margin_s",
    "labels",
    "annotations",
)


def _alert(
    entry: Fields, alert_names: Mapping[str, tuple[str, ...]]
) -> AlertExpectation:
    entry.require_known(ALERT_FIELDS)
    name = entry.get("name", str)
    if name not in alert_names:
        entry.fail(
            entry.here + ("name",),
            name,
            "an alert the estate defines: " + ", ".join(sorted(alert_names)),
        )
    inhibited = entry.get("inhibited", bool, False)
    fires = entry.get("fires", bool, not inhibited)
    if inhibited and fires:
        entry.fail(
            entry.here + ("fires",),
            True,
            "false (or nothing) when inhibited is true: an inhibited alert "
            "fires in Prometheus but is never notified",
        )
    resolves = entry.get("resolves", bool, fires)
    if resolves and not fires:
        entry.fail(
            entry.here + ("resolves",),
            True,
            "false (or nothing) when fires is false: an alert that "
            "never fires cannot resolve",
        )
    return AlertExpectation(
        name=name,
        fires=fires,
        resolves=resolves,
        severity=_severity(entry, alert_names[name]),
        error_ratio=entry.number("error_ratio", 1.0, minimum=0.0001, maximum=1),
        margin_s=entry.number("margin_s", 0.0, maximum=MAX_PHASE_S),
        labels=tuple(_string_map(entry, "labels").items()),
        annotations=tuple(_annotations(entry).items()),
        inhibited=inhibited,
        where=entry.doc.where(entry.here),
    )


def _severity(entry: Fields, severities: tuple[str, ...]) -> str | None:
    if len(severities) <= 1:
        if "severity" in entry.data and entry.data["severity"] not in severities:
            entry.fail(
                entry.here + ("severity",),
                entry.data["severity"],
                f"the alert's only severity ({', '.join(severities) or 'none'}), "
                "or nothing",
            )
        return None
    # A name with a page and a ticket rule means the page unless told.
    default = "page" if "page" in severities else severities[0]
    return entry.choice("severity", severities, default)


def _string_map(entry: Fields, key: str) -> dict[str, str]:
    value = entry.get(key, dict, {})
    for label, text in value.items():
        if not isinstance(label, str) or not isinstance(text, str):
            entry.fail(
                entry.here + (key, label),
                text,
                "text (quote numbers and booleans), such as service: claims-api",
            )
    return dict(value)


def _annotations(entry: Fields) -> dict[str, str]:
    """A list of annotation names that must be non-empty, or name: text to contain."""
    value = entry.data.get("annotations", [])
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            entry.fail(
                entry.here + ("annotations",),
                value,
                "a list of annotation names, or a mapping of name: text it contains",
            )
        return {name: "" for name in value}
    if isinstance(value, dict):
        return _string_map(entry, "annotations")
    entry.fail(
        entry.here + ("annotations",),
        value,
        "a list of annotation names, or a mapping of name: text it contains",
    )
    return {}


def _runbooks(expect: Fields, estate: Estate) -> list[RunbookExpectation]:
    runbooks = []
    for entry in expect.items("runbooks", []):
        entry.require_known(["name", "finished_within_s"])
        name = entry.choice("name", estate.runbooks)
        runbooks.append(
            RunbookExpectation(
                name,
                entry.number("finished_within_s", minimum=0.1, maximum=MAX_PHASE_S),
            )
        )
    _unique(
        [r.name for r in runbooks],
        "runbook",
        expect.doc.where(expect.here + ("runbooks",)),
    )
    return runbooks


def _slo_recovered(expect: Fields, estate: Estate) -> SLOExpectation | None:
    if "slo_recovered" not in expect.data:
        return None
    entry = expect.child("slo_recovered")
    entry.require_known(["service", "within_s", "hold_s"])
    service = entry.choice("service", estate.slos)
    hold_s = entry.number("hold_s", 5.0, minimum=1, maximum=MAX_PHASE_S)
    within_s = entry.number("within_s", minimum=0.1, maximum=MAX_PHASE_S)
    obs = estate.observability
    floor_s = obs.rate_window_s + obs.scrape_interval_s
    if within_s < floor_s:
        entry.fail(
            entry.here + ("within_s",),
            within_s,
            f"at least {floor_s:g} s: the SLO is measured over a "
            f"{obs.rate_window_s:g} s rate window scraped every "
            f"{obs.scrape_interval_s:g} s, so it cannot be seen back sooner",
        )
    return SLOExpectation(service, within_s, hold_s)


def _unique(names: list[str], what: str, where: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{where}: {what} {name!r} is used twice")
        seen.add(name)

"""Runbooks as declared in config/runbooks/*.yaml, read into frozen values.

A runbook answers alerts by name, runs its actions in order, and is bounded:
no second run within cooldown_s, at most max_attempts runs per experiment,
after which it pages the team named under escalate instead of running again.
"""

from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.fields import Fields
from harness.yamlfile import load_located

# Each action kind and the fields it takes, besides `action` and `timeout_s`.
RUNBOOK_ACTIONS = {
    "set_fallback": ("service", "dependency", "mode"),
    "breaker": ("service", "dependency", "state"),
    "restart": ("service",),
    "rollback": ("service",),
    "shed": ("service", "ratio"),
    "scale_out": ("service",),
    "failover": ("service", "dependency", "to"),
}
# Fields that are not text, and what each accepts.
BREAKER_STATES = ("open", "closed")
FAILOVER_TARGETS = ("primary", "secondary")
FALLBACK_MODES = ("cache", "none")
PAGER_SEVERITIES = ("critical", "error", "warning", "info")
DEFAULT_ACTION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunbookAction:
    action: str
    params: dict
    timeout_s: float = DEFAULT_ACTION_TIMEOUT_S

    @property
    def service(self) -> str:
        return self.params.get("service", "")


@dataclass(frozen=True)
class Escalation:
    """Whom to page once a runbook has used its attempts, and how urgently."""

    team: str
    severity: str = "critical"


@dataclass(frozen=True)
class Runbook:
    name: str
    description: str
    answers: tuple[str, ...]
    actions: tuple[RunbookAction, ...]
    enabled: bool
    path: Path
    cooldown_s: float = 0.0
    max_attempts: int = 1
    escalate: Escalation | None = None
    dry_run: bool = False
    # Labels an alert must carry, besides its name, for this runbook to answer.
    match: tuple[tuple[str, str], ...] = ()

    def answers_alert(self, alertname: str, labels: dict[str, str]) -> bool:
        if alertname not in self.answers:
            return False
        return all(labels.get(key) == value for key, value in self.match)


def load_runbooks(folder: Path) -> dict[str, Runbook]:
    """Every runbook under folder, by name."""
    runbooks = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        runbook = load_runbook(path)
        if runbook.name in runbooks:
            raise ConfigError(f"{path}: runbook name {runbook.name!r} is used twice")
        runbooks[runbook.name] = runbook
    return runbooks


def load_runbook(path: Path) -> Runbook:
    doc = Fields(load_located(path))
    doc.require_known(
        [
            "name",
            "description",
            "answers",
            "actions",
            "enabled",
            "cooldown_s",
            "max_attempts",
            "escalate",
            "dry_run",
            "match",
        ]
    )
    actions = tuple(_action(entry) for entry in doc.items("actions"))
    if not actions:
        doc.fail(("actions",), [], "a list of at least one action")
    answers = doc.string_list("answers")
    if not answers:
        doc.fail(("answers",), [], "a list of at least one alert name")
    return Runbook(
        name=doc.get("name", str),
        description=doc.get("description", str, ""),
        answers=tuple(answers),
        actions=actions,
        enabled=doc.get("enabled", bool, True),
        path=Path(path),
        cooldown_s=doc.number("cooldown_s", 0.0),
        max_attempts=doc.get(
            "max_attempts", int, 1, check=lambda v: v >= 1, accepted="an integer >= 1"
        ),
        escalate=_escalation(doc) if "escalate" in doc.data else None,
        dry_run=doc.get("dry_run", bool, False),
        match=_match(doc),
    )


def _match(doc: Fields) -> tuple[tuple[str, str], ...]:
    labels = doc.get(
        "match",
        dict,
        {},
        check=lambda v: all(isinstance(x, str) for pair in v.items() for x in pair),
        accepted="a mapping of label names to values, like {service: claims-api}",
    )
    return tuple(sorted(labels.items()))


def _action(entry: Fields) -> RunbookAction:
    kind = entry.choice("action", RUNBOOK_ACTIONS)
    fields = RUNBOOK_ACTIONS[kind]
    entry.require_known(("action", "timeout_s") + fields)
    params = {}
    for key in fields:
        if key == "ratio":
            params[key] = entry.number(key, minimum=0.0, maximum=1.0)
        elif key == "state":
            params[key] = entry.choice(key, BREAKER_STATES)
        elif key == "to":
            params[key] = entry.choice(key, FAILOVER_TARGETS)
        elif key == "mode":
            params[key] = entry.choice(key, FALLBACK_MODES)
        else:
            params[key] = entry.get(key, str)
    timeout_s = entry.number("timeout_s", DEFAULT_ACTION_TIMEOUT_S, minimum=0.1)
    return RunbookAction(kind, params, timeout_s)


def _escalation(doc: Fields) -> Escalation:
    entry = doc.child("escalate")
    entry.require_known(["team", "severity"])
    return Escalation(
        team=entry.get("team", str),
        severity=entry.choice("severity", PAGER_SEVERITIES, "critical"),
    )


def check_runbook_targets(
    runbooks: dict[str, Runbook],
    mocks: dict[str, tuple[str, ...]],
    teams: list[str],
    secondaries: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
) -> None:
    """Refuse services, dependencies and teams that the estate does not declare.

    mocks maps each service or external to the dependencies it calls.
    """
    for runbook in runbooks.values():
        doc = Fields(load_located(runbook.path))
        for index, action in enumerate(runbook.actions):
            entry = Fields(doc.doc, ("actions", index))
            service = action.params.get("service")
            if service not in mocks:
                entry.fail(
                    entry.here + ("service",),
                    service,
                    f"a declared service or external: {', '.join(mocks)}",
                )
            if action.action == "scale_out" and service not in services:
                entry.fail(
                    entry.here + ("service",),
                    service,
                    f"a service (externals are not scaled): {', '.join(services)}",
                )
            dependency = action.params.get("dependency")
            if dependency is not None and dependency not in mocks[service]:
                calls = ", ".join(mocks[service]) or "(none)"
                entry.fail(
                    entry.here + ("dependency",),
                    dependency,
                    f"a dependency {service} calls: {calls}",
                )
            if action.action == "failover" and dependency not in secondaries:
                entry.fail(
                    entry.here + ("dependency",),
                    dependency,
                    "an external declared with `secondary: true` in estate.yaml: "
                    f"{', '.join(secondaries) or '(none)'}",
                )
        if runbook.escalate and runbook.escalate.team not in teams:
            doc.fail(
                ("escalate", "team"),
                runbook.escalate.team,
                f"a team of alerting.yaml: {', '.join(teams)}",
            )

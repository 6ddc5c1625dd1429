"""Who is told of an alert, as declared in config/alerting.yaml.

Every team named in estate.yaml has a pager (PagerDuty or Opsgenie) with the
key Alertmanager sends its pages with; one ticket queue takes the alerts that
can wait for working hours. harness/observe/alertmanager.py renders the
routes from this and the dependency graph.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.fields import Fields
from harness.yamlfile import load_located

PAGERDUTY = "pagerduty"
OPSGENIE = "opsgenie"
INTEGRATIONS = (PAGERDUTY, OPSGENIE)

# What each integration calls its key, and the shape its service issues keys in:
# a PagerDuty Events API v2 integration key is 32 letters and digits (the API
# refuses any other), an Opsgenie API key is a UUID.
KEY_FIELDS = {PAGERDUTY: "routing_key", OPSGENIE: "api_key"}
URGENCY_FIELDS = {PAGERDUTY: "severity", OPSGENIE: "priority"}
_KEY_SHAPES = {
    PAGERDUTY: (re.compile(r"[A-Za-z0-9]{32}"), "32 letters and digits"),
    OPSGENIE: (
        re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        "a lower-case UUID such as 00000000-0000-4000-8000-000000000000",
    ),
}

# A page must be able to wake someone; a ticket must not.
PAGE_URGENCIES = {PAGERDUTY: ("critical", "error"), OPSGENIE: ("P1", "P2", "P3")}
TICKET_URGENCIES = {PAGERDUTY: ("warning", "info"), OPSGENIE: ("P4", "P5")}


@dataclass(frozen=True)
class PagerTarget:
    """One integration of one paging service, and how urgent its alerts are."""

    integration: str  # "pagerduty" or "opsgenie"
    key: str  # PagerDuty routing key or Opsgenie API key
    urgency: str  # PagerDuty severity (critical, ...) or Opsgenie priority (P1, ...)


@dataclass(frozen=True)
class Alerting:
    """Each team's pager, the ticket queue, and the team that takes stray pages."""

    teams: dict[str, PagerTarget]
    tickets: PagerTarget
    fallback_team: str  # owns the estate; pages whose team no route names


def load_alerting(path: Path, teams: Iterable[str], fallback_team: str) -> Alerting:
    """Read alerting.yaml; every team in teams needs an entry, and no other."""
    doc = Fields(load_located(path))
    doc.require_known(["teams", "tickets"])
    known = list(dict.fromkeys([fallback_team, *teams]))
    section = doc.child("teams")
    for name in section.data:
        if name not in known:
            raise ConfigError(
                f"{section.doc.where(section.here + (name,))}: team {name!r} under "
                f"'teams' is not a team of estate.yaml; known teams: {_list(known)}"
            )
    pagers = {}
    for name in known:
        if name not in section.data:
            raise ConfigError(
                f"{section.doc.where(section.here)}: team {name!r} of estate.yaml "
                f"has no entry under 'teams'; add one with 'pager: "
                f"{PAGERDUTY}' or 'pager: {OPSGENIE}' and its key"
            )
        pagers[name] = _target(section.child(name), PAGE_URGENCIES)
    tickets = doc.child("tickets")
    target = _target(tickets, TICKET_URGENCIES)
    _refuse_shared_key(tickets, target, pagers)
    return Alerting(pagers, target, fallback_team)


def _target(entry: Fields, urgencies: dict[str, tuple[str, ...]]) -> PagerTarget:
    integration = entry.choice("pager", INTEGRATIONS)
    key_field = KEY_FIELDS[integration]
    urgency_field = URGENCY_FIELDS[integration]
    entry.require_known(["pager", key_field, urgency_field])
    shape, described = _KEY_SHAPES[integration]
    key = entry.get(
        key_field,
        str,
        check=lambda v: shape.fullmatch(v) is not None,
        accepted=described,
    )
    allowed = urgencies[integration]
    urgency = entry.get(
        urgency_field,
        str,
        allowed[0],
        check=lambda v: v in allowed,
        accepted=f"one of: {_list(allowed)}",
    )
    return PagerTarget(integration, key, urgency)


def _refuse_shared_key(
    entry: Fields, tickets: PagerTarget, pagers: dict[str, PagerTarget]
) -> None:
    # A shared key would make a ticket indistinguishable from a page.
    for team, pager in pagers.items():
        if pager.key == tickets.key:
            entry.fail(
                entry.here + (KEY_FIELDS[tickets.integration],),
                tickets.key,
                f"a key of its own (team {team!r} pages with this one)",
            )


def _list(names: Iterable[str]) -> str:
    return ", ".join(names)

"""Game-day plan files: who holds which incident role during the exercise.

A plan names the incident commander, the communications lead and the
technical lead (and may name a scribe, a date and the participants); each
run's journal and postmortem carry the roles, so the review starts with the
people who ran the response already written in.

    incident_commander: Dana Reyes
    communications_lead: Sam Okafor
    technical_lead: Priya Natarajan
    scribe: Lee Wong
    date: "2026-12-05"
    participants: [claims team, payments team]
"""

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.fields import Fields
from harness.yamlfile import load_located

ROLES = ("incident_commander", "communications_lead", "technical_lead")
OPTIONAL = ("scribe", "date", "participants")
# What a report shows for a role no plan filled.
UNFILLED = "to be filled in"


@dataclass(frozen=True)
class GamedayPlan:
    """The roles of one game day, as its plan file names them."""

    path: Path
    incident_commander: str
    communications_lead: str
    technical_lead: str
    scribe: str | None = None
    date: str | None = None
    participants: tuple[str, ...] = ()


def load_plan(path: Path) -> GamedayPlan:
    """Read a plan; unknown fields and values other than text are refused."""
    doc = Fields(load_located(Path(path)))
    doc.require_known(ROLES + OPTIONAL)
    roles = {role: _text(doc, role) for role in ROLES}
    participants = doc.get(
        "participants",
        list,
        default=[],
        check=lambda v: all(isinstance(p, str) and p.strip() for p in v),
        accepted="a list of names, each a non-empty string",
    )
    return GamedayPlan(
        path=Path(path),
        **roles,
        scribe=_text(doc, "scribe", default=None),
        date=_date(doc),
        participants=tuple(p.strip() for p in participants),
    )


def roles_of(plan: GamedayPlan | None) -> dict[str, Any]:
    """The journal's "roles": each role's holder, or null without a plan."""
    if plan is None:
        return {role: None for role in ROLES} | {"source": None}
    return {
        **{role: getattr(plan, role) for role in ROLES},
        "source": f"game-day plan {plan.path}",
        "scribe": plan.scribe,
        "date": plan.date,
        "participants": list(plan.participants),
    }


def _text(doc: Fields, key: str, default: Any = ...) -> str | None:
    kwargs = {} if default is ... else {"default": default}
    value = doc.get(
        key,
        str,
        check=lambda v: bool(v.strip()),
        accepted="a non-empty string naming the person (or team) in the role",
        **kwargs,
    )
    return value.strip() if isinstance(value, str) else value


def _date(doc: Fields) -> str | None:
    # YAML reads an unquoted 2026-12-05 as a date, not text; both mean the same.
    value = doc.data.get("date")
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    return _text(doc, "date", default=None)

"""The game day's resilience score: one number from 0 to 100, and its terms.

score = 100 x sum(weight x share) / sum(weight), over the terms that apply,
where each share is what held out of what was counted over the whole game day.
A term with nothing to count (no experiment expected a recovery, no journal
carries an RCA) is left out and the other weights scale up, so a missing
measurement neither rewards nor punishes. An experiment that errored or was
aborted counts as not passed, and the alerts it expected with no time to
detect count as missed: a harness fault never reads as resilience.
"""

from dataclasses import dataclass

from harness.report.scoreboard import NOT_RUN, Outcome


@dataclass(frozen=True)
class Term:
    name: str
    label: str  # what one counted item is, for the page
    weight: float


# The weights are fixed here rather than configured per estate.
TERMS = (
    Term("passed", "experiments that passed (errors and aborts count as not)", 0.35),
    Term("detection", "expected alerts that arrived within their deadline", 0.20),
    Term("recovery", "SLO recoveries within their deadline", 0.20),
    Term("budget", "experiments that kept within their error budget", 0.15),
    Term("rca", "root-cause guesses that named the injected fault", 0.10),
)

FORMULA = (
    "score = 100 × Σ(weight × share) / Σ(weight), over the terms that apply; "
    "share = held / counted over the game day; a term with nothing counted is "
    "left out"
)


@dataclass(frozen=True)
class TermScore:
    term: Term
    held: int
    counted: int

    @property
    def share(self) -> float | None:
        return self.held / self.counted if self.counted else None


@dataclass(frozen=True)
class Score:
    value: float | None  # None when no experiment ran
    terms: tuple[TermScore, ...]
    experiments: int  # experiments that ran and were scored
    errored: int  # of which error or aborted
    # Of which broken on purpose (an alert rule removed, a runbook disabled):
    # their failures test the harness, not the estate.
    broken: int = 0

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "experiments": self.experiments,
            "errored": self.errored,
            "deliberately_broken": self.broken,
            "terms": {
                t.term.name: {
                    "held": t.held,
                    "counted": t.counted,
                    "weight": t.term.weight,
                }
                for t in self.terms
            },
        }


def resilience_score(outcomes: list[Outcome]) -> Score:
    """Score the experiments that ran; "not run" rows are not counted."""
    ran = [o for o in outcomes if o.status != NOT_RUN]
    counts = {
        "passed": [o.status == "passed" for o in ran],
        "detection": [
            # An alert a stopped run never reached is not a missed alert.
            None if o.stopped_by and d.observed_s is None else d.within_deadline
            for o in ran
            for d in o.detections
        ],
        "recovery": [o.recovered_within_deadline for o in ran],
        "budget": [o.budget_kept for o in ran],
        "rca": [o.rca_correct for o in ran],
    }
    terms = tuple(_term_score(term, counts[term.name]) for term in TERMS)
    return Score(
        value=_combine(terms),
        terms=terms,
        experiments=len(ran),
        errored=sum(o.status in ("error", "aborted") for o in ran),
        broken=sum(bool(o.deliberately_broken) for o in ran),
    )


def _term_score(term: Term, items: list[bool | None]) -> TermScore:
    counted = [item for item in items if item is not None]
    return TermScore(term, sum(counted), len(counted))


def _combine(terms: tuple[TermScore, ...]) -> float | None:
    applying = [t for t in terms if t.share is not None]
    if not applying:
        return None
    weight = sum(t.term.weight for t in applying)
    total = sum(t.term.weight * t.share for t in applying)
    return round(100 * total / weight, 1)

"""One game day row per experiment, read from its journal.json.

Every key a row reads is optional: an older journal, a run that died early or
an experiment that never started leaves a row with "-" where data is missing.
"""

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.postmortem import deliberate_breakage

log = logging.getLogger(__name__)

# Files of a run folder a game day page links to, in the order shown.
RUN_PAGES = ("report.html", "summary.md", "postmortem.md")
NOT_RUN = "not run"  # listed by an interrupted game day, never scored


@dataclass(frozen=True)
class Detection:
    alert: str  # the expectation's key, such as "ClaimsApiAvailabilityBurnRate[page]"
    observed_s: float | None  # None: the alert never arrived
    deadline_s: float | None  # None: no deadline was computed for it

    @property
    def within_deadline(self) -> bool | None:
        if self.deadline_s is None:
            return None
        return self.observed_s is not None and self.observed_s <= self.deadline_s


@dataclass(frozen=True)
class Outcome:
    """What one experiment of a game day showed, reduced to the scoreboard."""

    experiment: str
    status: str  # passed, failed, aborted, error, or "not run"
    reason: str = ""
    run_id: str = ""
    detections: tuple[Detection, ...] = ()
    expects_recovery: bool = False
    time_to_recover_s: float | None = None
    recover_deadline_s: float | None = None
    # The largest share of an SLO's allowed bad events the run used; None
    # when the journal has no budget figures.
    budget_consumed_ratio: float | None = None
    rca_correct: bool | None = None  # None: no RCA, or not applicable
    # The signal that stopped the run early, if one did: what it never reached
    # (an alert, a recovery) is not counted as missed.
    stopped_by: str = ""
    # What the run switched off on purpose (--without-alert, --disable-runbook).
    deliberately_broken: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = field(default=())  # (label, relative href)

    @property
    def time_to_detect_s(self) -> float | None:
        """When the first expected alert arrived."""
        seen = [d.observed_s for d in self.detections if d.observed_s is not None]
        return min(seen) if seen else None

    @property
    def recovered_within_deadline(self) -> bool | None:
        if not self.expects_recovery:
            return None
        if self.stopped_by and self.time_to_recover_s is None:
            return None
        return (
            self.time_to_recover_s is not None
            and self.recover_deadline_s is not None
            and self.time_to_recover_s <= self.recover_deadline_s
        )

    @property
    def budget_kept(self) -> bool | None:
        if self.budget_consumed_ratio is None:
            return None
        return self.budget_consumed_ratio <= 1.0


def outcome_from_journal(journal: dict, links=()) -> Outcome:
    """The row of one run, from json.loads of its journal.json."""
    verdict = _dict(journal.get("verdict"))
    measurements = _dict(verdict.get("measurements"))
    checks = [c for c in verdict.get("checks") or [] if isinstance(c, dict)]
    return Outcome(
        experiment=str(journal.get("experiment") or journal.get("run_id") or "?"),
        status=str(verdict.get("status") or "error"),
        reason=str(verdict.get("reason") or ""),
        run_id=str(journal.get("run_id") or ""),
        detections=_detections(measurements, _dict(journal.get("deadlines"))),
        expects_recovery=_expects_recovery(measurements, checks),
        time_to_recover_s=_number(measurements.get("time_to_recover_s")),
        recover_deadline_s=_number(measurements.get("recover_deadline_s")),
        budget_consumed_ratio=_worst_budget(_dict(journal.get("impact"))),
        rca_correct=_rca_correct(journal.get("rca")),
        stopped_by=_stopped_by(journal),
        deliberately_broken=tuple(deliberate_breakage(journal)),
        findings=tuple(
            f"{c.get('expectation')}: predicted {c.get('predicted')}; "
            f"observed {c.get('observed')}"
            for c in checks
            if not c.get("held")
        ),
        links=tuple(links),
    )


def outcome_of(result, page_dir: Path) -> Outcome:
    """The row of a RunResult, linked relative to the game day page's folder.

    A run that never made a folder (an invalid experiment) or whose journal
    cannot be read is shown from the verdict the runner returned.
    """
    if result.report_dir is None:
        return _from_result(result)
    run_dir = Path(result.report_dir)
    links = tuple(
        (name, Path(os.path.relpath(run_dir / name, page_dir)).as_posix())
        for name in RUN_PAGES
        if (run_dir / name).is_file()
    )
    try:
        journal = json.loads((run_dir / "journal.json").read_text())
    except (OSError, ValueError) as exc:
        log.warning("journal of %s not read: %s", result.run_id, exc)
        return _from_result(result, links)
    if not isinstance(journal, dict):
        log.warning("journal of %s is not a JSON object", result.run_id)
        return _from_result(result, links)
    return outcome_from_journal(journal, links)


def not_run(experiment: str) -> Outcome:
    return Outcome(experiment, NOT_RUN, reason="the game day stopped before it")


def _from_result(result, links=()) -> Outcome:
    verdict = result.verdict
    deadlines = {
        kind: {key: {"total_s": d.total_s} for key, d in per_alert.items()}
        for kind, per_alert in (result.deadlines or {}).items()
    }
    journal = {
        "experiment": result.experiment,
        "run_id": result.run_id,
        "verdict": {
            "status": verdict.status.value,
            "reason": verdict.reason,
            "measurements": verdict.measurements,
            "checks": [
                {
                    "expectation": c.expectation,
                    "predicted": c.predicted,
                    "observed": c.observed,
                    "held": c.held,
                }
                for c in verdict.checks
            ],
        },
        "deadlines": deadlines,
    }
    return outcome_from_journal(journal, links)


def _stopped_by(journal: dict) -> str:
    for event in journal.get("events") or []:
        if isinstance(event, dict) and event.get("kind") == "interrupted":
            fields = _dict(event.get("fields"))
            return str(fields.get("by") or fields.get("signal") or "interrupted")
    return ""


def _detections(measurements: dict, deadlines: dict) -> tuple[Detection, ...]:
    observed = _dict(measurements.get("time_to_detect_s"))
    detect = _dict(deadlines.get("detect"))
    recorded = _dict(measurements.get("detect_deadline_s"))
    keys = list(detect) + [k for k in observed if k not in detect]
    return tuple(
        Detection(
            key,
            _number(observed.get(key)),
            _number(_dict(detect.get(key)).get("total_s"))
            if key in detect
            else _number(recorded.get(key)),
        )
        for key in keys
    )


# An SLO that never breached fails its check and also counts as a missed
# recovery in the score: it costs both the passed and the recovery term.
def _expects_recovery(measurements: dict, checks: list[dict]) -> bool:
    # The verdict names the check "SLO <service> breaks, then recovers".
    return "recover_deadline_s" in measurements or any(
        str(c.get("expectation", "")).endswith("then recovers") for c in checks
    )


def _worst_budget(impact: dict) -> float | None:
    ratios = [
        _number(entry.get("consumed_ratio"))
        for entry in impact.get("budget") or []
        if isinstance(entry, dict)
    ]
    known = [r for r in ratios if r is not None]
    return max(known) if known else None


def _rca_correct(rca) -> bool | None:
    correct = _dict(rca).get("correct")
    return correct if isinstance(correct, bool) else None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

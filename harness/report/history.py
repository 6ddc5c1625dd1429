"""Game day history: one JSON line per game day in reports/history/.

Reading never fails on a bad line: a line that is not JSON, or JSON that is
not a game day record of this format, is skipped with a warning naming the
file and line, and every other record is kept.
"""

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.report.resilience_score import Score
from harness.report.scoreboard import NOT_RUN, Detection, Outcome

log = logging.getLogger(__name__)

HISTORY_FILE = "gamedays.jsonl"
RECORD_KIND = "harness-gameday"
RECORD_VERSION = 1


@dataclass(frozen=True)
class History:
    records: list[dict]  # in game day order (by stamp)
    warnings: list[str]  # one per skipped line, naming file and line


def gameday_record(
    stamp: str,
    tag: str,
    outcomes: list[Outcome],
    score: Score,
    interrupted: str = "",
    git_commit: str | None = None,
) -> dict:
    """The line a game day adds to the history."""
    return {
        "kind": RECORD_KIND,
        "version": RECORD_VERSION,
        "stamp": stamp,
        "tag": tag,
        "git_commit": git_commit,
        "interrupted": interrupted,
        "score": score.value,
        "score_terms": score.as_dict()["terms"],
        "deliberately_broken": score.broken,
        "experiments": [_experiment(o) for o in outcomes if o.status != NOT_RUN],
    }


def _experiment(outcome: Outcome) -> dict:
    first = _first_detection(outcome)
    return {
        "experiment": outcome.experiment,
        "run_id": outcome.run_id,
        "verdict": outcome.status,
        "time_to_detect_s": _rounded(outcome.time_to_detect_s),
        "detect_alert": first.alert if first else None,
        "detect_deadline_s": _rounded(first.deadline_s if first else None),
        "time_to_recover_s": _rounded(outcome.time_to_recover_s),
        "recover_deadline_s": _rounded(outcome.recover_deadline_s),
        "budget_consumed_ratio": _rounded(outcome.budget_consumed_ratio, 4),
        "rca_correct": outcome.rca_correct,
        "deliberately_broken": list(outcome.deliberately_broken),
        "stopped_by": outcome.stopped_by or None,
    }


def _rounded(value: float | None, digits: int = 3) -> float | None:
    """Without the float noise of sums of deadline terms (17.240000000000002)."""
    return None if value is None else round(value, digits)


def _first_detection(outcome: Outcome) -> Detection | None:
    """The alert that arrived first or, when none did, the one due first."""
    seen = [d for d in outcome.detections if d.observed_s is not None]
    if seen:
        return min(seen, key=lambda d: d.observed_s)
    due = [d for d in outcome.detections if d.deadline_s is not None]
    return min(due, key=lambda d: d.deadline_s) if due else None


def append_record(history_dir: Path, record: dict) -> Path:
    # No lock: two game days appending to one history at once could interleave
    # their lines; read_history skips a mangled line with a warning.
    history_dir.mkdir(parents=True, exist_ok=True)
    path = history_dir / HISTORY_FILE
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def read_history(history_dir: Path) -> History:
    """Every valid record of the history file; a missing file is no history."""
    path = history_dir / HISTORY_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return History([], [])
    records, warnings = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        problem = _problem(line)
        if problem:
            warnings.append(f"{path}:{number}: skipped: {problem}")
            log.warning("history line skipped: %s:%d: %s", path, number, problem)
        else:
            records.append(json.loads(line))
    records.sort(key=lambda record: record["stamp"])
    return History(records, warnings)


def _problem(line: str) -> str:
    """Why line is not a game day record, or "" when it is one."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({exc})"
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    if record.get("kind") != RECORD_KIND:
        return f"field 'kind' is {record.get('kind')!r}; expected {RECORD_KIND!r}"
    if record.get("version") != RECORD_VERSION:
        return (
            f"field 'version' is {record.get('version')!r}; "
            f"this harness reads {RECORD_VERSION}"
        )
    if not isinstance(record.get("stamp"), str):
        return f"field 'stamp' is {record.get('stamp')!r}; expected text"
    score = record.get("score")
    if score is not None and (isinstance(score, bool) or not _is_number(score)):
        return f"field 'score' is {score!r}; expected a number or null"
    experiments = record.get("experiments")
    if not isinstance(experiments, list) or not all(
        isinstance(e, dict) and isinstance(e.get("experiment"), str)
        for e in experiments
    ):
        return "field 'experiments' is not a list of objects with an 'experiment' name"
    return ""


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def git_commit(repo_dir: Path) -> str | None:
    """The commit checked out in repo_dir, or None where there is no git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("git commit unknown: %s", exc)
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None

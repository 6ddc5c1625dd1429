"""A game day: every experiment with a tag, one after another, and a scoreboard."""

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.deadlines import invalid_experiments
from harness.experiment.estate import SharedEstate
from harness.experiment.runner import REPO_ROOT, RunOptions, RunResult, run_experiment
from harness.experiment.schema import experiment_files
from harness.gameday_plan import ROLES, UNFILLED, GamedayPlan
from harness.report import verdicts
from harness.report.gameday_page import (
    GamedayView,
    render_gameday_markdown,
    render_gameday_page,
)
from harness.report.history import (
    History,
    append_record,
    gameday_record,
    git_commit,
    read_history,
)
from harness.report.redact import estate_redactor, write_report_file
from harness.report.resilience_score import resilience_score
from harness.report.scoreboard import not_run, outcome_of
from harness.report.trends_page import score_chart, write_trends
from harness.yamlfile import load_located

log = logging.getLogger(__name__)


@dataclass
class GamedaySummary:
    path: Path  # summary.md
    results: list[RunResult] = field(default_factory=list)
    interrupted: str = ""  # why the game day stopped early, if it did
    page: Path | None = None  # index.html, once written
    score: float | None = None  # the resilience score, once computed
    plan: GamedayPlan | None = None  # who holds the incident roles

    @property
    def exit_code(self) -> int:
        codes = [r.verdict.status.exit_code for r in self.results]
        return max(codes) if codes else 2

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return verdicts.rows(self.results)

    def table(self) -> str:
        return verdicts.table(self.results)


def find_experiments(paths: list[Path], tag: str) -> list[Path]:
    """Experiment files under paths whose tags include tag, in name order."""
    return [f for f in experiment_files(paths) if tag in _tags_of(f)]


def _tags_of(path: Path) -> list:
    data = load_located(path).data
    tags = data.get("tags", []) if isinstance(data, dict) else []
    return tags if isinstance(tags, list) else []


def run_gameday(paths: list[Path], tag: str, options: RunOptions) -> GamedaySummary:
    estate = load_estate(options.config_dir)
    # Every file, tagged or not: a misspelt `tags` must not drop a file unseen.
    _validate_all(experiment_files(paths), estate)
    experiments = find_experiments(paths, tag)
    if not experiments:
        raise ConfigError(
            f"no experiment under {', '.join(map(str, paths))} has tag {tag!r}"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = options.reports_dir / f"gameday-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    summary = GamedaySummary(folder / "summary.md", plan=options.plan)
    published = _Publisher(
        summary, stamp, tag, experiments, options.reports_dir, estate_redactor(estate)
    )
    # One estate for the whole game day; each experiment borrows it clean.
    with SharedEstate(estate, folder / "estate") as shared:
        for path in experiments:
            result = run_experiment(path, options, shared)
            summary.results.append(result)
            if result.interrupted:
                summary.interrupted = result.verdict.reason
            published.summary_markdown()
            if result.interrupted:
                break
    published.everything()
    return summary


class _Publisher:
    """Writes the game day's pages and history; a page that fails to render
    is logged and never costs the game day its verdict or its other pages."""

    def __init__(self, summary, stamp, tag, planned, reports_dir, redactor=None):
        self.summary = summary
        # A verdict's reason can quote an error's text.
        self.redactor = redactor
        self.stamp = stamp
        self.tag = tag
        self.planned = planned
        self.history_dir = Path(reports_dir) / "history"

    def summary_markdown(self, view: GamedayView | None = None) -> None:
        try:
            text = render_gameday_markdown(view or self._view())
            write_report_file(self.summary.path, text, self.redactor)
        except Exception:
            log.warning(
                "game day summary not written: %s", self.summary.path, exc_info=True
            )

    def everything(self) -> None:
        view = self._view(git_commit=git_commit(REPO_ROOT))
        self.summary.score = view.score.value
        self.summary_markdown(view)
        history = self._update_history(view)
        if history is not None:
            view = replace(
                view,
                trend_chart=score_chart(history.records) if history.records else "",
                history_warnings=history.warnings,
            )
        page = self.summary.path.parent / "index.html"
        try:
            write_report_file(page, render_gameday_page(view), self.redactor)
        except Exception:
            log.warning("game day page not written: %s", page, exc_info=True)
            return
        self.summary.page = page

    def _update_history(self, view: GamedayView) -> History | None:
        record = gameday_record(
            self.stamp,
            self.tag,
            view.outcomes,
            view.score,
            self.summary.interrupted,
            view.git_commit,
        )
        try:
            append_record(self.history_dir, record)
            history = read_history(self.history_dir)
            write_trends(self.history_dir)
        except Exception:
            log.warning(
                "game day history not updated: %s", self.history_dir, exc_info=True
            )
            return None
        return history

    def _view(self, git_commit: str | None = None) -> GamedayView:
        folder = self.summary.path.parent
        outcomes = [outcome_of(r, folder) for r in self.summary.results]
        outcomes += [not_run(_name_of(path)) for path in self.planned[len(outcomes) :]]
        return GamedayView(
            stamp=self.stamp,
            tag=self.tag,
            outcomes=outcomes,
            score=resilience_score(outcomes),
            interrupted=self.summary.interrupted,
            git_commit=git_commit,
            roles=roles_sentence(self.summary.plan),
        )


def roles_sentence(plan: GamedayPlan | None) -> str:
    """Who held each incident role, for the game day's pages."""
    names = [
        f"{role.replace('_', ' ')}: {getattr(plan, role) if plan else UNFILLED}"
        for role in ROLES
    ]
    source = f" (game-day plan {plan.path})" if plan else " (no --plan given)"
    return f"Incident roles: {'; '.join(names)}{source}."


def _name_of(path: Path) -> str:
    data = load_located(path).data
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else path.stem


def _validate_all(experiments: list[Path], estate) -> None:
    """Every file is checked before the first one runs: a typo found an hour
    into a game day wastes the hour."""
    errors = invalid_experiments(experiments, estate)
    if errors:
        raise ConfigError(
            "the game day did not start; fix these experiments first:\n"
            + "\n".join(errors)
        )

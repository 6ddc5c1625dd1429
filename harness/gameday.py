"""A game day: every experiment with a tag, one after another, and a scoreboard."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.config import load_estate
from harness.errors import ConfigError
from harness.experiment.deadlines import invalid_experiments
from harness.experiment.estate import SharedEstate
from harness.experiment.runner import RunOptions, RunResult, run_experiment
from harness.experiment.schema import experiment_files
from harness.report.redact import estate_redactor, write_report_file
from harness.yamlfile import load_located


@dataclass
class GamedaySummary:
    path: Path
    results: list[RunResult] = field(default_factory=list)
    interrupted: str = ""  # why the game day stopped early, if it did

    @property
    def exit_code(self) -> int:
        codes = [r.verdict.status.exit_code for r in self.results]
        return max(codes) if codes else 2

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for result in self.results:
            m = result.verdict.measurements
            detect = m.get("time_to_detect_s", {})
            ttd = min(detect.values()) if detect else None
            ttr = m.get("time_to_recover_s")
            rows.append(
                (
                    result.experiment,
                    result.verdict.status.value,
                    f"{ttd:.1f} s" if ttd is not None else "-",
                    f"{ttr:.1f} s" if ttr is not None else "-",
                    str(result.report_dir / "summary.md")
                    if result.report_dir
                    else result.verdict.reason[:80],
                )
            )
        return rows

    def table(self) -> str:
        header = ("experiment", "verdict", "detect", "recover", "report")
        rows = [header, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


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
    summary = GamedaySummary(folder / "summary.md")
    # One estate for the whole game day; each experiment borrows it clean.
    redactor = estate_redactor(estate)
    with SharedEstate(estate, folder / "estate") as shared:
        for path in experiments:
            result = run_experiment(path, options, shared)
            summary.results.append(result)
            if result.interrupted:
                summary.interrupted = result.verdict.reason
            write_report_file(summary.path, _render(summary, tag), redactor)
            if result.interrupted:
                break
    return summary


def _validate_all(experiments: list[Path], estate) -> None:
    """Every file is checked before the first one runs: a typo found an hour
    into a game day wastes the hour."""
    errors = invalid_experiments(experiments, estate)
    if errors:
        raise ConfigError(
            "the game day did not start; fix these experiments first:\n"
            + "\n".join(errors)
        )


def _render(summary: GamedaySummary, tag: str) -> str:
    lines = [
        f"# Game day ({tag})",
        "",
        "| experiment | verdict | time to detect | time to recover | report |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(row)} |" for row in summary.rows()]
    if summary.interrupted:
        lines += ["", f"The game day stopped early: {summary.interrupted}."]
    for result in summary.results:
        if result.verdict.findings or result.verdict.reason:
            lines += [
                "",
                f"## {result.experiment}",
                "",
                "```",
                result.verdict.explain(),
                "```",
            ]
    return "\n".join(lines) + "\n"

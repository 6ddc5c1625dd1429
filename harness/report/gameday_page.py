"""reports/gameday-<stamp>/index.html and summary.md: the game day's scoreboard."""

from dataclasses import dataclass, field
from html import escape

from harness.report.page_shell import html_document
from harness.report.resilience_score import FORMULA, Score
from harness.report.scoreboard import NOT_RUN, Outcome


@dataclass(frozen=True)
class GamedayView:
    """Everything the game day's pages show."""

    stamp: str
    tag: str
    outcomes: list[Outcome]
    score: Score
    interrupted: str = ""  # why the game day stopped early, if it did
    git_commit: str | None = None
    trend_chart: str = ""  # inline SVG of the score over past game days
    history_warnings: list[str] = field(default_factory=list)
    roles: str = ""  # who held the incident roles, as a sentence


def render_gameday_page(view: GamedayView) -> str:
    title = f"Game day {view.stamp} ({view.tag})"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Commit: {escape(view.git_commit or 'unknown')}. "
        '<a href="summary.md">summary.md</a> · '
        '<a href="../history/index.html">trends over game days</a></p>',
        *([f"<p>{escape(view.roles)}</p>"] if view.roles else []),
        *_banners(view),
        *_score_section(view.score),
        "<h2>Scoreboard</h2>",
        *_scoreboard(view.outcomes),
        *_trend(view),
        *_findings(view.outcomes),
    ]
    return html_document(title, "\n".join(body))


def render_gameday_markdown(view: GamedayView) -> str:
    score = view.score.value
    lines = [
        f"# Game day ({view.tag})",
        "",
        f"Resilience score: {'-' if score is None else f'{score:.1f}'} / 100. "
        f"{FORMULA}.",
        "",
        *[
            f"- {t.term.name} (weight {t.term.weight:g}): {t.held} of {t.counted} "
            f"{t.term.label}" + ("" if t.counted else ", left out")
            for t in view.score.terms
        ],
        "",
        "| experiment | verdict | time to detect | time to recover "
        "| error budget used | RCA | report |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for o in view.outcomes:
        report = dict(o.links).get("summary.md") or o.reason[:80] or "-"
        cells = [
            o.experiment,
            o.status,
            _detect_text(o),
            _recover_text(o),
            _budget_text(o),
            _rca_text(o),
            report,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if view.score.broken:
        broken = sorted({p for o in view.outcomes for p in o.deliberately_broken})
        lines += [
            "",
            f"Broken on purpose in {view.score.broken} experiment(s): "
            f"{', '.join(broken)}. Their failures test the harness, not the estate; "
            "this score is not comparable with an unbroken game day's.",
        ]
    if view.roles:
        lines += ["", view.roles]
    if view.interrupted:
        lines += ["", f"The game day stopped early: {view.interrupted}."]
    for o in view.outcomes:
        if o.findings or (o.reason and o.status != NOT_RUN):
            explain = [f"verdict: {o.status}"]
            explain += [f"reason: {o.reason}"] if o.reason else []
            explain += [f"- {finding}" for finding in o.findings]
            lines += ["", f"## {o.experiment}", "", "```", *explain, "```"]
    return "\n".join(lines) + "\n"


def _banners(view: GamedayView) -> list[str]:
    banners = []
    if view.interrupted:
        skipped = sum(o.status == NOT_RUN for o in view.outcomes)
        banners.append(
            f'<p class="warn">The game day stopped early: {escape(view.interrupted)}. '
            f"{skipped} experiment(s) did not run and are not scored.</p>"
        )
    if view.score.errored:
        banners.append(
            f'<p class="note">{view.score.errored} experiment(s) ended in error or '
            "were aborted: the harness could not judge them, and the score counts "
            "them as not passed.</p>"
        )
    if view.score.broken:
        broken = sorted({part for o in view.outcomes for part in o.deliberately_broken})
        banners.append(
            f'<p class="warn">{view.score.broken} experiment(s) were broken on '
            f"purpose ({escape(', '.join(broken))}): their failures test the "
            "harness, not the estate, and this game day's score and trends are "
            "not comparable with an unbroken one.</p>"
        )
    for warning in view.history_warnings:
        banners.append(f'<p class="note">{escape(warning)}</p>')
    return banners


def _score_section(score: Score) -> list[str]:
    shown = "-" if score.value is None else f"{score.value:.1f}"
    rows = [
        "<table><tr><th>term</th><th>counts</th><th>held</th>"
        "<th>share</th><th>weight</th></tr>"
    ]
    for t in score.terms:
        share = "left out" if t.share is None else f"{100 * t.share:.0f} %"
        rows.append(
            f"<tr><td>{escape(t.term.name)}</td><td>{escape(t.term.label)}</td>"
            f'<td class="num">{t.held} of {t.counted}</td>'
            f'<td class="num">{share}</td><td class="num">{t.term.weight:g}</td></tr>'
        )
    return [
        "<h2>Resilience score</h2>",
        f'<p class="score" data-score="{shown}">{shown} / 100</p>',
        f'<p class="formula">{escape(FORMULA)}</p>',
        *rows,
        "</table>",
    ]


def _scoreboard(outcomes: list[Outcome]) -> list[str]:
    lines = [
        "<table>",
        "<tr><th>experiment</th><th>verdict</th>"
        "<th>time to detect (observed / deadline)</th>"
        "<th>time to recover (observed / deadline)</th>"
        "<th>error budget used</th><th>RCA</th><th>reports</th></tr>",
    ]
    for o in outcomes:
        status = o.status.replace(" ", "-")
        lines.append(
            f'<tr data-experiment="{escape(o.experiment)}">'
            f"<td>{escape(o.experiment)}</td>"
            f'<td class="{status}">{escape(o.status)}</td>'
            f"<td>{_detect_cell(o)}</td>"
            f'<td class="{_held_class(o.recovered_within_deadline)}">'
            f"{escape(_recover_text(o))}</td>"
            f'<td class="{_held_class(o.budget_kept)}">'
            f"{escape(_budget_text(o))}</td>"
            f'<td class="{_held_class(o.rca_correct)}">{escape(_rca_text(o))}</td>'
            f"<td>{_links(o)}</td></tr>"
        )
    return [*lines, "</table>"]


def _detect_cell(o: Outcome) -> str:
    if not o.detections:
        return "-"
    return "<br>".join(
        f'<span class="{_held_class(d.within_deadline)}">'
        f"{escape(_seconds(d.observed_s, 'never'))} / "
        f"{escape(_seconds(d.deadline_s))}</span> {escape(d.alert)}"
        for d in o.detections
    )


def _detect_text(o: Outcome) -> str:
    return (
        "; ".join(
            f"{_seconds(d.observed_s, 'never')} / {_seconds(d.deadline_s)} ({d.alert})"
            for d in o.detections
        )
        or "-"
    )


def _recover_text(o: Outcome) -> str:
    if not o.expects_recovery:
        return _seconds(o.time_to_recover_s)
    return (
        f"{_seconds(o.time_to_recover_s, 'never')} / {_seconds(o.recover_deadline_s)}"
    )


def _budget_text(o: Outcome) -> str:
    ratio = o.budget_consumed_ratio
    return "-" if ratio is None else f"{100 * ratio:.0f} %"


def _rca_text(o: Outcome) -> str:
    return {True: "right", False: "wrong", None: "-"}[o.rca_correct]


def _links(o: Outcome) -> str:
    if not o.links:
        return escape(o.reason[:120]) if o.reason else "-"
    return " · ".join(
        f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in o.links
    )


def _trend(view: GamedayView) -> list[str]:
    if not view.trend_chart:
        return []
    return [
        "<h2>Score over game days</h2>",
        '<div class="charts">',
        view.trend_chart,
        "</div>",
    ]


def _findings(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        if not o.findings and not (o.reason and o.status != NOT_RUN):
            continue
        items = "".join(f"<li>{escape(f)}</li>" for f in o.findings)
        reason = f"<p>Reason: {escape(o.reason)}</p>" if o.reason else ""
        lines.append(f"<h3>{escape(o.experiment)}: {escape(o.status)}</h3>{reason}")
        if items:
            lines.append(f"<ul>{items}</ul>")
    return ["<h2>What did not hold</h2>", *lines] if lines else []


def _held_class(held: bool | None) -> str:
    return {True: "held", False: "missed", None: ""}[held]


def _seconds(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:.1f} s"

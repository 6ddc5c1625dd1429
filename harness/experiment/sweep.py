"""`harness sweep`: an outage and a latency experiment for every dependency edge.

Each generated experiment is an ordinary experiment file, written into the
sweep's folder so it can be read and run again on its own: every journey as
load, a steady state over every SLO, one fault on one edge, and the
expectation that every SLO held. An SLO that did not hold is one the edge can
break; the table of them names the estate's single points of failure.

Which objective broke (availability or latency) is read from the sampled
error and slow ratios in the journal against the SLO's objectives; an SLO
whose service had no traffic during the fault is reported as dark, since no
traffic is not health.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from harness.config import Estate
from harness.errors import ConfigError
from harness.load.settings import JOURNEY_TARGETS
from harness.report.redact import write_report_file

KINDS = ("outage", "latency")


@dataclass(frozen=True)
class SweepSettings:
    kinds: tuple[str, ...] = KINDS
    edges: tuple[str, ...] = ()  # empty: every dependency edge
    latency_ms: float = 1500
    steady_s: float = 10
    fault_s: float = 20
    arrival_rate_per_s: float = 8


@dataclass
class EdgeResult:
    edge: str
    kind: str
    verdict: str
    # "claims-api availability", "policy-api latency", "customer-api dark", ...
    broken: list[str] = field(default_factory=list)
    report: str = ""
    reason: str = ""


def dependency_edges(estate: Estate) -> list[str]:
    """Every route between a caller and its dependency; front doors excluded."""
    return [
        name for name, route in estate.routes.items() if route.caller in estate.services
    ]


def chosen_edges(estate: Estate, settings: SweepSettings) -> list[str]:
    edges = dependency_edges(estate)
    for edge in settings.edges:
        if edge not in edges:
            raise ConfigError(
                f"--edge {edge!r}: not a dependency edge of config/estate.yaml; "
                f"known: {', '.join(edges)}"
            )
    for kind in settings.kinds:
        if kind not in KINDS:
            raise ConfigError(f"--kind {kind!r}: unknown; known: {', '.join(KINDS)}")
    return [e for e in edges if e in settings.edges] if settings.edges else edges


def experiment_document(
    estate: Estate, edge: str, kind: str, settings: SweepSettings
) -> dict:
    """The experiment file for one edge and one fault kind."""
    route = estate.routes[edge]
    fault = {
        "name": f"{kind}-{edge.replace('_', '-')}",
        "kind": kind,
        "route": edge,
        "start_after_s": 0,
        "duration_s": settings.fault_s,
    }
    if kind == "latency":
        fault["latency_ms"] = settings.latency_ms
    services = sorted(estate.slos)
    what = "is down" if kind == "outage" else f"answers {settings.latency_ms:g} ms late"
    return {
        "name": f"sweep-{edge.replace('_', '-')}-{kind}",
        "hypothesis": (
            f"When {route.upstream} {what} as {route.caller} sees it, every SLO "
            "of the estate holds (each one that does not is one this edge can "
            "break)."
        ),
        "tags": ["slow"],
        "load": {
            "journeys": sorted(JOURNEY_TARGETS),
            "arrival_rate_per_s": settings.arrival_rate_per_s,
        },
        "steady_state": {"duration_s": settings.steady_s, "slos": services},
        "faults": [fault],
        "expect": {
            "quiet_steady_state": False,
            "slos": [{"service": s, "state": "held"} for s in services],
        },
    }


def write_experiments(
    estate: Estate, settings: SweepSettings, folder: Path
) -> list[tuple[str, str, Path]]:
    """Write one file per (edge, kind); return (edge, kind, path) in run order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for edge in chosen_edges(estate, settings):
        for kind in settings.kinds:
            path = folder / f"{edge}-{kind}.yaml"
            document = experiment_document(estate, edge, kind, settings)
            path.write_text(yaml.safe_dump(document, sort_keys=False))
            written.append((edge, kind, path))
    return written


def broken_slos(estate: Estate, journal: dict, injected_s: float) -> list[str]:
    """The objectives that did not hold in the journal's samples after injection."""
    series = journal.get("series", {})
    broken = []
    for service, slo in sorted(estate.slos.items()):
        errors = _after(series.get(f"{service}:error_ratio", []), injected_s)
        slow = _after(series.get(f"{service}:slow_ratio", []), injected_s)
        rate = _after(series.get(f"{service}:request_rate", []), injected_s)
        if any(v > 1 - slo.availability_objective for v in _numbers(errors)):
            broken.append(f"{service} availability")
        if any(v > 1 - slo.latency_objective for v in _numbers(slow)):
            broken.append(f"{service} latency")
        if rate and any(v is None or v <= 0 for _, v in rate):
            broken.append(f"{service} dark")
    return broken


def _after(points: list, start_s: float) -> list:
    return [(t, v) for t, v in points if t >= start_s]


def _numbers(points: list) -> list[float]:
    return [v for _, v in points if isinstance(v, int | float) and v == v]


Runner = Callable[[Path], object]  # path -> RunResult


def run_sweep(
    estate: Estate,
    settings: SweepSettings,
    folder: Path,
    run: Runner,
    on_result: Callable[[EdgeResult], None] = lambda r: None,
) -> list[EdgeResult]:
    """Run every generated experiment with run(); stop early when one is interrupted."""
    results = []
    for edge, kind, path in write_experiments(estate, settings, folder):
        outcome = run(path)
        result = _edge_result(estate, edge, kind, outcome)
        results.append(result)
        on_result(result)
        if getattr(outcome, "interrupted", False):
            break
    return results


def _edge_result(estate: Estate, edge: str, kind: str, outcome) -> EdgeResult:
    verdict = outcome.verdict
    result = EdgeResult(edge, kind, verdict.status.value, reason=verdict.reason)
    report_dir = getattr(outcome, "report_dir", None)
    if report_dir is None:
        return result
    result.report = str(Path(report_dir) / "summary.md")
    injected_s = verdict.measurements.get("fault_injected_s")
    journal_path = Path(report_dir) / "journal.json"
    if injected_s is None or not journal_path.exists():
        return result
    journal = json.loads(journal_path.read_text())
    result.broken = broken_slos(estate, journal, injected_s)
    return result


def single_points_of_failure(results: Iterable[EdgeResult]) -> list[tuple[str, list]]:
    """Edges whose fault broke at least one SLO, most SLOs first."""
    by_edge: dict[str, set[str]] = {}
    for result in results:
        if result.verdict in ("passed", "failed"):
            by_edge.setdefault(result.edge, set()).update(result.broken)
    ranked = [(edge, sorted(slos)) for edge, slos in by_edge.items() if slos]
    return sorted(ranked, key=lambda item: (-len(item[1]), item[0]))


def table(results: list[EdgeResult]) -> str:
    header = ("edge", "fault", "verdict", "SLOs broken")
    rows = [header]
    for r in results:
        shown = ", ".join(r.broken) if r.verdict in ("passed", "failed") else r.reason
        rows.append((r.edge, r.kind, r.verdict, shown or "none"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 11)
    return "\n".join(lines)


def write_report(folder: Path, settings: SweepSettings, results: list[EdgeResult]):
    """sweep.json and sweep.md in the sweep's folder; returns the .md path."""
    spof = single_points_of_failure(results)
    write_report_file(
        folder / "sweep.json",
        json.dumps(
            {
                "settings": vars(settings) | {"kinds": list(settings.kinds)},
                "results": [vars(r) for r in results],
                "single_points_of_failure": [{"edge": e, "breaks": s} for e, s in spof],
            },
            indent=2,
            default=list,
        ),
    )
    lines = [
        "# Dependency sweep",
        "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Each edge had an outage "
        f"and a {settings.latency_ms:g} ms latency fault for {settings.fault_s:g} s "
        "under every journey; an SLO is broken when a sample after injection "
        "was over its objective (dark: its service had no traffic).",
        "",
        "```",
        table(results),
        "```",
        "",
        "## Single points of failure",
        "",
    ]
    lines += [f"- {edge}: {', '.join(slos)}" for edge, slos in spof] or [
        "- none: no edge broke an SLO"
    ]
    return write_report_file(folder / "sweep.md", "\n".join(lines) + "\n")


def new_sweep_folder(reports_dir: Path) -> Path:
    return Path(reports_dir) / f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}"

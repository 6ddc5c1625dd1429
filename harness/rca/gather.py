"""Fill the evidence from the experiment's Prometheus and the mocks' request logs."""

import json
import logging
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from harness.config import Estate, secondary_name
from harness.observe.prometheus import PrometheusAPI
from harness.rca.evidence import EdgeStats, Evidence, ServiceStats, Span, Window

log = logging.getLogger(__name__)


def dependency_graph(estate: Estate) -> dict[str, tuple[str, ...]]:
    """Each service's dependencies, secondaries of externals included."""
    graph = {}
    for service in estate.services.values():
        deps = list(service.calls) + list(service.externals)
        deps += [
            secondary_name(e) for e in service.externals if e in estate.secondaries
        ]
        graph[service.name] = tuple(deps)
    return graph


def objectives(estate: Estate) -> dict[str, tuple[float, float, float]]:
    return {
        name: (
            slo.availability_objective,
            slo.latency_threshold_s,
            slo.latency_objective,
        )
        for name, slo in estate.slos.items()
    }


def gather(
    api: PrometheusAPI,
    estate: Estate,
    window: Window,
    baseline: Window,
    log_dir: Path | None,
) -> Evidence:
    """Everything the analysis reads, for the fault window and the steady state."""
    objs = objectives(estate)
    spans = read_spans(log_dir, window) if log_dir else []
    spans_baseline = read_spans(log_dir, baseline) if log_dir else []
    return Evidence(
        graph=dependency_graph(estate),
        objectives=objs,
        window=service_stats(api, window, objs),
        baseline=service_stats(api, baseline, objs),
        edges=edge_stats(api, window),
        edges_baseline=edge_stats(api, baseline),
        spans=spans,
        spans_baseline=spans_baseline,
        window_s=(window.from_s, window.to_s),
    )


def _over(expr: str, window: Window) -> str:
    """expr's increase over the window, evaluated at the window's end."""
    return f"{expr}[{_range(window)}] @ {window.unix_to:.3f}"


def _range(window: Window) -> str:
    return f"{max(1, round(window.duration_s * 1000))}ms"


def service_stats(
    api: PrometheusAPI, window: Window, objs: dict[str, tuple[float, float, float]]
) -> dict[str, ServiceStats]:
    requests = _by(
        api,
        "sum by (service) (increase(" + _over("http_requests_total", window) + "))",
        "service",
    )
    errors = _by(
        api,
        "sum by (service) (increase("
        + _over('http_requests_total{code=~"5.."}', window)
        + "))",
        "service",
    )
    buckets = api.query(
        "sum by (service, le) (increase("
        + _over("http_request_duration_seconds_bucket", window)
        + "))"
    )
    up = _by(
        api,
        f"min by (job) (min_over_time(up[{_range(window)}] @ {window.unix_to:.3f}))",
        "job",
    )
    stats = {}
    for service, (_, threshold_s, _) in objs.items():
        total = requests.get(service, 0.0)
        stats[service] = ServiceStats(
            requests=total,
            errors=errors.get(service, 0.0),
            slow=max(0.0, total - _fast(buckets, service, threshold_s, total)),
            down=up.get(service) == 0.0,
        )
    return stats


def _fast(buckets, service: str, threshold_s: float, total: float) -> float:
    for labels, value in buckets:
        if labels.get("service") != service or labels.get("le") in (None, "+Inf"):
            continue
        if abs(float(labels["le"]) - threshold_s) < 1e-9:
            return value
    return total


def edge_stats(api: PrometheusAPI, window: Window) -> dict[str, EdgeStats]:
    outcomes = api.query(
        "sum by (service, dependency, outcome) (increase("
        + _over("dependency_requests_total", window)
        + "))"
    )
    sums = _by_edge(
        api.query(
            "sum by (service, dependency) (increase("
            + _over("dependency_request_duration_seconds_sum", window)
            + "))"
        )
    )
    counts = _by_edge(
        api.query(
            "sum by (service, dependency) (increase("
            + _over("dependency_request_duration_seconds_count", window)
            + "))"
        )
    )
    fields = defaultdict(dict)
    names = {
        "ok": "ok",
        "error": "errors",
        "timeout": "timeouts",
        "rejected": "rejected",
    }
    for labels, value in outcomes:
        name = names.get(labels.get("outcome"))
        if name is not None:
            fields[_edge(labels)][name] = value
    return {
        route: EdgeStats(
            **fields.get(route, {}),
            duration_sum_s=sums.get(route, 0.0),
            duration_count=counts.get(route, 0.0),
        )
        for route in {*fields, *counts}
    }


def _edge(labels: dict) -> str:
    return f"{labels.get('service')}_to_{labels.get('dependency')}"


def _by_edge(samples) -> dict[str, float]:
    return {_edge(labels): value for labels, value in samples}


def _by(api: PrometheusAPI, expr: str, label: str) -> dict[str, float]:
    return {labels.get(label, ""): value for labels, value in api.query(expr)}


def read_spans(log_dir: Path, window: Window) -> list[Span]:
    """Every span that ended inside the window, from every <service>.log."""
    spans = []
    for path in sorted(Path(log_dir).glob("*.log")):
        spans += _spans_in(path, window)
    return spans


def _spans_in(path: Path, window: Window) -> list[Span]:
    spans = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            span = _span(line)
            if span is not None and window.unix_from <= span.end_unix <= window.unix_to:
                spans.append(span)
    return spans


def _span(line: str) -> Span | None:
    try:
        record = json.loads(line)
        return Span(
            service=record["service"],
            route=record["route"],
            status=int(record["status"]),
            end_unix=datetime.fromisoformat(record["time"]).timestamp(),
            duration_s=float(record["duration_ms"]) / 1000,
            trace_id=record["trace_id"],
            span_id=record["span_id"],
            parent_span_id=record.get("parent_span_id"),
        )
    except (ValueError, KeyError, TypeError):
        # A line cut short by a killed mock is not a span.
        return None

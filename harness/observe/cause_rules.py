"""Cause alerts, anomaly alerts and synthetic-journey alerts, for either variant.

The SLO alerts (rules.py) say that users are hurt; these say where to look:

    DependencyErrors        per edge     calls to one dependency failing    cause
    DependencyLatency       per edge     calls slower than part of timeout  cause
    CircuitBreakerOpen      per edge     a caller's breaker mostly open     cause
    Saturation              per service  requests in flight above ceiling   cause
    ErrorRatioAnomaly       per service  5xx ratio far above its baseline   symptom
    LatencyAnomaly          per service  latency far above its baseline     symptom
    SyntheticJourneyFailing per journey  read journeys of users failing     symptom

Thresholds and windows come from config/alerting_rules.yaml at their
production values; every duration goes through a Variant, so the production
and experiment rule sets are the same code. The anomaly alerts read series
recorded by cause_recording_rules(), which must be evaluated in the same group
before them: cause_rule_group() holds both, recordings first, ready to sit
beside the other groups of harness.observe.rules.rule_groups().

Known shortcoming: an anomaly alert marks the onset of a change, not its
duration. Once a lasting change fills about 1 / (1 + stddevs**2) of the
baseline window (a tenth at 3 deviations: 6 minutes of the hour) it is no
longer that many deviations from the baseline and the alert resolves while the
change goes on; a lasting failure is the SLO alerts' to report. The minimum
counts are not compressed, so an experiment's 5 s windows need about 2 calls
per second on an edge before its alerts can fire. While a breaker is open few
calls are timed, so DependencyLatency goes quiet and CircuitBreakerOpen speaks.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.utils import floatToGoString

from harness.config import Estate, Service
from harness.observe.annotations import dashboard_for, recent_changes, runbook_for
from harness.observe.durations import compact_duration
from harness.observe.rule_model import AlertRule, RecordingRule, RuleGroup
from harness.slo.variant import Variant

DEPENDENCY_ERRORS = "DependencyErrors"
DEPENDENCY_LATENCY = "DependencyLatency"
CIRCUIT_BREAKER_OPEN = "CircuitBreakerOpen"
SATURATION = "Saturation"
ERROR_RATIO_ANOMALY = "ErrorRatioAnomaly"
LATENCY_ANOMALY = "LatencyAnomaly"
SYNTHETIC_JOURNEY_FAILING = "SyntheticJourneyFailing"

CAUSE = "cause"
SYMPTOM = "symptom"

RULE_GROUP = "causes"

# Recorded per service over the anomaly's short window; only while the
# service has traffic, so idle stretches leave gaps instead of NaN in the
# baseline (a single NaN would make its mean and deviation NaN for a whole
# baseline window).
REQUEST_RATE = "service:http_requests:rate_short"
ERROR_RATIO = "service:http_requests_errors:ratio_short"
LATENCY_QUANTILE = "service:http_request_duration_seconds:quantile_short"

# Calls that reached for the dependency, and those of them that failed. A call
# the cache fallback answered without calling ("fallback") is in neither: it
# says nothing of the dependency, and counting it as failed would keep the
# alert firing after a runbook switched the caller to its cache.
ATTEMPTED_OUTCOMES = "ok|error|timeout|rejected"
FAILED_OUTCOMES = "error|timeout|rejected"


def cause_recording_rules(estate: Estate, variant: Variant) -> list[RecordingRule]:
    """The series the anomaly alerts compare with their own baseline."""
    anomaly = estate.alert_rules.anomaly
    window = variant.window(anomaly.short_window_s, "anomaly.short_window_s")
    total = f"sum by (service) (rate(http_requests_total[{window}]))"
    errors = f'sum by (service) (rate(http_requests_total{{code=~"5.."}}[{window}]))'
    count = f"sum by (service) (rate(http_request_duration_seconds_count[{window}]))"
    buckets = (
        f"sum by (service, le) (rate(http_request_duration_seconds_bucket[{window}]))"
    )
    quantile = _number(anomaly.latency_quantile)
    return [
        RecordingRule(REQUEST_RATE, total),
        RecordingRule(ERROR_RATIO, f"{errors} / ({total} > 0)"),
        RecordingRule(
            LATENCY_QUANTILE,
            f"histogram_quantile({quantile}, {buckets}) and on (service) ({count} > 0)",
            {"quantile": quantile},
        ),
    ]


def cause_rules(estate: Estate, variant: Variant) -> list[AlertRule]:
    """Every cause, anomaly and synthetic alert: edges, services, then journeys."""
    rules = []
    for service in estate.services.values():
        for dependency in service.dependencies:
            rules.append(_dependency_errors(estate, variant, service, dependency))
            rules.append(_dependency_latency(estate, variant, service, dependency))
            rules.append(_circuit_breaker_open(estate, variant, service, dependency))
    for service in estate.services.values():
        rules.append(_saturation(estate, variant, service))
        rules.append(_error_ratio_anomaly(estate, variant, service))
        rules.append(_latency_anomaly(estate, variant, service))
    for name in estate.synthetics.journeys:
        rules.append(_synthetic_journey_failing(estate, variant, name))
    return rules


def cause_rule_group(estate: Estate, variant: Variant) -> RuleGroup:
    """The recordings, then every alert that reads them, as one group."""
    return RuleGroup(
        RULE_GROUP,
        (*cause_recording_rules(estate, variant), *cause_rules(estate, variant)),
    )


def render_cause_rules(estate: Estate, variant: Variant) -> str:
    """cause_rule_group() alone as a rule file, for promtool and tests."""
    group = cause_rule_group(estate, variant)
    interval = compact_duration(variant.evaluation_interval_s, "evaluation_interval_s")
    document = {
        "groups": [
            {
                "name": group.name,
                "interval": interval,
                "rules": [rule.as_prometheus() for rule in group.rules],
            }
        ]
    }
    # Wide enough that no expression is folded over lines.
    return yaml.safe_dump(document, sort_keys=False, width=1_000_000)


def write_cause_rules(path: Path, estate: Estate, variant: Variant) -> Path:
    """Write render_cause_rules() to path and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_cause_rules(estate, variant))
    return path


# Per edge


def _dependency_errors(
    estate: Estate, variant: Variant, service: Service, dependency: str
) -> AlertRule:
    rule = estate.alert_rules.dependency_errors
    window = variant.window(rule.window_s, "dependency_errors.window_s")
    edge = f'service="{service.name}",dependency="{dependency}"'
    failed = _edge_rate(
        "dependency_requests_total", f'{edge},outcome=~"{FAILED_OUTCOMES}"', window
    )
    attempted = _edge_rate(
        "dependency_requests_total", f'{edge},outcome=~"{ATTEMPTED_OUTCOMES}"', window
    )
    expr = _share_with_minimum(
        failed,
        attempted,
        rule.max_failed_share,
        rule.min_calls,
        variant.seconds(rule.window_s),
    )
    return AlertRule(
        name=DEPENDENCY_ERRORS,
        expr=expr,
        for_s=variant.seconds(rule.for_s),
        window_s=variant.seconds(rule.window_s),
        labels={**_labels(service, "ticket", CAUSE), "dependency": dependency},
        annotations=_annotations(
            estate,
            variant,
            DEPENDENCY_ERRORS,
            service.name,
            expr,
            summary=(
                f"{service.name} -> {dependency}: {{{{ $value | humanizePercentage }}}}"
                f" of calls failed over {window}"
            ),
            description=(
                f"More than {_percent(rule.max_failed_share)} of {service.name}'s "
                f"calls to {dependency} answered an error, timed out or were "
                f"refused by its breaker or bulkhead over {window} (at least "
                f"{rule.min_calls} calls). Look at {dependency} and the "
                f"{service.name}_to_{dependency} route."
            ),
        ),
    )


def _dependency_latency(
    estate: Estate, variant: Variant, service: Service, dependency: str
) -> AlertRule:
    rule = estate.alert_rules.dependency_latency
    window = variant.window(rule.window_s, "dependency_latency.window_s")
    timeout_s = estate.route_for(service.name, dependency).timeout_s
    slow_s = round(timeout_s * rule.slow_share_of_timeout, 6)
    edge = f'service="{service.name}",dependency="{dependency}"'
    # The mocks write "le" as prometheus_client does ("1.0", not "1"), and
    # Prometheus 2 matches it as text (see rules.py).
    fast = _edge_rate(
        "dependency_request_duration_seconds_bucket",
        f'{edge},le="{floatToGoString(slow_s)}"',
        window,
    )
    count = _edge_rate("dependency_request_duration_seconds_count", edge, window)
    expr = _share_with_minimum(
        f"({count} - {fast})",
        count,
        rule.max_slow_share,
        rule.min_calls,
        variant.seconds(rule.window_s),
    )
    return AlertRule(
        name=DEPENDENCY_LATENCY,
        expr=expr,
        for_s=variant.seconds(rule.for_s),
        window_s=variant.seconds(rule.window_s),
        labels={**_labels(service, "ticket", CAUSE), "dependency": dependency},
        annotations=_annotations(
            estate,
            variant,
            DEPENDENCY_LATENCY,
            service.name,
            expr,
            summary=(
                f"{service.name} -> {dependency}: {{{{ $value | humanizePercentage }}}}"
                f" of calls slower than {slow_s:g}s over {window}"
            ),
            description=(
                f"More than {_percent(rule.max_slow_share)} of {service.name}'s "
                f"calls to {dependency} took longer than {slow_s:g} s, "
                f"{_percent(rule.slow_share_of_timeout)} of the edge's "
                f"{timeout_s:g} s timeout, over {window} (at least "
                f"{rule.min_calls} calls)."
            ),
        ),
    )


def _circuit_breaker_open(
    estate: Estate, variant: Variant, service: Service, dependency: str
) -> AlertRule:
    rule = estate.alert_rules.circuit_breaker
    window = variant.window(rule.window_s, "circuit_breaker.window_s")
    selector = (
        f'dependency_circuit_state{{service="{service.name}",'
        f'dependency="{dependency}",state="open"}}'
    )
    expr = (
        f"max by (service, dependency) (avg_over_time({selector}[{window}])) "
        f">= {_number(rule.min_open_share)}"
    )
    return AlertRule(
        name=CIRCUIT_BREAKER_OPEN,
        expr=expr,
        for_s=variant.seconds(rule.for_s),
        window_s=variant.seconds(rule.window_s),
        labels={**_labels(service, "ticket", CAUSE), "dependency": dependency},
        annotations=_annotations(
            estate,
            variant,
            CIRCUIT_BREAKER_OPEN,
            service.name,
            expr,
            summary=(
                f"{service.name} -> {dependency}: breaker open "
                f"{{{{ $value | humanizePercentage }}}} of the last {window}"
            ),
            description=(
                f"{service.name}'s circuit breaker to {dependency} was open for at "
                f"least {_percent(rule.min_open_share)} of {window}: calls to "
                f"{dependency} are refused at once and answered 503 unless a "
                "fallback answers them."
            ),
        ),
    )


# Per service


def _saturation(estate: Estate, variant: Variant, service: Service) -> AlertRule:
    rule = estate.alert_rules.saturation
    window = variant.window(rule.window_s, "saturation.window_s")
    ceiling = rule.max_in_flight_for(service.name)
    selector = f'http_requests_in_flight{{service="{service.name}"}}'
    expr = (
        f"max by (service) (avg_over_time({selector}[{window}])) > {_number(ceiling)}"
    )
    return AlertRule(
        name=SATURATION,
        expr=expr,
        for_s=variant.seconds(rule.for_s),
        window_s=variant.seconds(rule.window_s),
        labels=_labels(service, "ticket", CAUSE),
        annotations=_annotations(
            estate,
            variant,
            SATURATION,
            service.name,
            expr,
            summary=(
                f'{service.name}: {{{{ $value | printf "%.1f" }}}} requests in '
                f"flight on average over {window}"
            ),
            description=(
                f"{service.name} held more than {ceiling:g} requests in flight on "
                f"average over {window}: requests are queueing, so its latency "
                "grows with every new one."
            ),
        ),
    )


def _error_ratio_anomaly(
    estate: Estate, variant: Variant, service: Service
) -> AlertRule:
    rule = estate.alert_rules.anomaly
    short = variant.window(rule.short_window_s, "anomaly.short_window_s")
    return _anomaly_rule(
        estate,
        variant,
        service,
        name=ERROR_RATIO_ANOMALY,
        current=f'{ERROR_RATIO}{{service="{service.name}"}}',
        min_change=rule.error_ratio_min_change,
        summary=(
            f"{service.name}: {{{{ $value | humanizePercentage }}}} of requests "
            f"answered 5xx over {short}, far above its baseline"
        ),
        what=f"share of 5xx answers over {short}",
        change=_percent(rule.error_ratio_min_change),
    )


def _latency_anomaly(estate: Estate, variant: Variant, service: Service) -> AlertRule:
    rule = estate.alert_rules.anomaly
    quantile = _number(rule.latency_quantile)
    short = variant.window(rule.short_window_s, "anomaly.short_window_s")
    percentile = f"p{float(quantile) * 100:g}"
    return _anomaly_rule(
        estate,
        variant,
        service,
        name=LATENCY_ANOMALY,
        current=(
            f'{LATENCY_QUANTILE}{{service="{service.name}",quantile="{quantile}"}}'
        ),
        min_change=rule.latency_min_change_s,
        summary=(
            f"{service.name}: {percentile} latency "
            f"{{{{ $value | humanizeDuration }}}} over {short}, far above its "
            "baseline"
        ),
        what=f"{percentile} latency over {short}",
        change=f"{rule.latency_min_change_s:g} s",
    )


def _anomaly_rule(
    estate: Estate,
    variant: Variant,
    service: Service,
    *,
    name: str,
    current: str,
    min_change: float,
    summary: str,
    what: str,
    change: str,
) -> AlertRule:
    """A ticket when current leaves its own baseline by far and by enough."""
    rule = estate.alert_rules.anomaly
    baseline = _baseline(estate, variant, current)
    return AlertRule(
        name=name,
        expr=_anomaly_expr(
            estate, variant, service, current, baseline, _number(min_change)
        ),
        for_s=variant.seconds(rule.for_s),
        window_s=variant.seconds(rule.short_window_s),
        labels=_labels(service, "ticket", SYMPTOM),
        annotations=_annotations(
            estate,
            variant,
            name,
            service.name,
            current,
            summary=summary,
            description=(
                f"{service.name}'s {what} is more than {rule.stddevs:g} standard "
                f"deviations and {change} above its mean over the "
                f"{baseline.window} before ({rule.min_requests} requests at least)."
            ),
        ),
    )


@dataclass(frozen=True)
class _Baseline:
    """Mean and deviation of a recorded series over the window before the last."""

    mean: str
    deviation: str
    window: str
    samples: str  # how many evaluations of the window hold a value


def _baseline(estate: Estate, variant: Variant, current: str) -> _Baseline:
    rule = estate.alert_rules.anomaly
    window = variant.window(rule.baseline_window_s, "anomaly.baseline_window_s")
    # Offset by the short window, so the change being judged is not yet part
    # of the baseline it is judged against.
    offset = variant.duration(rule.short_window_s, "anomaly.short_window_s")
    return _Baseline(
        mean=f"avg_over_time({current}[{window}] offset {offset})",
        deviation=f"stddev_over_time({current}[{window}] offset {offset})",
        window=window,
        samples=f"count_over_time({current}[{window}] offset {offset})",
    )


def _anomaly_expr(
    estate: Estate,
    variant: Variant,
    service: Service,
    current: str,
    baseline: _Baseline,
    min_change: str,
) -> str:
    rule = estate.alert_rules.anomaly
    short_s = variant.seconds(rule.short_window_s)
    traffic = f'{REQUEST_RATE}{{service="{service.name}"}} * {_number(short_s)}'
    baseline_s = variant.seconds(rule.baseline_window_s)
    min_samples = math.ceil(
        rule.min_baseline_share * baseline_s / variant.evaluation_interval_s
    )
    # With a flat baseline the deviation is 0 and the first test alone would
    # pass on rounding noise; the minimum change and traffic keep it quiet,
    # and a baseline must have enough points to be one.
    return (
        f"{current} > ({baseline.mean} + {_number(rule.stddevs)} * "
        f"{baseline.deviation}) "
        f"and {current} > ({baseline.mean} + {min_change}) "
        f"and on (service) ({traffic} >= {rule.min_requests}) "
        f"and on (service) ({baseline.samples} >= {min_samples})"
    )


# Per journey


def _synthetic_journey_failing(
    estate: Estate, variant: Variant, journey: str
) -> AlertRule:
    rule = estate.alert_rules.synthetic_journeys
    service = estate.services[estate.synthetics.journeys[journey].service]
    window = variant.window(rule.window_s, "synthetic_journeys.window_s")
    selector = f'journey="{journey}"'

    def runs(matcher: str) -> str:
        return (
            f"sum by (journey) (rate(synthetic_journey_runs_total{{{matcher}}}"
            f"[{window}]))"
        )

    expr = _share_with_minimum(
        runs(f'{selector},result="failure"'),
        runs(selector),
        rule.max_failed_share,
        rule.min_runs,
        variant.seconds(rule.window_s),
    )
    return AlertRule(
        name=SYNTHETIC_JOURNEY_FAILING,
        expr=expr,
        for_s=variant.seconds(rule.for_s),
        window_s=variant.seconds(rule.window_s),
        labels={**_labels(service, "page", SYMPTOM), "journey": journey},
        annotations=_annotations(
            estate,
            variant,
            SYNTHETIC_JOURNEY_FAILING,
            service.name,
            expr,
            summary=(
                f"{journey}: {{{{ $value | humanizePercentage }}}} of synthetic runs "
                f"failed over {window}"
            ),
            description=(
                f"More than {_percent(rule.max_failed_share)} of the synthetic "
                f"{journey} runs (at least {rule.min_runs}) failed over {window}: "
                f"{service.name}'s users cannot make this journey."
            ),
        ),
    )


# Shared pieces


def _edge_rate(metric: str, matchers: str, window: str) -> str:
    return f"sum by (service, dependency) (rate({metric}{{{matchers}}}[{window}]))"


def _share_with_minimum(
    part: str, whole: str, max_share: float, min_count: int, window_s: float
) -> str:
    # A share of a handful of events is noise: two failed calls at night are
    # 100 %. The count over the window must reach min_count first.
    return (
        f"({part} / {whole}) > {_number(max_share)} "
        f"and ({whole} * {_number(window_s)}) >= {min_count}"
    )


def _labels(service: Service, severity: str, signal: str) -> dict[str, str]:
    return {
        "service": service.name,
        "severity": severity,
        "team": service.team,
        "signal": signal,
    }


def _annotations(
    estate: Estate,
    variant: Variant,
    alert: str,
    service: str,
    graph: str,
    summary: str,
    description: str,
) -> dict[str, str]:
    """The context every generated alert carries (harness.observe.annotations)."""
    return {
        "summary": summary,
        "description": description,
        "runbook": runbook_for(estate, alert),
        "dashboard": dashboard_for(estate, variant, service, "", graph),
        "recent_changes": recent_changes(estate, variant, service),
    }


def _number(value: float) -> str:
    # 1 - 0.99 is 0.010000000000000009 in binary floating point.
    return f"{value:.6g}"


def _percent(share: float) -> str:
    return f"{share * 100:.6g}%"

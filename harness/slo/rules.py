"""SLI recording rules and multi-window, multi-burn-rate alerts from SLO specs.

Per objective and per window the SLI is recorded as an error ratio
(``slo:sli_error:ratio_rate<window>``) and, for long windows, as a count of
bad events (``slo:sli_bad_events:increase<window>``). An objective has a
page and a ticket alert of the same name; each fires when any of its
severity's window pairs burns the budget faster than the pair's rate, with
at least min_bad_events in the long window. With no traffic the ratio is not
recorded at all (no data, never 0% or 100%) and SLONoData fires instead.

The same functions build the production and the experiment rules: only the
Variant differs.
"""

from prometheus_client.utils import floatToGoString

from harness.config import Estate
from harness.observe.annotations import dashboard_for, recent_changes, runbook_for
from harness.observe.rule_model import AlertRule, RecordingRule
from harness.slo.spec import AVAILABILITY, BurnWindow, Objective
from harness.slo.variant import Variant

ERROR_RATIO = "slo:sli_error:ratio_rate"
BAD_EVENTS = "slo:sli_bad_events:increase"
NO_DATA = "SLONoData"
BURN_RATE_SUFFIX = "BurnRate"


def camel(name: str) -> str:
    """CamelCase a slug: "claims-api-availability" -> "ClaimsApiAvailability"."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def burn_alert_name(objective: Objective) -> str:
    return camel(objective.name) + BURN_RATE_SUFFIX


def slo_recording_rules(estate: Estate, variant: Variant) -> list[RecordingRule]:
    """Every SLI recording, objective by objective, shortest window first."""
    rules = []
    for objective in estate.slo_specs.objectives:
        labels = _slo_labels(objective)
        for window_s in _windows(estate):
            window = variant.window(window_s, f"{objective.name} window")
            rules.append(
                RecordingRule(
                    ERROR_RATIO + window, _error_ratio(objective, window), labels
                )
            )
        for window_s in _long_windows(estate):
            window = variant.window(window_s, f"{objective.name} window")
            expr = _bad_events(objective, window)
            rules.append(RecordingRule(BAD_EVENTS + window, expr, labels))
    return rules


def slo_alert_rules(estate: Estate, variant: Variant) -> list[AlertRule]:
    """Per objective its page and ticket burn-rate alerts and its no-data alert."""
    rules = []
    for objective in estate.slo_specs.objectives:
        for severity in ("page", "ticket"):
            rules.append(_burn_rule(estate, variant, objective, severity))
        rules.append(_no_data_rule(estate, variant, objective))
    return rules


def pair_threshold(objective: Objective, window: BurnWindow) -> float:
    """The error ratio above which a pair burns too fast, such as 0.144."""
    return round(window.burn_rate * objective.error_budget, 9)


def _burn_rule(
    estate: Estate, variant: Variant, objective: Objective, severity: str
) -> AlertRule:
    policy = estate.slo_specs.policy
    windows = policy.windows_of(severity)
    selector = f'{{slo="{objective.name}"}}'
    pairs = []
    for window in windows:
        long = variant.window(window.long_window_s, "long_window_s")
        short = variant.window(window.short_window_s, "short_window_s")
        threshold = f"{pair_threshold(objective, window):.9g}"
        pairs.append(
            f"({ERROR_RATIO}{long}{selector} > {threshold}"
            f" and {ERROR_RATIO}{short}{selector} > {threshold}"
            f" and {BAD_EVENTS}{long}{selector} >= {policy.min_bad_events})"
        )
    name = burn_alert_name(objective)
    first = variant.window(windows[0].short_window_s, "short_window_s")
    return AlertRule(
        name=name,
        expr="\n or ".join(pairs),
        for_s=variant.seconds(max(w.for_s for w in windows)),
        labels=alert_labels(estate, objective, severity),
        annotations={
            "summary": _burn_summary(objective, severity),
            "description": _burn_description(estate, variant, objective, windows),
            "runbook": runbook_for(estate, name),
            "dashboard": dashboard_for(
                estate,
                variant,
                objective.service,
                objective.name,
                f"{ERROR_RATIO}{first}{selector}",
            ),
            "recent_changes": recent_changes(estate, variant, objective.service),
        },
    )


def _no_data_rule(estate: Estate, variant: Variant, objective: Objective) -> AlertRule:
    policy = estate.slo_specs.policy
    silence_s = objective.no_data_for_s or policy.no_data_for_s
    window = variant.window(
        min(w.short_window_s for w in policy.windows), "short_window_s"
    )
    total = _sum_over_requests(objective, _total_metric(objective), window, "")
    present = " or ".join(
        f"absent({_total_metric(objective)}{{{_matchers(objective, request)}}})"
        for request in _request_scopes(objective)
    )
    return AlertRule(
        name=NO_DATA,
        expr=f"({total}) == 0 or {present}",
        for_s=variant.seconds(silence_s),
        window_s=variant.seconds(min(w.short_window_s for w in policy.windows)),
        labels=alert_labels(estate, objective, "ticket"),
        annotations={
            "summary": (
                f"{objective.name}: no requests for "
                f"{variant.duration(silence_s, 'no_data_for_s')}"
            ),
            "description": (
                f"{objective.service} recorded no request that counts for "
                f"{objective.name}; its SLI is unknown, not met. Check that the "
                "service is scraped and that traffic or the synthetic probes reach it."
            ),
            "runbook": runbook_for(estate, NO_DATA),
            "dashboard": dashboard_for(
                estate, variant, objective.service, objective.name
            ),
            "recent_changes": recent_changes(estate, variant, objective.service),
        },
    )


def _burn_summary(objective: Objective, severity: str) -> str:
    what = "failed" if objective.sli == AVAILABILITY else "were too slow"
    return (
        f"{objective.service}: {{{{ $value | humanizePercentage }}}} of requests "
        f"{what}, burning the {objective.name} error budget fast enough to "
        f"{severity}"
    )


def _burn_description(
    estate: Estate, variant: Variant, objective: Objective, windows
) -> str:
    period_s = estate.slo_specs.policy.period_s
    pairs = "; ".join(
        f"{variant.duration(w.long_window_s, 'long_window_s')} and "
        f"{variant.duration(w.short_window_s, 'short_window_s')} windows above "
        f"{pair_threshold(objective, w):.4g} ({w.burn_rate:g}x the budget rate, "
        f"{w.budget_spent(period_s):.0%} of the budget)"
        for w in windows
    )
    return (
        f"{objective.description} Target {objective.target:.4g} over "
        f"{period_s / 86400:g} days; fires on any of: {pairs}."
    )


def alert_labels(estate: Estate, objective: Objective, severity: str) -> dict:
    """The labels of an objective's alerts: where, how urgent, whose, what."""
    labels = {
        "service": objective.service,
        "severity": severity,
        "team": estate.services[objective.service].team,
        "signal": "symptom",
        "slo": objective.name,
        "sli": objective.sli,
    }
    if objective.journey:
        labels["journey"] = objective.journey
    return labels


def _slo_labels(objective: Objective) -> dict[str, str]:
    return {"slo": objective.name, "sli": objective.sli}


def _windows(estate: Estate) -> list[float]:
    policy = estate.slo_specs.policy
    seconds = {w.long_window_s for w in policy.windows}
    seconds |= {w.short_window_s for w in policy.windows}
    return sorted(seconds)


def _long_windows(estate: Estate) -> list[float]:
    return sorted({w.long_window_s for w in estate.slo_specs.policy.windows})


def _error_ratio(objective: Objective, window: str) -> str:
    # Dividing by the total only where it is above zero records nothing for an
    # idle service: "no data", where 0/0 would record NaN and x/0 infinity.
    bad = _bad_rate(objective, window, "rate")
    total = _sum_over_requests(objective, _total_metric(objective), window, "")
    return f"({bad})\n/ (({total}) > 0)"


def _bad_events(objective: Objective, window: str) -> str:
    return _bad_rate(objective, window, "increase")


def bad_events_query(objective: Objective, window: str) -> str:
    """The SLI's bad events over window, counted as the burn-rate rules count them."""
    return _bad_events(objective, window)


def total_events_query(objective: Objective, window: str) -> str:
    """Every event the SLI counts over window, good and bad."""
    return _sum_over_requests(
        objective, _total_metric(objective), window, "", "increase"
    )


def _bad_rate(objective: Objective, window: str, function: str) -> str:
    if objective.sli == AVAILABILITY:
        return _sum_over_requests(
            objective, "http_requests_total", window, 'code=~"5.."', function
        )
    # The mocks export an "le" edge at every threshold, written the way
    # prometheus_client writes it ("1.0", not "1"); Prometheus 2 matches the
    # label as text, so the rule must spell it identically.
    edge = f'le="{floatToGoString(objective.threshold_s)}"'
    count = _sum_over_requests(
        objective, "http_request_duration_seconds_count", window, "", function
    )
    fast = _sum_over_requests(
        objective, "http_request_duration_seconds_bucket", window, edge, function
    )
    return f"({count}) - ({fast})"


def _total_metric(objective: Objective) -> str:
    if objective.sli == AVAILABILITY:
        return "http_requests_total"
    return "http_request_duration_seconds_count"


def _sum_over_requests(
    objective: Objective, metric: str, window: str, extra: str, function: str = "rate"
) -> str:
    return " + ".join(
        f"sum by (service) ({function}({metric}"
        f"{{{_matchers(objective, request, extra)}}}[{window}]))"
        for request in _request_scopes(objective)
    )


def _request_scopes(objective: Objective) -> list:
    return list(objective.requests) or [None]


def _matchers(objective: Objective, request, extra: str = "") -> str:
    parts = [f'service="{objective.service}"']
    if request is not None:
        parts += [f'method="{request.method}"', f'route="{request.route}"']
    if extra:
        parts.append(extra)
    return ",".join(parts)

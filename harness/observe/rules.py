"""The Prometheus rule file: every generated rule group of the estate.

Groups, each evaluated in order so an alert reads this round's recordings:

    slos            SLI recordings, burn-rate alerts, SLONoData (harness.slo)
    service-health  ServiceDown per scraped service
    causes          per-edge errors and latency, breakers, saturation,
                    synthetic journeys, anomalies (cause_rules.py)

Both variants (production windows, or compressed for experiments) come from
the same functions. Experiments render the file without some alerts to prove
that a verdict fails when its rule is gone.
"""

from collections.abc import Iterable
from pathlib import Path

import yaml

from harness.config import Estate, Service
from harness.errors import ConfigError
from harness.observe.annotations import dashboard_for, recent_changes, runbook_for
from harness.observe.cause_rules import cause_rule_group
from harness.observe.durations import compact_duration
from harness.observe.rule_model import AlertRule, RecordingRule, RuleGroup
from harness.slo.rules import slo_alert_rules, slo_recording_rules
from harness.slo.variant import Variant, experiment

SERVICE_DOWN = "ServiceDown"
# Production waits this long before paging for a failed scrape; compressed
# like every duration, it is 2 s (two evaluations) in experiments.
SERVICE_DOWN_FOR_S = 120.0

__all__ = [
    "AlertRule",
    "RecordingRule",
    "RuleGroup",
    "alert_catalogue",
    "alert_names",
    "alert_rules",
    "render_rules",
    "rule_groups",
    "runbook_for",
    "sli_exprs",
    "write_rules",
]


def rule_groups(estate: Estate, variant: Variant | None = None) -> list[RuleGroup]:
    """Every rule group, for the experiment variant unless told otherwise."""
    variant = variant or experiment(estate.observability)
    slos = [*slo_recording_rules(estate, variant), *slo_alert_rules(estate, variant)]
    health = [_service_down_rule(estate, variant, s) for s in estate.services.values()]
    return [
        RuleGroup("slos", tuple(slos)),
        RuleGroup("service-health", tuple(health)),
        cause_rule_group(estate, variant),
    ]


def alert_rules(estate: Estate, variant: Variant | None = None) -> list[AlertRule]:
    """Every alert rule, in file order."""
    return [rule for group in rule_groups(estate, variant) for rule in group.alerts()]


def alert_names(estate: Estate) -> list[str]:
    """Distinct alert names, in rule order."""
    return list(dict.fromkeys(rule.name for rule in alert_rules(estate)))


def alert_catalogue(
    estate: Estate, variant: Variant | None = None
) -> dict[str, tuple[str, ...]]:
    """Each alert name with the severities of its rules, in rule order."""
    catalogue: dict[str, list[str]] = {}
    for rule in alert_rules(estate, variant):
        severities = catalogue.setdefault(rule.name, [])
        severity = rule.labels.get("severity", "")
        if severity not in severities:
            severities.append(severity)
    return {name: tuple(severities) for name, severities in catalogue.items()}


def render_rules(
    estate: Estate,
    without: Iterable[str] = (),
    variant: Variant | None = None,
    annotations: bool = True,
) -> str:
    """The Prometheus rule file as YAML, leaving out the alerts named in without.

    annotations=False leaves every alert's annotations out: promtool compares
    them in unit tests, and the logic tests need not spell out each template.
    """
    variant = variant or experiment(estate.observability)
    groups = rule_groups(estate, variant)
    dropped = set(without)
    unknown = dropped - {rule.name for g in groups for rule in g.alerts()}
    if unknown:
        raise ConfigError(
            f"field 'without' names {sorted(unknown)!r}, which are not generated "
            f"alerts; accepted names: {', '.join(alert_names(estate))}"
        )
    interval = compact_duration(variant.evaluation_interval_s, "evaluation_interval_s")
    document = {
        "groups": [
            {
                "name": group.name,
                "interval": interval,
                "rules": [
                    _as_prometheus(rule, annotations)
                    for rule in group.rules
                    if getattr(rule, "name", None) not in dropped
                ],
            }
            for group in groups
        ]
    }
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def _as_prometheus(rule: AlertRule | RecordingRule, annotations: bool) -> dict:
    rendered = rule.as_prometheus()
    if not annotations:
        rendered.pop("annotations", None)
    return rendered


def write_rules(
    path: Path,
    estate: Estate,
    without: Iterable[str] = (),
    variant: Variant | None = None,
) -> Path:
    """Write render_rules() to path and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rules(estate, without, variant))
    return path


def sli_exprs(estate: Estate, service: str) -> dict[str, str]:
    """PromQL of one service's SLIs over rate_window_s, for the SLO watcher.

    Keys: request_rate, errors and total (5xx and all requests per second),
    slow and count (requests slower than the latency threshold, and all).
    """
    from prometheus_client.utils import floatToGoString

    slo = estate.slos[service]
    window = compact_duration(estate.observability.rate_window_s, "rate_window_s")
    edge = f'le="{floatToGoString(slo.latency_threshold_s)}"'
    fast = _rate("http_request_duration_seconds_bucket", service, window, edge)
    count = _rate("http_request_duration_seconds_count", service, window)
    total = _rate("http_requests_total", service, window)
    return {
        "request_rate": total,
        "errors": _rate("http_requests_total", service, window, 'code=~"5.."'),
        "total": total,
        "slow": f"({count} - {fast})",
        "count": count,
    }


def _service_down_rule(estate: Estate, variant: Variant, service: Service) -> AlertRule:
    # One rule per service rather than one over all jobs, so each alert can
    # carry the owning team as a static label.
    expr = f'up{{job="{service.name}"}} == 0'
    return AlertRule(
        name=SERVICE_DOWN,
        expr=expr,
        for_s=variant.seconds(SERVICE_DOWN_FOR_S),
        labels={
            "service": service.name,
            "severity": "page",
            "team": service.team,
            "signal": "cause",
        },
        annotations={
            "summary": f"{service.name}: scrape of {{{{ $labels.instance }}}} failed",
            "description": (
                f"Prometheus cannot scrape {service.name}; the process is down "
                "or not answering on its metrics port."
            ),
            "runbook": runbook_for(estate, SERVICE_DOWN),
            "dashboard": dashboard_for(estate, variant, service.name, "", expr),
            "recent_changes": recent_changes(estate, variant, service.name),
        },
    )


def _rate(metric: str, service: str, window: str, matcher: str = "") -> str:
    selector = f'service="{service}"' + (f",{matcher}" if matcher else "")
    return f"sum by (service) (rate({metric}{{{selector}}}[{window}]))"

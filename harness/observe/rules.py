"""Prometheus alert rules generated from the SLOs and teams in the estate.

Per service with an SLO there is an availability alert
(``<Service>HighErrorRate``) and a latency alert (``<Service>HighLatency``);
every scraped mock also has a ``ServiceDown`` alert. Experiments render the
file without some alerts to prove that a verdict fails when its rule is gone.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from prometheus_client.utils import floatToGoString

from harness.config import Estate, Observability, Service
from harness.errors import ConfigError
from harness.observe.durations import render_duration

# Alerts wait this many rule evaluations in "pending" before firing, so one
# unlucky scrape does not page, yet an experiment still sees the alert in
# seconds. A multiple of the evaluation interval keeps the wait exact.
ALERT_FOR_EVALUATIONS = 2

RULE_GROUP = "resilience-harness-slos"
SERVICE_DOWN = "ServiceDown"


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule, as it will be written to the rule file."""

    name: str
    expr: str
    for_s: float
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def as_prometheus(self) -> dict:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": render_duration(self.for_s, f"{self.name}.for"),
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }


def alert_for_s(obs: Observability) -> float:
    """How long every generated alert stays pending before it fires."""
    return ALERT_FOR_EVALUATIONS * obs.evaluation_interval_s


def alert_prefix(service: str) -> str:
    """CamelCase a service name: "claims-api" -> "ClaimsApi"."""
    return "".join(part.capitalize() for part in service.replace("_", "-").split("-"))


def alert_rules(estate: Estate) -> list[AlertRule]:
    """Every alert rule of the estate, SLO alerts first, in service order."""
    rules = []
    for service in estate.services.values():
        if service.name in estate.slos:
            rules.append(_error_rate_rule(estate, service))
            rules.append(_latency_rule(estate, service))
    rules.extend(
        _service_down_rule(estate, service) for service in estate.services.values()
    )
    return rules


def alert_names(estate: Estate) -> list[str]:
    """Distinct alert names, in rule order."""
    return list(dict.fromkeys(rule.name for rule in alert_rules(estate)))


def render_rules(estate: Estate, without: Iterable[str] = ()) -> str:
    """The Prometheus rule file as YAML, leaving out the alerts named in without."""
    rules = alert_rules(estate)
    dropped = set(without)
    unknown = dropped - {rule.name for rule in rules}
    if unknown:
        raise ConfigError(
            f"field 'without' names {sorted(unknown)!r}, which are not generated "
            f"alerts; accepted names: {', '.join(alert_names(estate))}"
        )
    kept = [rule.as_prometheus() for rule in rules if rule.name not in dropped]
    document = {
        "groups": [
            {
                "name": RULE_GROUP,
                "interval": render_duration(
                    estate.observability.evaluation_interval_s,
                    "evaluation_interval_s",
                ),
                "rules": kept,
            }
        ]
    }
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def write_rules(path: Path, estate: Estate, without: Iterable[str] = ()) -> Path:
    """Write render_rules() to path and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rules(estate, without))
    return path


def sli_exprs(estate: Estate, service: str) -> dict[str, str]:
    """PromQL of one service's SLIs, shared by its alerts and the SLO watcher.

    Keys: request_rate, errors and total (5xx and all requests per second),
    slow and count (requests slower than the latency threshold, and all).
    """
    slo = estate.slos[service]
    window = _window(estate)
    # The mocks export an "le" edge at every threshold, written the way
    # prometheus_client writes it ("1.0", not "1"); Prometheus 2 matches the
    # label as text, so the rule must spell it identically.
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


def _error_rate_rule(estate: Estate, service: Service) -> AlertRule:
    slo = estate.slos[service.name]
    name = f"{alert_prefix(service.name)}HighErrorRate"
    window = _window(estate)
    allowed = _ratio(1 - slo.availability_objective)
    sli = sli_exprs(estate, service.name)
    return AlertRule(
        name=name,
        expr=_guarded_ratio(sli["errors"], sli["total"], allowed),
        for_s=alert_for_s(estate.observability),
        labels=_labels(service, "page"),
        annotations=_annotations(
            estate,
            name,
            summary=(
                f"{service.name}: {{{{ $value | humanizePercentage }}}} of requests "
                f"answered 5xx over {window}"
            ),
            description=(
                f"More than {_percent(allowed)} of {service.name} requests failed "
                f"with a 5xx status over {window}, burning the "
                f"{_percent(slo.availability_objective)} availability objective."
            ),
        ),
    )


def _latency_rule(estate: Estate, service: Service) -> AlertRule:
    slo = estate.slos[service.name]
    name = f"{alert_prefix(service.name)}HighLatency"
    window = _window(estate)
    allowed = _ratio(1 - slo.latency_objective)
    sli = sli_exprs(estate, service.name)
    threshold = f"{slo.latency_threshold_s:g}s"
    return AlertRule(
        name=name,
        expr=_guarded_ratio(sli["slow"], sli["count"], allowed),
        for_s=alert_for_s(estate.observability),
        labels=_labels(service, "ticket"),
        annotations=_annotations(
            estate,
            name,
            summary=(
                f"{service.name}: {{{{ $value | humanizePercentage }}}} of requests "
                f"slower than {threshold} over {window}"
            ),
            description=(
                f"More than {_percent(allowed)} of {service.name} requests took "
                f"longer than {threshold} over {window}, burning the "
                f"{_percent(slo.latency_objective)} latency objective."
            ),
        ),
    )


def _service_down_rule(estate: Estate, service: Service) -> AlertRule:
    # One rule per service rather than one over all jobs, so each alert can
    # carry the owning team as a static label.
    return AlertRule(
        name=SERVICE_DOWN,
        expr=f'up{{job="{service.name}"}} == 0',
        for_s=alert_for_s(estate.observability),
        labels=_labels(service, "page"),
        annotations=_annotations(
            estate,
            SERVICE_DOWN,
            summary=f"{service.name}: scrape of {{{{ $labels.instance }}}} failed",
            description=(
                f"Prometheus cannot scrape {service.name}; the process is down "
                "or not answering on its metrics port."
            ),
        ),
    )


def _guarded_ratio(numerator: str, denominator: str, allowed: str) -> str:
    # With no traffic the ratio is 0/0; the guard states outright that an idle
    # service is not failing, rather than relying on NaN comparing false.
    return f"({numerator} / {denominator}) > {allowed} and {denominator} > 0"


def _rate(metric: str, service: str, window: str, matcher: str = "") -> str:
    selector = f'service="{service}"' + (f",{matcher}" if matcher else "")
    return f"sum by (service) (rate({metric}{{{selector}}}[{window}]))"


def _window(estate: Estate) -> str:
    return render_duration(estate.observability.rate_window_s, "rate_window_s")


def _ratio(value: float) -> str:
    # 1 - 0.99 is 0.010000000000000009 in binary floating point.
    return f"{value:.6g}"


def _percent(ratio: float | str) -> str:
    return f"{float(ratio) * 100:.6g}%"


def _labels(service: Service, severity: str) -> dict[str, str]:
    return {"service": service.name, "severity": severity, "team": service.team}


def _annotations(
    estate: Estate, alert: str, summary: str, description: str
) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "runbook": runbook_for(estate, alert),
    }


def runbook_for(estate: Estate, alert: str) -> str:
    """Repo-relative path of the first runbook (by name) answering alert, or ""."""
    for name in sorted(estate.runbooks):
        runbook = estate.runbooks[name]
        if alert in runbook.answers:
            return _repo_relative(runbook.path, estate.config_dir.parent)
    return ""


def _repo_relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()

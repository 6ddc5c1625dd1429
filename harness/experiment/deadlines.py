"""Each expected alert's deadlines, computed from the configuration.

A burn-rate alert's time to detect depends on how bad the fault is: the
experiment states the share of events it makes bad (error_ratio, 1 unless
told), and the burn-rate arithmetic of harness.slo.timing turns that into
how long the windows take to fill. Other alerts wait their rule's window.
An expectation that the arithmetic says can never hold is refused before
anything starts.
"""

from dataclasses import dataclass
from pathlib import Path

from harness.config import Estate
from harness.errors import ConfigError
from harness.experiment.schema import AlertExpectation, Experiment, load_experiment
from harness.observe.rule_model import AlertRule
from harness.observe.rules import alert_catalogue, alert_rules
from harness.observe.timing import (
    Deadline,
    detection_deadline,
    detection_floor,
    resolve_deadline,
)
from harness.slo.rules import BURN_RATE_SUFFIX
from harness.slo.timing import burn_timing
from harness.slo.variant import experiment as experiment_variant


@dataclass(frozen=True)
class AlertDeadlines:
    """When an expected alert must be notified firing, and resolved."""

    detect: Deadline
    floor: Deadline
    resolve: Deadline


def invalid_experiments(paths, estate: Estate) -> list[str]:
    """The error of every file that does not load, in order: all of them are
    checked before anything runs, so a typo in the last one costs nothing."""
    errors = []
    for path in paths:
        try:
            load_checked(path, estate)
        except ConfigError as exc:
            errors.append(str(exc))
    return errors


def load_checked(path: Path, estate: Estate) -> Experiment:
    """Load an experiment and refuse expectations no configuration can meet."""
    experiment = load_experiment(path, estate, alert_catalogue(estate))
    rules = alert_rules(estate)
    for alert in experiment.alerts:
        _check_context_names(matching_rules(rules, alert), alert)
    alert_deadlines(estate, experiment)
    return experiment


# Labels an alert gets from its series rather than from its rule.
SERIES_LABELS = ("alertname", "instance", "job")


def _check_context_names(rules: list[AlertRule], alert: AlertExpectation) -> None:
    """Refuse label and annotation names no matching rule can ever carry."""
    if not rules:
        raise ConfigError(
            f"{alert.where}: field 'expect.alerts' expects {alert.key} with labels "
            f"{dict(alert.labels)!r}, which no generated rule carries"
        )
    known = {name for rule in rules for name in rule.labels} | set(SERIES_LABELS)
    for name, _ in alert.labels:
        if name not in known:
            raise ConfigError(
                f"{alert.where}: field 'labels.{name}' names a label {alert.name} "
                f"never carries; accepted labels: {', '.join(sorted(known))}"
            )
    notes = {name for rule in rules for name in rule.annotations}
    for name, text in alert.annotations:
        if name not in notes:
            raise ConfigError(
                f"{alert.where}: field 'annotations.{name}' names an annotation "
                f"{alert.name} never carries; accepted: {', '.join(sorted(notes))}"
            )
        if not text and not any(rule.annotations.get(name) for rule in rules):
            raise ConfigError(
                f"{alert.where}: field 'annotations.{name}' must be non-empty, but "
                f"every rule of {alert.name} leaves it empty (no runbook answers "
                "it?); expected an annotation the rule fills"
            )


def alert_deadlines(estate: Estate, experiment: Experiment) -> dict:
    """Deadlines of every alert expected to fire, by expectation key."""
    rules = alert_rules(estate)
    effect_s = min(
        f.start_after_s + fault_effect_s(estate, f) for f in experiment.faults
    )
    burn_s = max(f.duration_s for f in experiment.faults)
    return {
        alert.key: _deadlines(estate, experiment, rules, alert, effect_s, burn_s)
        for alert in experiment.alerts
        if alert.fires
    }


def fault_effect_s(estate: Estate, fault) -> float:
    """How long until the fault shows in the calling service's own metrics."""
    if fault.kind != "latency":
        return 0.0
    delay_s = (fault.attributes["latency_ms"] + fault.attributes["jitter_ms"]) / 1000
    return min(delay_s, estate.routes[fault.route].timeout_s)


def matching_rules(rules: list[AlertRule], alert: AlertExpectation) -> list[AlertRule]:
    """The rules an expectation is about: its name, severity and labels."""
    wanted = dict(alert.labels)
    if alert.severity is not None:
        wanted["severity"] = alert.severity
    return [
        rule
        for rule in rules
        if rule.name == alert.name
        and all(rule.labels.get(k, v) == v for k, v in wanted.items())
    ]


def _deadlines(
    estate: Estate,
    experiment: Experiment,
    rules: list[AlertRule],
    alert: AlertExpectation,
    effect_s: float,
    burn_s: float,
) -> AlertDeadlines:
    obs = estate.observability
    candidates = matching_rules(rules, alert)
    if not candidates:
        raise ConfigError(
            f"{alert.where}: field 'expect.alerts' expects {alert.key} with "
            f"labels {dict(alert.labels)!r}, which no generated rule carries"
        )
    timings = [_window_timing(estate, alert, rule, burn_s) for rule in candidates]
    feasible = [t for t in timings if t[0] is not None]
    if not feasible:
        raise ConfigError(
            f"{alert.where}: field 'expect.alerts' expects {alert.key} to fire "
            f"with error_ratio {alert.error_ratio:g} for {burn_s:g} s; the "
            "burn-rate arithmetic says no window pair of the alert crosses its "
            "threshold: expected a larger error_ratio, a longer fault, or "
            "fires: false"
        )
    fill_s, clear_s, rule = min(feasible, key=lambda t: t[0])
    return AlertDeadlines(
        detect=detection_deadline(obs, rule.for_s, effect_s, fill_s, alert.margin_s),
        floor=detection_floor(obs, rule.for_s, effect_s, fill_s),
        resolve=resolve_deadline(obs, window_s=clear_s, margin_s=alert.margin_s),
    )


def _window_timing(estate: Estate, alert: AlertExpectation, rule, burn_s: float):
    slo = rule.labels.get("slo")
    objective = next((o for o in estate.slo_specs.objectives if o.name == slo), None)
    if objective is None or not rule.name.endswith(BURN_RATE_SUFFIX):
        clear_s = rule.window_s or estate.observability.rate_window_s
        return rule.window_s, clear_s, rule
    timing = burn_timing(
        estate.slo_specs.policy,
        experiment_variant(estate.observability),
        objective,
        rule.labels["severity"],
        alert.error_ratio,
        burn_s,
    )
    return timing.fill_s, timing.clear_s, rule

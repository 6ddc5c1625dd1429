"""Prometheus and Alertmanager for experiments: rules, config, queries, webhook.

The pieces, in the order an alert travels:

    rules.py         SLOs and teams -> Prometheus alert rules
    prometheus.py    prometheus.yml, the Prometheus process, its query API
    alertmanager.py  alertmanager.yml and the Alertmanager process
    webhook.py       the endpoint Alertmanager notifies
    timing.py        how long that journey may take, term by term
"""

import importlib

# Names resolve on first use, so importing one submodule (a rule generator,
# say) does not import every other one and their dependencies.
_EXPORTS = {
    "GroupTiming": "harness.observe.alertmanager",
    "Incident": "harness.observe.pager",
    "PagerEvent": "harness.observe.pager",
    "PagerStub": "harness.observe.pager",
    "AlertEvent": "harness.observe.webhook",
    "AlertRule": "harness.observe.rules",
    "AlertmanagerProcess": "harness.observe.alertmanager",
    "Binaries": "harness.observe.binaries",
    "Deadline": "harness.observe.timing",
    "Notification": "harness.observe.webhook",
    "PrometheusAPI": "harness.observe.prometheus",
    "PrometheusProcess": "harness.observe.prometheus",
    "WebhookPayloadError": "harness.observe.webhook",
    "WebhookSink": "harness.observe.webhook",
    "alert_names": "harness.observe.rules",
    "alert_rules": "harness.observe.rules",
    "check_alertmanager_config": "harness.observe.checks",
    "check_prometheus_config": "harness.observe.checks",
    "check_rules": "harness.observe.checks",
    "detection_deadline": "harness.observe.timing",
    "find_binaries": "harness.observe.binaries",
    "parse_notification": "harness.observe.webhook",
    "render_alertmanager_config": "harness.observe.alertmanager",
    "render_duration": "harness.observe.durations",
    "render_prometheus_config": "harness.observe.prometheus",
    "render_rules": "harness.observe.rules",
    "resolve_deadline": "harness.observe.timing",
    "run_rule_tests": "harness.observe.checks",
    "write_alertmanager_config": "harness.observe.alertmanager",
    "write_prometheus_config": "harness.observe.prometheus",
    "write_rules": "harness.observe.rules",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

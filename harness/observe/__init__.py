"""Prometheus and Alertmanager for experiments: rules, config, queries, webhook.

The pieces, in the order an alert travels:

    rules.py         SLOs and teams -> Prometheus alert rules
    prometheus.py    prometheus.yml, the Prometheus process, its query API
    alertmanager.py  alertmanager.yml (routes, grouping, inhibition), the process
    webhook.py       the endpoint Alertmanager notifies
    pager.py         the PagerDuty and Opsgenie stand-in Alertmanager pages
    timing.py        how long that journey may take, term by term
"""

from harness.observe.alertmanager import (
    AlertmanagerProcess,
    GroupTiming,
    render_alertmanager_config,
    write_alertmanager_config,
)
from harness.observe.binaries import Binaries, find_binaries
from harness.observe.checks import (
    check_alertmanager_config,
    check_prometheus_config,
    check_rules,
    run_rule_tests,
)
from harness.observe.durations import render_duration
from harness.observe.pager import Incident, PagerEvent, PagerStub
from harness.observe.prometheus import (
    PrometheusAPI,
    PrometheusProcess,
    render_prometheus_config,
    write_prometheus_config,
)
from harness.observe.rules import (
    AlertRule,
    alert_for_s,
    alert_names,
    alert_rules,
    render_rules,
    write_rules,
)
from harness.observe.timing import Deadline, detection_deadline, resolve_deadline
from harness.observe.webhook import (
    AlertEvent,
    Notification,
    WebhookPayloadError,
    WebhookSink,
    parse_notification,
)

__all__ = [
    "AlertEvent",
    "AlertRule",
    "AlertmanagerProcess",
    "Binaries",
    "Deadline",
    "GroupTiming",
    "Incident",
    "Notification",
    "PagerEvent",
    "PagerStub",
    "PrometheusAPI",
    "PrometheusProcess",
    "WebhookPayloadError",
    "WebhookSink",
    "alert_for_s",
    "alert_names",
    "alert_rules",
    "check_alertmanager_config",
    "check_prometheus_config",
    "check_rules",
    "detection_deadline",
    "find_binaries",
    "parse_notification",
    "render_alertmanager_config",
    "render_duration",
    "render_prometheus_config",
    "render_rules",
    "resolve_deadline",
    "run_rule_tests",
    "write_alertmanager_config",
    "write_prometheus_config",
    "write_rules",
]

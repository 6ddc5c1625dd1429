"""A real Alertmanager for an experiment: its config and its process.

The rendered route tree, from config/alerting.yaml and the estate's teams:

    root (the webhook, though its first child already takes every alert)
    ├── every alert ──► harness-webhook, continue     by alertname, service
    ├── severity="page" ──► (by service)
    │     ├── team="claims-platform" ──► claims-platform-pager
    │     └── ... one per team; an unknown team ──► the estate team's pager
    └── severity="ticket" ──► tickets                 by alertname, service

Inhibition comes from the dependency graph: while a service is down, the
symptoms of its callers and their alerts about it are held back.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.alerting import OPSGENIE, PAGERDUTY, Alerting, PagerTarget
from harness.config import Estate, Observability
from harness.errors import ConfigError
from harness.observe._process import start_until_ready
from harness.observe.binaries import Binaries, find_binaries
from harness.observe.checks import check_alertmanager_config
from harness.observe.durations import render_duration
from harness.stack.ports import LOOPBACK
from harness.stack.process import ManagedProcess

log = logging.getLogger(__name__)

RECEIVER = "harness-webhook"
TICKETS_RECEIVER = "tickets"
# The webhook keeps one group per alert and service: the remediation
# controller acts per alert, and the detection deadline (timing.py) counts one
# group_interval for an alert joining a group of its own name and service.
GROUP_BY = ["alertname", "service"]
# Both paging services turn the group key into the incident's identity
# (PagerDuty's dedup_key, Opsgenie's alias), so one group per service makes
# every page of one service outage (ServiceDown, its burn rates, a failing
# journey) one incident, updated as alerts join, resolved when all have.
PAGE_GROUP_BY = ["service"]
SERVICE_DOWN = "ServiceDown"

# The rendered file starts with the comment that explains its choices; each
# part appears only when the config has what it describes.
HEADER = """\
# Rendered by the resilience harness from config/ (estate.yaml, alerting.yaml,
# observability.yaml); edit those, not this file.
#
"""
PAGING_NOTE = """\
# - The first route sends every alert to the harness's remediation webhook
#   and continues, so the routes below never keep an alert from it.
# - Pages are grouped by service alone: the group key is PagerDuty's
#   dedup_key and Opsgenie's alias, so one outage opens one incident however
#   many of that service's alerts fire, and it resolves when all of them have.
# - Tickets go to one queue at an urgency that notifies no one, with the
#   owning team as responder: a slow burn is work for the day, not a call at
#   night, and one queue keeps every team's tickets where they are triaged.
"""
INHIBITION_NOTE = """\
# - Inhibition follows estate.yaml's calls: while ServiceDown fires for a
#   callee, each caller's symptoms and its alerts about that dependency are
#   held back, so the team that can act is paged, not every team upstream.
#   A page also holds back the ticket of the same alert, service and SLO.
#   An inhibited alert reaches no receiver, the webhook included.
"""


@dataclass(frozen=True)
class GroupTiming:
    """Alertmanager's three grouping delays, in seconds."""

    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float


def render_alertmanager_config(
    timing: Observability | GroupTiming,
    webhook_url: str,
    estate: Estate | None = None,
    pager_url: str | None = None,
) -> str:
    """alertmanager.yml as YAML, with the comment that explains its choices.

    timing: config/observability.yaml's values, or any other (such as
    production's 30 s / 5 m / 4 h). Without an estate every alert goes to the
    webhook alone; with one, inhibition follows its dependency graph; with a
    pager_url too, pages and tickets go to that pager service (PagerStub);
    an empty pager_url sends them to PagerDuty's and Opsgenie's own URLs.
    """
    if pager_url is not None and estate is None:
        raise ConfigError(
            f"pager_url is {pager_url!r} but no estate was given; routing to "
            "pagers needs the teams of config/alerting.yaml"
        )
    document = {
        "route": _root_route(timing, estate, pager_url),
        "receivers": _receivers(webhook_url, estate, pager_url),
    }
    comment = HEADER
    if pager_url is not None:
        comment += PAGING_NOTE
    if estate is not None:
        document["inhibit_rules"] = inhibit_rules(estate)
        comment += INHIBITION_NOTE
    return comment + yaml.safe_dump(document, sort_keys=False, width=1000)


def write_alertmanager_config(
    path: Path,
    timing: Observability | GroupTiming,
    webhook_url: str,
    estate: Estate | None = None,
    pager_url: str | None = None,
) -> Path:
    """Write render_alertmanager_config() to path and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_alertmanager_config(timing, webhook_url, estate, pager_url))
    return path


def pager_receiver(team: str) -> str:
    """Name of the receiver that pages team."""
    return f"{team}-pager"


def _root_route(
    timing: Observability | GroupTiming, estate: Estate | None, pager_url: str | None
) -> dict:
    route = {
        "receiver": RECEIVER,
        "group_by": list(GROUP_BY),
        "group_wait": render_duration(timing.group_wait_s, "group_wait_s"),
        "group_interval": render_duration(timing.group_interval_s, "group_interval_s"),
        "repeat_interval": render_duration(
            timing.repeat_interval_s, "repeat_interval_s"
        ),
    }
    if pager_url is not None:
        route["routes"] = [
            {"receiver": RECEIVER, "continue": True},
            _page_route(estate.alerting),
            {"receiver": TICKETS_RECEIVER, "matchers": ['severity="ticket"']},
        ]
    return route


def _page_route(alerting: Alerting) -> dict:
    return {
        "receiver": pager_receiver(alerting.fallback_team),
        "matchers": ['severity="page"'],
        "group_by": list(PAGE_GROUP_BY),
        "routes": [
            {"receiver": pager_receiver(team), "matchers": [f'team="{team}"']}
            for team in alerting.teams
            if team != alerting.fallback_team
        ],
    }


def _receivers(
    webhook_url: str, estate: Estate | None, pager_url: str | None
) -> list[dict]:
    receivers = [
        {
            "name": RECEIVER,
            "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
        }
    ]
    if pager_url is None:
        return receivers
    alerting = estate.alerting
    for team, target in alerting.teams.items():
        receivers.append(_pager(pager_receiver(team), target, pager_url, team))
    receivers.append(
        _pager(
            TICKETS_RECEIVER, alerting.tickets, pager_url, "{{ .CommonLabels.team }}"
        )
    )
    return receivers


def _pager(name: str, target: PagerTarget, pager_url: str, team: str) -> dict:
    base = pager_url.rstrip("/")
    if target.integration == PAGERDUTY:
        return {"name": name, "pagerduty_configs": [_pagerduty(target, base)]}
    if target.integration == OPSGENIE:
        return {"name": name, "opsgenie_configs": [_opsgenie(target, base, team)]}
    raise ConfigError(
        f"receiver {name!r}: integration {target.integration!r}; expected "
        f"{PAGERDUTY} or {OPSGENIE}"
    )


def _pagerduty(target: PagerTarget, base_url: str) -> dict:
    config = {"routing_key": target.key}
    if base_url:
        config["url"] = f"{base_url}/v2/enqueue"
    return config | {
        "send_resolved": True,
        "severity": target.urgency,
        "source": "{{ .CommonLabels.service }}",
        "component": "{{ .CommonLabels.service }}",
        "group": "{{ .CommonLabels.team }}",
    }


def _opsgenie(target: PagerTarget, base_url: str, team: str) -> dict:
    config = {"api_key": target.key}
    if base_url:
        # Alertmanager appends "v2/alerts" to this URL's path.
        config["api_url"] = f"{base_url}/"
    return config | {
        "send_resolved": True,
        "priority": target.urgency,
        # The message grows as alerts join the group; without updates the
        # incident would keep the first one's.
        "update_alerts": True,
        "entity": "{{ .CommonLabels.service }}",
        "tags": "{{ .CommonLabels.team }},{{ .CommonLabels.severity }}",
        "responders": [{"name": team, "type": "team"}],
    }


def inhibit_rules(estate: Estate) -> list[dict]:
    """Inhibitions from the dependency graph, then a page over its own ticket."""
    rules = []
    for caller, callee in estate.service_edges:
        for held_back in ('signal="symptom"', f'dependency="{callee}"'):
            rules.append(
                {
                    "source_matchers": [
                        f'alertname="{SERVICE_DOWN}"',
                        f'service="{callee}"',
                    ],
                    "target_matchers": [f'service="{caller}"', held_back],
                }
            )
    rules.append(
        {
            "source_matchers": ['severity="page"'],
            "target_matchers": ['severity="ticket"'],
            # A label missing on both sides counts as equal, so alerts
            # without an SLO still pair up by name and service.
            "equal": ["alertname", "service", "slo"],
        }
    )
    return rules


class AlertmanagerProcess:
    """One Alertmanager on 127.0.0.1, alone (no gossip); its files live in workdir.

    With an estate it inhibits along the dependency graph; with a pager_url
    too, it pages the teams of config/alerting.yaml there.
    `process` exists from construction on, so a caller can register it for
    clean-up before calling start().
    """

    def __init__(
        self,
        workdir: Path,
        port: int,
        webhook_url: str,
        observability: Observability,
        log_path: Path | None = None,
        binaries: Binaries | None = None,
        estate: Estate | None = None,
        pager_url: str | None = None,
    ):
        self.binaries = binaries or find_binaries()
        self.workdir = Path(workdir)
        self.port = port
        self.config_file = self.workdir / "alertmanager.yml"
        self.data_dir = self.workdir / "data"
        self._config_text = render_alertmanager_config(
            observability, webhook_url, estate, pager_url
        )
        self.process = ManagedProcess(
            "alertmanager",
            self.argv(),
            Path(log_path or self.workdir / "alertmanager.log"),
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:
        return [
            str(self.binaries.alertmanager),
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # Pages link back to Alertmanager; by default it names the host,
            # which nothing listens on.
            f"--web.external-url={self.url}",
            # An empty address turns gossip off; otherwise it would listen on
            # every interface at 9094 and two runs would collide.
            "--cluster.listen-address=",
        ]

    def start(self, timeout_s: float = 30.0) -> "AlertmanagerProcess":
        """Write and check the config, start Alertmanager, wait for /-/ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._config_text)
        # It holds the pagers' keys until the run folder is redacted at the end.
        self.config_file.chmod(0o600)
        check_alertmanager_config(self.binaries, self.config_file)
        start_until_ready(self.process, f"{self.url}/-/ready", timeout_s)
        return self

    def stop(self) -> int | None:
        """Stop the process by its PID; return its exit code."""
        return self.process.stop()

    def __enter__(self) -> "AlertmanagerProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

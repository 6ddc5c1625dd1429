"""Paging a team when a runbook has used its attempts and the alert still fires.

The page goes to the pager URL the estate pages (PagerDuty Events API v2 at
/v2/enqueue, or Opsgenie at /v2/alerts), with the team's key from
alerting.yaml, so it lands where the alert's own page would.
"""

import logging

import httpx

from harness.alerting import OPSGENIE, PAGERDUTY, Alerting
from harness.config import Runbook
from harness.remediate.actions import ActionError

log = logging.getLogger(__name__)

# Opsgenie priority for each PagerDuty severity a runbook may name.
_OPSGENIE_PRIORITY = {"critical": "P1", "error": "P2", "warning": "P4", "info": "P5"}


class Escalator:
    """Sends one page per escalation to the pager at pager_url."""

    def __init__(
        self,
        pager_url: str,
        alerting: Alerting,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.pager_url = pager_url.rstrip("/")
        self.alerting = alerting
        self._http = httpx.Client(
            timeout=timeout_s, transport=transport, trust_env=False
        )

    def escalate(self, runbook: Runbook, alertname: str, attempts: int) -> dict:
        """Page the runbook's team; the answer's fields go into the journal."""
        escalation = runbook.escalate
        target = self.alerting.teams[escalation.team]
        dedup_key = f"runbook:{runbook.name}:{alertname}"
        summary = (
            f"runbook {runbook.name} ran {attempts} time(s) and {alertname} "
            "still fires; a person is needed"
        )
        if target.integration == PAGERDUTY:
            path, headers = "/v2/enqueue", {}
            body = _pagerduty(target.key, dedup_key, summary, escalation.severity)
        elif target.integration == OPSGENIE:
            path = "/v2/alerts"
            headers = {"Authorization": f"GenieKey {target.key}"}
            priority = _OPSGENIE_PRIORITY[escalation.severity]
            body = {"message": summary, "alias": dedup_key, "priority": priority}
        else:
            raise ActionError(f"no way to page through {target.integration!r}")
        self._post(path, body, headers)
        return {
            "team": escalation.team,
            "integration": target.integration,
            "dedup_key": dedup_key,
            "severity": escalation.severity,
        }

    def _post(self, path: str, body: dict, headers: dict) -> None:
        url = self.pager_url + path
        try:
            answer = self._http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ActionError(f"POST {url} failed: {exc}") from exc
        if not answer.is_success:
            raise ActionError(
                f"POST {url} -> HTTP {answer.status_code}: {answer.text[:300]}"
            )

    def close(self) -> None:
        self._http.close()


def _pagerduty(routing_key: str, dedup_key: str, summary: str, severity: str) -> dict:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": "resilience-harness",
            "severity": severity,
        },
    }

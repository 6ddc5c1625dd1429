"""A stand-in for PagerDuty and Opsgenie that records who would have been paged.

Alertmanager's pagerduty_configs and opsgenie_configs are pointed at this
stub (`url: <stub>/v2/enqueue`, `api_url: <stub>/`). It answers as the two
services do, refuses what they would refuse (pager_api.py), and keeps one
Incident per PagerDuty dedup_key or Opsgenie alias while it is open, so a test
or a run can count how many incidents one outage opened and see them close.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from harness.errors import StackError
from harness.observe.background import BackgroundServer
from harness.observe.pager_api import (
    OPSGENIE,
    PAGERDUTY,
    EventParts,
    PagerRequestError,
    read_identifier_type,
    read_opsgenie_close,
    read_opsgenie_create,
    read_opsgenie_update,
    read_pagerduty,
)
from harness.observe.webhook import Received
from harness.stack.ports import LOOPBACK

log = logging.getLogger(__name__)

# PagerDuty's documented limit for one event; Opsgenie's bodies are smaller.
MAX_BODY_BYTES = 512 * 1024
GENIE_KEY_SCHEME = "GenieKey"


@dataclass(frozen=True)
class PagerEvent:
    """One request the stub accepted, and the incident it applied to."""

    integration: str  # "pagerduty" or "opsgenie"
    action: str  # trigger, acknowledge, resolve; create, close, update_message, ...
    key: str  # dedup_key, alias, or the identifier a close or update named
    credential: str  # routing key or API key
    summary: str
    severity: str  # PagerDuty severity or Opsgenie priority; "" when not given
    body: Any
    received: Received
    incident_id: str | None  # None: no open incident matched, the event was dropped


@dataclass(frozen=True)
class Incident:
    """One PagerDuty alert or Opsgenie alert, from its first event to its close."""

    id: str
    tiny_id: str
    integration: str
    key: str  # dedup_key or alias
    credential: str  # routing key or API key it was opened with
    opened: Received
    summary: str
    severity: str
    description: str
    details: dict
    events: tuple[PagerEvent, ...]
    closed: Received | None = None
    acknowledged: bool = False

    @property
    def open(self) -> bool:
        return self.closed is None


class PagerStub(BackgroundServer):
    """Serves both paging APIs on 127.0.0.1 and keeps every incident.

    on_event runs on the request's thread after the event is recorded and
    before the answer goes out; a failing callback is logged, never answered.
    """

    what = "pager stub"
    url_suffix = ""

    def __init__(
        self,
        on_event: Callable[[PagerEvent], None] | None = None,
        host: str = LOOPBACK,
        port: int = 0,
    ):
        self.on_event = on_event
        super().__init__(host, port)
        self._incidents: dict[str, Incident] = {}
        self._open: dict[tuple[str, str, str], str] = {}
        self._events: list[PagerEvent] = []

    def _make_server(self) -> "_StubServer":
        return _StubServer((self.host, self.port), _Handler, self)

    def incidents(self) -> list[Incident]:
        """Every incident so far, oldest first."""
        with self._changed:
            return list(self._incidents.values())

    def open_incidents(self) -> list[Incident]:
        return [incident for incident in self.incidents() if incident.open]

    def events(self) -> list[PagerEvent]:
        """Every accepted request so far, oldest first, dropped ones included."""
        with self._changed:
            return list(self._events)

    def forget(self) -> None:
        """Drop every incident, so the next experiment's pages are its own."""
        with self._changed:
            self._incidents.clear()
            self._open.clear()
            self._events.clear()

    def page_count(self, credential: str | None = None) -> int:
        """Incidents opened so far, for one routing or API key when given."""
        return sum(
            1
            for incident in self.incidents()
            if credential is None or incident.credential == credential
        )

    def wait_for(self, match: Callable[[Incident], bool], timeout_s: float) -> Incident:
        """The first incident (as it is now or becomes) that match() accepts."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = next((i for i in self._incidents.values() if match(i)), None)
                if found is not None:
                    return found
                if self._server is None:
                    raise StackError("pager stub stopped while waiting for an incident")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [
                        (i.integration, i.key, i.open) for i in self._incidents.values()
                    ]
                    raise TimeoutError(
                        f"no matching incident within {timeout_s} s; incidents "
                        f"(integration, key, open): {seen}"
                    )
                self._changed.wait(remaining)

    def record(self, integration: str, parts: EventParts, body: Any) -> PagerEvent:
        """Apply one valid request to the incidents; return the event as kept."""
        received = Received.now()
        with self._changed:
            event = self._apply(integration, parts, body, received)
            self._events.append(event)
            self._changed.notify_all()
        log.debug(
            "pager event: integration=%s action=%s key=%s incident=%s",
            integration,
            parts.action,
            event.key,
            event.incident_id,
        )
        self._dispatch(event)
        return event

    def _apply(
        self, integration: str, parts: EventParts, body: Any, received: Received
    ) -> PagerEvent:
        if parts.action in ("trigger", "create"):
            incident = self._open_or_repeat(integration, parts, received)
        else:
            incident = self._find_open(integration, parts)
        event = PagerEvent(
            integration=integration,
            action=parts.action,
            key=incident.key if incident else parts.key,
            credential=parts.credential,
            summary=parts.summary,
            severity=parts.severity,
            body=body,
            received=received,
            incident_id=incident.id if incident else None,
        )
        if incident is not None:
            self._update(incident, parts, event)
        return event

    def _open_or_repeat(
        self, integration: str, parts: EventParts, received: Received
    ) -> Incident:
        key = parts.key or uuid.uuid4().hex
        found = self._open.get(_scope(integration, parts.credential, key))
        if found is not None:
            return self._incidents[found]
        incident = Incident(
            id=str(uuid.uuid4()),
            tiny_id=str(len(self._incidents) + 1),
            integration=integration,
            key=key,
            credential=parts.credential,
            opened=received,
            summary=parts.summary,
            severity=parts.severity,
            description=parts.description,
            details=dict(parts.details),
            events=(),
        )
        self._incidents[incident.id] = incident
        self._open[_scope(integration, parts.credential, key)] = incident.id
        log.info(
            "incident opened: integration=%s key=%s summary=%s",
            integration,
            key,
            parts.summary,
        )
        return incident

    def _find_open(self, integration: str, parts: EventParts) -> Incident | None:
        if integration == PAGERDUTY:
            found = self._open.get(_scope(integration, parts.credential, parts.key))
            return self._incidents.get(found) if found else None
        for incident in self._incidents.values():
            names = {"id": incident.id, "alias": incident.key, "tiny": incident.tiny_id}
            if incident.open and incident.integration == OPSGENIE:
                if names[parts.identifier_type] == parts.key:
                    return incident
        return None

    def _update(self, incident: Incident, parts: EventParts, event: PagerEvent) -> None:
        changes: dict[str, Any] = {"events": incident.events + (event,)}
        if parts.action in ("resolve", "close"):
            changes["closed"] = event.received
            del self._open[
                _scope(incident.integration, incident.credential, incident.key)
            ]
            log.info(
                "incident closed: integration=%s key=%s",
                incident.integration,
                incident.key,
            )
        elif parts.action == "acknowledge":
            changes["acknowledged"] = True
        elif parts.action == "update_message":
            changes["summary"] = parts.summary
        elif parts.action == "update_description":
            changes["description"] = parts.description
        self._incidents[incident.id] = replace(incident, **changes)

    def _dispatch(self, event: PagerEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            log.exception(
                "on_event callback failed: integration=%s action=%s key=%s",
                event.integration,
                event.action,
                event.key,
            )


def journal_entry(event: PagerEvent, ticket_key: str) -> tuple[str, dict]:
    """The journal's kind and fields for one event: page_received or ticket_received.

    The ticket queue is served by the same stub; its key tells a ticket from
    a page.
    """
    kind = "ticket_received" if event.credential == ticket_key else "page_received"
    return kind, {
        "integration": event.integration,
        "key": event.key,
        "action": event.action,
        "summary": event.summary,
        "severity": event.severity,
    }


def _scope(integration: str, credential: str, key: str) -> tuple[str, str, str]:
    # PagerDuty matches a dedup_key within one routing key; an Opsgenie alias
    # is unique across the account, whichever API key sent it.
    return (integration, credential if integration == PAGERDUTY else "", key)


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, stub: PagerStub):
        super().__init__(address, handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    """Routes each request to its API; answers every bad one with a 4xx."""

    server: _StubServer

    def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(part) for part in url.path.strip("/").split("/")]
        route = self._route(parts, parse_qs(url.query))
        if route is None:
            self._json(404, {"message": f"no such endpoint: {method} {url.path}"})
            return
        allowed, serve = route
        if method != allowed:
            self._json(405, {"message": f"{method} is not served here; use {allowed}"})
            return
        serve()

    def _route(
        self, parts: list[str], query: dict
    ) -> tuple[str, Callable[[], None]] | None:
        """The method a path is served with and what serves it; None if no API."""
        if parts == ["v2", "enqueue"]:
            return "POST", self._pagerduty
        if parts == ["v2", "alerts"]:
            return "POST", self._opsgenie_create
        if len(parts) != 4 or parts[:2] != ["v2", "alerts"]:
            return None
        identifier, verb = parts[2], parts[3]
        if verb == "close":
            return "POST", lambda: self._opsgenie_close(identifier, query)
        if verb in ("message", "description"):
            return "PUT", lambda: self._opsgenie_update(identifier, verb, query)
        return None

    def _pagerduty(self) -> None:
        body = self._body(_pd_refusal)
        if body is _REFUSED:
            return
        try:
            parts = read_pagerduty(body)
        except PagerRequestError as exc:
            self._refuse(_pd_refusal(exc.status, list(exc.errors.values())), exc)
            return
        event = self.server.stub.record(PAGERDUTY, parts, body)
        self._json(
            202,
            {"status": "success", "message": "Event processed", "dedup_key": event.key},
        )

    def _opsgenie_create(self) -> None:
        self._opsgenie(read_opsgenie_create)

    def _opsgenie_close(self, identifier: str, query: dict) -> None:
        self._opsgenie(
            lambda body, key: read_opsgenie_close(
                body, identifier, read_identifier_type(query), key
            ),
            body_optional=True,
        )

    def _opsgenie_update(self, identifier: str, field_name: str, query: dict) -> None:
        self._opsgenie(
            lambda body, key: read_opsgenie_update(
                body, identifier, read_identifier_type(query), key, field_name
            )
        )

    def _opsgenie(
        self, read: Callable[[Any, str], EventParts], body_optional: bool = False
    ) -> None:
        api_key = self._genie_key()
        if api_key is None:
            return
        body = self._body(_og_refusal, optional=body_optional)
        if body is _REFUSED:
            return
        try:
            parts = read(body, api_key)
        except PagerRequestError as exc:
            self._refuse(_og_refusal(exc.status, exc.errors), exc)
            return
        self.server.stub.record(OPSGENIE, parts, body)
        self._json(202, _og_answer({"result": "Request will be processed"}))

    def _genie_key(self) -> str | None:
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        if scheme == GENIE_KEY_SCHEME and key.strip():
            return key.strip()
        self._json(
            401,
            _og_answer(
                {
                    "message": "header 'Authorization' is missing or not "
                    f"'{GENIE_KEY_SCHEME} <api key>'"
                }
            ),
        )
        return None

    def _body(self, refusal: Callable[[int, Any], dict], optional: bool = False):
        """The decoded JSON body, or _REFUSED once a 4xx has been answered."""
        length_text = self.headers.get("Content-Length", "")
        try:
            length = int(length_text)
        except ValueError:
            self._json(411, refusal(411, _wrap("a Content-Length header is required")))
            return _REFUSED
        if not 0 <= length <= MAX_BODY_BYTES:
            self._json(
                413,
                refusal(
                    413, _wrap(f"body of {length} bytes; at most {MAX_BODY_BYTES}")
                ),
            )
            return _REFUSED
        raw = self.rfile.read(length)
        if optional and not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            self._json(400, refusal(400, _wrap(f"body is not JSON: {exc}")))
            return _REFUSED

    def _refuse(self, answer: dict, exc: PagerRequestError) -> None:
        log.warning(
            "pager request refused: path=%s status=%s errors=%s",
            self.path,
            exc.status,
            exc,
        )
        self._json(exc.status, answer)

    def _json(self, status: int, document: dict) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("pager request: " + format, *args)


_REFUSED = object()


def _wrap(message: str) -> dict[str, str]:
    return {"(request)": message}


def _pd_refusal(status: int, errors: Any) -> dict:
    listed = list(errors.values()) if isinstance(errors, dict) else list(errors)
    return {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": listed,
    }


def _og_refusal(status: int, errors: dict[str, str]) -> dict:
    if status == 422:
        message = "Request body is not processable; see errors"
    else:
        message = "; ".join(errors.values())
    return _og_answer({"message": message, "errors": errors})


def _og_answer(document: dict) -> dict:
    return {**document, "took": 0.0, "requestId": str(uuid.uuid4())}

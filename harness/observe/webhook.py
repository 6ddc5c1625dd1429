"""An HTTP endpoint that receives Alertmanager's webhook notifications.

Alertmanager posts one notification per alert group (version 4 payload); each
lists its alerts, and each alert carries its own status, which can differ from
the group's (a group is "firing" while one of its alerts has resolved). The
sink keeps every notification, turns each alert into an AlertEvent and hands
it to an optional callback, such as the remediation controller.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.errors import HarnessError, StackError
from harness.observe.background import BackgroundServer
from harness.stack.ports import LOOPBACK

log = logging.getLogger(__name__)

STATUSES = ("firing", "resolved")
# Go's zero time: Alertmanager sends it as endsAt while an alert still fires.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
MAX_BODY_BYTES = 8 * 1024 * 1024


class WebhookPayloadError(HarnessError, ValueError):
    """A webhook body that is not an Alertmanager version 4 notification."""


@dataclass(frozen=True)
class Received:
    """When the sink got a notification, on both clocks."""

    monotonic: float
    wall: datetime

    @classmethod
    def now(cls) -> "Received":
        return cls(time.monotonic(), datetime.now(UTC))


@dataclass(frozen=True)
class AlertEvent:
    """One alert inside one notification, with its own status."""

    fingerprint: str
    alertname: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None while the alert still fires
    generator_url: str
    group_key: str
    received: Received
    repeat: bool = False  # same fingerprint, status and start seen before

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    @property
    def identity(self) -> tuple[str, str, datetime]:
        """What makes a later copy of this event a repeat."""
        return (self.fingerprint, self.status, self.starts_at)


@dataclass(frozen=True)
class Notification:
    """One webhook call from Alertmanager: one alert group."""

    receiver: str
    status: str
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated_alerts: int
    alerts: tuple[AlertEvent, ...]
    received: Received


def parse_notification(payload: Any, received: Received) -> Notification:
    """Read a decoded version 4 payload; raise WebhookPayloadError if it is not one."""
    body = _mapping(payload, "payload")
    if str(body.get("version")) != "4":
        _fail("version", body.get("version"), '"4"')
    group_key = _text(body, "groupKey")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        _fail("alerts", alerts, "a list of alerts")
    return Notification(
        receiver=_text(body, "receiver"),
        status=_status(body, "status"),
        group_key=group_key,
        group_labels=_labels(body, "groupLabels"),
        common_labels=_labels(body, "commonLabels"),
        common_annotations=_labels(body, "commonAnnotations"),
        external_url=_text(body, "externalURL", ""),
        truncated_alerts=int(body.get("truncatedAlerts") or 0),
        alerts=tuple(
            _alert(_mapping(item, f"alerts[{index}]"), group_key, received)
            for index, item in enumerate(alerts)
        ),
        received=received,
    )


def _alert(entry: dict, group_key: str, received: Received) -> AlertEvent:
    labels = _labels(entry, "labels")
    if "alertname" not in labels:
        _fail("labels.alertname", None, "the name of the alert")
    ends_at = _timestamp(entry, "endsAt", default=ZERO_TIME)
    return AlertEvent(
        fingerprint=_text(entry, "fingerprint"),
        alertname=labels["alertname"],
        status=_status(entry, "status"),
        labels=labels,
        annotations=_labels(entry, "annotations"),
        starts_at=_timestamp(entry, "startsAt"),
        ends_at=None if ends_at == ZERO_TIME else ends_at,
        generator_url=_text(entry, "generatorURL", ""),
        group_key=group_key,
        received=received,
    )


def _fail(field: str, value: Any, accepted: str) -> None:
    raise WebhookPayloadError(f"field '{field}' is {value!r}; expected {accepted}")


def _mapping(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        _fail(field, value, "a JSON object")
    return value


def _text(entry: dict, field: str, default: str | None = None) -> str:
    value = entry.get(field, default)
    if not isinstance(value, str):
        _fail(field, value, "a string")
    return value


def _status(entry: dict, field: str) -> str:
    value = entry.get(field)
    if value not in STATUSES:
        _fail(field, value, " or ".join(STATUSES))
    return value


def _labels(entry: dict, field: str) -> dict[str, str]:
    value = entry.get(field) or {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in value.values()
    ):
        _fail(field, value, "an object of string values")
    return dict(value)


def _timestamp(entry: dict, field: str, default: datetime | None = None) -> datetime:
    value = entry.get(field)
    if value is None and default is not None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        _fail(field, value, "an RFC 3339 time such as 2024-05-01T12:00:00.5Z")
    if parsed.tzinfo is None:
        _fail(field, value, "an RFC 3339 time with a zone, such as ...Z")
    return parsed


class WebhookSink(BackgroundServer):
    """Receives webhook notifications on 127.0.0.1 and keeps them all.

    on_alert runs on the request's thread before Alertmanager gets its answer,
    so a callback that does slow work should hand it to a queue of its own.
    """

    what = "webhook sink"
    url_suffix = "/"

    def __init__(
        self,
        on_alert: Callable[[AlertEvent], None] | None = None,
        host: str = LOOPBACK,
        port: int = 0,
    ):
        self.on_alert = on_alert
        super().__init__(host, port)
        self._notifications: list[Notification] = []
        self._events: list[AlertEvent] = []
        self._seen: set[tuple[str, str, datetime]] = set()

    def _make_server(self) -> "_SinkServer":
        return _SinkServer((self.host, self.port), _Handler, self)

    def notifications(self) -> list[Notification]:
        with self._changed:
            return list(self._notifications)

    def events(self) -> list[AlertEvent]:
        """Every alert event received so far, oldest first."""
        with self._changed:
            return list(self._events)

    def wait_for(
        self, match: Callable[[AlertEvent], bool], timeout_s: float
    ) -> AlertEvent:
        """The first event (received so far or later) that match() accepts."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = next((e for e in self._events if match(e)), None)
                if found is not None:
                    return found
                if self._server is None:
                    raise StackError("webhook sink stopped while waiting for an alert")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching alert event within {timeout_s} s; received: "
                        f"{[(e.alertname, e.status) for e in self._events]}"
                    )
                self._changed.wait(remaining)

    def forget(self) -> None:
        """Drop what was received, so the next experiment's repeats are its own."""
        with self._changed:
            self._notifications.clear()
            self._events.clear()
            self._seen.clear()

    def receive(self, payload: Any, received: Received | None = None) -> Notification:
        """Record one decoded payload and call on_alert for each of its alerts."""
        notification = parse_notification(payload, received or Received.now())
        notification = self._record(notification)
        for event in notification.alerts:
            self._dispatch(event)
        return notification

    def _record(self, notification: Notification) -> Notification:
        with self._changed:
            events = []
            for event in notification.alerts:
                events.append(replace(event, repeat=event.identity in self._seen))
                self._seen.add(event.identity)
            notification = replace(notification, alerts=tuple(events))
            self._notifications.append(notification)
            self._events.extend(events)
            self._changed.notify_all()
        log.debug(
            "notification received: group=%s status=%s alerts=%d",
            notification.group_key,
            notification.status,
            len(notification.alerts),
        )
        return notification

    def _dispatch(self, event: AlertEvent) -> None:
        if self.on_alert is None:
            return
        try:
            self.on_alert(event)
        except Exception:
            # A failing subscriber must not cost Alertmanager its 200, or it
            # would retry and the journal would count the alert twice.
            log.exception(
                "on_alert callback failed: alert=%s status=%s",
                event.alertname,
                event.status,
            )


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, sink: WebhookSink):
        super().__init__(address, handler)
        self.sink = sink


class _Handler(BaseHTTPRequestHandler):
    """Answers 200 once the notification is recorded and every callback ran."""

    server: _SinkServer

    def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
        body = self._read_body()
        if body is None:
            return
        try:
            self.server.sink.receive(json.loads(body))
        except ValueError as exc:
            # Covers bad JSON (JSONDecodeError) and WebhookPayloadError.
            log.warning(
                "webhook payload refused: from=%s error=%s", self.client_address[0], exc
            )
            self._answer(400, f"bad webhook payload: {exc}")
            return
        self._answer(200, "ok")

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, "a Content-Length header is required")
            return None
        if not 0 <= length <= MAX_BODY_BYTES:
            self._answer(413, f"body of {length} bytes; at most {MAX_BODY_BYTES}")
            return None
        return self.rfile.read(length)

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("webhook request: " + format, *args)

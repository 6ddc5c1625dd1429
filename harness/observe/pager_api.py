"""The request bodies of the two paging APIs the pager stub speaks, checked.

PagerDuty Events API v2 (`POST /v2/enqueue`) and the Opsgenie Alert API
(`POST /v2/alerts`, `.../close`, `PUT .../message` and `.../description`).
Each reader returns the parts the stub keeps, or raises PagerRequestError
listing every bad field the way the real API would answer: PagerDuty with 400
and a list, Opsgenie with 422 and a field-to-message object. Fields the APIs
do not define are refused too: Alertmanager is the only client here, so a
field it was not meant to send is a bug worth seeing, not something to drop.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.errors import HarnessError

PAGERDUTY = "pagerduty"
OPSGENIE = "opsgenie"

PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")
PD_FIELDS = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
}
PD_PAYLOAD_FIELDS = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}

OG_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
OG_RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
OG_VISIBLE_TO_TYPES = ("team", "user")
OG_IDENTIFIER_TYPES = ("id", "alias", "tiny")
# Lengths the Alert API documents, in characters.
OG_LIMITS = {
    "message": 130,
    "alias": 512,
    "description": 15000,
    "entity": 512,
    "source": 100,
    "user": 100,
    "note": 25000,
}
OG_DETAILS_MAX_CHARS = 8000
OG_CREATE_FIELDS = {
    *OG_LIMITS,
    "responders",
    "visibleTo",
    "actions",
    "tags",
    "details",
    "priority",
}
OG_CLOSE_FIELDS = {"user", "source", "note"}


class PagerRequestError(HarnessError, ValueError):
    """A request the real paging API would refuse: its status and field errors."""

    def __init__(self, status: int, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.status = status
        self.errors = errors


@dataclass(frozen=True)
class EventParts:
    """What the stub keeps of one valid request."""

    action: str
    key: str  # dedup_key, alias or identifier; "" when the request gave none
    credential: str  # routing key or API key
    # How an Opsgenie close or update names its alert: id, alias or tiny.
    identifier_type: str = ""
    summary: str = ""
    severity: str = ""  # PagerDuty severity or Opsgenie priority
    description: str = ""
    details: dict = field(default_factory=dict)


class _Checker:
    """Collects every bad field of one body instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def bad(self, name: str, value: Any, accepted: str) -> None:
        shown = "missing" if value is None else _shown(value)
        self.errors.setdefault(name, f"field '{name}' is {shown}; expected {accepted}")

    def mapping(self, data: Any, name: str) -> dict:
        if not isinstance(data, dict):
            self.bad(name, data, "a JSON object")
            return {}
        return data

    def unknown(self, data: dict, allowed: set[str], prefix: str = "") -> None:
        for key in data:
            if key not in allowed:
                self.errors[prefix + key] = (
                    f"field '{prefix}{key}' is not part of the API; accepted "
                    f"fields: {', '.join(sorted(allowed))}"
                )

    def text(
        self,
        data: dict,
        key: str,
        name: str,
        required: bool = False,
        max_chars: int | None = None,
        choices: tuple[str, ...] = (),
    ) -> str:
        value = data.get(key)
        if value is None or (required and value == ""):
            if required:
                self.bad(name, value, _text_wanted(max_chars, choices, empty=False))
            return ""
        ok = isinstance(value, str)
        ok = ok and (max_chars is None or len(value) <= max_chars)
        ok = ok and (not choices or value in choices)
        if not ok:
            self.bad(name, value, _text_wanted(max_chars, choices))
            return ""
        return value

    def objects(self, data: dict, key: str, name: str, max_items: int) -> list[dict]:
        value = data.get(key, [])
        if not isinstance(value, list) or len(value) > max_items:
            self.bad(name, value, f"a list of at most {max_items} JSON objects")
            return []
        return [self.mapping(item, f"{name}[{i}]") for i, item in enumerate(value)]

    def raise_if_any(self, status: int) -> None:
        if self.errors:
            raise PagerRequestError(status, dict(self.errors))


def read_pagerduty(body: Any) -> EventParts:
    """One Events API v2 alert event; PagerRequestError(400) if PagerDuty refuses it."""
    check = _Checker()
    event = check.mapping(body, "(event)")
    check.unknown(event, PD_FIELDS)
    routing_key = check.text(event, "routing_key", "routing_key", required=True)
    if routing_key and not PD_ROUTING_KEY.fullmatch(routing_key):
        check.bad("routing_key", routing_key, "32 letters and digits")
    action = check.text(
        event, "event_action", "event_action", required=True, choices=PD_ACTIONS
    )
    dedup_key = check.text(
        event,
        "dedup_key",
        "dedup_key",
        required=action in ("acknowledge", "resolve"),
        max_chars=255,
    )
    for name in ("client", "client_url"):
        check.text(event, name, name)
    _pd_context(check, event)
    payload = _pd_payload(check, event, required=action == "trigger")
    check.raise_if_any(400)
    return EventParts(
        action=action,
        key=dedup_key,
        credential=routing_key,
        summary=payload.get("summary", ""),
        severity=payload.get("severity", ""),
        details=dict(payload.get("custom_details") or {}),
    )


def _pd_payload(check: _Checker, event: dict, required: bool) -> dict:
    if event.get("payload") is None and not required:
        return {}
    payload = check.mapping(event.get("payload"), "payload")
    if not required:
        # PagerDuty reads the payload of a trigger only.
        return {}
    check.unknown(payload, PD_PAYLOAD_FIELDS, "payload.")
    check.text(payload, "summary", "payload.summary", required=True, max_chars=1024)
    check.text(payload, "source", "payload.source", required=True)
    check.text(
        payload, "severity", "payload.severity", required=True, choices=PD_SEVERITIES
    )
    for name in ("component", "group", "class"):
        check.text(payload, name, f"payload.{name}")
    _iso_time(check, payload, "timestamp", "payload.timestamp")
    if "custom_details" in payload:
        check.mapping(payload["custom_details"], "payload.custom_details")
    return payload


def _pd_context(check: _Checker, event: dict) -> None:
    for index, image in enumerate(check.objects(event, "images", "images", 1000)):
        check.text(image, "src", f"images[{index}].src", required=True)
        check.text(image, "href", f"images[{index}].href")
        check.text(image, "alt", f"images[{index}].alt")
    for index, link in enumerate(check.objects(event, "links", "links", 1000)):
        check.text(link, "href", f"links[{index}].href", required=True)
        check.text(link, "text", f"links[{index}].text")


def _iso_time(check: _Checker, data: dict, key: str, name: str) -> None:
    value = data.get(key)
    if value is None:
        return
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        check.bad(name, value, "an ISO 8601 time such as 2024-05-01T12:00:00.000+0000")


def read_opsgenie_create(body: Any, api_key: str) -> EventParts:
    """One create-alert request; PagerRequestError(422) if Opsgenie refuses it."""
    check = _Checker()
    alert = check.mapping(body, "(body)")
    check.unknown(alert, OG_CREATE_FIELDS)
    values = {
        name: check.text(alert, name, name, required=name == "message", max_chars=limit)
        for name, limit in OG_LIMITS.items()
    }
    priority = check.text(alert, "priority", "priority", choices=OG_PRIORITIES)
    _og_recipients(check, alert, "responders", OG_RESPONDER_TYPES)
    _og_recipients(check, alert, "visibleTo", OG_VISIBLE_TO_TYPES)
    _og_words(check, alert, "tags", max_items=20)
    _og_words(check, alert, "actions", max_items=10)
    details = _og_details(check, alert)
    check.raise_if_any(422)
    return EventParts(
        action="create",
        key=values["alias"],
        credential=api_key,
        summary=values["message"],
        # Opsgenie gives an alert without a priority P3.
        severity=priority or "P3",
        description=values["description"],
        details=details,
    )


def read_opsgenie_close(
    body: Any, identifier: str, identifier_type: str, api_key: str
) -> EventParts:
    """A close request; its body is optional and holds only user, source, note."""
    check = _Checker()
    data = {} if body is None else check.mapping(body, "(body)")
    check.unknown(data, OG_CLOSE_FIELDS)
    for name in OG_CLOSE_FIELDS:
        check.text(data, name, name, max_chars=OG_LIMITS[name])
    check.raise_if_any(422)
    return EventParts("close", identifier, api_key, identifier_type)


def read_opsgenie_update(
    body: Any, identifier: str, identifier_type: str, api_key: str, field_name: str
) -> EventParts:
    """A PUT of an alert's message or description; the new value is required."""
    check = _Checker()
    data = check.mapping(body, "(body)")
    check.unknown(data, {field_name})
    value = check.text(
        data, field_name, field_name, required=True, max_chars=OG_LIMITS[field_name]
    )
    check.raise_if_any(422)
    if field_name == "message":
        return EventParts(
            "update_message", identifier, api_key, identifier_type, summary=value
        )
    return EventParts(
        "update_description", identifier, api_key, identifier_type, description=value
    )


def read_identifier_type(query: dict[str, list[str]]) -> str:
    """The identifierType query parameter: id (the default), alias or tiny."""
    given = query.get("identifierType", ["id"])
    if len(given) != 1 or given[0] not in OG_IDENTIFIER_TYPES:
        raise PagerRequestError(
            422,
            {
                "identifierType": f"query parameter 'identifierType' is "
                f"{_shown(given)}; expected one of: {', '.join(OG_IDENTIFIER_TYPES)}"
            },
        )
    return given[0]


def _og_recipients(
    check: _Checker, alert: dict, key: str, types: tuple[str, ...]
) -> None:
    for index, entry in enumerate(check.objects(alert, key, key, 50)):
        name = f"{key}[{index}]"
        check.text(entry, "type", f"{name}.type", required=True, choices=types)
        named = [entry.get(part) for part in ("id", "name", "username")]
        if not any(isinstance(part, str) and part for part in named):
            check.bad(name, entry, "an object with an id, name or username")


def _og_words(check: _Checker, alert: dict, key: str, max_items: int) -> None:
    value = alert.get(key, [])
    ok = isinstance(value, list) and len(value) <= max_items
    if not ok or not all(isinstance(w, str) and len(w) <= 50 for w in value):
        check.bad(key, value, f"a list of at most {max_items} texts of 50 characters")


def _og_details(check: _Checker, alert: dict) -> dict[str, str]:
    details = alert.get("details") or {}
    if not isinstance(details, dict) or not all(
        isinstance(v, str) for v in details.values()
    ):
        check.bad("details", details, "a JSON object of text values")
        return {}
    size = sum(len(k) + len(v) for k, v in details.items())
    if size > OG_DETAILS_MAX_CHARS:
        check.bad(
            "details",
            f"{size} characters of keys and values",
            f"at most {OG_DETAILS_MAX_CHARS}",
        )
        return {}
    return dict(details)


# Values longer than this are cut in messages.
MAX_SHOWN_CHARS = 80


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        return f"{text[:MAX_SHOWN_CHARS]}... ({len(text)} characters)"
    return text


def _text_wanted(
    max_chars: int | None, choices: tuple[str, ...], empty: bool = True
) -> str:
    if choices:
        return f"one of: {', '.join(choices)}"
    wanted = "a text" if empty else "a non-empty text"
    if max_chars is not None:
        wanted += f" of at most {max_chars} characters"
    return wanted

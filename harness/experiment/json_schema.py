"""The JSON Schema (draft 2020-12) of experiment files, built from the loader's tables.

Field lists, enums and bounds come from the constants the loader checks with,
so the published schema moves when the loader does. What depends on config/
(routes, services, SLOs, alerts, runbooks, edges) cannot be an enum in a
static schema: those fields are plain strings, and their descriptions say
where the loader looks them up. A few rules that span fields (names used
twice, an expectation contradicting another, a recovery faster than the
rate window) are the loader's alone.

    harness schema > docs/experiment.schema.json
"""

import json
from typing import Any

from harness.experiment import expect_schema, fault_schema, halt, schema
from harness.experiment.load_schema import LOAD_FIELDS
from harness.integrity import INVARIANTS
from harness.load.latency import DEFAULT_PERCENTILES, MAX_PERCENTILES
from harness.load.settings import (
    JOURNEY_TARGETS,
    MAX_ARRIVAL_RATE_PER_S,
    MAX_THINK_TIME_S,
    MAX_USERS,
    MAX_WEIGHT,
)
from mocks.core import fault_kinds as mock

SLUG_PATTERN = "^[a-z0-9-]+$"
NON_BLANK = "\\S"
MAX_PHASE_S = schema.MAX_PHASE_S

_ESTATE = "config/estate.yaml"
_SLOS = "config/slos.yaml"


def experiment_schema() -> dict:
    """The whole schema of one experiment file, as a JSON-ready dict."""
    properties = {
        "name": _slug("The experiment's name, such as claims-customer-latency."),
        "hypothesis": _text("One sentence saying what should happen."),
        "tags": {
            "type": "array",
            "items": {"enum": list(schema.TAGS)},
            "description": "Which runs pick the experiment up; become pytest markers.",
        },
        "load": _load(),
        "steady_state": _steady_state(),
        "faults": _faults(),
        "halt": _halt(),
        "expect": _expect(),
    }
    _same_fields(properties, schema.TOP_FIELDS, "the top level")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Resilience experiment",
        "description": (
            "One experiment file of experiments/. Names of routes, services, SLOs, "
            "alerts, runbooks and edges depend on config/ and are checked by "
            "`harness validate`, not by this schema."
        ),
        **_closed(
            properties,
            ["name", "hypothesis", "load", "steady_state", "faults", "expect"],
        ),
    }


def render() -> str:
    """The schema as the text of docs/experiment.schema.json."""
    return json.dumps(experiment_schema(), indent=2) + "\n"


# -- building blocks ---------------------------------------------------------


def _same_fields(described, accepted, where: str) -> None:
    """Refuse to build a schema whose fields differ from what the loader accepts."""
    if tuple(described) != tuple(accepted):
        raise LookupError(
            f"the schema of {where} describes {', '.join(described)}; "
            f"the loader accepts {', '.join(accepted)}"
        )


def _closed(properties: dict, required: list[str] | tuple = ()) -> dict:
    shape: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        shape["required"] = list(required)
    shape["additionalProperties"] = False
    return shape


def _number(
    description: str,
    minimum: float | None = 0,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    default: float | None = None,
    integer: bool = False,
) -> dict:
    shape: dict[str, Any] = {"type": "integer" if integer else "number"}
    bounds = {
        "minimum": minimum if exclusive_minimum is None else None,
        "exclusiveMinimum": exclusive_minimum,
        "maximum": maximum,
        "exclusiveMaximum": exclusive_maximum,
        "default": default,
    }
    shape.update({key: value for key, value in bounds.items() if value is not None})
    shape["description"] = description
    return shape


def _seconds(description: str, minimum: float = 0, default=None) -> dict:
    return _number(description, minimum, MAX_PHASE_S, default=default)


def _text(description: str, max_length: int | None = None) -> dict:
    shape: dict[str, Any] = {"type": "string", "pattern": NON_BLANK}
    if max_length is not None:
        shape["maxLength"] = max_length
    shape["description"] = description
    return shape


def _slug(description: str) -> dict:
    return {
        "type": "string",
        "pattern": SLUG_PATTERN,
        "maxLength": fault_schema.MAX_NAME_LENGTH,
        "description": description,
    }


def _declared(description: str, where: str) -> dict:
    return {
        "type": "string",
        "description": f"{description} Must be declared in {where}; "
        "a static schema cannot list these, the loader checks them.",
    }


def _is(field: str, value: Any) -> dict:
    """A condition for if: the field is present and has this value."""
    return {"properties": {field: {"const": value}}, "required": [field]}


def _boolean(description: str, default: bool | None = None) -> dict:
    shape: dict[str, Any] = {"type": "boolean"}
    if default is not None:
        shape["default"] = default
    shape["description"] = description
    return shape


def _list_of(items: dict, description: str, min_items: int = 0) -> dict:
    shape: dict[str, Any] = {"type": "array", "items": items}
    if min_items:
        shape["minItems"] = min_items
    shape["description"] = description
    return shape


# -- load and steady state ---------------------------------------------------


def _load() -> dict:
    journeys = sorted(JOURNEY_TARGETS)
    properties = {
        "journey": {"enum": journeys, "description": "One journey to run."},
        "journeys": {
            "description": "Journeys to run: a list (equal weights) or a mapping "
            "of journey to relative weight.",
            "oneOf": [
                {
                    "type": "array",
                    "items": {"enum": journeys},
                    "minItems": 1,
                    "uniqueItems": True,
                },
                {
                    "type": "object",
                    "propertyNames": {"enum": journeys},
                    "additionalProperties": _number(
                        "Relative weight.",
                        exclusive_minimum=0,
                        maximum=MAX_WEIGHT,
                    ),
                    "minProperties": 1,
                },
            ],
        },
        "arrival_rate_per_s": _number(
            "Open model: journeys started per second.",
            exclusive_minimum=0,
            maximum=MAX_ARRIVAL_RATE_PER_S,
        ),
        "users": _number(
            "Closed model: users, each running journey after journey.",
            1,
            MAX_USERS,
            integer=True,
        ),
        "think_time_s": _number(
            "Closed model only: pause between one user's journeys.",
            0,
            MAX_THINK_TIME_S,
            default=0,
        ),
        "percentiles": {
            "description": (
                "Response-time percentiles to report, estimated from the run's "
                "histograms."
            ),
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
            "minItems": 1,
            "maxItems": MAX_PERCENTILES,
            "uniqueItems": True,
            "default": list(DEFAULT_PERCENTILES),
        },
    }
    _same_fields(properties, LOAD_FIELDS, "load")
    shape = _closed(properties)
    shape["allOf"] = [
        {"oneOf": [{"required": ["journey"]}, {"required": ["journeys"]}]},
        {"oneOf": [{"required": ["arrival_rate_per_s"]}, {"required": ["users"]}]},
        {
            "if": {"required": ["arrival_rate_per_s"]},
            "then": {"not": {"required": ["think_time_s"]}},
        },
    ]
    shape["description"] = (
        "The load offered during the whole run: exactly one of journey or "
        "journeys, and exactly one of arrival_rate_per_s or users."
    )
    return shape


def _steady_state() -> dict:
    shape = _closed(
        {
            "duration_s": _seconds("How long the steady state is checked.", 1),
            "slos": _list_of(
                _declared("A service with an SLO.", _SLOS),
                "SLOs that must hold before any fault is injected.",
            ),
        },
        ["duration_s"],
    )
    shape["description"] = "What must hold before anything is injected."
    return shape


# -- faults ------------------------------------------------------------------


def _faults() -> dict:
    kinds = list(fault_schema.FAULT_KINDS)
    entry = {
        "type": "object",
        "properties": {"kind": {"enum": kinds}},
        "required": ["kind"],
        "allOf": [
            {
                "if": _is("kind", kind),
                "then": _fault_kind(kind),
            }
            for kind in kinds
        ],
        "description": "One fault; its other fields depend on kind.",
    }
    return _list_of(entry, "The faults, each with its start and duration.", 1)


def _fault_kind(kind: str) -> dict:
    family = fault_schema.family_of(kind)
    maximum_s = MAX_PHASE_S
    if family == "app":
        limit_s = mock.MAX_CPU_BURN_S if kind == "cpu_burn" else mock.MAX_DURATION_S
        maximum_s = limit_s - fault_schema.MOCK_MARGIN_S
    properties = {
        "name": _slug("The fault's name, unique in the experiment."),
        "kind": {"const": kind, "description": f"A {family} fault."},
        "start_after_s": _seconds(
            "When the fault starts, after the steady state.", default=0
        ),
        "duration_s": _number("How long the fault lasts.", 1, maximum_s),
    }
    required = ["name", "kind", "duration_s"]
    if family == "network":
        properties["route"] = _declared("The proxy route the fault acts on.", _ESTATE)
        required.append("route")
        for key, default in fault_schema.NETWORK_KINDS[kind].items():
            properties[key] = _NETWORK_FIELDS[key]
            if default is None:
                required.append(key)
    else:
        properties["service"] = _declared(
            "The mock (service or external system) the fault acts on.", _ESTATE
        )
        required.append("service")
        fields, more = _app_fields(kind)
        properties.update(fields)
        required += more
    shape = _closed(properties, required)
    shape.update(_FAULT_RULES.get(kind, {}))
    return shape


_NETWORK_FIELDS = {
    "latency_ms": _number(
        "Delay added to each response.", maximum=fault_schema.MAX_DELAY_MS
    ),
    "jitter_ms": _number(
        "Random spread around latency_ms.",
        maximum=fault_schema.MAX_DELAY_MS,
        default=0,
    ),
    "rate_kbps": _number(
        "Bandwidth cap in kilobytes per second.", 1, 1_000_000, integer=True
    ),
}


def _app_fields(kind: str) -> tuple[dict, list[str]]:
    """Fields of an application or process fault, beyond the common ones."""
    if kind in fault_schema.PROCESS_KINDS:
        names = fault_schema.PROCESS_KINDS[kind]
        return {name: _PROCESS_FIELDS[name] for name in names}, []
    names = [n for n in mock._ALLOWED[mock.FaultKind(kind)] if n != "duration_s"]
    fields = {name: _mock_field(kind, name) for name in names}
    return fields, [n for n in names if n in _MOCK_REQUIRED.get(kind, ())]


def _mock_field(kind: str, name: str) -> dict:
    for key in ((kind, name), name):
        if key in _MOCK_FIELDS:
            return _MOCK_FIELDS[key]
    raise LookupError(
        f"the mock accepts field {name!r} of {kind} faults, "
        "which the experiment schema does not describe"
    )


_PROCESS_FIELDS = {
    "signal": {
        "enum": list(fault_schema.SIGNALS),
        "default": "KILL",
        "description": "The signal sent to the mock's process.",
    },
    "exit_code": _number(
        "The code the mock exits with.", 1, 255, default=1, integer=True
    ),
    "after_ms": _number(
        "How long after the next answer the mock exits.", 0, 60_000, default=0
    ),
}


def _method_pattern() -> str:
    either_case = ("".join(f"[{c}{c.lower()}]" for c in m) for m in mock._METHODS)
    return f"^({'|'.join(either_case)})?$"


_EXEMPT = "|".join(mock.EXEMPT_PREFIXES)
_MOCK_FIELDS: dict = {
    "path_prefix": {
        "type": "string",
        "maxLength": 200,
        "pattern": "^(/.*)?$",
        "not": {"pattern": f"^({_EXEMPT})"},
        "description": "Only requests whose path starts with this; "
        f"{', '.join(mock.EXEMPT_PREFIXES)} are never faulted.",
    },
    "method": {
        "type": "string",
        "pattern": _method_pattern(),
        "description": "Only requests of this HTTP method (any case).",
    },
    "header_name": {
        "type": "string",
        "maxLength": 200,
        "description": "Only requests carrying this header.",
    },
    "header_value": {
        "type": "string",
        "maxLength": 200,
        "description": "Only requests whose header_name has this value.",
    },
    "status_code": _number(
        "The HTTP status answered.", 400, 599, default=503, integer=True
    ),
    ("bad_deploy", "status_code"): _number(
        "The HTTP status of the new version's errors.",
        500,
        599,
        default=500,
        integer=True,
    ),
    "rate": _number(
        "Share of matching requests faulted.",
        exclusive_minimum=0,
        maximum=1.0,
        default=1.0,
    ),
    "first_n": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 1_000_000,
        "description": "Fault only the first N matching requests (rate must be 1).",
    },
    "delay_ms": _number(
        "Delay added to each matching request.",
        exclusive_minimum=0,
        maximum=mock.MAX_DELAY_MS,
    ),
    ("bad_deploy", "delay_ms"): _number(
        "Delay the new version adds.", 0, mock.MAX_DELAY_MS, default=0
    ),
    "jitter_ms": _number(
        "Random spread around delay_ms.", 0, mock.MAX_DELAY_MS, default=0
    ),
    "version": _text("The new version's label.", 64),
    "error_rate": _number(
        "Share of requests the new version fails.", 0, 1.0, default=0
    ),
    "dependency": _declared(
        "The dependency whose connection pool is exhausted.", _ESTATE
    ),
    "block_ms": _number(
        "How long each block of the event loop lasts.",
        exclusive_minimum=0,
        maximum=mock.MAX_BLOCK_MS,
    ),
    "interval_ms": _number(
        "Time between blocks; 0 blocks once, else more than block_ms.",
        0,
        mock.MAX_DURATION_S * 1000,
        default=0,
    ),
    "max_in_flight": _number(
        "Requests served at once; the rest wait.", 1, 10_000, integer=True
    ),
    "threads": _number("Threads spinning.", 1, 4, default=1, integer=True),
}
_MOCK_REQUIRED = {
    "slow": ("delay_ms",),
    "bad_deploy": ("version",),
    "pool_exhaustion": ("dependency",),
    "loop_block": ("block_ms",),
    "concurrency_cap": ("max_in_flight",),
}
_HEADER_VALUE_NEEDS_NAME = {
    "if": {
        "required": ["header_value"],
        "properties": {"header_value": {"minLength": 1}},
    },
    "then": {"required": ["header_name"]},
}
_FAULT_RULES = {
    "error": {
        "allOf": [
            _HEADER_VALUE_NEEDS_NAME,
            {
                "if": {
                    "required": ["first_n"],
                    "properties": {"first_n": {"type": "integer"}},
                },
                "then": {"properties": {"rate": {"const": 1}}},
            },
        ]
    },
    "slow": {"allOf": [_HEADER_VALUE_NEEDS_NAME]},
    # A bad deploy must hurt: more errors or more latency.
    "bad_deploy": {
        "anyOf": [
            {
                "required": ["error_rate"],
                "properties": {"error_rate": {"exclusiveMinimum": 0}},
            },
            {
                "required": ["delay_ms"],
                "properties": {"delay_ms": {"exclusiveMinimum": 0}},
            },
        ]
    },
}


# -- halt --------------------------------------------------------------------


def _halt() -> dict:
    def threshold(what: str, where: str) -> dict:
        return _closed(
            {
                "service": _declared(f"The service whose {what} is watched.", where),
                "above": _number(
                    "Halt when the share goes above this.",
                    exclusive_minimum=0,
                    exclusive_maximum=1,
                ),
            },
            ["service", "above"],
        )

    properties = {
        halt.ERROR_RATIO: threshold("share of 5xx answers", _ESTATE),
        halt.BUDGET_SPENT: threshold("share of error budget spent", _SLOS),
        halt.AFTER_S: _number(
            "Halt this long after the first fault (at most one entry).",
            1,
            halt.MAX_AFTER_S,
        ),
    }
    _same_fields(properties, halt.KINDS, "a halt entry")
    entry = _closed(properties)
    entry.update(minProperties=1, maxProperties=1)
    return _list_of(entry, "Conditions that stop the run and roll back.")


# -- expectations ------------------------------------------------------------


def _expect() -> dict:
    properties = {
        "alerts": _list_of(_alert(), "Alerts that fire, or stay silent."),
        "runbooks": _list_of(
            _closed(
                {
                    "name": _declared("A runbook.", "config/runbooks/"),
                    "finished_within_s": _seconds(
                        "Finished this long after the first notification.", 0.1
                    ),
                },
                ["name", "finished_within_s"],
            ),
            "Runbooks that must run and finish.",
        ),
        "slo_recovered": _slo_recovered(),
        "pages": _number("Exactly this many pager incidents.", 0, integer=True),
        "no_alerts": _boolean("No alert may be notified during the run.", False),
        **_measured(),
        "quiet_steady_state": _boolean(
            "No alert may be notified during the steady state.", True
        ),
    }
    accepted = (*schema.EXPECTATIONS, "quiet_steady_state")
    _same_fields(sorted(properties), sorted(accepted), "expect")
    shape = _closed(properties)
    # An experiment that expects nothing would pass whatever happened.
    shape["anyOf"] = [_expects(key, properties[key]) for key in schema.EXPECTATIONS]
    shape["description"] = "What must be observed: at least one expectation."
    return shape


def _expects(key: str, field: dict) -> dict:
    """The condition under which an expectation field expects something."""
    if field.get("type") == "array":
        return {"required": [key], "properties": {key: {"minItems": 1}}}
    if field.get("type") == "boolean":
        return _is(key, True)
    return {"required": [key]}


def _alert() -> dict:
    strings = {"type": "object", "additionalProperties": {"type": "string"}}
    properties = {
        "name": _declared("An alert the estate generates.", "config/"),
        "severity": {
            "type": "string",
            "description": "Which rule of the alert (page or ticket) when it has "
            "several; checked by the loader against config/.",
        },
        "fires": _boolean("The alert is notified (default: not inhibited)."),
        "resolves": _boolean("The alert resolves (default: fires)."),
        "inhibited": _boolean("Fires in Prometheus, never notified.", False),
        "error_ratio": _number(
            "Share of the SLI's events the fault makes bad.", 0.0001, 1, default=1
        ),
        "margin_s": _seconds("Extra time allowed for detection.", default=0),
        "labels": {**strings, "description": "Labels the alert must carry."},
        "annotations": {
            "description": "Annotation names that must be non-empty, or a "
            "mapping of name to text it must contain.",
            "oneOf": [{"type": "array", "items": {"type": "string"}}, strings],
        },
    }
    _same_fields(properties, schema.ALERT_FIELDS, "an alert expectation")
    shape = _closed(properties, ["name"])
    shape["allOf"] = [
        {"if": _is("inhibited", True), "then": {"not": _is("fires", True)}},
        {"if": _is("fires", False), "then": {"not": _is("resolves", True)}},
    ]
    return shape


def _slo_recovered() -> dict:
    shape = _closed(
        {
            "service": _declared("A service with an SLO.", _SLOS),
            "within_s": _seconds(
                "Back within this long of mitigation (at least the rate window "
                "plus a scrape: checked by the loader).",
                0.1,
            ),
            "hold_s": _seconds("Then held this long.", 1, default=5),
        },
        ["service", "within_s"],
    )
    shape["description"] = "An SLO breaks, then comes back after mitigation."
    return shape


def _measured() -> dict:
    edge = _declared("A dependency edge between two services.", _ESTATE)
    measured = {
        "slos": _list_of(_slo_state(), "Each SLO held, or breached and recovered."),
        "amplification": _list_of(
            _closed(
                {
                    "edge": edge,
                    "max": _number(
                        "Most attempts per client request.",
                        0.01,
                        expect_schema.MAX_AMPLIFICATION,
                    ),
                },
                ["edge", "max"],
            ),
            "Retry amplification bounds per edge.",
        ),
        "breaker": _list_of(
            _closed(
                {
                    "edge": {
                        **edge,
                        "description": edge["description"]
                        + " Its breaker must be enabled.",
                    },
                    "max_trial_calls": _number(
                        "Most calls let through per half-open.",
                        1,
                        expect_schema.MAX_TRIAL_CALLS,
                        integer=True,
                    ),
                },
                ["edge", "max_trial_calls"],
            ),
            "The edge's breaker opened, and each half-open let few calls through.",
        ),
        "degraded_gracefully": _list_of(
            _closed(
                {
                    "service": _declared("A service.", _ESTATE),
                    "route": {
                        "type": "string",
                        "pattern": "^/",
                        "description": "One route template, such as /claims.",
                    },
                    "min_success_ratio": _number(
                        "Least share of non-5xx answers.", 0.0001, 1
                    ),
                },
                ["service", "min_success_ratio"],
            ),
            "A service kept answering while a dependency was broken.",
        ),
        "integrity": {
            "type": "array",
            "items": {"enum": list(INVARIANTS)},
            "uniqueItems": True,
            "description": "Data invariants that must hold after the run.",
        },
    }
    _same_fields(measured, expect_schema.KEYS, "the measured expectations")
    return measured


def _slo_state() -> dict:
    shape = _closed(
        {
            "service": _declared("A service with an SLO.", _SLOS),
            "state": {"enum": list(expect_schema.SLO_STATES)},
            "within_s": _seconds(
                "breached_and_recovered: back within this long of the last "
                "rollback or mitigation.",
                0.1,
            ),
            "hold_s": _seconds("Then held this long.", 1, default=5),
        },
        ["service", "state"],
    )
    shape["allOf"] = [
        {
            "if": _is("state", "held"),
            "then": {
                "not": {"anyOf": [{"required": ["within_s"]}, {"required": ["hold_s"]}]}
            },
        },
        {
            "if": _is("state", "breached_and_recovered"),
            "then": {"required": ["within_s"]},
        },
    ]
    return shape

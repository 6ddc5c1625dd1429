"""Toxics as values: the registry, attribute parsing, defaults and refusals."""

import dataclasses

import pytest

from harness.proxy.errors import BadRequest
from harness.proxy.toxics import (
    TOXIC_TYPES,
    Direction,
    LatencyToxic,
    ProxyToxic,
    SlicerToxic,
)

TOXIPROXY_ATTRIBUTES = {
    "bandwidth": {"rate"},
    "latency": {"latency", "jitter"},
    "limit_data": {"bytes"},
    "reset_peer": {"timeout"},
    "slicer": {"average_size", "size_variation", "delay"},
    "slow_close": {"delay"},
    "timeout": {"timeout"},
}


def test_the_registry_holds_each_type_under_its_toxiproxy_name() -> None:
    assert set(TOXIC_TYPES) == set(TOXIPROXY_ATTRIBUTES)
    for name, toxic_type in TOXIC_TYPES.items():
        assert toxic_type.type_name == name


@pytest.mark.parametrize("type_name", sorted(TOXIPROXY_ATTRIBUTES))
def test_each_type_speaks_toxiproxy_attributes_and_holds_units(type_name) -> None:
    toxic_type = TOXIC_TYPES[type_name]
    attributes = dict.fromkeys(TOXIPROXY_ATTRIBUTES[type_name], 1)
    if type_name == "slicer":
        attributes = {"average_size": 10, "size_variation": 2, "delay": 3}

    toxic = toxic_type.from_attributes(attributes)

    assert toxic.attributes() == attributes
    units = ("_ms", "_us", "_bytes", "_kbps")
    assert all(f.name.endswith(units) for f in dataclasses.fields(toxic))


def test_absent_attributes_are_zero_or_kept_from_the_base() -> None:
    base = LatencyToxic.from_attributes({"latency": 300, "jitter": 20})

    assert LatencyToxic.from_attributes({}) == LatencyToxic(0, 0)
    assert LatencyToxic.from_attributes(None) == LatencyToxic(0, 0)
    assert LatencyToxic.from_attributes({"jitter": 5}, base=base) == LatencyToxic(
        latency_ms=300, jitter_ms=5
    )


def test_integral_floats_are_accepted_as_whole_numbers() -> None:
    assert LatencyToxic.from_attributes({"latency": 300.0}).latency_ms == 300


@pytest.mark.parametrize(
    "value", [-1, 1.5, "300", True, None, [300], float("inf"), 1e308, 2**63]
)
def test_an_attribute_that_is_not_a_whole_number_is_refused(value) -> None:
    with pytest.raises(BadRequest) as refused:
        LatencyToxic.from_attributes({"latency": value})

    message = str(refused.value)
    assert message.startswith("bad request body: attribute 'latency'")
    assert "milliseconds" in message
    assert isinstance(refused.value, ValueError)


def test_attributes_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="must be a JSON object, got \\[1\\]"):
        LatencyToxic.from_attributes([1])


@pytest.mark.parametrize(
    ("attributes", "complaint"),
    [
        ({"average_size": 0}, "'average_size' of a slicer toxic must be at least 1"),
        ({"average_size": 5, "size_variation": 5}, "smaller than average_size (5)"),
    ],
)
def test_a_slicer_that_cannot_slice_is_refused(attributes, complaint) -> None:
    with pytest.raises(BadRequest) as refused:
        SlicerToxic.from_attributes(attributes)

    assert complaint in str(refused.value)


def test_a_toxic_body_gets_toxiproxy_defaults() -> None:
    toxic = ProxyToxic.from_json({"type": "latency"})

    assert toxic.name == "latency_downstream"
    assert toxic.stream is Direction.DOWNSTREAM
    assert toxic.toxicity == 1.0
    assert toxic.toxic == LatencyToxic(0, 0)


def test_toxicity_zero_and_stream_case_are_kept_as_meant() -> None:
    toxic = ProxyToxic.from_json(
        {"type": "timeout", "stream": "UpStream", "toxicity": 0}
    )

    assert toxic.toxicity == 0.0
    assert toxic.stream is Direction.UPSTREAM
    assert toxic.name == "timeout_upstream"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "lag"}, 'invalid toxic type: "lag" is not one of bandwidth, '),
        ({"type": "latency", "stream": "both"}, "can be either upstream or downstream"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity must be a number from 0 to 1"),
        ({"type": "latency", "name": 7}, "name must be a string, got 7"),
        ("latency", "expected a JSON object"),
    ],
)
def test_a_toxic_body_that_cannot_be_used_is_refused(body, message) -> None:
    with pytest.raises(BadRequest) as refused:
        ProxyToxic.from_json(body)

    assert message in str(refused.value)


def test_an_update_changes_only_attributes_and_toxicity() -> None:
    toxic = ProxyToxic.from_json({"type": "latency", "attributes": {"latency": 100}})

    updated = toxic.updated(
        {"name": "other", "stream": "upstream", "toxicity": 0.25, "attributes": {}}
    )

    assert updated == dataclasses.replace(toxic, toxicity=0.25)
    assert updated.to_json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.25,
        "attributes": {"latency": 100, "jitter": 0},
    }

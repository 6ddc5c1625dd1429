"""Resilience policies in estate.yaml: defaults, per-edge overrides, refusals."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.errors import ConfigError
from mocks.config import parse_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_copy(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


def _edit(config_dir: Path, change) -> None:
    path = config_dir / "estate.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_an_edge_override_replaces_single_fields_of_the_defaults(config_copy):
    def change(data):
        data["edges"] = {
            "claims-api_to_fraud-detection": {
                "timeout_s": 0.25,
                "breaker": {"open_s": 2},
            }
        }

    _edit(config_copy, change)
    estate = load_estate(config_copy)

    edge = estate.route_for("claims-api", "fraud-detection")
    other = estate.route_for("claims-api", "policy-api")
    assert edge.timeout_s == 0.25
    assert edge.resilience["breaker"]["open_s"] == 2
    assert edge.resilience["breaker"]["failure_threshold"] == 5
    assert other.resilience["breaker"]["open_s"] == 5
    assert other.timeout_s == 1.0


def test_every_declared_edge_policy_is_one_a_mock_accepts():
    estate = load_estate(REPO / "config")

    for route in estate.routes.values():
        if route.caller == "client":
            continue
        config = {
            "service": route.caller,
            "host": "127.0.0.1",
            "port": 1,
            "data_dir": "/tmp/d",
            "log_dir": "/tmp/l",
            "admin_token": "t",
            "latency_buckets_s": [0.1],
            "dependencies": {
                route.upstream: {
                    "url": "http://127.0.0.1:1",
                    "timeout_s": route.timeout_s,
                    "resilience": json.loads(json.dumps(route.resilience)),
                }
            },
            "version": "1",
        }
        policy = parse_config(config).dependencies[route.upstream].resilience
        assert policy.retry.max_attempts == route.resilience["retry"]["max_attempts"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["dependency_defaults"]["retry"].update(max_attempts=0),
            ["dependency_defaults.retry.max_attempts", "is 0", "from 1 to 10"],
        ),
        (
            lambda d: d["dependency_defaults"]["retry"].update(jitter="lots"),
            ["dependency_defaults.retry.jitter", "'lots'", "equal, full, none"],
        ),
        (
            lambda d: d["dependency_defaults"]["breaker"].update(enabled="yes"),
            ["dependency_defaults.breaker.enabled", "'yes'", "true or false"],
        ),
        (
            lambda d: d["dependency_defaults"]["bulkhead"].update(max_concurrent=0),
            ["dependency_defaults.bulkhead.max_concurrent", "is 0", "or null"],
        ),
        (
            lambda d: d["dependency_defaults"]["breaker"].update(opened_s=3),
            ["unknown field", "dependency_defaults.breaker.opened_s", "open_s"],
        ),
        (
            lambda d: d.update(edges={"claims-api_to_crm": {"timeout_s": 1.0}}),
            ["edges.claims-api_to_crm", "a declared edge"],
        ),
        (
            lambda d: d.update(
                edges={"claims-api_to_policy-api": {"retry": {"budget_ratio": 2}}}
            ),
            [
                "edges.claims-api_to_policy-api.retry.budget_ratio",
                "is 2",
                "from 0 to 1",
            ],
        ),
    ],
)
def test_a_bad_policy_names_file_line_field_value_and_what_is_accepted(
    config_copy, change, expected
):
    _edit(config_copy, change)

    with pytest.raises(ConfigError) as refused:
        load_estate(config_copy)

    message = str(refused.value)
    assert re.search(r"estate\.yaml:\d+", message), message
    for part in expected:
        assert part in message, message

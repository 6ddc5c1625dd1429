"""The config file contract: what is accepted, and what a refusal says."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mock_processes import LOOPBACK, PROJECT_ROOT, free_port, service_config

from mocks.config import parse_config
from mocks.errors import ConfigError
from mocks.services import spec_for


def _config(**changes) -> dict:
    config = service_config(
        "claims-api",
        Path("/tmp/mocks-run"),
        {
            "policy-api": "http://127.0.0.1:1",
            "customer-api": "http://127.0.0.1:2",
            "payment-api": "http://127.0.0.1:3",
            "fraud-detection": "http://127.0.0.1:4",
        },
    )
    config.update(changes)
    return config


def test_a_full_config_is_read_into_typed_fields():
    config = parse_config(_config(port=18001))

    assert config.port == 18001
    assert config.data_dir == Path("/tmp/mocks-run/data")
    assert config.dependencies["policy-api"].url == "http://127.0.0.1:1"
    assert config.dependencies["policy-api"].timeout_s == 1.0
    assert config.seed.customers == 2000
    assert config.latency_buckets_s[0] == 0.005


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"port": "abc"}, ["'port'", "'abc'", "integer 1..65535"]),
        ({"port": True}, ["'port'", "True"]),
        ({"port": 70000}, ["'port'", "70000"]),
        ({"data_dir": "run/data"}, ["'data_dir'", "'run/data'", "absolute path"]),
        ({"admin_token": ""}, ["'admin_token'", "non-empty string"]),
        ({"latency_buckets_s": [0.5, 0.1]}, ["'latency_buckets_s'", "increasing"]),
        ({"latency_buckets_s": [0.1, "x"]}, ["'latency_buckets_s[1]'", "'x'"]),
        ({"dependencies": []}, ["'dependencies'", "JSON object"]),
        ({"seed": {"random_seed": 1}}, ["'seed.customers'", "missing"]),
        ({"colour": "blue"}, ["'colour'", "'blue'", "no such field", "service"]),
    ],
)
def test_a_bad_field_is_named_with_its_value_and_what_is_accepted(changes, expected):
    with pytest.raises(ConfigError) as refused:
        parse_config(_config(**changes), source="claims.json")

    message = str(refused.value)
    assert message.startswith("claims.json: ")
    for part in expected:
        assert part in message


def test_a_missing_field_is_named():
    config = _config()
    del config["log_dir"]

    with pytest.raises(ConfigError, match="field 'log_dir' is missing"):
        parse_config(config)


def test_a_bad_dependency_entry_names_the_dependency():
    config = _config()
    config["dependencies"]["policy-api"] = {"url": "ftp://x", "timeout_s": 0}

    with pytest.raises(ConfigError, match=r"dependencies\.policy-api\.url.*ftp://x"):
        parse_config(config)


def test_an_unknown_service_lists_the_services():
    config = parse_config(_config(service="billing-api"))

    with pytest.raises(ConfigError) as refused:
        spec_for(config, "billing.json")

    assert "'billing-api'" in str(refused.value)
    assert "customer-api, policy-api, claims-api, payment-api" in str(refused.value)


def test_dependencies_must_be_exactly_those_the_service_calls():
    config = _config()
    del config["dependencies"]["fraud-detection"]

    with pytest.raises(ConfigError) as refused:
        spec_for(parse_config(config), "claims.json")

    assert "'dependencies'" in str(refused.value)
    assert "fraud-detection" in str(refused.value)


def _serve(config_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mocks", "serve", "--config", str(config_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_cli_exits_non_zero_naming_the_bad_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_config(service="billing-api")))

    result = _serve(path)

    assert result.returncode == 2
    assert "field 'service' has value 'billing-api'" in result.stderr


def test_the_cli_exits_non_zero_when_the_file_is_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")

    result = _serve(path)

    assert result.returncode == 2
    assert "not valid JSON at line 1" in result.stderr


def test_the_cli_exits_non_zero_when_the_port_is_taken(tmp_path):
    config = service_config("crm", tmp_path, {})
    config["port"] = free_port()
    path = tmp_path / "crm.json"
    path.write_text(json.dumps(config))

    with socket.socket() as holder:
        holder.bind((LOOPBACK, config["port"]))
        holder.listen()
        result = _serve(path)

    assert result.returncode != 0
    assert str(config["port"]) in result.stderr

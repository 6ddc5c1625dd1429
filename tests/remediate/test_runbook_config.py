"""Runbook files load into bounded runbooks; every bad field is named precisely."""

import shutil
from pathlib import Path

import pytest
import yaml

from harness.config import load_estate, load_runbook
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

GOOD = {
    "name": "shed-customer",
    "answers": ["Saturation"],
    "match": {"service": "customer-api"},
    "cooldown_s": 30,
    "max_attempts": 2,
    "escalate": {"team": "customer-platform", "severity": "error"},
    "dry_run": True,
    "actions": [
        {"action": "shed", "service": "customer-api", "ratio": 0.5, "timeout_s": 3},
        {"action": "restart", "service": "customer-api"},
    ],
}


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "runbook.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def changed(**fields) -> dict:
    return {**GOOD, **fields}


def test_every_field_is_read(tmp_path):
    runbook = load_runbook(write(tmp_path, GOOD))

    assert runbook.cooldown_s == 30
    assert runbook.max_attempts == 2
    assert runbook.escalate.team == "customer-platform"
    assert runbook.escalate.severity == "error"
    assert runbook.dry_run is True
    assert runbook.actions[0].params == {"service": "customer-api", "ratio": 0.5}
    assert runbook.actions[0].timeout_s == 3
    assert runbook.actions[1].timeout_s == 30
    assert runbook.answers_alert("Saturation", {"service": "customer-api"})
    assert not runbook.answers_alert("Saturation", {"service": "policy-api"})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (changed(cooldown_s=-1), r"field 'cooldown_s' is -1; expected a number >= 0"),
        (
            changed(max_attempts=0),
            r"field 'max_attempts' is 0; expected an integer >= 1",
        ),
        (changed(dry_run="yes"), r"field 'dry_run' is 'yes'; expected true or false"),
        (
            changed(escalate={"team": "x", "severity": "loud"}),
            r"field 'escalate.severity' is 'loud'; expected one of: critical, error",
        ),
        (
            changed(escalate={"who": "x"}),
            r"unknown field 'escalate.who'; accepted fields: severity, team",
        ),
        (
            changed(actions=[{"action": "shed", "service": "a", "ratio": 1.5}]),
            r"field 'actions\[0\]\.ratio' is 1.5; expected a number from 0 to 1",
        ),
        (
            changed(actions=[{"action": "restart", "service": "a", "timeout_s": 0}]),
            r"field 'actions\[0\]\.timeout_s' is 0; expected a number >= 0.1",
        ),
        (
            changed(
                actions=[
                    {
                        "action": "breaker",
                        "service": "a",
                        "dependency": "b",
                        "state": "x",
                    }
                ]
            ),
            r"field 'actions\[0\]\.state' is 'x'; expected one of: closed, open",
        ),
        (
            changed(
                actions=[
                    {
                        "action": "set_fallback",
                        "service": "a",
                        "dependency": "b",
                        "mode": "stale",
                    }
                ]
            ),
            r"field 'actions\[0\]\.mode' is 'stale'; expected one of: cache, none",
        ),
        (changed(actions=[]), r"field 'actions' is \[\]; expected a list of at least"),
        (changed(match={"service": 3}), r"field 'match' is \{'service': 3\}"),
    ],
)
def test_a_bad_field_is_refused_with_file_line_value_and_accepted(
    tmp_path, doc, message
):
    with pytest.raises(ConfigError, match=message) as refused:
        load_runbook(write(tmp_path, doc))

    assert str(tmp_path / "runbook.yaml") + ":" in str(refused.value)


@pytest.fixture
def config_copy(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


def add_runbook(config_dir: Path, doc: dict) -> None:
    (config_dir / "runbooks" / "extra.yaml").write_text(yaml.safe_dump(doc))


def test_the_shipped_runbooks_load_with_the_estate():
    runbooks = load_estate(REPO / "config").runbooks

    kinds = {action.action for rb in runbooks.values() for action in rb.actions}
    assert kinds == {
        "rollback",
        "restart",
        "shed",
        "set_fallback",
        "failover",
    }


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            {"action": "restart", "service": "billing-api"},
            r"field 'actions\[0\]\.service' is 'billing-api'; expected a declared "
            "service or external",
        ),
        (
            {
                "action": "breaker",
                "service": "customer-api",
                "dependency": "payment-api",
                "state": "open",
            },
            r"field 'actions\[0\]\.dependency' is 'payment-api'; expected a "
            "dependency customer-api calls: identity-verification, crm",
        ),
        (
            {"action": "scale_out", "service": "crm"},
            r"field 'actions\[0\]\.service' is 'crm'; expected a service "
            r"\(externals are not scaled\)",
        ),
        (
            {
                "action": "failover",
                "service": "claims-api",
                "dependency": "fraud-detection",
                "to": "secondary",
            },
            r"field 'actions\[0\]\.dependency' is 'fraud-detection'; expected an "
            "external declared with `secondary: true` in estate.yaml: payment-gateway",
        ),
    ],
)
def test_targets_the_estate_does_not_declare_are_refused(config_copy, action, message):
    add_runbook(config_copy, changed(name="extra", actions=[action]))

    with pytest.raises(ConfigError, match=message):
        load_estate(config_copy)


def test_an_escalation_to_an_unknown_team_is_refused(config_copy):
    add_runbook(config_copy, changed(name="extra", escalate={"team": "nobody"}))

    with pytest.raises(
        ConfigError, match=r"field 'escalate.team' is 'nobody'; expected a team of"
    ):
        load_estate(config_copy)

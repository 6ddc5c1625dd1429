"""config/alerting.yaml: every team has a pager; mistakes are named with their line."""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.alerting import PagerTarget
from harness.config import load_estate
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_copy(tmp_path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


def edit(config: Path, change) -> None:
    path = config / "alerting.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_every_team_of_the_estate_has_a_pager_and_both_services_are_used():
    estate = load_estate(REPO / "config")
    alerting = estate.alerting

    teams = {estate.team} | {s.team for s in estate.services.values()}
    assert set(alerting.teams) == teams
    assert alerting.fallback_team == estate.team
    assert {t.integration for t in alerting.teams.values()} == {
        "pagerduty",
        "opsgenie",
    }
    assert alerting.teams["claims-platform"] == PagerTarget(
        "pagerduty", "claimsplatformplaceholderkey0003", "critical"
    )
    assert alerting.tickets.urgency == "P5"


def test_a_team_without_an_entry_is_refused_naming_it(config_copy):
    edit(config_copy, lambda d: d["teams"].pop("claims-platform"))

    with pytest.raises(ConfigError, match="team 'claims-platform' of estate.yaml has"):
        load_estate(config_copy)


def test_a_team_the_estate_does_not_name_is_refused_with_the_known_ones(config_copy):
    edit(
        config_copy,
        lambda d: d["teams"].update({"billing": {"pager": "opsgenie", "api_key": "x"}}),
    )

    with pytest.raises(
        ConfigError,
        match=r"alerting.yaml:\d+: team 'billing' under 'teams' is not a team of "
        "estate.yaml; known teams: insurance-platform, customer-platform",
    ):
        load_estate(config_copy)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"pager": "victorops", "routing_key": "k"},
            "field 'teams.claims-platform.pager' is 'victorops'; expected one of: "
            "opsgenie, pagerduty",
        ),
        (
            {"pager": "pagerduty", "routing_key": "tooshort"},
            "routing_key' is 'tooshort'; expected 32 letters and digits",
        ),
        (
            {"pager": "pagerduty", "api_key": "00000000-0000-4000-8000-000000000001"},
            "unknown field 'teams.claims-platform.api_key'; accepted fields: pager, "
            "routing_key, severity",
        ),
        (
            {"pager": "opsgenie", "api_key": "not-a-uuid"},
            "api_key' is 'not-a-uuid'; expected a lower-case UUID",
        ),
        (
            {
                "pager": "opsgenie",
                "api_key": "00000000-0000-4000-8000-000000000001",
                "priority": "P5",
            },
            "priority' is 'P5'; expected one of: P1, P2, P3",
        ),
    ],
)
def test_a_bad_team_entry_is_refused_naming_field_and_value(
    config_copy, entry, message
):
    edit(config_copy, lambda d: d["teams"].update({"claims-platform": entry}))

    with pytest.raises(
        ConfigError, match=r"alerting.yaml:\d+: .*" + re.escape(message)
    ):
        load_estate(config_copy)


def test_a_ticket_queue_that_would_page_is_refused(config_copy):
    edit(config_copy, lambda d: d["tickets"].update(priority="P1"))

    with pytest.raises(ConfigError, match="'tickets.priority' is 'P1'; expected one"):
        load_estate(config_copy)


def test_a_ticket_queue_sharing_a_team_key_is_refused(config_copy):
    shared = "00000000-0000-4000-8000-00000000c057"
    edit(config_copy, lambda d: d["tickets"].update(api_key=shared))

    with pytest.raises(ConfigError, match="team 'customer-platform' pages with"):
        load_estate(config_copy)


def test_an_unknown_top_level_field_is_refused(config_copy):
    edit(config_copy, lambda d: d.update(escalations={}))

    with pytest.raises(ConfigError, match="unknown field 'escalations'"):
        load_estate(config_copy)

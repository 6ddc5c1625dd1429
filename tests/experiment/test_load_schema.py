"""The load part of an experiment file: both models, journey mixes, bad input."""

from pathlib import Path

import pytest
import yaml

from harness.errors import ConfigError
from harness.experiment.load_schema import LoadSpec, parse_load
from harness.fields import Fields
from harness.load.settings import LoadSettings
from harness.yamlfile import load_located

TARGETS = {
    name: f"http://127.0.0.1:{18001 + index}"
    for index, name in enumerate(
        ["customer-api", "policy-api", "claims-api", "payment-api"]
    )
}


def parse(tmp_path: Path, load: dict) -> LoadSpec:
    path = tmp_path / "exp.yaml"
    # The load mapping starts on line 2, its first field on line 3.
    path.write_text("name: x\n" + yaml.safe_dump({"load": load}, sort_keys=False))
    return parse_load(Fields(load_located(path)).child("load"))


def test_journey_is_shorthand_for_a_list_of_one(tmp_path: Path) -> None:
    spec = parse(tmp_path, {"journey": "file_a_claim", "arrival_rate_per_s": 4})

    assert spec == LoadSpec((("file_a_claim", 1.0),), arrival_rate_per_s=4)
    assert spec.model == "open"


def test_a_list_weighs_journeys_the_same(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        {"journeys": ["view_policy", "register_a_customer"], "arrival_rate_per_s": 2},
    )

    assert spec.journeys == (("view_policy", 1.0), ("register_a_customer", 1.0))


def test_closed_model_with_weights_and_think_time(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        {
            "users": 20,
            "think_time_s": 1.5,
            "journeys": {"file_a_claim": 3, "buy_a_policy": 0.5},
        },
    )

    assert spec.model == "closed"
    assert spec.users == 20
    assert spec.think_time_s == 1.5
    assert spec.arrival_rate_per_s is None
    assert spec.journeys == (("file_a_claim", 3.0), ("buy_a_policy", 0.5))


def test_closed_model_thinks_not_at_all_by_default(tmp_path: Path) -> None:
    spec = parse(tmp_path, {"users": 1, "journey": "view_policy"})

    assert spec.think_time_s == 0.0


def test_the_spec_builds_valid_load_settings(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        {
            "users": 3,
            "think_time_s": 2,
            "journeys": {"pay_a_premium": 2, "view_policy": 1},
        },
    )

    settings = LoadSettings(targets=TARGETS, **spec.settings_fields())

    assert settings.model == "closed"
    assert settings.journeys == {"pay_a_premium": 2.0, "view_policy": 1.0}
    assert settings.services() == ("policy-api", "payment-api")


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (
            {"journey": "file_a_claim", "arrival_rate_per_s": 4, "users": 5},
            ":5: field 'load.users' is {'arrival_rate_per_s': 4, 'users': 5}; "
            "expected exactly one of arrival_rate_per_s",
        ),
        (
            {"journey": "file_a_claim"},
            ":2: field 'load.arrival_rate_per_s' is missing; expected exactly one",
        ),
        (
            {"arrival_rate_per_s": 4},
            ":2: field 'load.journeys' is missing; expected exactly one of journey",
        ),
        (
            {"journey": "a", "journeys": ["b"], "arrival_rate_per_s": 4},
            "field 'load.journey' is {'journeys': ['b'], 'journey': 'a'}",
        ),
        (
            {"journey": "buy_a_boat", "arrival_rate_per_s": 4},
            ":3: field 'load.journey' is 'buy_a_boat'; expected one of: buy_a_policy, "
            "file_a_claim, pay_a_premium, register_a_customer, view_policy",
        ),
        (
            {"journeys": ["view_policy", "buy_a_boat"], "arrival_rate_per_s": 4},
            ":5: field 'load.journeys[1]' is 'buy_a_boat'; expected one of:",
        ),
        (
            {"journeys": ["view_policy", "view_policy"], "arrival_rate_per_s": 4},
            "field 'load.journeys[1]' is 'view_policy'; expected each journey once",
        ),
        (
            {"journeys": [], "arrival_rate_per_s": 4},
            "field 'load.journeys' is []; expected at least one of:",
        ),
        (
            {"journeys": {}, "arrival_rate_per_s": 4},
            "field 'load.journeys' is {}; expected a non-empty list",
        ),
        (
            {"journeys": "view_policy", "arrival_rate_per_s": 4},
            "field 'load.journeys' is 'view_policy'; expected a non-empty list",
        ),
        (
            {"journeys": {"view_policy": 0}, "arrival_rate_per_s": 4},
            ":4: field 'load.journeys.view_policy' is 0; expected a relative weight",
        ),
        (
            {"journeys": {"view_policy": True}, "arrival_rate_per_s": 4},
            "field 'load.journeys.view_policy' is true; expected a relative weight",
        ),
        (
            {"journeys": {"buy_a_boat": 1}, "arrival_rate_per_s": 4},
            "field 'load.journeys.buy_a_boat' is 'buy_a_boat'; expected a journey",
        ),
        (
            {"journey": "view_policy", "arrival_rate_per_s": 0},
            "field 'load.arrival_rate_per_s' is 0; expected a number of journeys "
            "per second, above 0 and at most 200",
        ),
        (
            {"journey": "view_policy", "arrival_rate_per_s": 201},
            "field 'load.arrival_rate_per_s' is 201",
        ),
        (
            {"journey": "view_policy", "arrival_rate_per_s": 4, "think_time_s": 1},
            "field 'load.think_time_s' is 1; expected no think_time_s with "
            "arrival_rate_per_s",
        ),
        (
            {"journey": "view_policy", "users": 0},
            "field 'load.users' is 0; expected a whole number of users from 1 to 200",
        ),
        (
            {"journey": "view_policy", "users": 201},
            "field 'load.users' is 201; expected a whole number of users from 1 to 200",
        ),
        (
            {"journey": "view_policy", "users": 2.5},
            "field 'load.users' is 2.5",
        ),
        (
            {"journey": "view_policy", "users": 2, "think_time_s": -1},
            "field 'load.think_time_s' is -1; expected a number from 0 to 60",
        ),
        (
            {"journey": "view_policy", "users": 2, "think_time_s": 61},
            "field 'load.think_time_s' is 61",
        ),
        (
            {"journey": "view_policy", "users": 2, "think": 1},
            "unknown field 'load.think'; accepted fields: arrival_rate_per_s, "
            "journey, journeys, percentiles, think_time_s, users",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": 99},
            "field 'load.percentiles' is 99; expected a list of 1 to 8 percentiles, "
            "each above 0 and below 100",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": []},
            "field 'load.percentiles' is []; expected a list of 1 to 8",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": list(range(1, 10))},
            "field 'load.percentiles' is [1, 2, 3, 4, 5, 6, 7, 8, 9]; expected a "
            "list of 1 to 8",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": [50, 100]},
            ":7: field 'load.percentiles[1]' is 100; expected a percentile above 0 "
            "and below 100",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": [0, 50]},
            "field 'load.percentiles[0]' is 0; expected a percentile above 0",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": [50, "p99"]},
            "field 'load.percentiles[1]' is 'p99'; expected a percentile",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": [True]},
            "field 'load.percentiles[0]' is true; expected a percentile",
        ),
        (
            {"journey": "view_policy", "users": 2, "percentiles": [99, 50, 99.0]},
            "field 'load.percentiles[2]' is 99.0; expected each percentile once",
        ),
    ],
)
def test_bad_load_names_line_field_value_and_what_is_accepted(
    tmp_path: Path, load: dict, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(tmp_path, load)

    assert str(tmp_path / "exp.yaml") in str(caught.value)
    assert expected in str(caught.value)


def test_percentiles_default_to_50_95_99_and_99_9(tmp_path: Path) -> None:
    spec = parse(tmp_path, {"users": 1, "journey": "view_policy"})

    assert spec.percentiles == (50.0, 95.0, 99.0, 99.9)
    assert LoadSettings(targets=TARGETS, **spec.settings_fields()).percentiles == (
        50.0,
        95.0,
        99.0,
        99.9,
    )


def test_percentiles_are_read_in_order_and_reach_the_settings(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        {"users": 1, "journey": "view_policy", "percentiles": [99.99, 75, 90]},
    )

    assert spec.percentiles == (75.0, 90.0, 99.99)
    settings = LoadSettings(targets=TARGETS, **spec.settings_fields())
    assert settings.percentiles == (75.0, 90.0, 99.99)

"""Load settings are checked whole, before any process starts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.runner import LoadRun
from harness.load.settings import JOURNEY_TARGETS, LoadSettings

TARGETS = {
    "customer-api": "http://127.0.0.1:18001",
    "policy-api": "http://127.0.0.1:18002",
    "claims-api": "http://127.0.0.1:18003",
}
EXAMPLE = {
    "targets": TARGETS,
    "journeys": {"file_a_claim": 1},
    "arrival_rate_per_s": 4.0,
    "customers": 2000,
    "random_seed": 1,
    "request_timeout_s": 2.0,
    "max_in_flight": 200,
}


def test_example_settings_survive_a_round_trip(tmp_path: Path) -> None:
    settings = LoadSettings.from_dict(EXAMPLE)
    settings.write(tmp_path / "settings.json")

    loaded = LoadSettings.load(tmp_path / "settings.json")

    assert loaded == settings
    assert loaded.arrival_process == "poisson"
    assert loaded.percentiles == (50, 95, 99, 99.9)


def test_chosen_percentiles_survive_a_round_trip(tmp_path: Path) -> None:
    settings = LoadSettings.from_dict({**EXAMPLE, "percentiles": [90, 99.99]})
    settings.write(tmp_path / "settings.json")

    assert LoadSettings.load(tmp_path / "settings.json").percentiles == (90, 99.99)


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("arrival_rate_per_s", 0, "> 0"),
        ("arrival_rate_per_s", -2.5, "> 0"),
        ("arrival_rate_per_s", float("nan"), "> 0"),
        ("arrival_rate_per_s", "4", "> 0"),
        ("arrival_rate_per_s", True, "> 0"),
        ("arrival_rate_per_s", 200.5, "at most 200"),
        ("journeys", {}, "a mapping of journey"),
        ("journeys", ["file_a_claim"], "a mapping of journey"),
        ("journeys.file_a_claim", 0, "a weight above 0"),
        ("journeys.file_a_claim", 1001, "at most 1000"),
        ("think_time_s", 1.0, "an open model has no think time"),
        ("request_timeout_s", 0, "seconds > 0"),
        ("customers", 0, ">= 1"),
        ("max_in_flight", 2.5, ">= 1"),
        ("random_seed", "one", "an integer"),
        ("arrival_process", "bursty", "poisson, uniform"),
        ("percentiles", [], "a non-empty list of percentiles"),
        ("percentiles", 99, "a non-empty list of percentiles"),
        ("percentiles", [50, 100], "above 0 and below 100; item 1 is 100"),
        ("percentiles", [50, float("nan")], "item 1 is nan"),
        ("percentiles", [50, "99"], "item 1 is '99'"),
        ("percentiles", [95, 95.0], "each percentile once; 95.0 is given twice"),
        ("percentiles", list(range(1, 10)), "at most 8 percentiles"),
    ],
)
def test_bad_value_names_field_value_and_what_is_accepted(
    field: str, value: object, accepted: str
) -> None:
    if field.startswith("journeys."):
        changes = {"journeys": {field.split(".")[1]: value}}
    else:
        changes = {field: value}
    with pytest.raises(ConfigError) as caught:
        LoadSettings.from_dict({**EXAMPLE, **changes})

    message = str(caught.value)
    assert f"'{field}'" in message
    assert repr(value) in message
    assert accepted in message


def test_missing_target_names_the_service_the_journey_needs() -> None:
    targets = {k: v for k, v in TARGETS.items() if k != "claims-api"}

    with pytest.raises(ConfigError, match=r"'targets\.claims-api' is missing"):
        LoadSettings.from_dict({**EXAMPLE, "targets": targets})


def test_missing_targets_field_is_named() -> None:
    without_targets = {k: v for k, v in EXAMPLE.items() if k != "targets"}

    with pytest.raises(ConfigError, match="field 'targets' is missing"):
        LoadSettings.from_dict(without_targets)


def test_target_without_scheme_is_refused() -> None:
    targets = {**TARGETS, "policy-api": "127.0.0.1:18002"}

    with pytest.raises(ConfigError, match=r"'targets\.policy-api' is '127\.0"):
        LoadSettings.from_dict({**EXAMPLE, "targets": targets})


def test_unknown_field_lists_the_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="unknown field 'arrival_rate'.*customers"):
        LoadSettings.from_dict({**EXAMPLE, "arrival_rate": 4.0})


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        LoadSettings.from_dict({**EXAMPLE, "arrival_rate_per_s": 0})


@pytest.mark.parametrize("run_time_s", [0, -5, 2.5, "10s"])
def test_bad_run_time_is_refused_before_anything_starts(
    tmp_path: Path, run_time_s: object
) -> None:
    out_dir = tmp_path / "run"

    with pytest.raises(ConfigError, match=r"'run_time_s'"):
        LoadRun(LoadSettings.from_dict(EXAMPLE), out_dir, run_time_s)

    assert not out_dir.exists()


def test_every_declared_journey_is_in_the_locustfile() -> None:
    # The locustfile imports gevent, so it is loaded in an interpreter of its own.
    code = "from harness.load.journeys import JOURNEYS; print(sorted(JOURNEYS))"
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert loaded.stdout.strip() == repr(sorted(JOURNEY_TARGETS))


CLOSED = {
    **{k: v for k, v in EXAMPLE.items() if k != "arrival_rate_per_s"},
    "users": 10,
    "think_time_s": 0.5,
}


def test_closed_model_settings_survive_a_round_trip(tmp_path: Path) -> None:
    settings = LoadSettings.from_dict(CLOSED)
    settings.write(tmp_path / "settings.json")

    loaded = LoadSettings.load(tmp_path / "settings.json")

    assert loaded == settings
    assert loaded.model == "closed"
    assert LoadSettings.from_dict(EXAMPLE).model == "open"


def test_closed_model_starts_that_many_users_of_its_class(tmp_path: Path) -> None:
    closed = LoadRun(LoadSettings.from_dict(CLOSED), tmp_path / "c", 5).command()
    opened = LoadRun(LoadSettings.from_dict(EXAMPLE), tmp_path / "o", 5).command()

    assert closed[-1] == "ClosedModelUser"
    assert closed[closed.index("--users") + 1] == "10"
    assert closed[closed.index("--spawn-rate") + 1] == "10"
    assert opened[-1] == "ArrivalDriver"
    assert opened[opened.index("--users") + 1] == "1"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"users": 0}, "field 'users' is 0; expected an integer from 1 to 200"),
        ({"users": 201}, "field 'users' is 201"),
        ({"users": 2.0}, "field 'users' is 2.0"),
        ({"think_time_s": -0.1}, "field 'think_time_s' is -0.1; expected a number"),
        ({"think_time_s": 61}, "field 'think_time_s' is 61"),
        ({"arrival_rate_per_s": 4.0}, "expected exactly one: arrival_rate_per_s"),
        ({"users": None}, "field 'arrival_rate_per_s / users' is missing"),
    ],
)
def test_bad_closed_model_value_is_named(changes: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        LoadSettings.from_dict({**CLOSED, **changes})


def test_missing_target_names_a_journey_of_the_mix_that_needs_it() -> None:
    targets = {k: v for k, v in TARGETS.items() if k != "policy-api"}
    mix = {"register_a_customer": 1, "view_policy": 2}

    with pytest.raises(ConfigError, match=r"targets\.policy-api.*'view_policy'"):
        LoadSettings.from_dict({**EXAMPLE, "targets": targets, "journeys": mix})


def test_services_are_every_one_the_mix_calls_once() -> None:
    mix = {"view_policy": 1, "file_a_claim": 1, "register_a_customer": 1}

    settings = LoadSettings.from_dict({**EXAMPLE, "journeys": mix})

    assert settings.services() == ("policy-api", "customer-api", "claims-api")


def _in_locust_interpreter(code: str) -> str:
    # The locustfile patches the standard library for gevent when imported.
    ran = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return ran.stdout.strip()


def test_journey_mix_draws_by_weight_and_repeats_with_the_seed() -> None:
    code = f"""
import collections, json
from harness.load.journeys import JourneyMix
from harness.load.settings import LoadSettings
settings = LoadSettings.from_dict({{**{EXAMPLE!r},
    "journeys": {{"view_policy": 3, "file_a_claim": 1}}}})
mix = JourneyMix(settings, "t")
names = [mix.draw()[0] for _ in range(4000)]
again = JourneyMix(settings, "t")
same = [again.draw()[0] for _ in range(4000)] == names
print(json.dumps([collections.Counter(names)["view_policy"], same]))
"""
    views, same = json.loads(_in_locust_interpreter(code))

    # 3 in 4 of 4000 draws: 3000, with a standard deviation of about 27.
    assert 2850 < views < 3150
    assert same


def test_tally_counts_each_journey_of_the_mix_apart() -> None:
    code = f"""
from harness.load.journeys import JourneyTally
from harness.load.settings import LoadSettings
settings = LoadSettings.from_dict({{**{CLOSED!r},
    "journeys": {{"view_policy": 1, "file_a_claim": 1}}}})
tally = JourneyTally.for_settings(settings)
tally.journey_started("view_policy", 1)
tally.journey_started("view_policy", 2)
tally.journey_started("file_a_claim", 3)
tally.journey_ended("view_policy", True)
tally.journey_ended("file_a_claim", False)
print(tally.as_json())
"""
    tally = json.loads(_in_locust_interpreter(code))

    assert tally["by_journey"] == {
        "view_policy": {"started": 2, "completed": 1, "failed": 0},
        "file_a_claim": {"started": 1, "completed": 0, "failed": 1},
    }
    assert (tally["started"], tally["completed"], tally["failed"]) == (3, 1, 1)
    assert tally["model"] == "closed"
    assert tally["users"] == 10
    assert tally["in_flight_peak"] == 3

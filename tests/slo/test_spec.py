"""SLO specs: what is read from slos.yaml, and what is refused."""

import shutil
from pathlib import Path

import pytest
import yaml

from harness.config import DEFAULT_CONFIG_DIR, load_estate
from harness.errors import ConfigError
from harness.slo.spec import LATENCY


def _config_with(tmp_path: Path, change) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    path = folder / "slos.yaml"
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return folder


def test_specs_declare_service_and_journey_objectives(estate):
    specs = estate.slo_specs
    names = [o.name for o in specs.objectives]
    assert "claims-api-availability" in names and "file-a-claim-latency" in names
    journey = next(o for o in specs.objectives if o.name == "file-a-claim-latency")
    assert journey.journey == "file_a_claim"
    assert [str(r) for r in journey.requests] == ["POST /claims"]
    assert journey.sli == LATENCY and journey.threshold_s == 1.0
    assert specs.policy.period_s == 30 * 86400
    page = specs.policy.windows_of("page")
    assert [(w.long_window_s, w.short_window_s, w.burn_rate) for w in page] == [
        (3600, 300, 14.4),
        (21600, 1800, 6),
    ]
    assert page[0].budget_spent(specs.policy.period_s) == pytest.approx(0.02)


def test_service_view_keeps_one_availability_and_latency_objective(estate):
    claims = estate.slos["claims-api"]
    assert claims.availability_objective == 0.99
    assert claims.latency_threshold_s == 0.8
    assert 1.0 in estate.latency_buckets_s()  # the journey's threshold is an edge


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["slos"][0].update(target=99),
            r"slos\[0\]\.target' is 99; expected a ratio between 0 and 1",
        ),
        (
            lambda d: d["slos"][0].update(service="billing-api"),
            r"slos\[0\]\.service' is 'billing-api'; expected one of: claims-api",
        ),
        (
            lambda d: d["slos"][1].pop("threshold_s"),
            r"slos\[1\]\.threshold_s' is missing",
        ),
        (
            lambda d: d["slos"][0].update(threshold_s=0.2),
            r"slos\[0\]\.threshold_s' is 0.2; expected no threshold_s",
        ),
        (
            lambda d: d["slos"][8].update(requests=["claims"]),
            r"slos\[8\]\.requests\[0\]' is 'claims'; expected a method",
        ),
        (
            lambda d: d["slos"][8].pop("requests"),
            r"slos\[8\]\.requests' is \[\]; expected the requests",
        ),
        (
            lambda d: d["slos"][1].update(name="customer-api-availability"),
            r"slos\[1\]\.name' is 'customer-api-availability'; expected a name not",
        ),
        (
            lambda d: d["burn_rate_alerts"][0].update(short_window_s=7200),
            r"short_window_s' is 7200; expected a window shorter than long_window_s",
        ),
        (
            lambda d: d.update(burn_rate_alerts=d["burn_rate_alerts"][:2]),
            r"burn_rate_alerts' is \['page', 'page'\]; expected at least one window",
        ),
        (
            lambda d: d.update(dashboard_url="https://x/{team}"),
            r"dashboard_url' is 'https://x/\{team\}'; expected a URL whose only",
        ),
        (lambda d: d.update(windows=[]), r"unknown field 'windows'"),
        (
            lambda d: d["slos"][4].update(target=0.5),
            r"slos\[4\]\.target' is 0.5; expected a target whose error budget",
        ),
    ],
)
def test_bad_specs_are_refused_naming_field_and_value(tmp_path, change, message):
    folder = _config_with(tmp_path, change)

    with pytest.raises(ConfigError, match=message) as caught:
        load_estate(folder)
    assert "slos.yaml" in str(caught.value)


def test_every_journey_request_is_a_route_the_mock_serves(estate):
    from mocks.services import spec_module

    for objective in estate.slo_specs.objectives:
        for request in objective.requests:
            source = Path(spec_module(objective.service).__file__).read_text()
            assert f'"{request.method}", "{request.route}"' in source, request

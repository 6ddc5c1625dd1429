"""docker-compose.yml describes the same estate as config/ (no engine runs here)."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.config import load_estate
from harness.observe.binaries import find_binaries
from harness.stack.compose import MOCK_PORT, render_compose_files

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def estate():
    return load_estate(REPO / "config")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def test_committed_files_are_what_config_renders(estate):
    stale = [
        path
        for path, text in render_compose_files(estate).items()
        if not (REPO / path).exists() or (REPO / path).read_text() != text
    ]

    assert stale == [], "run `harness compose render` after changing config/"


def test_every_service_and_external_has_a_container(estate, compose):
    for name in [*estate.services, *estate.externals]:
        assert name in compose
        assert compose[name]["command"][-1] == f"/config/mocks/{name}.json"


def test_real_parts_use_pinned_upstream_images(compose):
    assert compose["toxiproxy"]["image"].startswith("ghcr.io/shopify/toxiproxy:2.")
    assert compose["prometheus"]["image"].startswith("prom/prometheus:v")
    assert compose["alertmanager"]["image"].startswith("prom/alertmanager:v")


def test_every_published_port_is_on_loopback(compose):
    for service in compose.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_one_toxiproxy_route_per_dependency_edge(estate):
    proxies = json.loads((REPO / "compose/toxiproxy.json").read_text())
    by_name = {p["name"]: p for p in proxies}

    assert set(by_name) == set(estate.routes)
    for name, route in estate.routes.items():
        assert by_name[name]["upstream"] == f"{route.upstream}:{MOCK_PORT}"


def test_every_dependency_call_goes_through_its_own_route(estate):
    proxies = json.loads((REPO / "compose/toxiproxy.json").read_text())
    route_at_port = {int(p["listen"].rsplit(":", 1)[1]): p for p in proxies}
    for name, service in estate.services.items():
        config = json.loads((REPO / f"compose/mocks/{name}.json").read_text())
        for upstream, dep in config["dependencies"].items():
            port = int(dep["url"].rsplit(":", 1)[1])
            assert dep["url"].startswith("http://toxiproxy:")
            assert route_at_port[port]["name"] == f"{name}_to_{upstream}"
        assert set(config["dependencies"]) == set(service.dependencies)


def test_prometheus_scrapes_every_mock(estate):
    config = yaml.safe_load((REPO / "compose/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}

    assert jobs == set(estate.services) | set(estate.externals)


def test_rules_and_alertmanager_config_pass_the_real_checkers():
    binaries = find_binaries()
    rules = subprocess.run(
        [binaries.promtool, "check", "rules", str(REPO / "compose/rules.yml")],
        capture_output=True,
        text=True,
    )
    alertmanager = subprocess.run(
        [binaries.amtool, "check-config", str(REPO / "compose/alertmanager.yml")],
        capture_output=True,
        text=True,
    )

    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert alertmanager.returncode == 0, alertmanager.stdout + alertmanager.stderr

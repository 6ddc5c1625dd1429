"""The estate in containers: docker-compose.yml and the files it mounts.

Everything here is rendered from config/, so the container estate cannot
drift from the local one: `harness compose render` rewrites the files, and a
test fails when the committed files differ from what config/ renders.
"""

import json
from pathlib import Path

import yaml

from harness.config import Estate
from harness.observe.alertmanager import render_alertmanager_config
from harness.observe.prometheus import render_prometheus_config
from harness.observe.rules import render_rules

TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.25.0"
MOCK_IMAGE = "insurer-resilience-mocks:local"
MOCK_PORT = 8080
ROUTE_PORT_BASE = 20000
# The remediation controller runs with the harness on the host.
WEBHOOK_URL = "http://host.docker.internal:9095/"
# A published, well-known token is fine for a local mock estate, never elsewhere.
ADMIN_TOKEN = "compose-local-admin-token"


def route_ports(estate: Estate) -> dict[str, int]:
    """A fixed port per route, in name order, so configs can be rendered ahead."""
    return {name: ROUTE_PORT_BASE + i for i, name in enumerate(sorted(estate.routes))}


def render_compose_files(estate: Estate) -> dict[str, str]:
    """Relative path -> text of every file the compose estate needs."""
    ports = route_ports(estate)
    mocks = list(estate.services) + list(estate.externals)
    files = {
        "docker-compose.yml": _compose(estate, ports, mocks),
        "compose/toxiproxy.json": _toxiproxy(estate, ports),
        "compose/rules.yml": render_rules(estate),
        "compose/prometheus.yml": render_prometheus_config(
            estate.observability,
            {name: [f"{name}:{MOCK_PORT}"] for name in mocks},
            [Path("/etc/prometheus/rules.yml")],
            "http://alertmanager:9093",
        ),
        # Inhibition, but no pager: no pager stub runs beside the containers.
        "compose/alertmanager.yml": render_alertmanager_config(
            estate.observability, WEBHOOK_URL, estate
        ),
    }
    for name in mocks:
        files[f"compose/mocks/{name}.json"] = _mock_config(estate, name, ports)
    return files


def write_compose_files(estate: Estate, root: Path) -> list[Path]:
    written = []
    for relative, text in render_compose_files(estate).items():
        path = Path(root) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def _toxiproxy(estate: Estate, ports: dict[str, int]) -> str:
    proxies = [
        {
            "name": name,
            "listen": f"0.0.0.0:{ports[name]}",
            "upstream": f"{route.upstream}:{MOCK_PORT}",
            "enabled": True,
        }
        for name, route in sorted(estate.routes.items())
    ]
    return json.dumps(proxies, indent=2) + "\n"


def _mock_config(estate: Estate, name: str, ports: dict[str, int]) -> str:
    service = estate.services.get(name)
    dependencies = {}
    for upstream in service.dependencies if service else ():
        route = estate.route_for(name, upstream)
        dependencies[upstream] = {
            "url": f"http://toxiproxy:{ports[route.name]}",
            "timeout_s": route.timeout_s,
            "resilience": route.resilience,
        }
    config = {
        "service": name,
        "host": "0.0.0.0",
        "port": MOCK_PORT,
        "data_dir": "/data",
        "log_dir": "/data/logs",
        "admin_token": ADMIN_TOKEN,
        "latency_buckets_s": estate.latency_buckets_s(),
        "dependencies": dependencies,
        "seed": {
            "random_seed": estate.seed.random_seed,
            "customers": estate.seed.customers,
        },
        "version": "1.0.0",
    }
    return json.dumps(config, indent=2) + "\n"


def _compose(estate: Estate, ports: dict[str, int], mocks: list[str]) -> str:
    front = [
        f"127.0.0.1:{ports[name]}:{ports[name]}"
        for name in sorted(ports)
        if name.startswith("client_to_")
    ]
    services = {
        "toxiproxy": {
            "image": TOXIPROXY_IMAGE,
            "command": ["-host=0.0.0.0", "-config=/config/toxiproxy.json"],
            "volumes": ["./compose/toxiproxy.json:/config/toxiproxy.json:ro"],
            "ports": ["127.0.0.1:8474:8474", *front],
            "depends_on": list(mocks),
        },
        "prometheus": {
            "image": PROMETHEUS_IMAGE,
            "command": [
                "--config.file=/etc/prometheus/prometheus.yml",
                f"--rules.alert.resend-delay={estate.observability.resend_delay_s:g}s",
            ],
            "volumes": [
                "./compose/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                "./compose/rules.yml:/etc/prometheus/rules.yml:ro",
            ],
            "ports": ["127.0.0.1:9090:9090"],
            "depends_on": ["alertmanager", *mocks],
        },
        "alertmanager": {
            "image": ALERTMANAGER_IMAGE,
            "command": [
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--cluster.listen-address=",
            ],
            "volumes": [
                "./compose/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
            ],
            "ports": ["127.0.0.1:9093:9093"],
            "extra_hosts": ["host.docker.internal:host-gateway"],
        },
    }
    for name in mocks:
        services[name] = {
            "image": MOCK_IMAGE,
            "build": {"context": "."},
            "command": [
                "python",
                "-m",
                "mocks",
                "serve",
                "--config",
                f"/config/mocks/{name}.json",
            ],
            "volumes": [f"./compose/mocks/{name}.json:/config/mocks/{name}.json:ro"],
        }
    header = (
        "# Rendered from config/ by `harness compose render`; edit config/ and\n"
        "# render again rather than editing this file.\n"
    )
    return header + yaml.safe_dump({"services": services}, sort_keys=False, width=1000)

"""The local stack: ports reserved in one batch, the proxy scraped when it can be."""

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.config import load_estate
from harness.proxy.server import ProxyServerThread
from harness.stack.local import LocalStack, _serves_proxy_metrics

REPO = Path(__file__).resolve().parents[2]


def test_ports_never_repeat_within_a_stack(tmp_path):
    estate = load_estate(REPO / "config")
    stack = LocalStack(estate, tmp_path, "http://127.0.0.1:9/")
    needed = len(estate.services) + len(estate.externals) + len(estate.routes) + 2
    # Each secondary instance, and the route to it from each of its callers.
    needed += len(estate.secondaries) + len(estate.secondary_routes())

    ports = [stack._port() for _ in range(needed)]

    assert len(set(ports)) == needed
    with pytest.raises(StopIteration):
        stack._port()


def test_the_proxy_is_scraped_only_when_it_serves_toxiproxy_metrics():
    with ProxyServerThread() as proxy_server:
        served = _serves_proxy_metrics(proxy_server.api_url)
    with _not_found_server() as other_url:
        not_served = _serves_proxy_metrics(other_url)

    assert served is True
    assert not_served is False
    assert _serves_proxy_metrics("http://127.0.0.1:9") is False


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _not_found_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_relative_run_folder_gives_the_mocks_absolute_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    stack = LocalStack(load_estate(REPO / "config"), Path("reports/up"), "http://x/")

    config = stack._mock_config("crm", 1, {})

    assert Path(config["log_dir"]).is_absolute()
    assert Path(config["log_dir"]) == tmp_path / "reports" / "up" / "logs"

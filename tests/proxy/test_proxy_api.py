"""The control API answers with Toxiproxy 2.12's statuses and JSON shapes."""

import socket
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.proxy.client import ToxiproxyClient

PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}
TOXIC_KEYS = {"name", "type", "stream", "toxicity", "attributes"}


def _port(proxy: dict) -> int:
    return int(proxy["listen"].rsplit(":", 1)[1])


def _listening(proxy: dict) -> bool:
    try:
        socket.create_connection(("127.0.0.1", _port(proxy)), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def test_version_is_answered_as_toxiproxy_2_12_does(http: httpx.Client) -> None:
    response = http.get("/version")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text == '{"version": "2.12.0"}\n'


def test_create_answers_201_with_the_port_actually_bound(
    http: httpx.Client, echo_upstream: str
) -> None:
    body = {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream}
    response = http.post("/proxies", json=body)

    proxy = response.json()
    assert response.status_code == 201
    assert set(proxy) == PROXY_KEYS
    assert proxy["name"] == "p"
    assert proxy["upstream"] == echo_upstream
    assert proxy["enabled"] is True
    assert proxy["toxics"] == []
    assert _port(proxy) != 0
    assert _listening(proxy)


def test_a_proxy_created_disabled_does_not_listen(
    http: httpx.Client, echo_upstream: str, dead_port: int
) -> None:
    listen = f"127.0.0.1:{dead_port}"
    body = {"name": "p", "listen": listen, "upstream": echo_upstream}
    response = http.post("/proxies", json={**body, "enabled": False})

    assert response.status_code == 201
    assert response.json()["enabled"] is False
    assert response.json()["listen"] == listen
    assert not _listening(response.json())


def test_creating_an_existing_name_conflicts(
    http: httpx.Client, echo_proxy: dict, echo_upstream: str
) -> None:
    body = {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo_upstream}
    response = http.post("/proxies", json=body)

    assert response.status_code == 409
    assert response.json() == {"error": "proxy already exists", "status": 409}
    assert http.get("/proxies/echo").json() == echo_proxy


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "p"}, "missing required field: upstream"),
        ({"name": "", "upstream": "127.0.0.1:1"}, "missing required field: name"),
    ],
)
def test_create_names_the_missing_field(
    http: httpx.Client, body: dict, message: str
) -> None:
    response = http.post("/proxies", json=body)

    assert response.status_code == 400
    assert response.json() == {"error": message, "status": 400}
    assert http.get("/proxies").json() == {}


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b'["a list"]', b'{"name": 5, "upstream": "127.0.0.1:1"}'],
)
def test_an_unusable_body_is_a_bad_request_and_changes_nothing(
    http: httpx.Client, echo_proxy: dict, content: bytes
) -> None:
    response = http.post("/proxies", content=content)

    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert response.json()["error"].startswith("bad request body: ")
    assert http.get("/proxies").json() == {"echo": echo_proxy}


@pytest.mark.parametrize("field", ["listen", "upstream"])
def test_an_address_without_port_is_a_bad_request(
    http: httpx.Client, field: str
) -> None:
    body = {"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}
    response = http.post("/proxies", json={**body, field: "localhost"})

    assert response.status_code == 400
    assert field in response.json()["error"]
    assert "'localhost'" in response.json()["error"]


def test_listing_maps_each_name_to_its_proxy(
    http: httpx.Client, api: ToxiproxyClient, echo_upstream: str
) -> None:
    first = api.create_proxy("b", "127.0.0.1:0", echo_upstream)
    second = api.create_proxy("a", "127.0.0.1:0", echo_upstream)

    response = http.get("/proxies")

    assert response.status_code == 200
    assert response.json() == {"a": second, "b": first}


def test_show_update_and_delete_a_proxy(http: httpx.Client, echo_proxy: dict) -> None:
    shown = http.get("/proxies/echo")
    disabled = http.post("/proxies/echo", json={"enabled": False})
    enabled = http.patch("/proxies/echo", json={"enabled": True})
    deleted = http.delete("/proxies/echo")

    assert (shown.status_code, shown.json()) == (200, echo_proxy)
    assert disabled.status_code == 200
    assert disabled.json() == {**echo_proxy, "enabled": False}
    assert enabled.status_code == 200
    assert enabled.json() == echo_proxy
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert http.get("/proxies").json() == {}
    assert not _listening(echo_proxy)


def test_update_moves_the_proxy_to_a_new_upstream(
    http: httpx.Client, echo_proxy: dict, http_upstream: str
) -> None:
    response = http.post("/proxies/echo", json={"upstream": http_upstream})

    assert response.status_code == 200
    assert response.json() == {**echo_proxy, "upstream": http_upstream}


def test_extra_upstreams_are_shown_only_while_set(
    http: httpx.Client, echo_proxy: dict, http_upstream: str
) -> None:
    balanced = http.post("/proxies/echo", json={"extra_upstreams": [http_upstream]})
    single = http.post("/proxies/echo", json={"extra_upstreams": []})

    assert balanced.status_code == 200
    assert balanced.json() == {**echo_proxy, "extra_upstreams": [http_upstream]}
    assert single.json() == echo_proxy


@pytest.mark.parametrize("value", ["127.0.0.1:1", ["no-port"], [7]])
def test_bad_extra_upstreams_are_400_and_change_nothing(
    http: httpx.Client, echo_proxy: dict, value: object
) -> None:
    response = http.post("/proxies/echo", json={"extra_upstreams": value})

    assert response.status_code == 400
    assert "extra_upstreams" in response.json()["error"]
    assert http.get("/proxies/echo").json() == echo_proxy


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/proxies/nope"),
        ("POST", "/proxies/nope"),
        ("PATCH", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
        ("POST", "/proxies/nope/toxics"),
        ("GET", "/proxies/nope/toxics/latency_downstream"),
        ("POST", "/proxies/nope/toxics/latency_downstream"),
        ("DELETE", "/proxies/nope/toxics/latency_downstream"),
    ],
)
def test_an_unknown_proxy_is_404_on_every_path(
    http: httpx.Client, method: str, path: str
) -> None:
    response = http.request(method, path, json={"type": "latency"})

    assert response.status_code == 404
    assert response.json() == {"error": "proxy not found", "status": 404}


def test_a_listen_address_in_use_is_refused_and_the_server_goes_on(
    http: httpx.Client, echo_proxy: dict, echo_upstream: str, busy_port: int
) -> None:
    listen = f"127.0.0.1:{busy_port}"
    body = {"name": "p", "listen": listen, "upstream": echo_upstream}
    response = http.post("/proxies", json=body)

    assert response.status_code == 500
    assert response.json() == {
        "error": f"listen tcp {listen}: bind: address already in use",
        "status": 500,
    }
    assert http.get("/proxies").json() == {"echo": echo_proxy}
    assert http.get("/version").status_code == 200


def test_moving_to_a_listen_address_in_use_leaves_the_proxy_as_it_was(
    http: httpx.Client, echo_proxy: dict, busy_port: int
) -> None:
    response = http.post("/proxies/echo", json={"listen": f"127.0.0.1:{busy_port}"})

    assert response.status_code == 500
    assert "address already in use" in response.json()["error"]
    assert http.get("/proxies/echo").json() == echo_proxy
    assert _listening(echo_proxy)


def test_populate_creates_and_leaves_identical_proxies_untouched(
    http: httpx.Client, echo_upstream: str, http_upstream: str
) -> None:
    wanted = [
        {"name": "a", "listen": "127.0.0.1:0", "upstream": echo_upstream},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": http_upstream},
    ]
    created = http.post("/populate", json=wanted)
    first = created.json()["proxies"]
    http.post("/proxies/a/toxics", json={"type": "latency"})

    same = [{key: p[key] for key in ("name", "listen", "upstream")} for p in first]
    again = http.post("/populate", json=same)

    assert created.status_code == 201
    assert [p["name"] for p in first] == ["a", "b"]
    assert all(set(p) == PROXY_KEYS and _listening(p) for p in first)
    assert again.status_code == 201
    assert again.json()["proxies"][0]["listen"] == first[0]["listen"]
    assert again.json()["proxies"][0]["toxics"][0]["type"] == "latency"


def test_populate_replaces_a_proxy_whose_upstream_changed(
    http: httpx.Client, echo_proxy: dict, http_upstream: str
) -> None:
    http.post("/proxies/echo/toxics", json={"type": "latency"})
    entry = {"name": "echo", "listen": echo_proxy["listen"], "upstream": http_upstream}

    response = http.post("/populate", json=[entry])

    assert response.status_code == 201
    assert response.json()["proxies"] == [{**entry, "enabled": True, "toxics": []}]


def test_populate_checks_every_entry_before_creating_any(
    http: httpx.Client, echo_upstream: str
) -> None:
    wanted = [
        {"name": "a", "listen": "127.0.0.1:0", "upstream": echo_upstream},
        {"name": "b", "listen": "127.0.0.1:0"},
    ]
    response = http.post("/populate", json=wanted)

    assert response.status_code == 400
    assert response.json() == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
    }
    assert http.get("/proxies").json() == {}


def test_populate_undoes_its_work_when_a_listener_fails(
    http: httpx.Client, echo_proxy: dict, echo_upstream: str, busy_port: int
) -> None:
    wanted = [
        {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo_upstream},
        {"name": "b", "listen": f"127.0.0.1:{busy_port}", "upstream": echo_upstream},
    ]
    response = http.post("/populate", json=wanted)

    assert response.status_code == 500
    assert "address already in use" in response.json()["error"]
    assert http.get("/proxies").json() == {"echo": echo_proxy}
    assert _listening(echo_proxy)


def test_a_new_toxic_gets_toxiproxy_defaults(
    http: httpx.Client, echo_proxy: dict
) -> None:
    body = {"type": "latency", "attributes": {"latency": 10}}
    response = http.post("/proxies/echo/toxics", json=body)

    assert response.status_code == 200
    assert response.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 10, "jitter": 0},
    }
    assert http.get("/proxies/echo").json()["toxics"] == [response.json()]


def test_an_explicit_toxicity_of_zero_stays_zero(
    http: httpx.Client, echo_proxy: dict
) -> None:
    body = {"type": "timeout", "stream": "upstream", "toxicity": 0}
    response = http.post("/proxies/echo/toxics", json=body)

    assert response.json()["toxicity"] == 0
    assert response.json()["name"] == "timeout_upstream"


@pytest.mark.parametrize(
    ("body", "status", "error_start"),
    [
        ({"type": "latency"}, 409, "toxic already exists"),
        ({"type": "lag"}, 400, "invalid toxic type"),
        ({"type": "latency", "name": "x", "stream": "both"}, 400, "stream was invalid"),
        ({"type": "latency", "name": "x", "attributes": {"latency": -1}}, 400, "bad"),
        ({"type": "latency", "name": "x", "attributes": {"jitter": "5"}}, 400, "bad"),
        ({"type": "latency", "name": "x", "attributes": {"latency": 1.5}}, 400, "bad"),
        ({"type": "latency", "name": "x", "attributes": [1]}, 400, "bad request"),
        ({"type": "latency", "name": "x", "toxicity": 2}, 400, "bad request body"),
        ({"type": "latency", "name": "x", "toxicity": "1"}, 400, "bad request body"),
    ],
)
def test_a_refused_toxic_changes_nothing(
    http: httpx.Client, echo_proxy: dict, body: dict, status: int, error_start: str
) -> None:
    existing = http.post("/proxies/echo/toxics", json={"type": "latency"}).json()

    response = http.post("/proxies/echo/toxics", json=body)

    assert response.status_code == status
    assert response.json()["status"] == status
    assert response.json()["error"].startswith(error_start)
    assert http.get("/proxies/echo/toxics").json() == [existing]


def test_show_update_and_delete_a_toxic(http: httpx.Client, echo_proxy: dict) -> None:
    path = "/proxies/echo/toxics/slow"
    body = {"name": "slow", "type": "latency", "attributes": {"latency": 100}}
    http.post("/proxies/echo/toxics", json=body)

    shown = http.get(path)
    jittered = http.post(path, json={"attributes": {"jitter": 5}})
    halved = http.patch(path, json={"toxicity": 0.5})
    deleted = http.delete(path)

    assert shown.status_code == 200
    assert set(shown.json()) == TOXIC_KEYS
    assert jittered.status_code == 200
    assert jittered.json()["attributes"] == {"latency": 100, "jitter": 5}
    assert halved.json()["toxicity"] == 0.5
    assert halved.json()["attributes"] == {"latency": 100, "jitter": 5}
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert http.get("/proxies/echo/toxics").json() == []


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_an_unknown_toxic_is_404(
    http: httpx.Client, echo_proxy: dict, method: str
) -> None:
    response = http.request(method, "/proxies/echo/toxics/nope", json={})

    assert response.status_code == 404
    assert response.json() == {"error": "toxic not found", "status": 404}


def test_a_refused_toxic_update_changes_nothing(
    http: httpx.Client, echo_proxy: dict
) -> None:
    created = http.post("/proxies/echo/toxics", json={"type": "bandwidth"}).json()

    response = http.post(
        "/proxies/echo/toxics/bandwidth_downstream", json={"attributes": {"rate": -5}}
    )

    assert response.status_code == 400
    assert "'rate'" in response.json()["error"]
    assert "-5" in response.json()["error"]
    assert http.get("/proxies/echo/toxics").json() == [created]


def test_toxics_are_listed_upstream_first(http: httpx.Client, echo_proxy: dict) -> None:
    http.post("/proxies/echo/toxics", json={"type": "latency"})
    http.post("/proxies/echo/toxics", json={"type": "latency", "stream": "upstream"})

    names = [t["name"] for t in http.get("/proxies/echo/toxics").json()]

    assert names == ["latency_upstream", "latency_downstream"]


def test_reset_enables_every_proxy_and_removes_every_toxic(
    http: httpx.Client, echo_proxy: dict
) -> None:
    http.post("/proxies/echo/toxics", json={"type": "latency"})
    http.post("/proxies/echo", json={"enabled": False})

    response = http.post("/reset")

    assert (response.status_code, response.content) == (204, b"")
    assert http.get("/proxies/echo").json() == echo_proxy
    assert _listening(echo_proxy)


def test_metrics_count_bytes_connections_and_toxics(
    http: httpx.Client, echo_proxy: dict, wire
) -> None:
    http.post("/proxies/echo/toxics", json={"type": "latency"})
    sock = wire.connect(echo_proxy)
    wire.round_trip(sock, b"x" * 100)

    response = http.get("/metrics")

    labels = f'listener="{echo_proxy["listen"]}",proxy="echo"'
    labels += f',upstream="{echo_proxy["upstream"]}"'
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    for direction in ("upstream", "downstream"):
        link = f'direction="{direction}",{labels}'
        assert f"toxiproxy_proxy_received_bytes_total{{{link}}} 100.0" in lines
        assert f"toxiproxy_proxy_sent_bytes_total{{{link}}} 100.0" in lines
    assert f"toxiproxy_proxy_connections_total{{{labels}}} 1.0" in lines
    assert f"toxiproxy_proxy_open_connections{{{labels}}} 1.0" in lines
    assert 'toxiproxy_proxy_toxics_active{proxy="echo",type="latency"} 1.0' in lines
    assert 'toxiproxy_proxy_toxics_active{proxy="echo",type="timeout"} 0.0' in lines


def test_browsers_are_refused(http: httpx.Client) -> None:
    response = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"})

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/proxies", b'{"name": "p",'),
        ("POST", "/proxies/echo", b"{enabled: false}"),
        ("PATCH", "/proxies/echo", b""),
        ("POST", "/populate", b"[{]"),
        ("POST", "/proxies/echo/toxics", b'{"type": "latency"'),
        ("POST", "/proxies/echo/toxics/latency_downstream", b"toxicity=0"),
    ],
)
def test_malformed_json_is_refused_everywhere_and_the_proxy_still_carries_traffic(
    http: httpx.Client, echo_proxy: dict, wire, method: str, path: str, body: bytes
) -> None:
    http.post("/proxies/echo/toxics", json={"type": "latency"})
    before = http.get("/proxies").json()
    sock = wire.connect(echo_proxy)

    response = http.request(method, path, content=body)

    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert response.json()["error"].startswith("bad request body: ")
    assert http.get("/proxies").json() == before
    wire.round_trip(sock, b"still here")


def test_errors_are_sent_as_toxiproxy_sends_them(
    http: httpx.Client, echo_proxy: dict
) -> None:
    response = http.get("/proxies/echo/toxics/nope")

    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == '{"error":"toxic not found","status":404}\n'
    assert response.headers["x-toxiproxy-request-id"]


def test_every_routed_answer_carries_its_own_request_id(
    http: httpx.Client, echo_proxy: dict
) -> None:
    answers = [
        http.get("/proxies"),
        http.get("/proxies/echo"),
        http.get("/proxies/nope"),
        http.post("/proxies", json={}),
        http.post("/reset"),
        http.get("/version"),
        http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"}),
    ]

    ids = [answer.headers.get("x-toxiproxy-request-id") for answer in answers]
    assert all(ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        ("GET", "/nowhere", 404, "404 page not found\n"),
        ("GET", "/proxies/", 404, "404 page not found\n"),
        ("GET", "/proxies/echo/toxics/", 404, "404 page not found\n"),
        ("PUT", "/proxies", 405, ""),
        ("DELETE", "/reset", 405, ""),
    ],
)
def test_unrouted_requests_are_answered_as_toxiproxy_router_does(
    http: httpx.Client, echo_proxy: dict, method: str, path: str, status: int, text: str
) -> None:
    response = http.request(method, path, headers={"User-Agent": "Mozilla/5.0"})

    assert (response.status_code, response.text) == (status, text)
    assert "x-toxiproxy-request-id" not in response.headers
    assert http.get("/proxies/echo").json() == echo_proxy


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "latency", "toxicity": None}, {"toxicity": 1.0}),
        ({"type": "latency", "stream": None}, {"stream": "downstream"}),
        ({"type": "latency", "name": None}, {"name": "latency_downstream"}),
        (
            {"type": "latency", "attributes": None},
            {"attributes": {"latency": 0, "jitter": 0}},
        ),
        (
            {"type": "latency", "attributes": {"latency": 7, "jitter": None}},
            {"attributes": {"latency": 7, "jitter": 0}},
        ),
    ],
)
def test_a_null_toxic_field_takes_its_default_as_toxiproxy_does(
    http: httpx.Client, echo_proxy: dict, body: dict, expected: dict
) -> None:
    response = http.post("/proxies/echo/toxics", json=body)

    assert response.status_code == 200
    assert response.json() | expected == response.json()


def test_null_fields_of_an_update_leave_the_value_as_it_was(
    http: httpx.Client, echo_proxy: dict
) -> None:
    body = {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 9}}
    created = http.post("/proxies/echo/toxics", json=body).json()

    toxic = http.patch(
        "/proxies/echo/toxics/latency_downstream",
        json={"toxicity": None, "attributes": {"latency": None, "jitter": 3}},
    )
    proxy = http.post("/proxies/echo", content=b"null")

    assert toxic.status_code == 200
    assert toxic.json() == {**created, "attributes": {"latency": 9, "jitter": 3}}
    assert proxy.status_code == 200
    assert proxy.json() == {**echo_proxy, "toxics": [toxic.json()]}


def test_populate_leaves_an_identical_proxy_and_its_connections_alone(
    http: httpx.Client, echo_proxy: dict, wire
) -> None:
    sock = wire.connect(echo_proxy)
    wire.round_trip(sock, b"before")
    same = {key: echo_proxy[key] for key in ("name", "listen", "upstream")}

    response = http.post("/populate", json=[same])

    assert response.status_code == 201
    assert response.json() == {"proxies": [echo_proxy]}
    wire.round_trip(sock, b"after")
    assert http.get("/proxies").json() == {"echo": echo_proxy}


def test_populate_answers_port_0_with_the_port_bound(
    http: httpx.Client, echo_upstream: str
) -> None:
    wanted = [{"name": "a", "listen": "127.0.0.1:0", "upstream": echo_upstream}]

    proxies = http.post("/populate", json=wanted).json()["proxies"]

    assert _port(proxies[0]) != 0
    assert _listening(proxies[0])
    assert http.get("/proxies/a").json() == proxies[0]


def _proxy_samples(http: httpx.Client, proxy: str) -> dict[tuple[str, str], float]:
    """The proxy's metric samples, keyed by name and direction or toxic type."""
    samples = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.labels.get("proxy") == proxy:
                detail = sample.labels.get("direction") or sample.labels.get("type")
                samples[sample.name, detail or ""] = sample.value
    return samples


def _until(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_each_metric_family_moves_when_its_event_happens(
    http: httpx.Client, api: ToxiproxyClient, http_upstream: str, wire
) -> None:
    web = api.create_proxy("web", "127.0.0.1:0", http_upstream)
    received = "toxiproxy_proxy_received_bytes_total"
    sent = "toxiproxy_proxy_sent_bytes_total"
    accepted = ("toxiproxy_proxy_connections_total", "")
    open_now = ("toxiproxy_proxy_open_connections", "")
    latency_active = ("toxiproxy_proxy_toxics_active", "latency")
    idle = _proxy_samples(http, "web")

    api.add_toxic("web", "latency", {"latency": 1})
    with_toxic = _proxy_samples(http, "web")
    sock = wire.connect(web)
    request = b"GET / HTTP/1.1\r\nHost: web\r\n\r\n"
    sock.sendall(request)
    answer = b""
    while not answer.endswith(b"hello"):
        answer += sock.recv(65536)
    carrying = _proxy_samples(http, "web")
    api.remove_toxic("web", "latency_downstream")
    sock.close()
    assert _until(lambda: _proxy_samples(http, "web")[open_now] == 0)
    closed = _proxy_samples(http, "web")

    assert all(idle[key] == 0 for key in idle)
    assert with_toxic[latency_active] == 1
    assert carrying[received, "upstream"] == carrying[sent, "upstream"] == len(request)
    assert carrying[received, "downstream"] == carrying[sent, "downstream"]
    assert carrying[sent, "downstream"] == len(answer)
    assert (carrying[accepted], carrying[open_now]) == (1, 1)
    assert (closed[accepted], closed[open_now], closed[latency_active]) == (1, 0, 0)
    assert closed[sent, "downstream"] == len(answer)


def test_a_deleted_proxy_leaves_no_metric_series(
    http: httpx.Client, echo_proxy: dict
) -> None:
    assert _proxy_samples(http, "echo")

    http.delete("/proxies/echo")

    assert _proxy_samples(http, "echo") == {}


def test_head_is_not_a_method_of_the_api(http: httpx.Client) -> None:
    response = http.head("/proxies")

    assert response.status_code == 405


def test_a_name_no_path_could_reach_is_refused(http, echo_upstream) -> None:
    proxy = http.post(
        "/proxies",
        json={"name": "a/b", "listen": "127.0.0.1:0", "upstream": echo_upstream},
    )
    http.post(
        "/proxies",
        json={"name": "ok", "listen": "127.0.0.1:0", "upstream": echo_upstream},
    ).raise_for_status()
    toxic = http.post(
        "/proxies/ok/toxics",
        json={"name": "x/y", "type": "latency", "attributes": {"latency": 1}},
    )

    assert proxy.status_code == 400
    assert "'/'" in proxy.json()["error"]
    assert toxic.status_code == 400
    assert sorted(http.get("/proxies").json()) == ["ok"]
    assert http.get("/proxies/ok/toxics").json() == []

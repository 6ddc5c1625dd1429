"""Fuzzing every route: a client's mistake is a 4xx, never a 500.

Routes are read from each service's OpenAPI document, so a new route is fuzzed
without being listed here. Bodies are arbitrary JSON, or the route's own field
names with arbitrary values; path parameters are arbitrary text or IDs of the
estate's shapes; query parameters get arbitrary text. Headers are not varied.
The examples per route are bounded so the module stays fast.
"""

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mock_processes import ADMIN_HEADERS, CALLS, Launcher, MockProcess, estate_configs

EXAMPLES_PER_ROUTE = 25
WRITE_METHODS = ("post", "put", "patch")
ID_PREFIXES = ("CUST", "POL", "CLM", "PAY", "AUT", "DSB", "RFD", "CH", "CP", "AU")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
path_values = (
    st.text(min_size=1, max_size=30)
    | st.builds(
        "{}-{:06d}".format,
        st.sampled_from(ID_PREFIXES),
        st.integers(min_value=0, max_value=10**7),
    )
    | st.sampled_from(("charges", "captures", "refunds", "payouts", "claims"))
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[dict[str, MockProcess]]:
    """An estate of its own: fuzzed writes must not disturb other tests' data."""
    launcher = Launcher(tmp_path_factory.mktemp("fuzz"))
    try:
        processes = launcher.start_all(estate_configs(launcher.run_dir).values())
        yield {process.name: process for process in processes}
    finally:
        launcher.stop_all()


def _operations(process: MockProcess) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path template, body fields, query parameters) of every operation."""
    document = httpx.get(f"{process.url}/openapi.json").json()
    schemas = document.get("components", {}).get("schemas", {})
    operations = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            query = [
                parameter["name"]
                for parameter in operation.get("parameters", [])
                if parameter["in"] == "query"
            ]
            fields = _body_fields(operation, schemas)
            operations.append((method, path, fields, query))
    return operations


def _body_fields(operation: dict, schemas: dict) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    return sorted(schemas.get(name, {}).get("properties", {}))


def _bodies(fields: list[str]) -> st.SearchStrategy:
    shaped = st.fixed_dictionaries({}, optional={name: json_values for name in fields})
    return shaped | json_values | st.binary(max_size=40)


def _fill(path: str, values: list[str]) -> str:
    for value in values:
        start = path.index("{")
        end = path.index("}", start)
        path = path[:start] + quote(value, safe="") + path[end + 1 :]
    return path


def _send(client: httpx.Client, method: str, url: str, body) -> httpx.Response:
    if isinstance(body, bytes):
        return client.request(method, url, content=body)
    return client.request(method, url, content=json.dumps(body))


def _fuzz_route(client, base_url, operation, answers) -> None:
    """Send bounded random requests to one route, noting every answer."""
    method, path, fields, query = operation
    holes = path.count("{")
    queries = st.dictionaries(
        st.sampled_from(query) if query else st.nothing(),
        st.text(max_size=12) | st.integers().map(str),
    )

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        st.lists(path_values, min_size=holes, max_size=holes),
        _bodies(fields),
        queries,
    )
    def fuzz(values, body, params):
        url = httpx.URL(base_url + _fill(path, values), params=params)
        try:
            if method in WRITE_METHODS:
                answer = _send(client, method.upper(), url, body)
            else:
                answer = client.request(method.upper(), url)
        except httpx.TransportError as exc:
            raise AssertionError(
                f"{exc!r} after {answers[-1][:5] if answers else None}"
            ) from exc
        answers.append((answer.status_code, method, path, values, body, answer.text))

    fuzz()


@pytest.mark.parametrize("service", list(CALLS))
def test_no_input_makes_a_route_answer_5xx(fuzzed, service):
    process = fuzzed[service]
    answers = []
    headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}

    with httpx.Client(timeout=10, headers=headers) as client:
        for operation in _operations(process):
            _fuzz_route(client, process.url, operation, answers)

    server_errors = [
        answer[:5] + (answer[5][:200],) for answer in answers if answer[0] >= 500
    ]
    assert server_errors == []
    assert {status for status, *_ in answers} & {200, 201}, "nothing got through"


@pytest.mark.parametrize("service", list(CALLS))
def test_a_wrong_method_is_405_on_every_route(fuzzed, service):
    process = fuzzed[service]

    served: dict[str, set[str]] = {}
    for method, path, _, _ in _operations(process):
        served.setdefault(path, set()).add(method.upper())

    for path, methods in served.items():
        wrong = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in methods)
        url = process.url + _fill(path, ["X"] * path.count("{"))
        answer = httpx.request(wrong, url, headers=ADMIN_HEADERS)
        assert answer.status_code == 405, (service, wrong, path)


def test_infinity_in_a_body_is_422_not_500(fuzzed):
    url = f"{fuzzed['payment-api'].url}/payments"
    body = (
        b'{"policy_id": "POL-000001", "amount_cents": Infinity, "idempotency_key": "i"}'
    )

    answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "amount_cents"]

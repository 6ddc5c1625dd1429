"""Small stand-ins for customer-api, policy-api and claims-api on 127.0.0.1.

Each answers the three routes the file_a_claim journey calls and the two of
register_a_customer, can be told to answer slowly or to register customers
with another identity status, and counts what it served, so tests can compare
what Locust reports with what really arrived.
"""

import json
import re
import sys
import threading
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.stack.ports import LOOPBACK

SERVICE_NAMES = ("customer-api", "policy-api", "claims-api")
CLAIM_FIELDS = frozenset(
    ("policy_id", "customer_id", "amount_cents", "description", "incident_date")
)
_SIGN_UP_ANSWERS = {
    "/customers": {"customer_id": "CUST-900001"},
    "/auth/tokens": {"token": "ctk_fake", "identity_status": None},
}
_CUSTOMER = re.compile(r"^/customers/(CUST-\d{6})$")
_POLICY = re.compile(r"^/policies/POL-(\d{6})$")


class FakeService:
    """One fake API server in a thread; every instance owns its port."""

    def __init__(self, name: str, delay_s: float = 0.0):
        self.name = name
        self.delay_s = delay_s
        self.served: Counter[str] = Counter()
        self.rejected_claims: list[str] = []
        self.identity_status = "verified"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.server = _Server((LOOPBACK, 0), _Handler)
        self.server.service = self
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            # A short poll keeps shutdown() from waiting half a second.
            kwargs={"poll_interval": 0.05},
            name=f"fake-{name}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeService":
        self.thread.start()
        return self

    def stop(self) -> None:
        # Wake handlers that are sleeping out a delay, so shutdown is prompt.
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def count(self, route: str) -> None:
        with self.lock:
            self.served[route] += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bursts of Poisson arrivals open many connections at once; the default
    # backlog of 5 would drop SYNs and turn them into 1 s connect delays.
    request_queue_size = 256
    service: FakeService

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up on a slow answer close their sockets mid-reply;
        # the timeout tests cause that on purpose.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm and the
    # client's delayed ACK the second would wait ~40 ms on every reply.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        service = self.server.service
        self._delay()
        customer = _CUSTOMER.match(self.path)
        policy = _POLICY.match(self.path)
        if customer:
            service.count("GET /customers/{id}")
            self._reply(200, {"customer_id": customer.group(1), "status": "active"})
        elif policy:
            service.count("GET /policies/{id}")
            number = policy.group(1)
            owner = f"CUST-{number}"
            self._reply(200, {"policy_id": f"POL-{number}", "customer_id": owner})
        else:
            self._reply(404, {"detail": f"no route for GET {self.path}"})

    def do_POST(self) -> None:
        service = self.server.service
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._delay()
        if self.path not in ("/claims", *_SIGN_UP_ANSWERS):
            self._reply(404, {"detail": f"no route for POST {self.path}"})
            return
        if self.path in _SIGN_UP_ANSWERS:
            service.count(f"POST {self.path}")
            answer = {**_SIGN_UP_ANSWERS[self.path]}
            answer.setdefault("identity_status", service.identity_status)
            self._reply(201, answer)
            return
        service.count("POST /claims")
        problem = _claim_problem(body)
        if problem:
            with service.lock:
                service.rejected_claims.append(problem)
            self._reply(422, {"detail": problem})
            return
        self._reply(201, {"claim_id": "CLM-1", "status": "received"})

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the counters say what was served."""

    def _delay(self) -> None:
        service = self.server.service
        if service.delay_s > 0:
            service.stopping.wait(service.delay_s)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout under test); nothing to answer.
            self.close_connection = True


def _claim_problem(body: bytes) -> str | None:
    try:
        claim = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(claim, dict) or set(claim) != CLAIM_FIELDS:
        return f"fields are {sorted(claim)!r}"
    number = claim["policy_id"].removeprefix("POL-")
    if claim["customer_id"] != f"CUST-{number}":
        return "policy is not the customer's"
    if not 10_000 <= claim["amount_cents"] <= 500_000:
        return f"amount_cents {claim['amount_cents']} out of range"
    days_ago = (date.today() - date.fromisoformat(claim["incident_date"])).days
    if not 0 <= days_ago < 30:
        return f"incident_date {claim['incident_date']} not in the last 30 days"
    return None

"""Where the harness applies the redactor: estate logs, endpoints.json, credentials."""

import json
from pathlib import Path

from harness.config import load_estate
from harness.experiment.estate import SharedEstate
from harness.report.redact import estate_redactor, find_planted

REPO = Path(__file__).resolve().parents[2]


def test_the_estate_redactor_knows_every_configured_pager_key():
    estate = load_estate(REPO / "config")
    alerting = estate.alerting
    keys = {t.key for t in alerting.teams.values()} | {alerting.tickets.key}

    redactor = estate_redactor(estate, "Zq9-admin-token-of-the-estate")

    assert set(redactor.secrets()) == keys | {"Zq9-admin-token-of-the-estate"}
    assert redactor.text(f"key {sorted(keys)[0]}") == "key [redacted:credential]"


def test_a_stopped_shared_estate_leaves_no_secret_in_its_logs(tmp_path):
    shared = SharedEstate(load_estate(REPO / "config"), tmp_path / "estate")
    logs = tmp_path / "estate" / "logs"
    logs.mkdir(parents=True)
    token = shared.stack.admin_token
    (logs / "customer-api.log").write_text(
        json.dumps({"route": "/lookup/zq@planted.example", "status": 404}) + "\n"
    )
    (logs / "fault-proxy.out").write_text(f"Authorization: Bearer {token}\n")
    private = shared.stack.private_dir

    shared.stop()

    assert find_planted(tmp_path, [token, "zq@planted.example"]) == {}
    assert "[redacted:email]" in (logs / "customer-api.log").read_text()
    assert private.exists() is False, "mock data and configs went too"


# Locust patches the standard library when imported, so the load's step
# client is tried in a process of its own.
STEP_FAILURE = """
from contextlib import contextmanager
from harness.load.journeys import StepClient

class Response:
    status_code = 0
    request_meta = {
        "exception": ConnectionError("refused, {'email': 'zq@planted.example'}"),
        "response_time": 5,
    }
    failed = None

    def failure(self, error):
        Response.failed = error

class Session:
    @contextmanager
    def request(self, *args, **kwargs):
        yield Response()

client = StepClient(Session(), {"customer-api": "http://127.0.0.1:9"}, 2.0)
assert not client.call("POST", "customer-api", "/customers", "POST /customers", 201)
print(repr(Response.failed))
"""


def test_a_failed_step_reaches_locust_without_personal_details(tmp_path):
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", STEP_FAILURE],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )

    assert done.returncode == 0, done.stderr
    assert "zq@planted.example" not in done.stdout
    assert (
        'StepConnectionFailed("ConnectionError: refused, '
        "{'email': '[redacted:email]'}\")" in done.stdout
    )

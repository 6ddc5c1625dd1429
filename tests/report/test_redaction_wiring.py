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

    shared.stop()

    assert find_planted(tmp_path, [token, "zq@planted.example"]) == {}
    assert "[redacted:email]" in (logs / "customer-api.log").read_text()
    assert not shared.stack.private_dir.exists(), "mock data and configs went too"

"""One real experiment with secrets and customer details planted in it: none
of them may be found in any file of its report folder afterwards.

The run starts its own estate, so the estate's logs (the mocks', the proxy's,
the prober's), Prometheus's and Alertmanager's files and Locust's are all in
the run folder the test walks. The walker's ability to fail is proven in
tests/report/test_redact.py.
"""

import json
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.experiment.runner import RunOptions, run_experiment
from harness.experiment.verdict import Status
from harness.report.redact import find_planted

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "experiments" / "claims-customer-latency.yaml"
# The claims team's PagerDuty key: 32 letters and digits, as the API wants.
REAL_KEY = "claimsplatformplaceholderkey0003"
PLANTED_KEY = "zq9plantedroutingkey000000000042"
PLANTED = {
    "name": "Zelda Quuxplanted",
    "email": "zelda.quuxplanted@planted.example",
    "phone": "+44 7700 900777",
    "postal_address": "17 Quuxplanted Row, Nowhere",
}

pytestmark = pytest.mark.live


def planted_config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    alerting = config / "alerting.yaml"
    assert REAL_KEY in alerting.read_text()
    alerting.write_text(alerting.read_text().replace(REAL_KEY, PLANTED_KEY))
    return config


def planted_experiment(tmp_path: Path) -> Path:
    """The experiment with a hypothesis that names a person: journal and summary."""
    text = EXPERIMENT.read_text()
    folded = "hypothesis: >\n"
    assert folded in text
    contact = f"  (owner {PLANTED['email']}, {PLANTED['phone']})\n"
    path = tmp_path / EXPERIMENT.name
    path.write_text(text.replace(folded, folded + contact))
    return path


class Planter(threading.Thread):
    """Once the run's estate is up, plants a customer and requests naming them."""

    def __init__(self, reports: Path):
        super().__init__(daemon=True)
        self.reports = reports
        self.admin_token: str | None = None
        self.token_file: Path | None = None
        self.answers: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._plant(self._endpoints())
        except BaseException as exc:  # reported by the test, not lost
            self.error = exc

    def _endpoints(self, timeout_s: float = 120) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for path in self.reports.glob("*/endpoints.json"):
                return json.loads(path.read_text())
            time.sleep(0.2)
        raise AssertionError(f"no endpoints.json within {timeout_s} s")

    def _plant(self, endpoints: dict) -> None:
        self.token_file = Path(endpoints["admin_token_file"])
        self.admin_token = json.loads(self.token_file.read_text())["admin_token"]
        front = endpoints["front"]["customer-api"].rstrip("/")
        with httpx.Client(timeout=10) as client:
            created = client.post(
                f"{front}/customers",
                json={
                    "name": PLANTED["name"],
                    "email": PLANTED["email"],
                    "date_of_birth": "1971-03-09",
                },
            )
            self.answers.append(created.status_code)
            customer = created.json()["customer_id"]
            changed = client.patch(
                f"{front}/customers/{customer}",
                json={
                    "phone": PLANTED["phone"],
                    "postal_address": PLANTED["postal_address"],
                },
            )
            self.answers.append(changed.status_code)
            # No route matches, so the mock's request log keeps the raw path.
            lost = client.get(
                f"{front}/lookup/{PLANTED['email']}/{PLANTED['phone']}",
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
            self.answers.append(lost.status_code)


def test_no_planted_secret_or_customer_detail_reaches_the_report_folder(tmp_path):
    reports = tmp_path / "reports"
    planter = Planter(reports)
    planter.start()

    result = run_experiment(
        planted_experiment(tmp_path),
        RunOptions(reports_dir=reports, config_dir=planted_config(tmp_path)),
    )
    planter.join(timeout=10)

    assert planter.error is None, f"planting failed: {planter.error!r}"
    assert planter.answers == [201, 200, 404]
    assert result.verdict.status is Status.PASSED, result.verdict.reason
    planted = [planter.admin_token, PLANTED_KEY, *PLANTED.values()]
    planted.append(PLANTED["phone"].replace(" ", ""))
    assert find_planted(result.report_dir, planted) == {}
    # Proof that the planted values got as far as the files, and were redacted.
    request_log = (result.report_dir / "logs" / "customer-api.log").read_text()
    assert "/lookup/[redacted:email]/[redacted:phone]" in request_log
    alertmanager_yml = result.report_dir / "alertmanager" / "alertmanager.yml"
    assert "[redacted:credential]" in alertmanager_yml.read_text()
    for name in ("journal.json", "summary.md"):
        markers = re.findall(
            r"\[redacted:[a-z_]+\]", (result.report_dir / name).read_text()
        )
        expected = {"[redacted:email]", "[redacted:phone]"}
        if name == "journal.json":
            # The configuration recorded in the journal holds the planted key.
            expected.add("[redacted:credential]")
        assert set(markers) == expected, name
    stats = (result.report_dir / "load" / "locust_stats_history.csv").read_text()
    assert "[redacted:" not in stats, "nothing was planted in the load's numbers"
    endpoints = json.loads((result.report_dir / "endpoints.json").read_text())
    assert "admin_token" not in endpoints
    assert not planter.token_file.is_relative_to(reports)
    assert not planter.token_file.exists(), "nothing live, so the token file went"

"""harness up: runbooks can be left out, so faults stay as a person injected them."""

import json
from types import SimpleNamespace

import pytest

from harness import up


class _FakeStack:
    def __init__(self, estate, run_dir, webhook_url, pager_url=None):
        self.processes = []
        self.admin_token = "Zq9-admin-token"

    def start(self):
        return SimpleNamespace(
            services={}, admin_token="t", as_json=lambda: json.dumps({"pids": {}})
        )

    def stop(self):
        pass


@pytest.mark.parametrize(("runbooks", "controllers"), [(True, 1), (False, 0)])
def test_runbooks_run_only_when_asked(
    tmp_path, monkeypatch, capsys, runbooks, controllers
):
    made = []
    monkeypatch.setattr(up, "LocalStack", _FakeStack)
    monkeypatch.setattr(up, "_watch", lambda *args: None)
    monkeypatch.setattr(
        up,
        "RemediationController",
        lambda *args: made.append(args) or SimpleNamespace(shutdown=lambda: None),
    )

    code = up.serve_estate(None, tmp_path / "run", as_json=True, runbooks=runbooks)

    assert code == 0
    assert len(made) == controllers
    assert "harness_pid" in json.loads(capsys.readouterr().out)

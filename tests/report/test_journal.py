"""The journal stays valid JSON whatever was measured."""

import json
import math

from harness.report.journal import Journal


def test_nan_and_infinity_become_null(tmp_path):
    journal = Journal(tmp_path, "run")
    journal.sample("claims-api:error_ratio", math.nan, at_s=1.0)
    journal.record("x", value=math.inf)

    path = journal.write({"load": {"p99": math.nan}})
    data = json.loads(path.read_text())  # strict: NaN would not parse in JSON.parse

    assert data["series"]["claims-api:error_ratio"] == [[1.0, None]]
    assert data["load"]["p99"] is None
    assert data["events"][0]["fields"]["value"] is None
    assert "NaN" not in path.read_text()


def test_events_come_back_in_time_order(tmp_path):
    journal = Journal(tmp_path, "run")
    journal.record("late", at_s=5.0)
    journal.record("early", at_s=1.0)

    assert [e.kind for e in journal.events()] == ["early", "late"]
    assert (tmp_path / "journal.jsonl").read_text().count("\n") == 2

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


class Recorder:
    def __init__(self):
        self.seen = []

    def on_event(self, run_id, event):
        self.seen.append((run_id, event.kind))

    def on_sample(self, run_id, series, t_s, value):
        self.seen.append((run_id, series, t_s, value))


class Broken:
    calls = 0

    def on_event(self, run_id, event):
        Broken.calls += 1
        raise RuntimeError("display gone")

    def on_sample(self, run_id, series, t_s, value):
        Broken.calls += 1
        raise RuntimeError("display gone")


def test_listeners_hear_every_event_and_sample(tmp_path):
    recorder = Recorder()
    journal = Journal(tmp_path, "run", listeners=(recorder,))

    journal.record("fault_injected", fault="f")
    journal.sample("claims-api:error_ratio", math.inf, at_s=2.0)

    assert recorder.seen == [
        ("run", "fault_injected"),
        ("run", "claims-api:error_ratio", 2.0, None),
    ]


def test_a_listener_that_raises_is_detached_and_the_journal_goes_on(tmp_path, caplog):
    Broken.calls = 0
    recorder = Recorder()
    journal = Journal(tmp_path, "run", listeners=(Broken(), recorder))

    first = journal.record("run_started", experiment="x")
    journal.sample("claims-api:error_ratio", 0.5, at_s=1.0)
    journal.record("run_finished", verdict="passed")

    assert first.kind == "run_started"
    assert [e.kind for e in journal.events()] == ["run_started", "run_finished"]
    assert journal.series["claims-api:error_ratio"] == [(1.0, 0.5)]
    assert (tmp_path / "journal.jsonl").read_text().count("\n") == 2
    assert len(recorder.seen) == 3, "a later listener still hears everything"
    assert Broken.calls == 1, "a failing listener is called no more"
    assert "journal listener" in caplog.text and "display gone" in caplog.text


def test_events_and_the_written_journal_are_redacted(tmp_path):
    from harness.report.redact import Redactor

    redactor = Redactor()
    journal = Journal(tmp_path, "run-1", redactor=redactor)
    journal.record("x", answer={"name": "Zelda Q", "email": "zq@planted.example"})
    journal.record("y", reason="token Zq9-later-learnt-token")
    redactor.add_secret("Zq9-later-learnt-token", "admin_token")

    journal.write({"verdict": {"reason": "Zq9-later-learnt-token failed"}})
    journal.close()

    assert journal.events("x")[0].fields["answer"] == {
        "name": "[redacted:name]",
        "email": "[redacted:email]",
    }
    written = (tmp_path / "journal.json").read_text()
    assert "Zq9-later-learnt-token" not in written
    assert "zq@planted.example" not in (tmp_path / "journal.jsonl").read_text()
    assert written.count("[redacted:admin_token]") == 2

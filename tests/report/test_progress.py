"""The live progress display, fed a journal's events and samples by hand."""

import io
import logging

import pytest

from harness.report.journal import Event, Journal
from harness.report.progress import ProgressDisplay, ProgressLogHandler

PLAN = {
    "experiment": "claims-outage",
    "steady_state_s": 10,
    "fault_window_s": 20,
    "resolve_s": 30,
    "bound_s": 300,
}


class FakeStream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Feed:
    """Plays a run's journal stream into the display at the fake clock's time."""

    def __init__(self, tty: bool, **options):
        self.clock = FakeClock()
        self.stream = FakeStream(tty)
        self.display = ProgressDisplay(
            self.stream, clock=self.clock, width=400, **options
        )
        self.t0 = self.clock.now

    def at(self, t_s: float) -> "Feed":
        self.clock.now = self.t0 + t_s
        return self

    def event(self, kind: str, **fields) -> None:
        t_s = self.clock.now - self.t0
        self.display.on_event("run-1", Event(kind, t_s, "wall", fields))

    def sample(self, series: str, value) -> None:
        self.display.on_sample("run-1", series, self.clock.now - self.t0, value)

    def shown(self) -> str:
        """The status line a terminal shows now: what follows the last redraw."""
        return self.stream.getvalue().rsplit("\r\x1b[K", 1)[-1]

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


def test_a_terminal_line_follows_the_phases_and_counts_down():
    feed = Feed(tty=True, redraw_interval_s=0)

    feed.at(0).event("run_started", **PLAN)
    assert "claims-outage | starting estate 0s | bound in 5m00s" in feed.shown()
    feed.at(8).event("load_started")
    assert "steady state, 10s left" in feed.shown()
    feed.at(12).sample("claims-api:error_ratio", 0.0)
    assert "steady state, 6s left" in feed.shown()
    assert "bound in 4m48s" in feed.shown()
    feed.at(18).event("steady_state_checked", ok=True, failing=[])
    assert "fault window, 20s left" in feed.shown()
    feed.at(25).sample("claims-api:error_ratio", 0.25)
    assert "fault window, 13s left" in feed.shown()
    assert "errors claims-api 25%" in feed.shown()
    feed.at(39).sample("claims-api:error_ratio", 0.0)
    assert "waiting for recovery, at most 29s left" in feed.shown()
    feed.at(50).event("load_stopped")
    assert "clean-up" in feed.shown()

    assert "\n" not in feed.stream.getvalue(), "a terminal line is redrawn in place"


def test_alerts_firing_and_resolving_and_runbooks_run_are_shown():
    feed = Feed(tty=True, redraw_interval_s=0)
    alert = {"alertname": "ClaimsApiAvailabilityBurnRate", "service": "claims-api"}

    feed.at(0).event("run_started", **PLAN)
    assert "| no alert firing" in feed.shown()
    feed.at(20).event("alert_firing", severity="page", **alert)
    assert "| 1 alert firing |" in feed.shown()
    feed.at(21).event("alert_firing", severity="ticket", **alert)
    assert "| 2 alerts firing |" in feed.shown()
    assert feed.shown().endswith(
        "firing: ClaimsApiAvailabilityBurnRate[page], "
        "ClaimsApiAvailabilityBurnRate[ticket]"
    )
    feed.at(22).event("runbook_finished", runbook="claims-customer-fallback")
    feed.at(23).event("runbook_failed", runbook="claims-restart")
    assert "| runbooks run: 1, 1 failed | firing: " in feed.shown()
    feed.at(30).event("alert_inactive", severity="page", **alert)
    assert feed.shown().endswith("firing: ClaimsApiAvailabilityBurnRate[ticket]")
    feed.at(31).event("alert_inactive", severity="ticket", **alert)
    assert feed.shown().endswith("| no alert firing | runbooks run: 1, 1 failed")


def test_an_error_ratio_without_data_and_other_series_are_told_apart():
    feed = Feed(tty=True, redraw_interval_s=0)

    feed.at(0).event("run_started", **PLAN)
    feed.sample("policy-api:error_ratio", None)
    feed.sample("slo_ok:claims-api", 1.0)
    feed.sample("claims-api:slow_ratio", 0.5)

    assert feed.shown().endswith("| errors policy-api no data")
    assert "claims-api" not in feed.shown().replace("claims-outage", "")


def test_a_run_that_stops_early_says_why():
    feed = Feed(tty=True, redraw_interval_s=0)

    feed.at(0).event("run_started", **PLAN)
    feed.at(8).event("load_started")
    feed.at(18).event("steady_state_checked", ok=False, failing=["claims-api"])

    assert "clean-up (steady state not met)" in feed.shown()
    feed.at(19).event("interrupted", signal="SIGINT")
    assert "clean-up (steady state not met)" in feed.shown(), "the first reason stays"


def test_terminal_redraws_are_rate_limited_but_phase_changes_are_not():
    feed = Feed(tty=True, redraw_interval_s=1.0)

    feed.at(0).event("run_started", **PLAN)
    feed.at(0.1).sample("claims-api:error_ratio", 0.1)
    feed.at(0.2).sample("claims-api:error_ratio", 0.2)
    assert feed.stream.getvalue().count("\r") == 1
    feed.at(0.3).event("load_started")
    assert feed.stream.getvalue().count("\r") == 2
    feed.at(1.5).sample("claims-api:error_ratio", 0.3)
    assert feed.stream.getvalue().count("\r") == 3
    assert "claims-api 30%" in feed.shown()


def test_the_finished_run_leaves_a_clean_terminal_line():
    feed = Feed(tty=True, redraw_interval_s=0)

    feed.at(0).event("run_started", **PLAN)
    feed.at(60).event("run_finished", verdict="passed")

    assert feed.stream.getvalue().endswith("\r\x1b[K")
    feed.at(61).sample("claims-api:error_ratio", 0.5)
    assert feed.stream.getvalue().endswith("\r\x1b[K"), "a finished run draws nothing"


def test_a_plain_stream_gets_a_line_per_phase_and_every_interval():
    feed = Feed(tty=False, plain_interval_s=10)

    feed.at(0).event("run_started", **PLAN)
    feed.at(1).sample("claims-api:error_ratio", 0.0)
    feed.at(5).event("load_started")
    feed.at(9).sample("claims-api:error_ratio", 0.0)
    feed.at(16).sample("claims-api:error_ratio", 0.0)
    feed.at(60).event("run_finished", verdict="failed")

    lines = feed.lines()
    assert [line.split(" | ")[1] for line in lines] == [
        "starting estate 0s",
        "steady state, 10s left",
        "steady state, 0s left",
        "finished: failed",
    ]
    assert all(line.startswith("progress: claims-outage | ") for line in lines)
    assert "\r" not in feed.stream.getvalue()


def test_a_long_line_is_cut_to_the_terminal_width():
    clock = FakeClock()
    stream = FakeStream(tty=True)
    display = ProgressDisplay(stream, clock=clock, width=30)

    display.on_event("run-1", Event("run_started", 0.0, "wall", PLAN))

    assert stream.getvalue() == "\r\x1b[K" + "claims-outage | starting esta"


def test_log_lines_are_written_above_the_status_line():
    feed = Feed(tty=True, redraw_interval_s=0)
    handler = ProgressLogHandler(feed.display)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.progress")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        feed.at(0).event("run_started", **PLAN)
        feed.at(5)
        logger.warning("fault %s applied", "slow-customer")
    finally:
        logger.removeHandler(handler)

    text = feed.stream.getvalue()
    assert text.startswith("\r\x1b[Kclaims-outage | starting estate 0s")
    after = text.split("\r\x1b[K", 2)[2]
    assert after.startswith("fault slow-customer applied\n")
    assert feed.shown().startswith("claims-outage | starting estate 5s"), (
        "the line is drawn again below, up to date"
    )


def test_log_lines_on_a_plain_stream_are_left_alone():
    feed = Feed(tty=False)
    feed.at(0).event("run_started", **PLAN)

    feed.display.write_above("a log line\n")

    assert feed.lines()[-1] == "a log line"


def test_events_of_an_unknown_run_are_ignored():
    feed = Feed(tty=True, redraw_interval_s=0)

    feed.event("alert_firing", alertname="X", severity="page", service="")
    feed.sample("claims-api:error_ratio", 0.5)

    assert feed.stream.getvalue() == ""


class ClosedStream(FakeStream):
    def write(self, text):
        raise BrokenPipeError("stderr closed")


def test_a_display_that_cannot_write_does_not_break_the_journal(tmp_path, caplog):
    display = ProgressDisplay(ClosedStream(tty=True))
    journal = Journal(tmp_path, "run-1", listeners=(display,))

    journal.record("run_started", **PLAN)
    journal.sample("claims-api:error_ratio", 0.1)
    journal.record("run_finished", verdict="passed")

    assert [e.kind for e in journal.events()] == ["run_started", "run_finished"]
    assert "stderr closed" in caplog.text


@pytest.mark.parametrize("tty", [True, False])
def test_the_display_reads_the_stream_to_choose_its_mode(tty):
    assert ProgressDisplay(FakeStream(tty)).tty is tty


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [(0.0, "0%"), (0.0012, "0.1%"), (0.05, "5.0%"), (0.854, "85%"), (1.0, "100%")],
)
def test_error_ratios_are_short_but_a_small_one_keeps_its_decimal(ratio, shown):
    feed = Feed(tty=True, redraw_interval_s=0)
    feed.at(0).event("run_started", **PLAN)

    feed.sample("claims-api:error_ratio", ratio)

    assert feed.shown().endswith(f"| errors claims-api {shown}")

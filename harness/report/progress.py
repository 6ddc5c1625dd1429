"""Live progress of a run on the terminal, fed by the journal as it records.

On a terminal it is one status line on stderr, redrawn in place and cleared
before each log line; elsewhere (a CI log, a pipe) it is a plain line on each
phase change and every few seconds. It only reads what the journal hands it:

    run_started ─► starting estate ─► load_started ─► steady state
    ─► steady_state_checked ─► fault window ─► (its planned length) ─►
    waiting for recovery ─► load_stopped, halted or interrupted ─► clean-up
    ─► run_finished
"""

import enum
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from harness.report.journal import Event

# A terminal redraw at most this often, so a burst of samples costs nothing.
REDRAW_INTERVAL_S = 0.25
# A plain line at least this often while nothing else changes.
PLAIN_INTERVAL_S = 10.0
_CLEAR_LINE = "\r\x1b[K"


class Phase(enum.Enum):
    STARTING = "starting estate"  # the estate and its monitoring come up
    STEADY = "steady state"  # load on, no fault yet
    FAULTS = "fault window"  # from the end of the steady state to the last rollback
    RECOVERY = "waiting for recovery"  # alerts resolving, SLOs settling
    CLEAN_UP = "clean-up"  # rolling back, stopping load and monitoring
    FINISHED = "finished"  # every process the run started has stopped


@dataclass
class RunProgress:
    """What the display knows of the run in progress."""

    experiment: str
    started_at: float  # the display's clock when the run's t_s was 0
    steady_state_s: float | None = None
    fault_window_s: float | None = None
    resolve_s: float | None = None
    bound_s: float | None = None
    phase: Phase = Phase.STARTING
    phase_started_s: float = 0.0
    error_ratios: dict[str, float | None] = field(default_factory=dict)
    firing: dict[tuple, str] = field(default_factory=dict)
    runbooks_finished: int = 0
    runbooks_failed: int = 0
    verdict: str = ""
    why_stopping: str = ""


class ProgressDisplay:
    """A journal listener that shows each run's phase, time left, error ratio,
    firing alerts and runbooks; thread-safe, and cheap enough for every sample."""

    def __init__(
        self,
        stream: TextIO,
        tty: bool | None = None,
        clock=time.monotonic,
        redraw_interval_s: float = REDRAW_INTERVAL_S,
        plain_interval_s: float = PLAIN_INTERVAL_S,
        width: int | None = None,
    ):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._redraw_interval_s = redraw_interval_s
        self._plain_interval_s = plain_interval_s
        self._width = width
        self._lock = threading.RLock()
        self._runs: dict[str, RunProgress] = {}
        self._shown = ""  # what the status line shows now, on a terminal
        self._shown_run: RunProgress | None = None
        self._last_drawn_at: float | None = None

    def on_event(self, run_id: str, event: Event) -> None:
        with self._lock:
            if event.kind == "run_started":
                self._start(run_id, event)
            run = self._runs.get(run_id)
            if run is None:
                return
            important = _apply(run, event) | self._timed_phase_change(run)
            self._draw(run, important)
            if run.phase is Phase.FINISHED:
                self._finish(run_id)

    def on_sample(
        self, run_id: str, series: str, t_s: float, value: float | None
    ) -> None:
        service, _, name = series.partition(":")
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            if name == "error_ratio":
                run.error_ratios[service] = value
            self._draw(run, important=self._timed_phase_change(run))

    def write_above(self, text: str) -> None:
        """Write text (log lines) where the status line is, then draw it again
        below, brought up to date: while the estate starts, only log lines come."""
        with self._lock:
            if self._shown:
                self.stream.write(_CLEAR_LINE)
            self.stream.write(text)
            if self._shown and self._shown_run is not None:
                self._timed_phase_change(self._shown_run)
                self._shown = self._terminal_line(self._shown_run)
                self.stream.write(self._shown)
            self.stream.flush()

    def status(self, run: RunProgress) -> str:
        """The status line of run, as it is now."""
        now_s = self._now_s(run)
        bound = ""
        if run.bound_s is not None and run.phase is not Phase.FINISHED:
            bound = f"bound in {_duration(max(0.0, run.bound_s - now_s))}"
        firing = sorted(set(run.firing.values()))
        parts = [
            run.experiment,
            _phase_text(run, now_s),
            bound,
            # The count comes early and the names last: a narrow terminal
            # cuts the names only.
            _alerts_firing(len(firing)),
            _errors_text(run.error_ratios),
            _runbooks_text(run),
            f"firing: {', '.join(firing)}" if firing else "",
        ]
        return " | ".join(part for part in parts if part)

    def _start(self, run_id: str, event: Event) -> None:
        fields = event.fields
        self._runs[run_id] = RunProgress(
            experiment=str(fields.get("experiment", run_id)),
            started_at=self._clock() - event.t_s,
            steady_state_s=fields.get("steady_state_s"),
            fault_window_s=fields.get("fault_window_s"),
            resolve_s=fields.get("resolve_s"),
            bound_s=fields.get("bound_s"),
            phase_started_s=event.t_s,
        )
        self._last_drawn_at = None

    def _finish(self, run_id: str) -> None:
        if self.tty and self._shown:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
        self._shown = ""
        self._shown_run = None
        del self._runs[run_id]

    def _now_s(self, run: RunProgress) -> float:
        return self._clock() - run.started_at

    def _timed_phase_change(self, run: RunProgress) -> bool:
        """The fault window ends by the clock: no event marks its end.

        A fault whose rollback is late therefore shows as "waiting for
        recovery" while it is still live.
        """
        if run.phase is not Phase.FAULTS or run.fault_window_s is None:
            return False
        ended_s = run.phase_started_s + run.fault_window_s
        if self._now_s(run) < ended_s:
            return False
        return _enter(run, Phase.RECOVERY, ended_s)

    def _draw(self, run: RunProgress, important: bool) -> None:
        now = self._clock()
        interval = self._redraw_interval_s if self.tty else self._plain_interval_s
        due = self._last_drawn_at is None or now - self._last_drawn_at >= interval
        if not (important or due):
            return
        self._last_drawn_at = now
        if not self.tty:
            self.stream.write(f"progress: {self.status(run)}\n")
        elif run.phase is not Phase.FINISHED:
            self._shown_run = run
            self._shown = self._terminal_line(run)
            self.stream.write(self._shown)
        self.stream.flush()

    def _terminal_line(self, run: RunProgress) -> str:
        # A line that wraps cannot be redrawn in place; a terminal made
        # narrower after this still wraps the line already shown.
        return _CLEAR_LINE + self.status(run)[: self._columns() - 1]

    def _columns(self) -> int:
        if self._width is not None:
            return self._width
        return shutil.get_terminal_size((100, 24)).columns


def _apply(run: RunProgress, event: Event) -> bool:
    """Update run from event; whether the change deserves an immediate redraw."""
    kind, fields = event.kind, event.fields
    if kind == "load_started" and run.phase is Phase.STARTING:
        return _enter(run, Phase.STEADY, event.t_s)
    if kind == "steady_state_checked":
        if fields.get("ok"):
            return _enter(run, Phase.FAULTS, event.t_s)
        run.why_stopping = run.why_stopping or "steady state not met"
        return _enter(run, Phase.CLEAN_UP, event.t_s)
    if kind in ("halted", "interrupted"):
        run.why_stopping = run.why_stopping or kind
        return _enter(run, Phase.CLEAN_UP, event.t_s)
    if kind == "load_stopped":
        return _enter(run, Phase.CLEAN_UP, event.t_s)
    if kind == "run_finished":
        run.verdict = str(fields.get("verdict", ""))
        return _enter(run, Phase.FINISHED, event.t_s)
    if kind == "alert_firing":
        run.firing[_alert_key(fields)] = _alert_name(fields)
        return True
    if kind in ("alert_inactive", "alert_pending"):
        return run.firing.pop(_alert_key(fields), None) is not None
    if kind == "runbook_finished":
        run.runbooks_finished += 1
        return True
    if kind == "runbook_failed":
        run.runbooks_failed += 1
        return True
    return False


def _enter(run: RunProgress, phase: Phase, t_s: float) -> bool:
    if run.phase in (phase, Phase.FINISHED):
        return False
    if run.phase is Phase.CLEAN_UP and phase is not Phase.FINISHED:
        return False  # once stopping, a late event does not bring a phase back
    run.phase = phase
    run.phase_started_s = t_s
    return True


def _alert_key(fields: dict) -> tuple:
    return tuple(fields.get(name, "") for name in ("alertname", "severity", "service"))


def _alert_name(fields: dict) -> str:
    severity = fields.get("severity")
    name = str(fields.get("alertname", "?"))
    return f"{name}[{severity}]" if severity else name


def _phase_text(run: RunProgress, now_s: float) -> str:
    in_phase_s = now_s - run.phase_started_s
    planned = {
        Phase.STEADY: run.steady_state_s,
        Phase.FAULTS: run.fault_window_s,
        Phase.RECOVERY: run.resolve_s,
    }.get(run.phase)
    text = run.phase.value
    if run.phase is Phase.CLEAN_UP and run.why_stopping:
        text = f"{text} ({run.why_stopping})"
    if run.phase is Phase.FINISHED:
        return f"{text}: {run.verdict or 'no verdict'}"
    if planned is None:
        return f"{text} {_duration(max(0.0, in_phase_s))}"
    left_s = max(0.0, planned - in_phase_s)
    # Recovery ends as soon as the expected alerts resolve: its length is a cap.
    limit = "at most " if run.phase is Phase.RECOVERY else ""
    return f"{text}, {limit}{_duration(left_s)} left"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60:02d}s"


def _errors_text(error_ratios: dict[str, float | None]) -> str:
    if not error_ratios:
        return ""
    ratios = (f"{service} {_percent(v)}" for service, v in sorted(error_ratios.items()))
    return f"errors {', '.join(ratios)}"


def _runbooks_text(run: RunProgress) -> str:
    if not (run.runbooks_finished or run.runbooks_failed):
        return ""
    failed = f", {run.runbooks_failed} failed" if run.runbooks_failed else ""
    return f"runbooks run: {run.runbooks_finished}{failed}"


def _alerts_firing(count: int) -> str:
    if count == 0:
        return "no alert firing"
    return f"{count} alert{'s' if count > 1 else ''} firing"


def _percent(value: float | None) -> str:
    """Short enough for a status line, but a small ratio keeps its decimal."""
    if value is None:
        return "no data"
    percent = 100 * value
    return f"{percent:.1f}%" if 0 < percent < 10 else f"{percent:.0f}%"


class ProgressLogHandler(logging.StreamHandler):
    """Writes log lines above the status line instead of through it."""

    def __init__(self, display: ProgressDisplay):
        super().__init__(display.stream)
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.display.write_above(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

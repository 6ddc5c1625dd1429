"""The journal: every timestamped event of one run, in order.

Events carry the wall-clock time and the seconds since the run started (from
a monotonic clock, so a clock step cannot reorder them). Each event is also
appended to journal.jsonl as it happens, so a run that dies mid-way still
leaves its timeline on disk, and handed to the journal's listeners (such as
the live progress display), which can never break the journal.

Every event's fields, and the whole dict written to journal.json, pass
through the run's Redactor (harness/report/redact.py) first: what the
journal holds, and so every report rendered from it, is safe to share.
"""

import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from harness.report.redact import Redactor

log = logging.getLogger(__name__)

JOURNAL_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Event:
    kind: str
    t_s: float  # seconds since the run started
    wall: str  # ISO 8601, UTC
    fields: dict[str, Any] = field(default_factory=dict)


class JournalListener(Protocol):
    """Told of each event and sample as it is recorded, from whichever thread
    records it; it must return promptly."""

    def on_event(self, run_id: str, event: Event) -> None: ...

    def on_sample(
        self, run_id: str, series: str, t_s: float, value: float | None
    ) -> None: ...


class Journal:
    """Thread-safe, append-only record of a run."""

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        clock=time.monotonic,
        listeners: tuple[JournalListener, ...] = (),
        redactor: Redactor | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        # Secrets learnt later (the estate's admin token) are added to it.
        self.redactor = redactor or Redactor()
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self.series: dict[str, list[tuple[float, float | None]]] = {}
        self._listeners = list(listeners)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.run_dir / "journal.jsonl", "a")  # noqa: SIM115

    def now_s(self) -> float:
        return round(self._clock() - self._t0, 3)

    def record(self, kind: str, /, at_s: float | None = None, **fields: Any) -> Event:
        event = Event(
            kind=kind,
            t_s=self.now_s() if at_s is None else round(at_s, 3),
            wall=datetime.now(UTC).isoformat(timespec="milliseconds"),
            fields=self.redactor.value(fields),
        )
        with self._lock:
            self._events.append(event)
            if not self._stream.closed:
                # Text too: a field that is an object is only a string once dumped.
                line = self.redactor.text(json.dumps(asdict(event), default=str))
                self._stream.write(line + "\n")
                self._stream.flush()
        log.info("event %s at %.3f s %s", kind, event.t_s, event.fields)
        self._tell("on_event", event)
        return event

    def sample(
        self, series: str, value: float | None, at_s: float | None = None
    ) -> None:
        """One point of a measured series, such as claims-api's error ratio.

        NaN and infinities (0/0 with no traffic) are stored as None: no data.
        """
        if value is not None and not math.isfinite(value):
            value = None
        t_s = self.now_s() if at_s is None else at_s
        with self._lock:
            self.series.setdefault(series, []).append((t_s, value))
        self._tell("on_sample", series, t_s, value)

    def _tell(self, method: str, *args: Any) -> None:
        """Hand an event or sample to every listener; one that raises is
        logged with its traceback and detached, and the journal goes on."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                getattr(listener, method)(self.run_id, *args)
            except Exception:
                log.warning(
                    "journal listener %r failed; it is detached from run %s",
                    listener,
                    self.run_id,
                    exc_info=True,
                )
                with self._lock:
                    if listener in self._listeners:
                        self._listeners.remove(listener)

    def events(self, kind: str | None = None) -> list[Event]:
        with self._lock:
            ordered = sorted(self._events, key=lambda e: e.t_s)
        return [e for e in ordered if kind is None or e.kind == kind]

    def first(self, kind: str, **match: Any) -> Event | None:
        for event in self.events(kind):
            if all(event.fields.get(k) == v for k, v in match.items()):
                return event
        return None

    def to_dict(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The journal as journal.json holds it, secrets and personal data redacted."""
        with self._lock:
            series = {name: list(points) for name, points in self.series.items()}
        return {
            "schema_version": JOURNAL_SCHEMA_VERSION,
            "run_id": self.run_id,
            **self.redactor.value(extra),
            # Redacted again: a secret learnt after an event was recorded.
            "events": self.redactor.value([asdict(e) for e in self.events()]),
            "series": series,
        }

    def write(self, extra: dict[str, Any]) -> Path:
        path = self.run_dir / "journal.json"
        data = finite(self.to_dict(extra))
        text = json.dumps(data, indent=2, default=str, allow_nan=False)
        path.write_text(self.redactor.text(text))
        return path

    def close(self) -> None:
        with self._lock:
            self._stream.close()


def finite(value: Any) -> Any:
    """The same data with NaN and infinities as null, which JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value

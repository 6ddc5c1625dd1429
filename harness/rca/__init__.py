"""Root-cause analysis: name the most likely broken component of a run.

gather.py reads the evidence (SLIs and per-edge call metrics from the
experiment's Prometheus, spans from the mocks' request logs) over the fault
window; analyze.py walks the dependency graph from the burning services to a
guess, a pure function of that evidence; scoring.py compares the guess with
the injected faults afterwards. The analysis never sees the faults: it is
given time windows, never the journal's fault entries.
"""

import logging
import time
from pathlib import Path

from harness.config import Estate
from harness.observe.prometheus import PrometheusAPI
from harness.rca.analyze import analyse
from harness.rca.evidence import Window
from harness.rca.gather import gather
from harness.rca.scoring import rca_accuracy, scored

__all__ = ["analyse", "analyse_run", "fault_windows", "rca_accuracy", "scored"]

log = logging.getLogger(__name__)

# The steady state the fault window is compared with: at most this long
# before the first fault, and not the load's first seconds.
BASELINE_MAX_S = 30.0
LOAD_WARM_UP_S = 2.0


def fault_windows(
    times: dict[str, list[float]], now_s: float, lag_s: float, unix_offset_s: float
) -> tuple[Window, Window] | None:
    """The fault window and the steady state before it, from event times alone.

    times holds the t_s of "fault_injected" (moved back to when the fault
    acted, as a fault is journalled once Prometheus shows it), of
    "fault_rolled_back" and of "load_started" events; None when no fault was
    injected. The window ends lag_s after the last rollback, so the scrapes
    that saw it are in; the steady state ends half of lag_s before the first
    fault, so the scrape that first saw it is not.
    """
    injected = times.get("fault_injected") or []
    if not injected:
        return None
    start_s = min(injected)
    rolled_back = times.get("fault_rolled_back") or []
    end_s = min(now_s, (max(rolled_back) if rolled_back else now_s) + lag_s)
    end_s = max(end_s, start_s + 1.0)
    base_to_s = start_s - lag_s / 2
    load_s = min(times.get("load_started") or [0.0]) + LOAD_WARM_UP_S
    base_from_s = max(load_s, base_to_s - BASELINE_MAX_S, 0.0)
    base_from_s = min(base_from_s, base_to_s - 1.0)
    return (
        Window(start_s, end_s, unix_offset_s),
        Window(base_from_s, base_to_s, unix_offset_s),
    )


def analyse_run(
    api: PrometheusAPI,
    estate: Estate,
    windows: tuple[Window, Window],
    log_dir: Path | None,
) -> dict:
    """The unscored analysis of one run's fault window."""
    window, baseline = windows
    started = time.monotonic()
    evidence = gather(api, estate, window, baseline, log_dir)
    result = analyse(evidence)
    result["window"] = {"from_s": window.from_s, "to_s": window.to_s}
    log.info(
        "root cause guessed: component=%s via=%s confidence=%s took_s=%.2f",
        result["guess"]["component"],
        result["guess"]["via"],
        result["guess"]["confidence"],
        time.monotonic() - started,
    )
    return result

"""An experiment's wall time against its phases, estate start, estate memory.

One estate is started (timed) and lent to the same experiment twice: the
first borrows a fresh estate, the second a reused one, as in a game day. Each
run's wall time is compared with the sum of its phases as the journal shows
them (steady state, fault window, the wait for alerts and SLOs to settle):
the rest is the harness's own cost (borrowing and resetting the estate,
fresh Prometheus and Alertmanager, Locust start, data checks, clean-up).
While the runs go on, the resident memory of every process of the estate
(mocks, proxy, prober, Prometheus, Alertmanager, Locust, and the harness
itself) is summed once a second from /proc.
"""

import tempfile
import threading
import time
from pathlib import Path

from harness.config import load_estate
from harness.experiment.estate import SharedEstate
from harness.experiment.runner import RunOptions, run_experiment

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "experiments" / "control-run.yaml"
GOAL_OVERHEAD_S = 10.0
GOAL_MEMORY_MIB = 1024.0


def rss_mib(pid: int) -> float:
    """Resident memory of one process, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Every descendant of pid, from /proc (Locust and uvicorn may fork)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class MemorySampler(threading.Thread):
    """The harness and all its descendants, summed once a second."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True, name="memory-sampler")
        self.root_pid = root_pid
        self.peak_mib = 0.0
        self.peak_processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(1.0):
            pids = [self.root_pid, *children(self.root_pid)]
            total = sum(rss_mib(pid) for pid in pids)
            if total > self.peak_mib:
                self.peak_mib, self.peak_processes = total, len(pids)

    def stop(self) -> None:
        self._done.set()
        self.join(5)


def phases_s(result) -> dict[str, float]:
    """Steady state, fault window and settling, as the journal timed them."""
    import json

    journal = json.loads((result.report_dir / "journal.json").read_text())
    events = journal["events"]

    def first(kind: str) -> float | None:
        return next((e["t_s"] for e in events if e["kind"] == kind), None)

    def last(kind: str) -> float | None:
        times = [e["t_s"] for e in events if e["kind"] == kind]
        return times[-1] if times else None

    load = first("load_started")
    steady = first("steady_state_checked")
    injected = first("fault_injected")
    rolled_back = last("fault_rolled_back")
    stopped = first("load_stopped")
    return {
        "steady_state": steady - load,
        "fault_window": rolled_back - injected,
        "settling": stopped - rolled_back,
        # Up to the load: borrowing and checking the estate, monitoring, Locust.
        "before_load": load,
        # After the load: data checks, clean-up, the report.
        "after_load": last("run_finished") - stopped,
    }


def run() -> str:
    import os

    estate = load_estate()
    sampler = MemorySampler(os.getpid())
    sampler.start()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-experiment-") as tmp:
        options = RunOptions(reports_dir=Path(tmp) / "reports")
        started = time.monotonic()
        shared = SharedEstate(estate, Path(tmp) / "estate")
        shared.start()
        start_s = time.monotonic() - started
        try:
            for label in ("fresh estate", "reused estate"):
                began = time.monotonic()
                result = run_experiment(EXPERIMENT, options, shared)
                wall_s = time.monotonic() - began
                phases = phases_s(result)
                phase_sum = (
                    phases["steady_state"] + phases["fault_window"] + phases["settling"]
                )
                rows.append(
                    (label, result.verdict.status.value, wall_s, phase_sum, phases)
                )
        finally:
            shared.stop()
            sampler.stop()
    lines = [
        "## Experiment overhead, estate start and memory",
        "",
        "`python -m bench.experiment_overhead`: one estate started and timed,",
        f"then `{EXPERIMENT.relative_to(REPO)}` run twice on it (the second on",
        "the reused estate). Phases are read from the run's journal: steady state",
        "(load start to steady-state check), fault window (injection to last",
        "rollback) and settling (last rollback to load stop: the wait for alerts",
        "and SLOs). Overhead is the wall time less those phases: borrowing and",
        "checking the estate, fresh Prometheus and Alertmanager, Locust start,",
        "data checks and clean-up. Goal: at most "
        f"{GOAL_OVERHEAD_S:g} s with a reused estate.",
        "",
        f"Estate start (proxy, 8 mocks and a secondary gateway, prober, sink, "
        f"pager stub): {start_s:.1f} s.",
        "",
        "| run | verdict | wall | phases (steady + fault + settling) | overhead "
        "(before load, after load) | wall / phases |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, verdict, wall_s, phase_sum, phases in rows:
        lines.append(
            f"| {label} | {verdict} | {wall_s:.1f} s | {phase_sum:.1f} s "
            f"({phases['steady_state']:.1f} + {phases['fault_window']:.1f} + "
            f"{phases['settling']:.1f}) | {wall_s - phase_sum:.1f} s "
            f"({phases['before_load']:.1f}, {phases['after_load']:.1f}) | "
            f"{wall_s / phase_sum:.2f} |"
        )
    reused_overhead = rows[-1][2] - rows[-1][3]
    lines += [
        "",
        f"Reused-estate overhead {reused_overhead:.1f} s: "
        + ("within" if reused_overhead <= GOAL_OVERHEAD_S else "over")
        + f" the {GOAL_OVERHEAD_S:g} s goal.",
        "",
        f"Peak resident memory of the harness and every process it started, "
        f"summed once a second over both runs: {sampler.peak_mib:.0f} MiB in "
        f"{sampler.peak_processes} processes (goal: at most "
        f"{GOAL_MEMORY_MIB:.0f} MiB; "
        + ("within" if sampler.peak_mib <= GOAL_MEMORY_MIB else "over")
        + "). Resident memory counts shared library pages once per process,",
        "so the sum overstates what the estate takes from the machine.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())

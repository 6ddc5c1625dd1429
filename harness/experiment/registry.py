"""The runs in progress on this machine, so `harness abort` can stop them all.

Each run writes one file into a per-user runtime folder while it runs: its
PID, the process's start time as /proc gives it, its run folder and ledger.
The start time guards against a reused PID: a process that is not the one
that registered is never signalled. `harness abort` writes a reason file
beside the entry before it signals, so the run can tell an abort from any
other SIGTERM.
"""

import json
import logging
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import StackError

log = logging.getLogger(__name__)

PRODUCT = "resilience-harness"
# How long abort waits for a signalled run to roll back and stop by itself.
DEFAULT_GRACE_S = 90.0


def runs_folder() -> Path:
    """$XDG_RUNTIME_DIR/resilience-harness/runs, or /tmp/resilience-harness-<uid>/..."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / PRODUCT
        if runtime
        else Path(tempfile.gettempdir()) / f"{PRODUCT}-{os.getuid()}"
    )
    return base / "runs"


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot); None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    after_name = stat.rsplit(")", 1)[1].split()
    if after_name[0] == "Z":
        return None  # a zombie has stopped; only its parent's wait is missing
    return after_name[19]


def require_own_folder(folder: Path) -> None:
    """Refuse a runs folder someone else could write: its entries name PIDs to kill."""
    for path in (folder.parent, folder):
        info = path.lstat()
        if path.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise StackError(
                f"runs folder {str(path)!r} is a symlink, owned by uid "
                f"{info.st_uid} or writable by others (mode {info.st_mode & 0o777:o}); "
                f"expected a folder of uid {os.getuid()} only it can write; remove it"
            )


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    pid: int
    start_time: str
    run_dir: str
    ledger: str

    def is_running(self) -> bool:
        """The registered process is alive and is the one that registered."""
        return process_start_time(self.pid) == self.start_time


class RunRegistration:
    """This process's entry in the runs folder, from register() to remove()."""

    def __init__(self, run_id: str, run_dir: Path, folder: Path | None = None):
        self.folder = folder or runs_folder()
        self.entry_path = self.folder / f"{run_id}.json"
        self.reason_path = self.folder / f"{run_id}.abort"
        pid = os.getpid()
        self.entry = RunEntry(
            run_id=run_id,
            pid=pid,
            start_time=process_start_time(pid) or "",
            run_dir=str(Path(run_dir).resolve()),
            ledger=str(Path(run_dir).resolve() / "ledger.json"),
        )

    def register(self) -> None:
        # mkdir(parents=True) would give the parent the default mode.
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.mkdir(exist_ok=True, mode=0o700)
        require_own_folder(self.folder)
        partial = self.entry_path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(self.entry)))
        partial.replace(self.entry_path)

    def abort_reason(self) -> str | None:
        """What `harness abort` wrote before signalling this run, if it did."""
        try:
            return self.reason_path.read_text().strip() or "harness abort"
        except FileNotFoundError:
            return None

    def remove(self) -> None:
        self.entry_path.unlink(missing_ok=True)
        self.reason_path.unlink(missing_ok=True)


def registered(folder: Path | None = None) -> list[RunEntry]:
    """Every entry in the runs folder; unreadable ones are logged and skipped."""
    folder = folder or runs_folder()
    if not folder.exists():
        return []
    require_own_folder(folder)
    entries = []
    for path in sorted(folder.glob("*.json")):
        try:
            entries.append(RunEntry(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            log.warning("unreadable run entry %s", path, exc_info=True)
    return entries


@dataclass(frozen=True)
class AbortOutcome:
    run_id: str
    pid: int
    run_dir: str
    # stopped: rolled back and exited within the grace time; killed: SIGKILL
    # after the grace time, its ledger swept; gone: not running when abort
    # looked (its entry was stale); survived: still alive after SIGKILL.
    outcome: str

    @property
    def stopped_cleanly(self) -> bool:
        return self.outcome in ("stopped", "gone")


def abort_all(
    folder: Path | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    sweep: Callable[[Path], None] | None = None,
    reason: str = "harness abort",
) -> list[AbortOutcome]:
    """SIGTERM every registered run, wait grace_s, SIGKILL the rest and sweep them."""
    folder = folder or runs_folder()
    outcomes: dict[str, str] = {}
    signalled = []
    entries = registered(folder)
    for entry in entries:
        if not entry.is_running():
            outcomes[entry.run_id] = "gone"
            (folder / f"{entry.run_id}.json").unlink(missing_ok=True)
            continue
        (folder / f"{entry.run_id}.abort").write_text(reason)
        _signal(entry, signal.SIGTERM)
        signalled.append(entry)
    still_running = _wait_stopped(signalled, grace_s)
    for entry in signalled:
        outcomes[entry.run_id] = "stopped"
    for entry in still_running:
        # SIGKILL leaves no chance to roll back: the ledger sweep does it.
        outcomes[entry.run_id] = _kill(entry, sweep)
        if outcomes[entry.run_id] == "killed":
            (folder / f"{entry.run_id}.json").unlink(missing_ok=True)
            (folder / f"{entry.run_id}.abort").unlink(missing_ok=True)
    return [
        AbortOutcome(e.run_id, e.pid, e.run_dir, outcomes[e.run_id]) for e in entries
    ]


def _signal(entry: RunEntry, signum: int) -> None:
    # Checked again right before the signal: the PID may have been reused since.
    if not entry.is_running():
        return
    log.info("sending %s to run %s (pid %d)", signum.name, entry.run_id, entry.pid)
    try:
        os.kill(entry.pid, signum)
    except ProcessLookupError:
        pass


def _wait_stopped(entries: list[RunEntry], grace_s: float) -> list[RunEntry]:
    deadline = time.monotonic() + grace_s
    running = list(entries)
    while running and time.monotonic() < deadline:
        time.sleep(0.2)
        running = [entry for entry in running if entry.is_running()]
    return running


def _kill(entry: RunEntry, sweep: Callable[[Path], None] | None) -> str:
    _signal(entry, signal.SIGKILL)
    if _wait_stopped([entry], 5.0):
        return "survived"
    if sweep is not None:
        try:
            sweep(Path(entry.run_dir))
        except Exception:
            log.warning("sweep of %s failed", entry.run_dir, exc_info=True)
    return "killed"

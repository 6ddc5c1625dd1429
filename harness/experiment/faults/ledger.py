"""The run's fault ledger on disk, and the sweep of ledgers left by dead runs.

A ledger is written before each fault is applied and says, without anything
held in memory, how to undo it: the proxy API and route with the toxic's name
or the route's enabled flag, the mock's admin URL and fault id (the admin
token is kept outside the reports tree, in a private file that the run
folder's endpoints.json names; see harness/private_state.py), and the processes the run
started, each with its /proc start time so that a PID the system has since
handed to another program is never signalled.
"""

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

from harness.errors import APICallError
from harness.private_state import (
    PrivateStateError,
    read_secrets,
    remove_private_dir,
)
from harness.proxy.client import ToxiproxyClient
from harness.report.redact import Redactor, redact_tree
from harness.stack.mock_admin import MockAdminClient

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.json"
# States of a fault entry.
APPLYING = "applying"  # written before the fault was asked for
LIVE = "live"  # read back as applied
ROLLED_BACK = "rolled_back"  # read back as gone after the rollback
LOST = "lost"  # found gone or changed before the harness removed it
SWEPT = "swept"  # undone by a later run after this run's harness died
REMEDIED = "remedied"  # taken away by a runbook action, such as a rollback
DONE_STATES = (ROLLED_BACK, LOST, SWEPT, REMEDIED)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent's wait is missing
        return None
    return int(fields[19])


def identity(pid: int) -> dict | None:
    """How a ledger names a process: its pid and start time."""
    started = start_time(pid)
    return None if started is None else {"pid": pid, "start_time": started}


def is_alive(process: dict) -> bool:
    """True only when that pid runs and is still the process recorded."""
    return start_time(process["pid"]) == process["start_time"]


class FaultLedger:
    """Faults applied by one run, and what the run started, kept on disk as JSON."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._doc = {
            "owner": identity(os.getpid()),
            "faults": [],
            "processes": [],
            "routes": None,
        }
        self._entries: dict[str, dict] = {}
        self._save()

    def open(self, fault, undo: dict) -> None:
        """Record a fault as applying, with what undoes it (see module docstring)."""
        with self._lock:
            entry = {
                "fault": fault.name,
                "kind": fault.kind,
                "family": fault.family,
                "target": fault.route or fault.service,
                "state": APPLYING,
                **undo,
            }
            self._entries[fault.name] = entry
            self._doc["faults"].append(entry)
            self._save()

    def update(self, fault_name: str, **fields) -> None:
        with self._lock:
            self._entries[fault_name].update(fields)
            self._save()

    def mark(self, fault_name: str, state: str) -> None:
        self.update(fault_name, state=state)

    def entry(self, fault_name: str) -> dict:
        with self._lock:
            return dict(self._entries[fault_name])

    def started(self, name: str, pid: int) -> None:
        """Record a process the run started, so a later sweep can stop it."""
        process = identity(pid)
        if process is None:
            return
        with self._lock:
            self._doc["processes"].append({"name": name, **process})
            self._save()

    def created_routes(self, proxy_api: str, routes: list[str]) -> None:
        """Routes made on a proxy that outlives the run, to delete after a crash."""
        with self._lock:
            self._doc["routes"] = {"proxy_api": proxy_api, "names": list(routes)}
            self._save()

    def live(self) -> list[dict]:
        with self._lock:
            return [
                dict(e) for e in self._entries.values() if e["state"] not in DONE_STATES
            ]

    def _save(self) -> None:
        _write(self.path, self._doc)


def _write(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)


def sweep_stale(reports_dir: Path) -> list[dict]:
    """Undo what runs whose harness died left live; return what was done.

    A ledger is stale when its owner (pid and start time) no longer runs. Each
    fault still applying or live is undone where its proxy or mock answers and
    marked swept; one whose proxy or mock does not answer stays as it was, so
    a later sweep tries again. Processes the run started that still run are
    stopped. Only ledgers under reports_dir are read: a run killed while
    writing elsewhere is swept by a run that uses that folder.
    """
    done = []
    for path in sorted(Path(reports_dir).glob(f"*/{LEDGER_FILE}")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            log.warning("unreadable ledger %s; not swept", path, exc_info=True)
            continue
        if not isinstance(doc, dict) or not _stale(doc):
            continue
        done += _sweep(path, doc)
    return done


def _stale(doc: dict) -> bool:
    owner = doc.get("owner")
    if owner is None or doc.get("swept_at"):
        return False
    return not is_alive(owner)


def _sweep(path: Path, doc: dict) -> list[dict]:
    done = []
    pending = [e for e in doc["faults"] if e["state"] not in DONE_STATES]
    # Without a fault to undo, a missing token only costs the redaction of the
    # token itself, which a run that ended cleanly never wrote there.
    token = _admin_token(path.parent, needed=bool(pending))
    for entry in doc["faults"]:
        if entry["state"] in DONE_STATES:
            continue
        result = _undo_fault(entry, token)
        done.append({"ledger": str(path), "fault": entry["fault"], **result})
        if result["result"] == "undone":
            entry["state"] = SWEPT
    for process in doc["processes"]:
        if is_alive(process):
            _stop(process)
            done.append(
                {"ledger": str(path), "process": process["name"], "pid": process["pid"]}
            )
    done += _delete_routes(path, doc.get("routes"))
    if all(entry["state"] in DONE_STATES for entry in doc["faults"]):
        doc["swept_at"] = time.time()
        # The dead run never redacted its folder; its processes are gone now.
        redact_tree(path.parent, Redactor([(token, "admin_token")]))
        _forget_admin_token(path.parent)
    _write(path, doc)
    return done


def _admin_token(run_dir: Path, needed: bool = True) -> str | None:
    """The dead run's admin token, from the private file its endpoints.json names.

    A sweep cannot undo a mock fault whose token file is gone, unreadable or
    readable by others, as when it runs with another XDG_RUNTIME_DIR than the
    dead run did.
    """
    try:
        endpoints = json.loads((run_dir / "endpoints.json").read_text())
    except (OSError, ValueError):
        return None
    token_file = endpoints.get("admin_token_file")
    if token_file is None:
        # A run folder written before the token moved out of the reports tree.
        return endpoints.get("admin_token")
    try:
        return read_secrets(Path(token_file))["admin_token"]
    except (OSError, ValueError, KeyError, PrivateStateError) as exc:
        log.log(
            logging.WARNING if needed else logging.DEBUG,
            "no admin token for the sweep of %s: %s",
            run_dir,
            exc,
        )
        return None


def _forget_admin_token(run_dir: Path) -> None:
    """Once a ledger is swept, its run's private files have no use left: the
    token file, and the dead estate's mock data and configs beside it."""
    try:
        endpoints = json.loads((run_dir / "endpoints.json").read_text())
    except (OSError, ValueError):
        return
    if endpoints.get("admin_token_file"):
        Path(endpoints["admin_token_file"]).unlink(missing_ok=True)
        remove_private_dir(run_dir)


def _undo_fault(entry: dict, token: str | None) -> dict:
    action = {"kind": entry["kind"], "target": entry["target"]}
    try:
        if entry["family"] == "network":
            action["action"] = _undo_network(entry)
        elif entry["family"] == "app":
            action["action"] = _undo_app(entry, token)
        else:
            # The process was the run's own mock: its estate died with it.
            action["action"] = "nothing: the killed mock belonged to the dead run"
    except APICallError as exc:
        return {**action, "result": "unreachable", "error": str(exc)}
    return {**action, "result": "undone"}


def _undo_network(entry: dict) -> str:
    with ToxiproxyClient(entry["proxy_api"]) as proxy:
        if entry["toxic"] is None:
            proxy.update_proxy(entry["route"], enabled=True)
            return f"enabled route {entry['route']}"
        try:
            proxy.remove_toxic(entry["route"], entry["toxic"])
        except APICallError as exc:
            if exc.status != 404:
                raise
            return f"toxic {entry['toxic']} was already gone"
        return f"removed toxic {entry['toxic']} from route {entry['route']}"


def _undo_app(entry: dict, token: str | None) -> str:
    if token is None or entry.get("fault_id") is None:
        raise APICallError("DELETE", entry["admin_url"], 0, "no admin token or id")
    with MockAdminClient(entry["admin_url"], token) as admin:
        try:
            if entry["kind"] == "bad_deploy":
                admin.rollback()
            else:
                admin.remove_fault(entry["fault_id"])
        except APICallError as exc:
            if exc.status not in (404, 409):
                raise
            return f"fault {entry['fault_id']} was already gone"
    return f"removed fault {entry['fault_id']} from {entry['target']}"


def _stop(process: dict, timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, each only while the pid is still that process."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not is_alive(process):
            return
        try:
            os.kill(process["pid"], signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and is_alive(process):
            time.sleep(0.05)


def _delete_routes(path: Path, routes: dict | None) -> list[dict]:
    if not routes:
        return []
    done = []
    try:
        with ToxiproxyClient(routes["proxy_api"]) as proxy:
            existing = proxy.proxies()
            for name in routes["names"]:
                if name in existing:
                    proxy.delete_proxy(name)
                    done.append({"ledger": str(path), "route_deleted": name})
    except APICallError as exc:
        log.warning("could not delete routes on %s: %s", routes["proxy_api"], exc)
        return done
    routes["names"] = []
    return done

"""Process faults: a mock stopped by a signal (kill) or made to exit (crash).

Rollback starts the mock again, unless something (a runbook) already has:
then the rollback records that and does nothing.

Children are started with PR_SET_PDEATHSIG (harness.stack.process), which
signals them when the *thread* that started them exits; LocalStack.restart_mock
starts them from the stack's own spawner thread, so a restart asked for by a
short-lived thread outlives it.
"""

import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import Protocol

from harness.errors import FaultError
from harness.stack.local import LocalStack
from harness.stack.ports import LOOPBACK
from harness.stack.process import ManagedProcess

log = logging.getLogger(__name__)

# How long a killed or crashed mock may take to exit.
EXIT_TIMEOUT_S = 10.0


class ProcessController(Protocol):
    """What process faults need of the estate."""

    def pid(self, name: str) -> int | None: ...  # None when it does not run

    def port(self, name: str) -> int: ...

    def kill(self, name: str, signum: int) -> int: ...  # the pid signalled

    def wait_exit(self, name: str, timeout_s: float) -> bool: ...

    def restart(self, name: str) -> int: ...  # the new pid


class LocalProcesses:
    """The mocks of one LocalStack, stopped by PID and restarted by the stack."""

    def __init__(self, stack: LocalStack, on_started: Callable[[str, int], None]):
        self.stack = stack
        self.on_started = on_started

    def _process(self, name: str) -> ManagedProcess:
        return next(p for p in reversed(self.stack.processes) if p.name == name)

    def pid(self, name: str) -> int | None:
        process = self._process(name)
        return process.pid if process.running() else None

    def port(self, name: str) -> int:
        return self.stack.mock_ports[name]

    def kill(self, name: str, signum: int) -> int:
        # Popen signals only a child it has not reaped, so the PID is ours.
        process = self._process(name)
        process.popen.send_signal(signum)
        return process.pid

    def wait_exit(self, name: str, timeout_s: float) -> bool:
        process = self._process(name)
        deadline = time.monotonic() + timeout_s
        while process.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def restart(self, name: str) -> int:
        pid = self.stack.restart_mock(name).pid
        self.on_started(name, pid)
        return pid


class ProcessFaults:
    """Kills or crashes mocks, checks they are down, and starts them again."""

    family = "process"

    def __init__(self, processes: ProcessController, admin: dict):
        self.processes = processes
        self.admin = admin

    def undo_record(self, fault) -> dict:
        pid = self.processes.pid(fault.service)
        return {"pid": pid, "port": self.processes.port(fault.service)}

    def apply(self, fault) -> dict:
        name = fault.service
        pid = self.processes.pid(name)
        if pid is None:
            raise FaultError(f"mock {name} is not running, so it cannot be stopped")
        if fault.kind == "kill":
            signum = signal.Signals[f"SIG{fault.attributes['signal']}"]
            self.processes.kill(name, signum)
        else:
            self.admin[name].add_fault("crash", **fault.attributes)
        timeout_s = EXIT_TIMEOUT_S + fault.attributes.get("after_ms", 0) / 1000
        if not self.processes.wait_exit(name, timeout_s):
            raise FaultError(
                f"mock {name} (pid {pid}) still runs {timeout_s:g} s after the "
                f"{fault.kind} fault"
            )
        return {"pid": pid}

    def drift(self, fault, applied: dict) -> str | None:
        if self.processes.pid(fault.service) is not None:
            # Restarted by a runbook: that is remediation, not a lost fault.
            return None
        if _port_answers(self.processes.port(fault.service)):
            return f"port {self.processes.port(fault.service)} still accepts"
        return None

    def gone(self, fault, applied: dict) -> bool:
        return self.processes.pid(fault.service) is not None

    def take_off(self, fault, applied: dict) -> dict:
        pid = self.processes.pid(fault.service)
        if pid is not None:
            log.info("mock %s already runs again (pid %s)", fault.service, pid)
            return {"already_running": True, "pid": pid}
        return {"already_running": False, "pid": self.processes.restart(fault.service)}

    def forget(self, fault) -> None:
        pass

    def effect_query(self, fault) -> tuple[str, str]:
        # Over a range, so a mock a runbook restarted at once still counts.
        return (
            f'min(min_over_time(up{{job="{fault.service}"}}[{{window}}])) == 0',
            fault.service,
        )


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False

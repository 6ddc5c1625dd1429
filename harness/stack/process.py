"""Child processes of the harness: started in their own session, stopped by PID.

Each child gets its own process group, so a Ctrl-C in the terminal reaches only
the harness, which then rolls back faults before it stops the children. On
Linux a child is also told to exit when the harness dies (PR_SET_PDEATHSIG),
so a killed harness never leaves servers behind.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from harness.errors import StackError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """One child process with its log file, started and stopped by the harness."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env.update(self.env or {})
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            log_file.close()
            raise StackError(
                f"{self.name}: cannot start {self.argv[0]!r}: {exc}"
            ) from exc
        self._log_file = log_file
        log.info("started process %s (pid %s)", self.name, self.pid)
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """Stop the child by PID: SIGTERM, then SIGKILL after timeout_s."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("process ignored SIGTERM, killing: %s", self.name)
                self.popen.kill()
                self.popen.wait(timeout_s)
        self._log_file.close()
        return self.popen.returncode

    def wait_until(
        self, ready: Callable[[], bool], timeout_s: float, what: str
    ) -> None:
        """Poll ready() until it is true; fail early if the child exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise StackError(
                    f"{self.name} exited with code {self.popen.returncode} "
                    f"before {what}; last lines of {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.1)
        raise StackError(
            f"{self.name} did not become ready ({what}) within {timeout_s} s; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def wait_http_ok(self, url: str, timeout_s: float = 20.0) -> None:
        """Wait until GET url answers 2xx."""

        def ok() -> bool:
            try:
                return httpx.get(url, timeout=1.0).is_success
            except httpx.HTTPError:
                return False

        self.wait_until(ok, timeout_s, f"GET {url} answers 2xx")


def stop_all(processes: Sequence[ManagedProcess]) -> None:
    """Stop processes by PID, newest first; a failure to stop one is logged,
    never raised, so the rest are still stopped."""
    for process in reversed(processes):
        try:
            process.stop()
        except Exception:
            log.warning(
                "could not stop %s (pid %s)", process.name, process.pid, exc_info=True
            )

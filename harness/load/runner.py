"""Runs the locustfile in its own `locust` process and reads back what it measured.

Locust runs on gevent, which must never share a process with the harness's
asyncio code, so the harness only ever talks to Locust through files: the
settings JSON going in, the CSV and JSON stats coming out. The process gets
--run-time, so it stops by itself even if the harness dies without stopping it.

Locust also reads LOCUST_* environment variables and ~/.locust.conf; the
options passed here override those, but any other option set there (for
example a stop timeout) still applies to the run.
"""

import enum
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

from harness.errors import ConfigError, HarnessError, StackError
from harness.load.results import LoadResult, read_result
from harness.load.settings import CLOSED_MODEL, CONFIG_ENV_VAR, LoadSettings
from harness.stack.ports import LOOPBACK
from harness.stack.process import ManagedProcess

log = logging.getLogger(__name__)

LOCUSTFILE = Path(__file__).resolve().with_name("journeys.py")
OPEN_MODEL_USER_CLASS = "ArrivalDriver"
CLOSED_MODEL_USER_CLASS = "ClosedModelUser"
CSV_PREFIX = "locust"
READY_TIMEOUT_S = 30.0
EXIT_GRACE_S = 30.0
SIGTERM_GRACE_S = 10.0

# Locust exits 1 when any request failed, which is a result, not a crash.
NORMAL_EXIT_CODES = (0, 1)


class LoadRunState(enum.Enum):
    CREATED = "created"  # settings checked and nothing started yet
    RUNNING = "running"  # locust started and its first arrival is scheduled
    FINISHED = "finished"  # locust has exited; the result was read or failed


class LoadRun:
    """One Locust process offering a mix of journeys, open or closed model."""

    def __init__(
        self,
        settings: LoadSettings,
        out_dir: Path,
        run_time_s: int,
        name: str = "load",
    ):
        _check_run_time(name, run_time_s)
        self.settings = settings
        self.out_dir = Path(out_dir)
        self.run_time_s = run_time_s
        self.name = name
        self.state = LoadRunState.CREATED
        self.result: LoadResult | None = None
        self.process = ManagedProcess(
            name,
            self.command(),
            self.out_dir / "locust.log",
            env={CONFIG_ENV_VAR: str(self.settings_path)},
            cwd=self.out_dir,
        )

    @property
    def settings_path(self) -> Path:
        return self.out_dir / "load-settings.json"

    @property
    def csv_prefix(self) -> Path:
        return self.out_dir / CSV_PREFIX

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def command(self) -> list[str]:
        """The locust command line this run starts."""
        if self.settings.model == CLOSED_MODEL:
            # Every user at once: a ramp would be a load shape of its own.
            users, user_class = self.settings.users, CLOSED_MODEL_USER_CLASS
        else:
            users, user_class = 1, OPEN_MODEL_USER_CLASS
        return [
            str(_locust_executable()),
            "--locustfile",
            str(LOCUSTFILE),
            "--headless",
            # Headless serves no web UI; the host is pinned in case that changes.
            "--web-host",
            LOOPBACK,
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{self.run_time_s}s",
            "--csv",
            str(self.csv_prefix),
            "--csv-full-history",
            "--only-summary",
            "--loglevel",
            "INFO",
            user_class,
        ]

    def start(self, ready_timeout_s: float = READY_TIMEOUT_S) -> "LoadRun":
        """Start locust and return once its arrival schedule is running."""
        self._require(LoadRunState.CREATED, "start()")
        self._require_fresh_out_dir()
        self.settings.write(self.settings_path)
        self.process.start()
        self.state = LoadRunState.RUNNING
        try:
            self.process.wait_until(
                self._journeys_started, ready_timeout_s, "its first journey counts"
            )
        except StackError:
            self.process.stop(SIGTERM_GRACE_S)
            self.state = LoadRunState.FINISHED
            raise
        log.info(
            "load run %s started (pid %s): %s",
            self.name,
            self.pid,
            shlex.join(self.process.argv),
        )
        return self

    def wait(self, grace_s: float = EXIT_GRACE_S) -> LoadResult:
        """Wait for --run-time to end the run, then read its result."""
        self._require(LoadRunState.RUNNING, "wait()")
        try:
            self.process.popen.wait(self.run_time_s + grace_s)
        except subprocess.TimeoutExpired:
            log.warning(
                "load run %s outlived --run-time by %s s; stopping it",
                self.name,
                grace_s,
            )
        return self._finish()

    def stop(self) -> LoadResult:
        """End the run now (SIGTERM by PID; Locust still writes its stats)."""
        self._require(LoadRunState.RUNNING, "stop()")
        return self._finish()

    def __enter__(self) -> "LoadRun":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self.state is LoadRunState.RUNNING:
            self.stop()

    def _finish(self) -> LoadResult:
        exit_code = self.process.stop(SIGTERM_GRACE_S)
        self.state = LoadRunState.FINISHED
        if exit_code not in NORMAL_EXIT_CODES:
            raise StackError(
                f"{self.name}: locust exited with code {exit_code}; its stats "
                f"under {self.out_dir} may be incomplete; last lines of "
                f"{self.process.log_path}:\n{self.process.log_tail()}"
            )
        self.result = read_result(self.csv_prefix, exit_code, self.settings.percentiles)
        log.info(
            "load run %s finished: %s journeys started, %s requests, %s failures",
            self.name,
            self.result.journeys.started,
            self.result.aggregated.request_count,
            self.result.aggregated.failure_count,
        )
        return self.result

    def _require_fresh_out_dir(self) -> None:
        # Files of an earlier run would pass for this run's readiness and stats.
        self.out_dir.mkdir(parents=True, exist_ok=True)
        earlier = sorted(p.name for p in self.out_dir.glob(f"{CSV_PREFIX}_*"))
        if earlier:
            raise ConfigError(
                f"{self.name}: out_dir {self.out_dir} already holds load results "
                f"({', '.join(earlier[:3])}, ...); expected an empty folder per run"
            )

    def _journeys_started(self) -> bool:
        return Path(f"{self.csv_prefix}_journeys.json").exists()

    def _require(self, state: LoadRunState, action: str) -> None:
        if self.state is not state:
            raise HarnessError(
                f"load run {self.name!r} is {self.state.value}; {action} needs a "
                f"{state.value} run"
            )


def _check_run_time(name: str, run_time_s: object) -> None:
    whole = isinstance(run_time_s, int) and not isinstance(run_time_s, bool)
    if not whole or run_time_s < 1:
        raise ConfigError(
            f"{name}: field 'run_time_s' is {run_time_s!r}; expected a whole "
            "number of seconds >= 1 (Locust's --run-time has 1 s resolution)"
        )


def _locust_executable() -> Path:
    # The locust beside this interpreter is the one whose gevent and locust
    # versions were installed with the harness.
    path = Path(sys.executable).parent / "locust"
    if not os.access(path, os.X_OK):
        raise StackError(
            f"no locust executable at {path}; install locust into the "
            f"environment of {sys.executable}"
        )
    return path

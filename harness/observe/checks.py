"""Validate generated files with the tools that ship with Prometheus.

A rule or config the real programs refuse would only show up as an alert that
never fires, so every generated file can be checked before an experiment runs.
"""

import logging
import subprocess
from pathlib import Path

from harness.errors import ConfigError, StackError
from harness.observe.binaries import Binaries

log = logging.getLogger(__name__)

# Generated rule tests of every objective take tens of seconds on a busy machine.
_CHECK_TIMEOUT_S = 300.0


def check_rules(binaries: Binaries, path: Path) -> str:
    """Run `promtool check rules`; return its output or raise ConfigError."""
    return _run([binaries.promtool, "check", "rules", path], "promtool check rules")


def run_rule_tests(binaries: Binaries, path: Path, *more: Path) -> str:
    """Run `promtool test rules` on one or more unit-test files of rules."""
    return _run(
        [binaries.promtool, "test", "rules", path, *more], "promtool test rules"
    )


def check_prometheus_config(binaries: Binaries, path: Path) -> str:
    """Run `promtool check config` (which also checks the rule files it names)."""
    return _run([binaries.promtool, "check", "config", path], "promtool check config")


def check_alertmanager_config(binaries: Binaries, path: Path) -> str:
    """Run `amtool check-config`; return its output or raise ConfigError."""
    return _run([binaries.amtool, "check-config", path], "amtool check-config")


def _run(argv: list, what: str) -> str:
    argv = [str(part) for part in argv]
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=_CHECK_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{what}: cannot run {argv!r}: {exc}") from exc
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise ConfigError(
            f"{what} refused {argv[-1]} (exit {result.returncode}):\n{output}"
        )
    log.debug("%s passed: %s", what, argv[-1])
    return output

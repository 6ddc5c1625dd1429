"""`harness up`: the whole estate, running until interrupted, for people to explore."""

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from harness.config import DEFAULT_CONFIG_DIR, load_estate
from harness.errors import ConfigError, HarnessError
from harness.observe.pager import PagerStub, journal_entry
from harness.observe.webhook import WebhookSink
from harness.remediate.actions import ActionExecutor
from harness.remediate.controller import RemediationController
from harness.report.journal import Journal
from harness.report.redact import estate_redactor, redact_tree
from harness.stack.local import LocalStack

log = logging.getLogger(__name__)


# How often harness up looks for parts that exited.
WATCH_INTERVAL_S = 1.0


def serve_estate(
    config_dir: Path | None,
    run_dir: Path | None,
    as_json: bool = False,
    runbooks: bool = True,
) -> int:
    estate = load_estate(config_dir or DEFAULT_CONFIG_DIR)
    own_dir = run_dir is None
    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="harness-up-")).resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--run-dir {str(run_dir)!r} is a file; expected a folder")
    journal = Journal(run_dir, "up")
    parts: dict = {}
    stop = threading.Event()

    def on_alert(event) -> None:
        journal.record(
            "alert_notified",
            alertname=event.alertname,
            status=event.status,
            fingerprint=event.fingerprint,
        )
        if "controller" in parts:
            parts["controller"].on_alert(
                event.alertname, event.fingerprint, event.status
            )

    def on_page(event) -> None:
        kind, fields = journal_entry(event, estate.alerting.tickets.key)
        journal.record(kind, **fields)

    sink = WebhookSink(on_alert=on_alert)
    pager = PagerStub(on_event=on_page)
    stack = None

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # Until the estate is up, a signal interrupts start-up at once; once it is
    # up, a signal asks the wait below to end. Clean-up ignores further ones.
    previous = {
        s: signal.signal(s, raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        sink.start()
        pager.start()
        stack = LocalStack(estate, run_dir, sink.url, pager_url=pager.url)
        endpoints = stack.start()
        executor = ActionExecutor(endpoints.services, endpoints.admin_token)
        if runbooks:
            parts["controller"] = RemediationController(
                estate.runbooks, executor, journal
            )
        for signum in previous:
            signal.signal(signum, lambda *_: stop.set())
        restart = threading.Event()
        signal.signal(signal.SIGHUP, lambda *_: restart.set())
        if as_json:
            described = json.loads(endpoints.as_json())
            described["harness_pid"] = os.getpid()
            print(json.dumps(described, indent=2, sort_keys=True), flush=True)
        else:
            print(_describe(endpoints), flush=True)
        _watch(stack, stop, restart, journal)
    except KeyboardInterrupt:
        print("interrupted during start-up; stopping what had started", file=sys.stderr)
        return_code = 2
    else:
        return_code = 0
    finally:
        for signum in previous:
            signal.signal(signum, lambda *_: None)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if "controller" in parts:
            parts["controller"].shutdown()
        if stack is not None:
            stack.stop()
        sink.stop()
        pager.stop()
        journal.close()
        if own_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif stack is not None:
            # A kept folder is a report like any run's: no secret stays in it.
            redact_tree(run_dir, estate_redactor(estate, stack.admin_token))
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return return_code


def _describe(endpoints) -> str:
    lines = [
        f"estate is up (Ctrl-C stops it; kill -HUP {os.getpid()} restarts mocks "
        "that exited):",
        f"  fault proxy API  {endpoints.proxy_api} ({endpoints.proxy_kind})",
        f"  prometheus       {endpoints.prometheus}",
        f"  alertmanager     {endpoints.alertmanager}",
        f"  alert webhook    {endpoints.webhook}",
        f"  pager (stub)     {endpoints.pager} (PagerDuty /v2/enqueue, Opsgenie "
        "/v2/alerts)",
        f"  synthetic probes {endpoints.synthetic or '(no journey declared)'}",
        f"  admin token      {endpoints.admin_token}",
        "services (direct, and through their front route):",
    ]
    lines += [
        f"  {name:<16} {url} (through the proxy: {endpoints.front.get(name)})"
        for name, url in endpoints.services.items()
    ]
    lines.append("external systems:")
    lines += [f"  {name:<22} {url}" for name, url in endpoints.externals.items()]
    lines.append("fault-proxy routes (caller_to_callee -> listen address):")
    lines += [f"  {name:<38} {listen}" for name, listen in endpoints.routes.items()]
    lines.append(f"run folder (removed on exit unless --run-dir): {endpoints.run_dir}")
    return "\n".join(lines)


def _watch(
    stack: LocalStack,
    stop: threading.Event,
    restart: threading.Event,
    journal: Journal,
) -> None:
    """Wait for a stop signal; say when a part exits, restart mocks on SIGHUP.

    A crash fault makes a mock exit on purpose, and what an SRE wants next is
    to see the alert, then bring the mock back: `kill -HUP <harness pid>`.
    """
    reported: set[int] = set()
    while not stop.wait(WATCH_INTERVAL_S):
        for process in list(stack.processes):
            if process.running() or process.pid in reported:
                continue
            reported.add(process.pid)
            code = process.popen.poll()
            journal.record("process_exited", part=process.name, exit_code=code)
            print(
                f"{process.name} (pid {process.pid}) exited with code {code}; "
                f"send SIGHUP to pid {os.getpid()} to restart exited mocks",
                file=sys.stderr,
                flush=True,
            )
        if restart.is_set():
            restart.clear()
            _restart_exited_mocks(stack, journal)


def _restart_exited_mocks(stack: LocalStack, journal: Journal) -> None:
    for process in list(stack.processes):
        if process.running() or process.name not in stack.mock_ports:
            continue
        try:
            fresh = stack.restart_mock(process.name)
        except HarnessError as exc:
            print(f"could not restart {process.name}: {exc}", file=sys.stderr)
            continue
        journal.record("process_restarted", part=process.name, pid=fresh.pid)
        print(
            f"restarted {process.name} (pid {fresh.pid})", file=sys.stderr, flush=True
        )

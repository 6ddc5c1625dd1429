"""Running one experiment: estate up, load on, steady state, faults, verdict.

Lifecycle recorded in the journal: steady state checked -> fault injected ->
detected (alert notified) -> triaged (cause alert notified) -> mitigated
(runbook finished) -> resolved (SLO back, alert resolved) -> rolled back.
Whatever ends the run (a failure, an exception, a halt condition, Ctrl-C,
SIGTERM, `harness abort` or its upper bound), every fault is rolled back and
every process it started is stopped before it returns.
"""

import json
import logging
import math
import secrets
import signal
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.config import DEFAULT_CONFIG_DIR, Estate, load_estate
from harness.errors import ConfigError, FaultError, HarnessError
from harness.experiment.config_record import run_config
from harness.experiment.deadlines import (
    alert_deadlines,
    load_checked,
    matching_rules,
)
from harness.experiment.estate import ExperimentEstate, SharedEstate
from harness.experiment.faults import FaultInjector, sweep_stale
from harness.experiment.faults.factory import local_faults
from harness.experiment.halt import Halted, HaltWatcher
from harness.experiment.lifecycle import record_lifecycle
from harness.experiment.limits import RunBound, Watchdog
from harness.experiment.measured import held_since
from harness.experiment.registry import RunRegistration
from harness.experiment.schema import Experiment
from harness.experiment.series import capture_load_series, capture_prometheus_series
from harness.experiment.verdict import (
    Observed,
    Status,
    Verdict,
    judge,
    judge_integrity,
    notification_matches,
)
from harness.experiment.watch import (
    AlertStateWatcher,
    MeasuredSeriesWatcher,
    SLOWatcher,
)
from harness.gameday_plan import GamedayPlan, roles_of
from harness.integrity import StoredRecords, check_all, read_accepted_ids
from harness.load.runner import LoadRun, LoadSettings
from harness.load.settings import ACCEPTED_RECORDS_SUFFIX
from harness.observe.pager import PagerEvent, journal_entry
from harness.observe.prometheus import PrometheusAPI
from harness.observe.rules import alert_rules
from harness.private_state import (
    SECRETS_FILE,
    private_dir,
    remove_private_dir,
    write_secrets,
)
from harness.rca import analyse_run, fault_windows, scored
from harness.remediate.factory import build_remediation
from harness.report.html import write_report_html
from harness.report.impact import impact_of, measure_budget
from harness.report.journal import Journal, JournalListener
from harness.report.postmortem import write_postmortem
from harness.report.redact import (
    Redactor,
    estate_redactor,
    redact_tree,
    write_report_json,
)
from harness.report.summary import write_summary
from harness.stack.local import Endpoints

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
# How often the runner reads faults back from the proxy while they are live.
LIVENESS_CHECK_S = 1.0


class Interrupted(BaseException):
    """Raised in the main thread when the run is told to stop by a signal."""


@dataclass(frozen=True)
class RunOptions:
    reports_dir: Path = REPO_ROOT / "reports"
    config_dir: Path = DEFAULT_CONFIG_DIR
    without_alerts: tuple[str, ...] = ()
    disabled_runbooks: tuple[str, ...] = ()
    # Told of every journal event and sample, such as the live progress display.
    journal_listeners: tuple[JournalListener, ...] = ()
    # Shared with the front door's log filter, so the logs learn the run's
    # secrets too; each run makes its own when there is none.
    redactor: Redactor | None = None
    plan: GamedayPlan | None = None  # the game day's incident roles


@dataclass
class RunResult:
    experiment: str
    run_id: str
    report_dir: Path
    verdict: Verdict
    deadlines: dict = field(default_factory=dict)
    interrupted: bool = False  # a signal stopped the run; callers should stop too


def new_run_id(name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{name}-{secrets.token_hex(2)}"


def run_experiment(
    path: Path,
    options: RunOptions = RunOptions(),
    shared: SharedEstate | None = None,
) -> RunResult:
    """Validate and run one experiment file; never raises for a bad experiment.

    With shared, the experiment borrows that running estate; without, it
    starts an estate of its own in its run folder and stops it at the end.
    """
    path = Path(path)
    try:
        estate = load_estate(options.config_dir)
    except ConfigError as exc:
        return _invalid(path, f"invalid configuration: {exc}")
    try:
        _check_options(estate, options)
        experiment = load_checked(path, estate)
    except ConfigError as exc:
        return _invalid(path, f"invalid experiment: {exc}")
    return ExperimentRun(estate, experiment, options, shared).execute()


def _check_options(estate: Estate, options: RunOptions) -> None:
    reports = Path(options.reports_dir)
    if reports.exists() and not reports.is_dir():
        raise ConfigError(
            f"reports folder {str(reports)!r} is a file; expected a folder (it is "
            "created when missing)"
        )
    names = {rule.name for rule in alert_rules(estate)}
    for name in options.without_alerts:
        if name not in names:
            raise ConfigError(
                f"--without-alert {name!r}: no such alert; "
                f"known: {', '.join(sorted(names))}"
            )
    for name in options.disabled_runbooks:
        if name not in estate.runbooks:
            raise ConfigError(
                f"--disable-runbook {name!r}: no such runbook; "
                f"known: {', '.join(sorted(estate.runbooks))}"
            )


def _invalid(path: Path, reason: str) -> RunResult:
    """Nothing ran, so nothing is written: the reason is the whole report."""
    return RunResult(path.stem, "", None, Verdict(Status.ERROR, reason=reason))


class ExperimentRun:
    """One execution of one validated experiment."""

    def __init__(
        self,
        estate: Estate,
        experiment: Experiment,
        options: RunOptions,
        shared: SharedEstate | None = None,
    ):
        self.estate = estate
        self.experiment = experiment
        self.options = options
        self.shared = shared
        self.run_id = new_run_id(experiment.name)
        self.run_dir = options.reports_dir / self.run_id
        self.redactor = options.redactor or Redactor()
        for value, kind in estate_redactor(estate).secrets().items():
            self.redactor.add_secret(value, kind)
        self.journal = Journal(
            self.run_dir,
            self.run_id,
            listeners=options.journal_listeners,
            redactor=self.redactor,
        )
        self.rules = alert_rules(estate)
        self.deadlines = self._deadlines()
        # Read before anything runs: the files as they were when the run began.
        self.config = self._config_record()
        self.interrupted = False
        self._requested: list[str] = []  # signals asking the run to stop
        self._parts: dict = {}
        self.registration = RunRegistration(self.run_id, self.run_dir)
        self.bound = RunBound(
            experiment.steady_state_s,
            experiment.fault_window_s,
            self._longest_resolve_s(),
        )

    def _config_record(self) -> dict:
        options = self.options
        return run_config(
            self.experiment.path,
            options.config_dir,
            {
                "config_dir": str(options.config_dir),
                "reports_dir": str(options.reports_dir),
                "without_alerts": list(options.without_alerts),
                "disabled_runbooks": list(options.disabled_runbooks),
                "shared_estate": self.shared is not None,
            },
        )

    def _deadlines(self) -> dict:
        per_alert = alert_deadlines(self.estate, self.experiment)
        return {
            "detect": {key: d.detect for key, d in per_alert.items()},
            "floor": {key: d.floor for key, d in per_alert.items()},
            "resolve": {key: d.resolve for key, d in per_alert.items()},
        }

    def _longest_resolve_s(self) -> float:
        """How long after rollback the run goes on: the longest any expected
        alert may take to resolve, or an SLO to be back and held."""
        totals = [d.total_s for d in self.deadlines["resolve"].values()]
        totals.append(self.experiment.measured.settle_s)
        if self.experiment.measured:
            totals.append(2 * self._metrics_lag_s())
        return max(totals, default=self.estate.observability.rate_window_s)

    def _metrics_lag_s(self) -> float:
        """How late a counter's change shows: one scrape, one watcher poll."""
        return 2 * self.estate.observability.scrape_interval_s

    def execute(self) -> RunResult:
        verdict = Verdict(Status.ERROR, reason="the run did not finish")
        self.journal.record(
            "run_started",
            experiment=self.experiment.name,
            hypothesis=self.experiment.hypothesis,
            steady_state_s=self.bound.steady_state_s,
            fault_window_s=self.bound.fault_window_s,
            resolve_s=self.bound.resolve_s,
            bound_s=self.bound.total_s,
            **self._deliberate_breakage(),
        )
        watchdog = Watchdog(self.bound)
        try:
            with _signals_requested() as self._requested:
                self.registration.register()
                watchdog.start()
                verdict = self._run()
        except Interrupted as exc:
            verdict = self._interrupted(str(exc), watchdog)
        except KeyboardInterrupt:
            verdict = self._interrupted("SIGINT")
        except Halted as exc:
            log.warning("run halted: %s", exc)
            verdict = Verdict(Status.ABORTED, reason=str(exc))
        except HarnessError as exc:
            log.error("run failed: %s", exc)
            log.debug("run failure", exc_info=True)
            verdict = Verdict(Status.ERROR, reason=str(exc))
        except Exception as exc:
            # A bug of the harness is still an error verdict with a report,
            # never a traceback that leaves faults or processes behind.
            log.exception("internal error of the harness")
            verdict = Verdict(Status.ERROR, reason=f"internal error: {exc!r}")
        finally:
            watchdog.cancel()
            if self._requested and not self.interrupted:
                # A signal came while a call was stuck, and the call failed
                # before the run reached a safe point: the stop it asked for
                # (an abort, the run's bound) is the verdict.
                verdict = self._interrupted(self._requested[0], watchdog)
            with _signals_ignored() as received:
                try:
                    verdict = self._clean_up(verdict)
                    if received and not self.interrupted:
                        verdict = self._interrupted(
                            f"{received[0]} during clean-up (the verdict before it "
                            f"was: {verdict.status.value})"
                        )
                finally:
                    # Only now: an abort's reason file is read above.
                    self.registration.remove()
        return self._finish(self._with_partial_measurements(verdict))

    def _deliberate_breakage(self) -> dict:
        """What this run switched off on purpose, so no report mistakes it for a bug."""
        breakage = {}
        if self.options.without_alerts:
            breakage["alert_rules_removed"] = list(self.options.without_alerts)
        if self.options.disabled_runbooks:
            breakage["runbooks_disabled"] = list(self.options.disabled_runbooks)
        return breakage

    def _interrupted(
        self, signal_name: str, watchdog: Watchdog | None = None
    ) -> Verdict:
        self.interrupted = True
        aborted_by = self.registration.abort_reason()
        if aborted_by is not None:
            self.journal.record("interrupted", signal=signal_name, by=aborted_by)
            return Verdict(Status.ABORTED, reason=f"aborted by {aborted_by}")
        if watchdog is not None and watchdog.overran:
            self.journal.record("interrupted", signal=signal_name, by="run bound")
            return Verdict(
                Status.ERROR,
                reason=f"the run overran its upper bound of {self.bound.describe()}",
            )
        self.journal.record("interrupted", signal=signal_name)
        return Verdict(Status.ERROR, reason=f"interrupted by {signal_name}")

    def _with_partial_measurements(self, verdict: Verdict) -> Verdict:
        """An error or abort still reports what was measured before it."""
        if verdict.status in (Status.PASSED, Status.FAILED):
            return verdict
        if self.journal.first("fault_injected") is None:
            return verdict
        partial = self._judge(record=False)
        verdict.measurements = {**partial.measurements, **verdict.measurements}
        return verdict

    def _check_interrupt(self) -> None:
        """Stop at a safe point when a signal asked to: never in the middle of
        starting a process or writing the ledger."""
        if self._requested:
            raise Interrupted(self._requested[0])

    def _run(self) -> Verdict:
        self._check_interrupt()
        endpoints = self._start_estate()
        self._check_interrupt()
        self._start_watchers(endpoints)
        self._start_load(endpoints)
        self._check_interrupt()
        failing = self._steady_state()
        if failing:
            return Verdict(
                Status.ABORTED,
                reason=f"steady state not met for {', '.join(failing)} (SLO burning "
                "or no traffic at the end of the steady state); no fault was injected",
            )
        self._start_halt_watch()
        self._run_faults()
        self._await_resolution()
        return self._judge()

    def _start_halt_watch(self) -> None:
        if not self.experiment.halt:
            return
        watcher = HaltWatcher(
            self.experiment.halt,
            self._parts["prometheus_api"],
            self.journal,
            self.estate,
            clock=time.monotonic,
        )
        self._parts["halt_watcher"] = watcher
        watcher.start()

    def _check_halt(self) -> None:
        watcher = self._parts.get("halt_watcher")
        if watcher is not None:
            watcher.check()

    def _start_estate(self) -> Endpoints:
        """Borrow the clean estate (starting one when none is shared) with
        fresh monitoring, then build this experiment's controls on it."""
        self.journal.record(
            "ledger_swept", undone=sweep_stale(self.options.reports_dir)
        )
        shared = self.shared
        if shared is None:
            shared = SharedEstate(self.estate, self.run_dir)
            self._parts["own_estate"] = shared
            shared.start()
        lease = ExitStack()
        self._parts["lease"] = lease
        lent = lease.enter_context(
            shared.experiment(
                self.run_dir,
                self._on_alert,
                self._on_page,
                without_alerts=self.options.without_alerts,
            )
        )
        self._parts["estate"] = lent
        self._parts["endpoints"] = lent.endpoints
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.redactor.add_secret(lent.endpoints.admin_token, "admin_token")
        self._write_endpoints(lent.endpoints)
        self.journal.record(
            "stack_up",
            proxy=lent.endpoints.proxy_kind,
            prometheus=lent.endpoints.prometheus,
            alertmanager=lent.endpoints.alertmanager,
            shared=self.shared is not None,
            reset=list(lent.reset),
        )
        self._build_controls(lent)
        return lent.endpoints

    def _write_endpoints(self, endpoints: Endpoints) -> None:
        """endpoints.json names where the admin token is kept, never the token:
        a sweep reads it from there to undo this run's mock faults."""
        secrets_path = write_secrets(
            private_dir(self.run_dir) / SECRETS_FILE,
            {"admin_token": endpoints.admin_token},
        )
        public = json.loads(endpoints.as_json())
        del public["admin_token"]
        public["admin_token_file"] = str(secrets_path)
        write_report_json(self.run_dir / "endpoints.json", public, self.redactor)

    def _build_controls(self, lent: ExperimentEstate) -> None:
        """The fault injector and the remediation controller of this experiment."""
        endpoints = lent.endpoints
        controller, executor = build_remediation(
            self.estate,
            {**endpoints.services, **endpoints.externals},
            endpoints.admin_token,
            self.journal,
            stack=lent.stack,
            pager_url=endpoints.pager,
            disabled=self.options.disabled_runbooks,
        )
        self._parts["executor"] = executor
        self._parts["controller"] = controller
        faults = local_faults(
            lent.stack,
            endpoints,
            self.estate.observability,
            self.journal,
            self.run_dir / "ledger.json",
        )
        self._parts["faults"] = faults
        self._parts["injector"] = faults.injector

    def _on_alert(self, event) -> None:
        self.journal.record(
            "alert_notified",
            alertname=event.alertname,
            status=event.status,
            fingerprint=event.fingerprint,
            service=event.labels.get("service", ""),
            severity=event.labels.get("severity", ""),
            repeat=event.repeat,
            labels=dict(event.labels),
            annotations=dict(event.annotations),
        )
        controller = self._parts.get("controller")
        if controller is not None:
            controller.on_alert(
                event.alertname, event.fingerprint, event.status, dict(event.labels)
            )

    def _on_page(self, event: PagerEvent) -> None:
        kind, fields = journal_entry(event, self.estate.alerting.tickets.key)
        self.journal.record(kind, **fields)

    def _alert_services(self) -> dict[str, str]:
        """The service each expected alert watches, when it watches one with an SLO."""
        services = {}
        for alert in self.experiment.alerts:
            for rule in matching_rules(self.rules, alert):
                if rule.labels.get("service") in self.estate.slos:
                    services.setdefault(alert.key, rule.labels["service"])
        return services

    def _watched_services(self) -> list[str]:
        """The services whose SLIs the run samples, and the report draws."""
        services = set(self.experiment.steady_state_services)
        services |= set(self._alert_services().values())
        if self.experiment.slo_recovered:
            services.add(self.experiment.slo_recovered.service)
        services |= set(self.experiment.measured.slo_services)
        return sorted(services)

    def _start_watchers(self, endpoints) -> None:
        api = PrometheusAPI(endpoints.prometheus)
        self._parts["prometheus_api"] = api
        watchers = [
            AlertStateWatcher(api, self.journal),
            SLOWatcher(api, self.journal, self.estate, self._watched_services()),
            MeasuredSeriesWatcher(
                api,
                self.journal,
                self.experiment.measured,
                self.estate.observability.scrape_interval_s,
            ),
        ]
        self._parts["watchers"] = watchers
        for watcher in watchers:
            watcher.start()

    def _start_load(self, endpoints) -> None:
        # A backstop: Locust stops by itself even if the harness never stops it.
        run_time_s = math.ceil(
            self.experiment.steady_state_s
            + self.experiment.fault_window_s
            + self._longest_resolve_s()
            + 60
        )
        settings = LoadSettings(
            # Every service's front door: each journey calls what it needs.
            targets=dict(endpoints.front),
            customers=self.estate.seed.customers,
            **self.experiment.load.settings_fields(),
        )
        load = LoadRun(settings, self.run_dir / "load", run_time_s=run_time_s)
        self._parts["load"] = load
        load.start()
        self._parts["faults"].injector.ledger.started("load", load.pid)
        if self.shared is not None:
            self.shared.track_load(load.pid)
        self.journal.record(
            "load_started",
            **self.experiment.load.settings_fields(),
            pid=load.pid,
        )

    def _steady_state(self) -> list[str]:
        """Wait out the steady state; return the services whose SLO did not hold."""
        obs = self.estate.observability
        until = time.monotonic() + self.experiment.steady_state_s
        while time.monotonic() < until:
            self._check_interrupt()
            time.sleep(min(0.1, max(0.0, until - time.monotonic())))
        window_s = obs.rate_window_s
        now_s = self.journal.now_s()
        failing = []
        for service in self.experiment.steady_state_services:
            samples = [
                ok
                for t, ok in self.journal.series.get(f"slo_ok:{service}", [])
                if t >= now_s - window_s
            ]
            if not samples or not all(samples):
                failing.append(service)
        self.journal.record("steady_state_checked", ok=not failing, failing=failing)
        return failing

    def _run_faults(self) -> None:
        injector = self._parts["injector"]
        start = time.monotonic()
        pending = sorted(self.experiment.faults, key=lambda f: f.start_after_s)
        live: dict[str, float] = {}
        next_check = 0.0
        while pending or live:
            self._check_halt()
            elapsed = time.monotonic() - start
            if live and elapsed >= next_check:
                self._require_live(injector)
                next_check = elapsed + LIVENESS_CHECK_S
            while pending and pending[0].start_after_s <= elapsed:
                fault = pending.pop(0)
                injector.inject(fault)
                live[fault.name] = elapsed + fault.duration_s
            for name, end_s in list(live.items()):
                if elapsed >= end_s:
                    injector.rollback(name)
                    del live[name]
            time.sleep(0.05)
            self._check_interrupt()

    def _require_live(self, injector: FaultInjector) -> None:
        lost = injector.check_live()
        if lost:
            raise FaultError(
                f"fault(s) {', '.join(lost)} were changed or removed on their target "
                "before their rollback: something else changed it, so nothing "
                "measured after that is about this experiment"
            )

    def _await_resolution(self) -> None:
        """After rollback, wait for expected alerts to resolve, or their deadline."""
        deadline = time.monotonic() + self._longest_resolve_s()
        expected = [a for a in self.experiment.alerts if a.resolves]
        rolled_back_s = self.journal.now_s()
        while time.monotonic() < deadline:
            self._check_halt()
            if all(self._resolved_since_firing(alert) for alert in expected) and (
                self._slos_settled(rolled_back_s)
            ):
                return
            time.sleep(0.25)
            self._check_interrupt()
        log.info(
            "resolve deadline passed %.1f s after rollback",
            self.journal.now_s() - rolled_back_s,
        )

    def _slos_settled(self, rolled_back_s: float) -> bool:
        """Whether every SLO expected to recover has held, and the counters
        measured expectations read have been scraped since the rollback."""
        measured = self.experiment.measured
        if not measured:
            return True
        if self.journal.now_s() < rolled_back_s + 2 * self._metrics_lag_s():
            return False
        return all(
            held_since(self.journal.series.get(f"slo_ok:{slo.service}", []), slo)
            for slo in measured.slos
            if slo.state == "breached_and_recovered"
        )

    def _resolved_since_firing(self, alert) -> bool:
        notes = [
            e
            for e in self.journal.events("alert_notified")
            if notification_matches(e, alert)
        ]
        return bool(notes) and notes[-1].fields["status"] == "resolved"

    def _judge(self, record: bool = True) -> Verdict:
        observed = Observed(
            events=self.journal.events(),
            slo_ok={
                name.split(":", 1)[1]: points
                for name, points in self.journal.series.items()
                if name.startswith("slo_ok:")
            },
            series=dict(self.journal.series),
            lag_s=self._metrics_lag_s(),
        )
        answers = {name: rb.answers for name, rb in self.estate.runbooks.items()}
        verdict = judge(
            self.experiment,
            observed,
            self.deadlines,
            answers,
            self._alert_services(),
        )
        if record and "slo_back_s" in verdict.measurements:
            self.journal.record(
                "slo_back",
                at_s=verdict.measurements["slo_back_s"],
                service=self.experiment.slo_recovered.service,
            )
        return verdict

    def _clean_up(self, verdict: Verdict) -> Verdict:
        """Roll back, undo, stop: each step runs even when an earlier one failed."""
        injector = self._parts.get("injector")
        stuck = injector.rollback_all() if injector else []
        if stuck:
            verdict = Verdict(
                Status.ERROR,
                verdict.checks,
                reason=f"faults could not be rolled back: {stuck}",
                measurements=verdict.measurements,
            )
        elif injector and injector.lost_faults and verdict.status is not Status.ERROR:
            verdict = Verdict(
                Status.ERROR,
                verdict.checks,
                reason=f"fault(s) {', '.join(injector.lost_faults)} were changed "
                "or removed on their target before their rollback",
                measurements=verdict.measurements,
            )
        steps = [
            ("halt_watcher", lambda w: w.stop()),
            ("controller", lambda c: c.shutdown()),
            ("executor", lambda e: (e.undo_all(), e.close())),
            ("load", self._stop_load),
            # While the mocks still run, and once no load writes any more.
            ("endpoints", self._check_integrity),
            # Before this experiment's Prometheus stops with the lease.
            ("prometheus_api", self._measure_budget),
            ("watchers", lambda ws: [w.stop() for w in ws]),
            # While this experiment's Prometheus still runs (it stops with the lease).
            ("prometheus_api", self._capture_series),
            ("prometheus_api", self._analyse_root_cause),
            ("prometheus_api", lambda api: api.close()),
            ("faults", lambda f: f.close()),
            # Stops this experiment's monitoring; the estate lives on.
            ("lease", lambda lease: lease.close()),
            ("own_estate", lambda estate: estate.stop()),
        ]
        for name, step in steps:
            if name in self._parts:
                try:
                    step(self._parts[name])
                except Exception:
                    log.warning("clean-up step %s failed", name, exc_info=True)
        return self._with_integrity(verdict)

    def _analyse_root_cause(self, api: PrometheusAPI) -> None:
        """Guess the root cause from the fault window's times alone, then score it
        against the injected faults."""
        kinds = ("fault_rolled_back", "load_started")
        times = {kind: [e.t_s for e in self.journal.events(kind)] for kind in kinds}
        times["fault_injected"] = [
            e.t_s - (e.fields.get("effect_seen_after_s") or 0.0)
            for e in self.journal.events("fault_injected")
        ]
        now_s = self.journal.now_s()
        windows = fault_windows(
            times, now_s, self._metrics_lag_s(), time.time() - now_s
        )
        if windows is None:
            return
        lent = self._parts.get("estate")
        log_dir = lent.stack.run_dir / "logs" if lent is not None else None
        analysis = analyse_run(api, self.estate, windows, log_dir)
        events = [asdict(e) for e in self.journal.events("fault_injected")]
        self._parts["rca"] = scored(analysis, events)

    def _check_integrity(self, endpoints) -> None:
        load = self._parts.get("load")
        accepted_path = (
            Path(f"{load.csv_prefix}{ACCEPTED_RECORDS_SUFFIX}") if load else None
        )
        accepted = read_accepted_ids(accepted_path, "claims") if load else []
        records = StoredRecords(
            {**endpoints.services, **endpoints.externals}, endpoints.admin_token
        )
        try:
            results = check_all(records, accepted)
        finally:
            records.close()
        self._parts["integrity"] = results
        self.journal.record(
            "integrity_checked", results=[result.as_dict() for result in results]
        )

    def _with_integrity(self, verdict: Verdict) -> Verdict:
        """A run that lost or doubled data fails, whatever its alerts did."""
        verdict = judge_integrity(
            verdict, self.experiment, self._parts.get("integrity")
        )
        broken = [r.name for r in self._parts.get("integrity", []) if not r.held]
        if not broken or verdict.status is not Status.PASSED:
            return verdict
        return Verdict(
            Status.FAILED,
            verdict.checks,
            reason=f"data integrity broken: {', '.join(broken)}",
            measurements=verdict.measurements,
        )

    def _stop_load(self, load: LoadRun) -> None:
        self._parts["load_result"] = load.stop()
        self.journal.record("load_stopped")
        capture_load_series(self.journal, self._parts["load_result"].journeys)

    def _measure_budget(self, api: PrometheusAPI) -> None:
        """Each watched SLO's error budget spent since the load started."""
        started = self.journal.first("load_started")
        if started is None:
            return
        # From the load's start: the steady state's bad events count too.
        window = (started.t_s, self.journal.now_s())
        try:
            self._parts["budget"] = measure_budget(
                api, self.estate, self._watched_services(), window
            )
        except Exception as exc:
            # The impact is a report's, never the verdict's: note it and go on.
            log.warning("error budget not measured", exc_info=True)
            self._parts["budget_error"] = f"not measured: {exc}"

    def _capture_series(self, api: PrometheusAPI) -> None:
        obs = self.estate.observability
        capture_prometheus_series(
            api,
            self.journal,
            self._watched_services(),
            obs.rate_window_s,
            obs.scrape_interval_s,
        )

    def _finish(self, verdict: Verdict) -> RunResult:
        try:
            record_lifecycle(self.journal, self.experiment)
        except Exception:
            # The stages are read from the journal; a bug there must not
            # cost the run its report.
            log.warning("lifecycle stages not recorded", exc_info=True)
        self.journal.record("run_finished", verdict=verdict.status.value)
        result = RunResult(
            self.experiment.name,
            self.run_id,
            self.run_dir,
            verdict,
            self.deadlines,
            interrupted=self.interrupted,
        )
        load_result = _with_fault_window(self._parts.get("load_result"), self.journal)
        self.journal.write(
            {
                "experiment": self.experiment.name,
                "hypothesis": self.experiment.hypothesis,
                "source": str(self.experiment.path),
                "deliberate_breakage": self._deliberate_breakage(),
                "verdict": _verdict_dict(verdict),
                "deadlines": {
                    kind: {key: _deadline_dict(d) for key, d in per_alert.items()}
                    for kind, per_alert in self.deadlines.items()
                },
                "load": load_result.as_dict() if load_result else None,
                "integrity": [r.as_dict() for r in self._parts.get("integrity", [])],
                "config": self.config,
                "rca": self._parts.get("rca"),
                "impact": impact_of(
                    load_result.as_dict() if load_result else None,
                    self._parts.get("budget"),
                    self._parts.get("budget_error"),
                ),
                "roles": roles_of(self.options.plan),
            }
        )
        self.journal.close()
        try:
            write_summary(
                result,
                self.journal,
                self.experiment,
                load_result,
                self._parts.get("rca"),
            )
        finally:
            # Each renders from journal.json alone; one failing costs no other.
            self._write_html()
            self._write_postmortem()
            self._redact_run_folder()
        return result

    def _write_postmortem(self) -> None:
        """postmortem.md from journal.json; a failure costs the run no other report."""
        try:
            journal = json.loads((self.run_dir / "journal.json").read_text())
            write_postmortem(self.run_dir, journal)
        except Exception:
            log.warning("postmortem.md not written", exc_info=True)

    def _write_html(self) -> None:
        """report.html from journal.json; a failure costs the run no other report."""
        try:
            journal = json.loads((self.run_dir / "journal.json").read_text())
            write_report_html(self.run_dir, journal)
        except Exception:
            log.warning("report.html not written", exc_info=True)

    def _redact_run_folder(self) -> None:
        """Every file of the run folder loses secrets and personal data, now
        that every process writing there (Locust, monitoring, an own estate's
        mocks) has stopped; the admin token's private file goes too, unless a
        fault is still live and a later sweep needs it."""
        try:
            redact_tree(self.run_dir, self.redactor)
        except Exception:
            log.warning("the run folder could not be redacted", exc_info=True)
        injector = self._parts.get("injector")
        if injector is None or not injector.ledger.live():
            remove_private_dir(self.run_dir)


def _with_fault_window(load_result, journal: Journal):
    """The load result, told when the first fault went in and the last came out.

    A fault never rolled back (the run died) acted until the load stopped.
    """
    injected = journal.events("fault_injected")
    if load_result is None or not injected:
        return load_result
    ends = journal.events("fault_rolled_back") or journal.events("load_stopped")
    if not ends:
        return load_result
    # The injection is journaled once its effect was seen, that long after
    # the fault began to act.
    seen_after_s = injected[0].fields.get("effect_seen_after_s") or 0.0
    start = datetime.fromisoformat(injected[0].wall).timestamp() - seen_after_s
    end = datetime.fromisoformat(ends[-1].wall).timestamp()
    return load_result.with_fault_window(start, max(start, end))


def _verdict_dict(verdict: Verdict) -> dict:
    return {
        "status": verdict.status.value,
        "reason": verdict.reason,
        "checks": [vars(f) for f in verdict.checks],
        "measurements": verdict.measurements,
    }


def _deadline_dict(deadline) -> dict:
    return {"total_s": deadline.total_s, "terms": dict(deadline.terms)}


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _signals_requested():
    """SIGINT and SIGTERM ask the run to stop; it stops at its next safe point.

    The handler only notes the signal. Raising from it would land anywhere,
    such as in the fork handlers of the logging module while a process
    starts, where the exception is swallowed and a lock stays held: the
    signal would be lost and the next process start would hang.
    """
    received: list[str] = []
    # Python delivers signals to the main thread only; elsewhere the caller
    # owns signal handling.
    if not _in_main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def _signals_ignored():
    """Clean-up must finish: a second Ctrl-C or SIGTERM waits for it."""
    if not _in_main_thread():
        yield []
        return

    received: list[str] = []

    def handler(signum, frame):
        received.append(signal.Signals(signum).name)
        log.warning(
            "%s received during clean-up; finishing clean-up first",
            signal.Signals(signum).name,
        )

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)

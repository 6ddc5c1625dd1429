"""The `harness` command: run experiments, hold game days, bring the estate up."""

import argparse
import json
import logging
import sys
from pathlib import Path

from harness.errors import ConfigError, HarnessError

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.progress_display = _progress_display(args)
    # Runs add their secrets to it, so the log learns them as they appear.
    args.redactor = _configure_logging(args.verbosity, args.progress_display)
    try:
        return args.handler(args)
    except ConfigError as exc:
        return _refused(args, f"harness: {exc}")
    except HarnessError as exc:
        return _refused(args, f"harness: error: {exc}")
    except OSError as exc:
        # Ports taken, folders that are files, unresolvable hosts: the user's
        # environment, not a bug, so a sentence rather than a traceback.
        return _refused(args, f"harness: error: {exc}")


def _refused(args, message: str) -> int:
    """Exit 2 with message on stderr; in JSON mode stdout still gets its document."""
    print(message, file=sys.stderr)
    if _json_output(args):
        from harness.report.verdicts import document

        print(document([], 2, error=message.removeprefix("harness: ")))
    return 2


def _json_output(args) -> bool:
    return getattr(args, "format", "text") == "json"


def _quiet(args) -> bool:
    return args.verbosity >= logging.WARNING


def _progress_display(args):
    """The live progress display on stderr, or None: `auto` shows it on a
    terminal unless the output is quiet."""
    from harness.report.progress import ProgressDisplay

    choice = getattr(args, "progress", "off")
    if getattr(args, "list", False) or choice == "off":
        return None
    if choice == "auto" and (_quiet(args) or not sys.stderr.isatty()):
        return None
    return ProgressDisplay(sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Resilience experiments for the insurer's APIs."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=logging.DEBUG,
        default=logging.INFO,
    )
    parser.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=logging.WARNING
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_gameday(commands)
    _add_validate(commands)
    _add_schema(commands)
    _add_up(commands)
    _add_proxy(commands)
    _add_compose(commands)
    _add_slo(commands)
    _add_abort(commands)
    _add_sweep(commands)
    _add_report(commands)
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=logging.WARNING,
        default=argparse.SUPPRESS,
        help="print only the verdict table, and warnings and errors on stderr",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: stdout carries one JSON document with every run's verdict, "
        "times and report paths; logs and progress stay on stderr (default: text)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="a live status line on stderr: phase, time left, error ratios, "
        "alerts firing; auto shows it on a terminal unless --quiet (default: auto)",
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_output_options(parser)
    parser.add_argument(
        "--reports",
        type=Path,
        default=None,
        metavar="DIR",
        help="where run folders are written (default: reports/)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="DIR",
        help="the estate's config folder (default: config/)",
    )
    parser.add_argument(
        "--without-alert",
        action="append",
        default=[],
        metavar="ALERT",
        help="drop this alert rule for the run",
    )
    parser.add_argument(
        "--disable-runbook",
        action="append",
        default=[],
        metavar="RUNBOOK",
        help="do not run this runbook",
    )


def _add_plan_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan",
        type=Path,
        default=None,
        metavar="FILE",
        help="game-day plan (YAML) naming the incident roles for the postmortem "
        "(example: config/gameday-plan.example.yaml)",
    )


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run experiments on one estate; exit 0 passed, 1 failed, 2 error "
        "(including aborted): the worst of the runs",
    )
    run.add_argument("paths", type=Path, nargs="+", help="experiment YAML files")
    _add_run_options(run)
    _add_plan_option(run)
    run.set_defaults(handler=_cmd_run)


def _add_gameday(commands) -> None:
    gameday = commands.add_parser(
        "gameday", help="run every experiment with a tag and print a verdict table"
    )
    gameday.add_argument(
        "paths",
        type=Path,
        nargs="*",
        help="experiment files or folders (default: experiments/)",
    )
    gameday.add_argument(
        "--tag",
        default="gameday",
        help="run experiments with this tag (default: gameday)",
    )
    _add_run_options(gameday)
    _add_plan_option(gameday)
    gameday.set_defaults(handler=_cmd_gameday)


def _add_validate(commands) -> None:
    validate = commands.add_parser(
        "validate", help="check experiment files without running them"
    )
    validate.add_argument("paths", type=Path, nargs="+")
    validate.add_argument("--config", type=Path, default=None, metavar="DIR")
    validate.set_defaults(handler=_cmd_validate)


def _add_schema(commands) -> None:
    schema = commands.add_parser(
        "schema", help="print the JSON Schema of experiment files"
    )
    schema.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="FILE",
        help="write it to FILE instead (such as docs/experiment.schema.json)",
    )
    schema.set_defaults(handler=_cmd_schema)


def _cmd_schema(args) -> int:
    from harness.experiment.json_schema import render

    if args.output is None:
        sys.stdout.write(render())
    else:
        args.output.write_text(render())
    return 0


def _add_up(commands) -> None:
    up = commands.add_parser(
        "up", help="start the whole estate and keep it up until interrupted"
    )
    up.add_argument("--json", action="store_true", help="print endpoints as JSON")
    up.add_argument("--config", type=Path, default=None, metavar="DIR")
    up.add_argument("--run-dir", type=Path, default=None, metavar="DIR")
    up.add_argument(
        "--no-runbooks",
        action="store_true",
        help="do not run runbooks when alerts fire (faults stay as injected)",
    )
    up.set_defaults(handler=_cmd_up)


def _add_proxy(commands) -> None:
    proxy = commands.add_parser("proxy", help="the Toxiproxy-compatible fault proxy")
    proxy_commands = proxy.add_subparsers(
        dest="proxy_command", required=True, metavar="COMMAND"
    )
    serve = proxy_commands.add_parser("serve", help="serve the Toxiproxy HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8474)
    serve.set_defaults(handler=_cmd_proxy_serve)


def _add_compose(commands) -> None:
    compose = commands.add_parser("compose", help="the estate in containers")
    compose_commands = compose.add_subparsers(
        dest="compose_command", required=True, metavar="COMMAND"
    )
    render = compose_commands.add_parser(
        "render", help="write docker-compose.yml and compose/ from config/"
    )
    render.add_argument("--config", type=Path, default=None, metavar="DIR")
    render.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where docker-compose.yml is written (default: .)",
    )
    render.set_defaults(handler=_cmd_compose_render)


def _cmd_compose_render(args) -> int:
    from harness.config import DEFAULT_CONFIG_DIR, load_estate
    from harness.stack.compose import write_compose_files

    estate = load_estate(args.config or DEFAULT_CONFIG_DIR)
    for path in write_compose_files(estate, args.root):
        print(path)
    return 0


def _add_slo(commands) -> None:
    slo = commands.add_parser("slo", help="SLO rules and their tests")
    slo_commands = slo.add_subparsers(
        dest="slo_command", required=True, metavar="COMMAND"
    )
    export = slo_commands.add_parser(
        "export",
        help="write the rule file and its promtool tests, checked by promtool",
    )
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--production",
        type=Path,
        metavar="DIR",
        help="production windows (1 h / 5 m, 6 h / 30 m, ...), to deploy",
    )
    target.add_argument(
        "--experiment",
        type=Path,
        metavar="DIR",
        help="windows divided by compression_factor, as experiments run them",
    )
    export.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="DIR",
        help="the estate's config folder (default: config/)",
    )
    export.set_defaults(handler=_cmd_slo_export)


def _cmd_slo_export(args) -> int:
    from harness.config import DEFAULT_CONFIG_DIR, load_estate
    from harness.observe.binaries import find_binaries
    from harness.observe.checks import (
        check_alertmanager_config,
        check_rules,
        run_rule_tests,
    )
    from harness.slo.export import export
    from harness.slo.variant import experiment, production

    estate = load_estate(args.config or DEFAULT_CONFIG_DIR)
    if args.production is not None:
        variant, folder = production(), args.production
    else:
        variant, folder = experiment(estate.observability), args.experiment
    paths = export(estate, folder, variant)
    binaries = find_binaries()
    check_rules(binaries, paths[0])
    check_alertmanager_config(binaries, paths[1])
    tests = [path for path in paths if path.name.endswith(".test.yml")]
    run_rule_tests(binaries, *tests)
    for path in paths:
        print(path)
    return 0


def _add_abort(commands) -> None:
    abort = commands.add_parser(
        "abort",
        help="stop every experiment running on this machine and roll back; exit 0 "
        "when none runs or all stopped, 1 when some could not be stopped",
    )
    abort.add_argument(
        "--grace-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long each run may take to roll back and stop before it is "
        "killed and its ledger swept (default: 90)",
    )
    abort.set_defaults(handler=_cmd_abort)


def _cmd_abort(args) -> int:
    from harness.experiment.registry import DEFAULT_GRACE_S, abort_all

    grace_s = DEFAULT_GRACE_S if args.grace_s is None else args.grace_s
    if grace_s < 0:
        raise ConfigError(
            f"--grace-s is {grace_s:g}; expected a number of seconds >= 0"
        )
    outcomes = abort_all(grace_s=grace_s, sweep=_sweep_ledger)
    if not outcomes:
        print("no experiment is running")
    for outcome in outcomes:
        print(f"{outcome.run_id} (pid {outcome.pid}): {outcome.outcome}")
    return 0 if all(o.stopped_cleanly for o in outcomes) else 1


def _add_report(commands) -> None:
    report = commands.add_parser(
        "report",
        help="render a run's summary.md and report.html again from its journal.json",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.set_defaults(handler=_cmd_report)


def _cmd_report(args) -> int:
    from harness.report.rerender import rerender

    for path in rerender(args.run_dir):
        print(f"wrote {path}")
    return 0


def _sweep_ledger(run_dir: Path) -> None:
    """Roll back what a killed run's ledger still holds."""
    from harness.experiment.faults import sweep_stale

    sweep_stale(run_dir.parent)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number; use an integer from 0 to 65535"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is out of range; use an integer from 0 to 65535"
        )
    return port


def _add_sweep(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="an outage and a latency experiment for every dependency edge, on "
        "one estate; prints which SLOs each edge can break",
    )
    sweep.add_argument(
        "--edge",
        action="append",
        default=[],
        metavar="ROUTE",
        help="only this edge, such as claims-api_to_customer-api (repeatable)",
    )
    sweep.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=("outage", "latency"),
        help="only this fault kind (repeatable; default: both)",
    )
    sweep.add_argument(
        "--latency-ms", type=_bounded(1, 600_000), default=1500, metavar="MS"
    )
    sweep.add_argument(
        "--fault-s",
        type=_bounded(1, 3600),
        default=20,
        metavar="S",
        help="how long each fault lasts (default 20)",
    )
    sweep.add_argument(
        "--steady-s",
        type=_bounded(1, 3600),
        default=10,
        metavar="S",
        help="steady state before each fault (default 10)",
    )
    sweep.add_argument(
        "--rate",
        type=_bounded(0.1, 200),
        default=8,
        metavar="PER_S",
        help="journeys per second, spread over every journey (default 8)",
    )
    sweep.add_argument(
        "--list",
        action="store_true",
        help="write the experiment files and print them; run nothing",
    )
    _add_run_options(sweep)
    sweep.set_defaults(handler=_cmd_sweep)


def _bounded(low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high or value != value:
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range; accepted: {low:g} to {high:g}"
            )
        return value

    return parse


def _cmd_sweep(args) -> int:
    from harness.config import load_estate
    from harness.errors import ConfigError
    from harness.experiment.estate import SharedEstate
    from harness.experiment.runner import run_experiment
    from harness.experiment.sweep import (
        KINDS,
        SweepSettings,
        chosen_edges,
        new_sweep_folder,
        run_sweep,
        single_points_of_failure,
        table,
        write_experiments,
        write_report,
    )

    options = _run_options(args)
    settings = SweepSettings(
        kinds=tuple(dict.fromkeys(args.kind)) or KINDS,
        edges=tuple(dict.fromkeys(args.edge)),
        latency_ms=args.latency_ms,
        steady_s=args.steady_s,
        fault_s=args.fault_s,
        arrival_rate_per_s=args.rate,
    )
    try:
        estate = load_estate(options.config_dir)
        chosen_edges(estate, settings)
    except ConfigError as exc:
        return _refused(args, f"error: {exc}")
    folder = new_sweep_folder(options.reports_dir)
    if args.list:
        written = write_experiments(estate, settings, folder / "experiments")
        paths = [str(path) for _, _, path in written]
        if _json_output(args):
            print(json.dumps({"exit_code": 0, "experiments": paths}, indent=2))
        else:
            print("\n".join(paths))
        return 0
    runs = []

    def run(path):
        runs.append(run_experiment(path, options, shared))
        return runs[-1]

    quiet = _json_output(args) or _quiet(args)
    as_it_ends = (lambda result: None) if quiet else _print_edge
    with SharedEstate(estate, folder / "estate") as shared:
        results = run_sweep(
            estate,
            settings,
            folder / "experiments",
            run,
            on_result=as_it_ends,
        )
    report = write_report(folder, settings, results)
    spof = single_points_of_failure(results)
    ran = all(r.verdict in ("passed", "failed") for r in results)
    code = 0 if ran and results else 2
    if _json_output(args):
        _print_verdicts(
            args,
            runs,
            code,
            edges=[vars(r) for r in results],
            single_points_of_failure=[
                {"edge": edge, "breaks": slos} for edge, slos in spof
            ],
            report=str(report),
        )
        return code
    print(table(results))
    print("single points of failure:")
    for edge, slos in spof or [("none", [])]:
        print(f"  {edge}: {', '.join(slos)}" if slos else "  none")
    print(f"sweep report: {report}")
    return code


def _print_edge(result) -> None:
    broken = ", ".join(result.broken) or "none"
    line = f"{result.edge} {result.kind}: {result.verdict}; broken: {broken}"
    print(line, flush=True)


def _run_options(args):
    from harness.experiment.runner import RunOptions

    defaults = RunOptions()
    return RunOptions(
        reports_dir=args.reports or defaults.reports_dir,
        config_dir=args.config or defaults.config_dir,
        without_alerts=tuple(args.without_alert),
        disabled_runbooks=tuple(args.disable_runbook),
        journal_listeners=(args.progress_display,) if args.progress_display else (),
        redactor=getattr(args, "redactor", None),
    )


def _with_plan(options, args):
    """The run options with the game-day plan read, or refused, before any run."""
    from dataclasses import replace

    from harness.gameday_plan import load_plan

    if args.plan is None:
        return options
    return replace(options, plan=load_plan(args.plan))


def _cmd_run(args) -> int:
    from harness.experiment.runner import run_experiment

    options = _with_plan(_run_options(args), args)
    if len(args.paths) == 1:
        results = [run_experiment(args.paths[0], options)]
        _print_result(args, results[0])
    else:
        results = _run_on_one_estate(args, args.paths, options)
    code = max(result.verdict.status.exit_code for result in results)
    _print_verdicts(args, results, code)
    return code


def _print_verdicts(args, results: list, code: int, **extra) -> None:
    """The closing output: a JSON document, or the verdict table."""
    from harness.report.verdicts import document, table

    if _json_output(args):
        print(_redacted(args, document(results, code, **extra)))
        return
    if not _quiet(args):
        print()
    print(_redacted(args, table(results)))


def _redacted(args, text: str) -> str:
    """text without the secrets and personal data the runs' redactor knows."""
    redactor = getattr(args, "redactor", None)
    return redactor.text(text) if redactor else text


def _run_on_one_estate(args, paths: list[Path], options) -> list:
    """Several files borrow one estate, in the order given; Ctrl-C ends them all."""
    from datetime import UTC, datetime

    from harness.config import load_estate
    from harness.errors import ConfigError
    from harness.experiment.deadlines import invalid_experiments
    from harness.experiment.estate import SharedEstate
    from harness.experiment.runner import run_experiment

    try:
        estate = load_estate(options.config_dir)
    except ConfigError as exc:
        return [_not_run(args, paths, f"invalid configuration: {exc}")]
    invalid = invalid_experiments(paths, estate)
    if invalid:
        reason = "invalid experiment(s); nothing was run:\n  " + "\n  ".join(invalid)
        return [_not_run(args, paths, reason)]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    work_dir = Path(options.reports_dir) / f"estate-{stamp}"
    results = []
    with SharedEstate(estate, work_dir) as shared:
        for path in paths:
            result = run_experiment(path, options, shared)
            _print_result(args, result)
            results.append(result)
            if result.interrupted:
                break
    return results


def _not_run(args, paths: list[Path], reason: str):
    """The one error result of files that were refused before any ran."""
    from harness.experiment.runner import RunResult
    from harness.experiment.verdict import Status, Verdict

    result = RunResult(
        ", ".join(path.stem for path in paths),
        "",
        None,
        Verdict(Status.ERROR, reason=reason),
    )
    _print_result(args, result)
    return result


def _print_result(args, result) -> None:
    """A run's verdict as it ends; in quiet and JSON modes only the closing
    output speaks, and failures of quiet runs go to stderr."""
    if _json_output(args):
        return
    # The reason can quote an error's text, and stdout is often kept as a log.
    explained = _redacted(args, result.verdict.explain())
    if _quiet(args):
        if result.verdict.status.exit_code:
            print(f"{result.experiment}: {explained}", file=sys.stderr)
        return
    print(explained)
    if "fault_injected_s" not in result.verdict.measurements:
        _print_report_paths(result)
        return
    for alert, deadline in result.deadlines.get("detect", {}).items():
        seen = result.verdict.measurements.get("time_to_detect_s", {}).get(alert)
        shown = f"{seen:.2f} s" if seen is not None else "never"
        print(
            f"time to detect {alert}: {shown} (computed deadline "
            f"{deadline.total_s:.2f} s)"
        )
    recover = result.verdict.measurements.get("time_to_recover_s")
    if recover is not None:
        print(f"time to recover: {recover:.2f} s")
    _print_report_paths(result)


def _print_report_paths(result) -> None:
    if result.report_dir is None:
        return
    print(f"report: {result.report_dir / 'summary.md'}")
    for name in ("report.html", "postmortem.md"):
        page = result.report_dir / name
        if page.exists():
            print(f"report: {page}")


def _cmd_gameday(args) -> int:
    from harness.gameday import run_gameday

    paths = args.paths or [Path("experiments")]
    summary = run_gameday(paths, args.tag, _with_plan(_run_options(args), args))
    if _json_output(args):
        _print_verdicts(
            args,
            summary.results,
            summary.exit_code,
            gameday_report=str(summary.path),
            gameday_page=str(summary.page) if summary.page else None,
            resilience_score=summary.score,
            stopped_early=summary.interrupted or None,
        )
        return summary.exit_code
    print(summary.table())
    if summary.interrupted:
        print(f"game day stopped early: {summary.interrupted}")
    if not _quiet(args):
        if summary.score is not None:
            print(f"resilience score: {summary.score:.1f} / 100")
        print(f"game day summary: {summary.path}")
    # The page is the last line, so scripts (and `make gameday`) can take it.
    print(f"game day page: {summary.page or summary.path}")
    return summary.exit_code


def _cmd_validate(args) -> int:
    from harness.config import DEFAULT_CONFIG_DIR, load_estate
    from harness.experiment.deadlines import load_checked
    from harness.experiment.schema import experiment_files

    estate = load_estate(args.config or DEFAULT_CONFIG_DIR)
    failures = 0
    for path in experiment_files(args.paths):
        try:
            load_checked(path, estate)
            print(f"{path}: valid")
        except ConfigError as exc:
            failures += 1
            print(f"{exc}", file=sys.stderr)
    return 2 if failures else 0


def _cmd_up(args) -> int:
    from harness.up import serve_estate

    return serve_estate(
        args.config, args.run_dir, as_json=args.json, runbooks=not args.no_runbooks
    )


def _cmd_proxy_serve(args) -> int:
    from harness.proxy.server import serve

    try:
        serve(args.host, args.port)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot serve the proxy API on {args.host}:{args.port}: {exc.strerror}",
        ) from exc
    return 0


def _configure_logging(level: int, display=None):
    """Log lines on stderr, through a filter that redacts secrets and personal
    data; on a terminal with a status line, written above it."""
    from harness.report.progress import ProgressLogHandler
    from harness.report.redact import Redactor, install_log_filter

    if display is not None and display.tty:
        handler = ProgressLogHandler(display)
    else:
        handler = logging.StreamHandler(sys.stderr)
    logging.basicConfig(
        level=level,
        handlers=[handler],
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    redactor = Redactor()
    install_log_filter(redactor)
    return redactor


if __name__ == "__main__":
    sys.exit(main())

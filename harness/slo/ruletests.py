"""`promtool test rules` cases generated from the SLO specs.

For every objective, in either variant, four stories told as input series:

    burn     every event turns bad: the page fires no sooner than the
             burn-rate arithmetic allows and no later than that plus
             ``for`` and two evaluation steps
    blip     every event bad for half the time the page needs: silent
    sparse   a few events per long window, half of them bad: the ratio
             alone would page, the min_bad_events guard keeps it silent
    idle     no events at all: no burn alert and no recorded ratio,
             SLONoData fires instead

Time runs in steps of one production minute (one second when compressed
60 times), so both variants tell the same stories in their own time.
Each objective and severity gets its own rule file, holding the objective's
recordings, its alert of that severity and SLONoData as generated, with
annotations left out: promtool compares them, and the annotation templates
are tested on their own. Page and ticket share an alert name, so one file
per severity keeps each story about one rule.
"""

import math
from pathlib import Path

import yaml
from prometheus_client.utils import floatToGoString

from harness.config import Estate
from harness.observe.durations import render_duration
from harness.slo.rules import (
    ERROR_RATIO,
    NO_DATA,
    alert_labels,
    burn_alert_name,
    pair_threshold,
    slo_alert_rules,
    slo_recording_rules,
)
from harness.slo.spec import AVAILABILITY, SEVERITIES, Objective
from harness.slo.variant import Variant

# One step of a story, per severity: a tenth of a ticket's shortest window
# is fine enough for the arithmetic and keeps a three-day history short.
STEP_PRODUCTION_S = {"page": 60.0, "ticket": 600.0}
EVENTS_PER_STEP = 100
# Slack on the arithmetic, in steps: one for the rate's first point, one for
# the evaluation that follows it.
SLACK_STEPS = 2


def write_rule_tests(folder: Path, estate: Estate, variant: Variant) -> list[Path]:
    """Write a rule file and a test file per objective and severity; return the
    test files, to be passed together to `promtool test rules`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tests = []
    for objective in estate.slo_specs.objectives:
        for severity in SEVERITIES:
            stem = f"{objective.name}-{severity}"
            rules = folder / f"{stem}.rules.yml"
            rules.write_text(_logic_rules(estate, variant, objective, severity))
            test = folder / f"{stem}.test.yml"
            document = {
                "rule_files": [rules.name],
                "evaluation_interval": _duration(
                    variant.seconds(STEP_PRODUCTION_S[severity])
                ),
                "tests": rule_test_cases(estate, variant, objective, severity),
            }
            test.write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 20))
            tests.append(test)
    return tests


def rule_test_cases(
    estate: Estate, variant: Variant, objective: Objective, severity: str
) -> list[dict]:
    """The stories of one objective's alert of one severity."""
    story = _Story(estate, variant, objective, severity)
    cases = [story.burn(), story.blip(), story.sparse()]
    if severity == "page":
        cases.append(story.idle())
    return cases


def fill_steps(estate: Estate, objective: Objective, severity: str) -> float:
    """Steps of total failure after which the severity's fastest pair fires."""
    return min(
        w.long_window_s * pair_threshold(objective, w) / STEP_PRODUCTION_S[severity]
        for w in estate.slo_specs.policy.windows_of(severity)
    )


def _logic_rules(
    estate: Estate, variant: Variant, objective: Objective, severity: str
) -> str:
    """The objective's recordings its alert of one severity reads, that alert
    (and SLONoData with the page), as generated, annotations left out."""
    alerts = []
    for rule in slo_alert_rules(estate, variant):
        if rule.labels.get("slo") != objective.name:
            continue
        if rule.name == NO_DATA and severity != "page":
            continue
        if rule.name != NO_DATA and rule.labels["severity"] != severity:
            continue
        rendered = rule.as_prometheus()
        rendered.pop("annotations")
        alerts.append(rendered)
    # Only the recordings these alerts read: a three-day window evaluated at
    # every step of a page story would only cost time.
    recordings = [
        r.as_prometheus()
        for r in slo_recording_rules(estate, variant)
        if r.labels.get("slo") == objective.name
        and any(r.record in a["expr"] for a in alerts)
    ]
    group = {
        "name": f"{objective.name}-{severity}",
        "interval": _duration(variant.seconds(STEP_PRODUCTION_S[severity])),
        "rules": recordings + alerts,
    }
    return yaml.safe_dump({"groups": [group]}, sort_keys=False, width=1 << 20)


class _Story:
    """Input series and expectations in steps, after a clean history.

    The history is as long as the severity's longest window, so every window
    is full when a story starts: a young series would make a long window act
    like a short one.
    """

    def __init__(self, estate, variant, objective, severity):
        self.estate = estate
        self.variant = variant
        self.objective = objective
        self.severity = severity
        windows = estate.slo_specs.policy.windows_of(severity)
        self.step_s = STEP_PRODUCTION_S[severity]
        self.start = math.ceil(max(w.long_window_s for w in windows) / self.step_s)
        self.fill = fill_steps(estate, objective, severity)
        self.alert = burn_alert_name(objective)

    def burn(self) -> dict:
        earliest = self.start + math.floor(self.fill) - SLACK_STEPS
        latest = (
            self.start
            + math.ceil(self.fill)
            + math.ceil(self._for_s() / self.step_s)
            + SLACK_STEPS
        )
        total = latest + 5
        bad = [0] * self.start + [EVENTS_PER_STEP] * (total - self.start)
        return self._case(
            "burn",
            bad,
            [
                self._expect(self.alert, earliest, []),
                self._expect(self.alert, latest, [self._labels(self.severity)]),
            ],
        )

    def blip(self) -> dict:
        blip = max(1, math.floor(self.fill / 2))
        end = self.start + blip
        total = end + 30
        bad = [0] * self.start + [EVENTS_PER_STEP] * blip + [0] * (total - end)
        checks = sorted({end, end + 2, end + 10, total - 1})
        return self._case(
            "blip", bad, [self._expect(self.alert, s, []) for s in checks]
        )

    def sparse(self) -> dict:
        # One event every 10 steps; three in a row fail. Every window then
        # holds mostly bad events, far above every threshold, yet fewer bad
        # events than min_bad_events.
        total = self.start + 60
        good = [1 if step % 10 == 0 else 0 for step in range(total)]
        bad = [0] * total
        for offset in (10, 20, 30):
            step = self.start + offset
            good[step], bad[step] = 0, 1
        checks = [self.start + s for s in (32, 35, 40, 50, 59)]
        return self._case(
            "sparse",
            bad,
            [self._expect(self.alert, s, []) for s in checks],
            good=good,
        )

    def idle(self) -> dict:
        policy = self.estate.slo_specs.policy
        short_s = min(w.short_window_s for w in policy.windows)
        silence_s = self.objective.no_data_for_s or policy.no_data_for_s
        fires = math.ceil((short_s + silence_s) / self.step_s)
        short = self.variant.window(short_s, "short_window_s")
        total = max(60, fires + SLACK_STEPS + 5)
        case = self._case(
            "idle",
            [0] * total,
            [
                self._expect(self.alert, 30, []),
                # Pending from the first rate (one step in); not firing before
                # no_data_for_s has passed since then.
                self._expect(NO_DATA, math.ceil(silence_s / self.step_s), []),
                self._expect(NO_DATA, fires + SLACK_STEPS, [self._labels("ticket")]),
            ],
            good=[0] * total,
        )
        case["promql_expr_test"] = [
            {
                "expr": f'{ERROR_RATIO}{short}{{slo="{self.objective.name}"}}',
                "eval_time": self._time(30),
                "exp_samples": [],
            }
        ]
        return case

    def _case(self, story: str, bad: list, checks: list, good=None) -> dict:
        if good is None:
            good = [EVENTS_PER_STEP - b for b in bad]
        return {
            "name": f"{self.objective.name} {self.severity} {story}",
            "interval": self._time(1),
            "input_series": _series(self.objective, good, bad),
            "alert_rule_test": checks,
        }

    def _expect(self, alertname: str, step: int, alerts: list) -> dict:
        return {
            "eval_time": self._time(step),
            "alertname": alertname,
            "exp_alerts": [{"exp_labels": labels} for labels in alerts],
        }

    def _time(self, steps: float) -> str:
        return _duration(self.variant.seconds(steps * self.step_s))

    def _for_s(self) -> float:
        windows = self.estate.slo_specs.policy.windows_of(self.severity)
        return max(w.for_s for w in windows)

    def _labels(self, severity: str) -> dict:
        return alert_labels(self.estate, self.objective, severity)


def _series(objective: Objective, good: list, bad: list) -> list[dict]:
    """Counters of the SLI's metrics, from events per step."""
    request = objective.requests[0] if objective.requests else None
    scope = f'service="{objective.service}"'
    if request is not None:
        scope += f',method="{request.method}",route="{request.route}"'
    if objective.sli == AVAILABILITY:
        return [
            _counter(f'http_requests_total{{{scope},code="200"}}', good),
            _counter(f'http_requests_total{{{scope},code="500"}}', bad),
        ]
    edge = floatToGoString(objective.threshold_s)
    total = [g + b for g, b in zip(good, bad, strict=True)]
    return [
        _counter(f"http_request_duration_seconds_count{{{scope}}}", total),
        _counter(f'http_request_duration_seconds_bucket{{{scope},le="{edge}"}}', good),
    ]


def _counter(series: str, per_step: list) -> dict:
    values, running = [], 0
    for events in per_step:
        running += events
        values.append(str(running))
    return {"series": series, "values": " ".join(values)}


def _duration(seconds: float) -> str:
    return render_duration(seconds, "step")

"""Shared pieces of the report.html tests: a fabricated journal, reading a page."""

import json
import re
import subprocess
from pathlib import Path

from tests.browser import chromium_argv

DATA = re.compile(
    r'<script type="application/json" id="report-data">(.*?)</script>', re.S
)


def journal(status: str = "passed", hypothesis: str = "claims-api survives") -> dict:
    """A journal.json of one latency fault on claims-api, as a dict."""
    held = status == "passed"
    points = [[float(t), 0.0 if not 20 <= t <= 30 else 0.4] for t in range(0, 41)]
    latency = [[float(t), 0.05 if not 20 <= t <= 30 else 1.2] for t in range(0, 41)]
    return {
        "schema_version": 2,
        "run_id": "20261205-040000-claims-customer-latency-ab12",
        "experiment": "claims-customer-latency",
        "hypothesis": hypothesis,
        "source": "experiments/claims-customer-latency.yaml",
        "deliberate_breakage": {},
        "verdict": {
            "status": status,
            "reason": None if held else "alert did not fire in time",
            "checks": [
                {
                    "expectation": "no alert fires during the steady state",
                    "predicted": "none",
                    "observed": "none",
                    "held": True,
                },
                {
                    "expectation": "alert ClaimsApiAvailabilityBurnRate[page] fires",
                    "predicted": "within 17.2 s of injection",
                    "observed": "notified after 4.82 s" if held else "never",
                    "held": held,
                },
            ],
            "measurements": {
                "fault_injected_s": 20.0,
                "time_to_detect_s": {"ClaimsApiAvailabilityBurnRate[page]": 4.82}
                if held
                else {},
                "time_to_recover_s": 9.5 if held else None,
                "slo_back_s": 29.5 if held else None,
                "resolved_s": {"ClaimsApiAvailabilityBurnRate[page]": 33.0}
                if held
                else {},
            },
        },
        "deadlines": {
            "detect": {
                "ClaimsApiAvailabilityBurnRate[page]": {
                    "total_s": 17.24,
                    "terms": {"fault_effect_s": 1.0, "window_fill_s": 8.64},
                }
            },
            "floor": {
                "ClaimsApiAvailabilityBurnRate[page]": {"total_s": 2.5, "terms": {}}
            },
            "resolve": {
                "ClaimsApiAvailabilityBurnRate[page]": {"total_s": 31.8, "terms": {}}
            },
        },
        "load": {"requests": 1200, "failures": 30, "achieved_journeys_per_s": 9.8},
        "integrity": [
            {
                "name": "keys_charged_once",
                "held": True,
                "checked": 40,
                "violations": 0,
                "examples": [],
            }
        ],
        "events": [
            _event("run_started", 0.0, experiment="claims-customer-latency"),
            _event("fault_injected", 20.0, fault="slow", service="claims-api"),
            _event("alert_pending", 22.0, alertname="A", service="claims-api"),
            _event("alert_firing", 24.0, alertname="A", service="claims-api"),
            _event("runbook_action", 25.0, runbook="r", action="fallback"),
            _event("fault_rolled_back", 30.0, fault="slow"),
            _event("alert_notified", 33.0, alertname="A", status="resolved"),
            _event("run_finished", 40.0, verdict=status),
        ],
        "series": {
            "claims-api:error_ratio": points,
            "claims-api:latency_p50_s": latency,
            "claims-api:latency_p95_s": latency,
            "claims-api:latency_p99_s": latency,
            "claims-api:throughput_per_s": [[float(t), 20.0] for t in range(41)],
            "load:offered_per_s": [[t + 0.5, 10.0] for t in range(40)],
            "load:achieved_per_s": [[t + 0.5, 9.0] for t in range(40)],
            "slo_ok:claims-api": [[0.0, 1.0]],
        },
    }


def _event(kind: str, t_s: float, **fields) -> dict:
    return {
        "kind": kind,
        "t_s": t_s,
        "wall": "2026-12-05T04:00:00+00:00",
        "fields": fields,
    }


def chart_data(page: str) -> dict:
    """The JSON the page's script draws from."""
    match = DATA.search(page)
    assert match, "the page carries no report-data element"
    return json.loads(match.group(1))


def points_in_fault_windows(data: dict) -> dict[str, int]:
    """Per chart: points with a value inside any fault window."""
    windows = data["windows"]
    return {
        chart["id"]: sum(
            1
            for line in chart["lines"]
            for t_s, value in line["points"]
            if value is not None
            and any(w["from_s"] <= t_s <= w["to_s"] for w in windows)
        )
        for chart in data["charts"]
    }


def rendered_body(page_path: Path, user_data_dir: Path) -> dict[str, str]:
    """The attributes of <body> once Chromium has loaded the page and run its
    script; "_dom" holds the whole DOM and "_console" the console's lines."""
    argv = chromium_argv(
        user_data_dir,
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,800",
        "--dump-dom",
        page_path.resolve().as_uri(),
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, f"no <body> in Chromium's DOM: {done.stdout[:500]!r}"
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    attributes["_dom"] = done.stdout
    # The page's console, as Chromium logs it: uncaught errors, CSP refusals.
    attributes["_console"] = "\n".join(
        line for line in done.stderr.splitlines() if ":CONSOLE" in line
    )
    return attributes

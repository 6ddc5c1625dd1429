"""`harness slo export`: the files a team deploys, generated from config/.

    DIR/rules/resilience-rules.yml   every recording and alerting rule
    DIR/tests/*.test.yml             promtool unit tests of the SLO alerts,
                                     each beside the rule file it tests
    DIR/alertmanager.yml             routes, grouping, inhibition, pagers

In production the pages go to PagerDuty's and Opsgenie's own URLs with the
keys of config/alerting.yaml, and every alert also to the remediation
controller's webhook at REMEDIATION_WEBHOOK (edit it before deploying).

DIR/tests/ belongs to the export: generated tests and rule files left there
by an earlier export are removed first. Each test runs against a copy of its
objective's rules without annotations (promtool compares annotations, and a
test would have to spell out every template); the copies come from the same
functions as the deployed file. Other files in DIR are left alone.
"""

import logging
from pathlib import Path

from harness.config import Estate
from harness.errors import ConfigError
from harness.observe.alertmanager import GroupTiming, write_alertmanager_config
from harness.observe.rules import write_rules
from harness.slo.ruletests import write_rule_tests
from harness.slo.variant import PRODUCTION, Variant

log = logging.getLogger(__name__)

RULES_FILE = Path("rules") / "resilience-rules.yml"
ALERTMANAGER_FILE = Path("alertmanager.yml")
REMEDIATION_WEBHOOK = "http://remediation-controller.example.com:8080/alerts"
# Alertmanager's usual production timing: wait 30 s for a group to gather,
# then send changes every 5 min and repeat a firing page every 4 h.
PRODUCTION_TIMING = GroupTiming(
    group_wait_s=30.0, group_interval_s=300.0, repeat_interval_s=14400.0
)


def export(estate: Estate, folder: Path, variant: Variant) -> list[Path]:
    """Write the rule file, alertmanager.yml and the rule tests under folder;
    return their paths, in that order."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"export folder {str(folder)!r} is a file; expected a folder (it is "
            "created when missing)"
        )
    rules = write_rules(folder / RULES_FILE, estate, variant=variant)
    _remove_generated(folder / "tests")
    tests = write_rule_tests(folder / "tests", estate, variant)
    timing = PRODUCTION_TIMING if variant.name == PRODUCTION else estate.observability
    alertmanager = write_alertmanager_config(
        folder / ALERTMANAGER_FILE, timing, REMEDIATION_WEBHOOK, estate, pager_url=""
    )
    written = [
        rules,
        alertmanager,
        *tests,
        *sorted((folder / "tests").glob("*.rules.yml")),
    ]
    log.info("exported %s: folder=%s files=%d", variant.name, folder, len(written))
    return written


def _remove_generated(tests: Path) -> None:
    # Tests of an objective that no longer exists would stay green forever.
    for pattern in ("*.test.yml", "*.rules.yml"):
        for path in tests.glob(pattern):
            path.unlink()

"""`harness slo export`: the files a team deploys, generated from config/.

    DIR/rules/resilience-rules.yml   every recording and alerting rule
    DIR/tests/*.test.yml             promtool unit tests of the SLO alerts,
                                     each beside the rule file it tests

Files already in DIR that the export does not write are left alone.
"""

import logging
from pathlib import Path

from harness.config import Estate
from harness.errors import ConfigError
from harness.observe.rules import write_rules
from harness.slo.ruletests import write_rule_tests
from harness.slo.variant import Variant

log = logging.getLogger(__name__)

RULES_FILE = Path("rules") / "resilience-rules.yml"


def export(estate: Estate, folder: Path, variant: Variant) -> list[Path]:
    """Write the rule file and its unit tests under folder; return the paths."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"export folder {str(folder)!r} is a file; expected a folder (it is "
            "created when missing)"
        )
    rules = write_rules(folder / RULES_FILE, estate, variant=variant)
    tests = write_rule_tests(folder / "tests", estate, variant)
    log.info(
        "exported %s rules: folder=%s files=%d", variant.name, folder, 1 + len(tests)
    )
    return [rules, *tests]

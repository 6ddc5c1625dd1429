"""Burn-rate rules from SLO specs: rendered, checked and unit-tested by promtool."""

import dataclasses
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from harness.errors import ConfigError
from harness.observe import check_rules, render_rules
from harness.slo.rules import burn_alert_name, slo_alert_rules, slo_recording_rules
from harness.slo.ruletests import write_rule_tests
from harness.slo.timing import burn_timing
from harness.slo.variant import experiment, production

# Production tells the same stories in minutes; one objective of each shape
# (service availability, service latency, journey) keeps the run short.
PRODUCTION_SAMPLE = (
    "claims-api-availability",
    "policy-api-latency",
    "file-a-claim-latency",
)


def _only(estate, names):
    specs = estate.slo_specs
    kept = tuple(o for o in specs.objectives if o.name in names)
    return dataclasses.replace(
        estate, slo_specs=dataclasses.replace(specs, objectives=kept)
    )


def _with_policy(estate, **changes):
    specs = estate.slo_specs
    policy = dataclasses.replace(specs.policy, **changes)
    return dataclasses.replace(
        estate, slo_specs=dataclasses.replace(specs, policy=policy)
    )


def _promtool_test(binaries, files) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binaries.promtool), "test", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_both_variants_come_from_one_code_path(estate):
    fast = experiment(estate.observability)
    slow = production()
    fast_rules = {
        r.labels["severity"]: r
        for r in slo_alert_rules(estate, fast)
        if r.name == "ClaimsApiAvailabilityBurnRate"
    }
    slow_rules = {
        r.labels["severity"]: r
        for r in slo_alert_rules(estate, slow)
        if r.name == "ClaimsApiAvailabilityBurnRate"
    }

    assert "ratio_rate1h" in slow_rules["page"].expr
    assert "ratio_rate5m" in slow_rules["page"].expr
    assert "ratio_rate1m" in fast_rules["page"].expr  # 1 h / 60
    assert "ratio_rate5s" in fast_rules["page"].expr  # 5 m / 60
    assert slow_rules["page"].for_s == 120 and fast_rules["page"].for_s == 2
    normalise = {"1h": "1m", "5m": "5s", "6h": "6m", "30m": "30s"}
    slow_expr = slow_rules["page"].expr
    for long, short in normalise.items():
        slow_expr = slow_expr.replace(f"rate{long}{{", f"rate{short}{{")
        slow_expr = slow_expr.replace(f"increase{long}{{", f"increase{short}{{")
    assert slow_expr == fast_rules["page"].expr


def test_burn_alerts_carry_context_labels_and_annotations(estate):
    rules = slo_alert_rules(estate, experiment(estate.observability))
    page = next(
        r
        for r in rules
        if r.name == "FileAClaimAvailabilityBurnRate" and r.labels["severity"] == "page"
    )

    assert page.labels == {
        "service": "claims-api",
        "severity": "page",
        "team": "claims-platform",
        "signal": "symptom",
        "slo": "file-a-claim-availability",
        "sli": "availability",
        "journey": "file_a_claim",
    }
    assert set(page.annotations) == {
        "summary",
        "description",
        "runbook",
        "dashboard",
        "recent_changes",
    }
    assert "14.4x the budget rate, 2% of the budget" in page.annotations["description"]
    assert page.annotations["dashboard"].startswith("{{ $externalURL }}/graph?")
    assert "mock_faults_active" in page.annotations["recent_changes"]
    claims = next(r for r in rules if r.name == "ClaimsApiAvailabilityBurnRate")
    assert (
        claims.annotations["runbook"] == "config/runbooks/claims-customer-fallback.yaml"
    )


def test_idle_traffic_records_no_ratio_rather_than_zero(estate):
    recordings = slo_recording_rules(estate, experiment(estate.observability))
    ratio = next(r for r in recordings if r.record == "slo:sli_error:ratio_rate5s")
    assert ") > 0)" in ratio.expr  # divide only where the total is above zero


@pytest.mark.parametrize("variant", ["experiment", "production"])
def test_promtool_accepts_the_whole_rule_file(binaries, estate, tmp_path, variant):
    chosen = (
        production() if variant == "production" else experiment(estate.observability)
    )
    path = tmp_path / "rules.yml"
    path.write_text(render_rules(estate, variant=chosen))

    assert "SUCCESS" in check_rules(binaries, path)


def test_generated_promtool_tests_pass_for_both_variants(binaries, estate, tmp_path):
    fast = write_rule_tests(
        tmp_path / "experiment", estate, experiment(estate.observability)
    )
    slow = write_rule_tests(
        tmp_path / "production", _only(estate, PRODUCTION_SAMPLE), production()
    )

    # One promtool per core: half the experiment files each, then production.
    batches = [fast[0::2], fast[1::2], slow]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda f: _promtool_test(binaries, f), batches))

    for result in results:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert len(fast) == 2 * len(estate.slo_specs.objectives)
    document = yaml.safe_load(fast[0].read_text())
    assert [case["name"].split()[-1] for case in document["tests"]] == [
        "burn",
        "blip",
        "sparse",
        "idle",
    ]


@pytest.mark.parametrize(
    ("broken", "story"),
    [
        # Without the low-traffic guard, three bad events among six page.
        ({"min_bad_events": 1}, "sparse"),
    ],
)
def test_generated_tests_fail_when_the_guard_is_missing(
    binaries, estate, tmp_path, broken, story
):
    sample = _only(estate, ("claims-api-availability",))
    files = write_rule_tests(tmp_path, sample, experiment(estate.observability))
    # Rules from a broken policy, tested by the stories of the right one.
    for rules in tmp_path.glob("*.rules.yml"):
        rebuilt = tmp_path / "rebuilt"
        write_rule_tests(
            rebuilt, _with_policy(sample, **broken), experiment(estate.observability)
        )
        rules.write_text((rebuilt / rules.name).read_text())

    result = _promtool_test(binaries, files)

    assert result.returncode != 0
    assert f"claims-api-availability page {story}" in result.stderr + result.stdout


def test_generated_tests_fail_when_a_burn_rate_is_too_lax(binaries, estate, tmp_path):
    sample = _only(estate, ("claims-api-availability",))
    files = write_rule_tests(tmp_path, sample, experiment(estate.observability))
    lax = tuple(
        dataclasses.replace(w, burn_rate=w.burn_rate * 3)
        for w in sample.slo_specs.policy.windows
    )
    rebuilt = tmp_path / "rebuilt"
    write_rule_tests(
        rebuilt, _with_policy(sample, windows=lax), experiment(estate.observability)
    )
    for rules in tmp_path.glob("*.rules.yml"):
        rules.write_text((rebuilt / rules.name).read_text())

    result = _promtool_test(binaries, files)

    assert result.returncode != 0
    assert "claims-api-availability page burn" in result.stderr + result.stdout


def test_burn_arithmetic(estate):
    policy = estate.slo_specs.policy
    objective = next(
        o for o in estate.slo_specs.objectives if o.name == "claims-api-availability"
    )
    fast = experiment(estate.observability)

    total = burn_timing(policy, fast, objective, "page", error_ratio=1.0)
    assert total.fill_s == pytest.approx(60 * 0.144)
    assert total.pair.long_window_s == 3600
    # A burn of 10% only crosses the 6 h / 30 m pair (threshold 6%).
    partial = burn_timing(policy, fast, objective, "page", error_ratio=0.1)
    assert partial.fill_s == pytest.approx(360 * 0.06 / 0.1)
    assert partial.pair.long_window_s == 21600
    # Under every threshold, or too short to fill a window: never fires.
    assert burn_timing(policy, fast, objective, "page", 0.05).fill_s is None
    assert burn_timing(policy, fast, objective, "page", 1.0, burn_s=5).fill_s is None
    # Resolving waits for the short window of every pair the burn exceeds:
    # in a young estate any of them may be the one firing.
    assert total.clear_s == pytest.approx(30 * (1 - 0.06))
    assert partial.clear_s == pytest.approx(30 * (1 - 0.06 / 0.1))


def test_compression_that_leaves_too_few_scrapes_is_refused(estate):
    obs = dataclasses.replace(estate.observability, compression_factor=120)
    with pytest.raises(
        ConfigError, match=r"'compression_factor' is 120.*fewer than 4 scrapes"
    ):
        slo_recording_rules(estate, experiment(obs))


def test_recent_changes_annotation_lists_faults_toxics_and_deploys(
    binaries, estate, tmp_path
):
    rule = next(
        r
        for r in slo_alert_rules(estate, experiment(estate.observability))
        if r.name == burn_alert_name(estate.slo_specs.objectives[4])
    )
    rules = {
        "groups": [
            {
                "name": "changes",
                "rules": [
                    {
                        "alert": "Changed",
                        "expr": "vector(1)",
                        "annotations": {
                            "recent_changes": rule.annotations["recent_changes"]
                        },
                    }
                ],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    series = [
        {
            "series": 'mock_faults_active{service="customer-api",kind="error"}',
            "values": "0 1 1 0 0",
        },
        {
            "series": 'mock_faults_active{service="crm",kind="slow"}',
            "values": "1 1 1 1 1",
        },
        {
            "series": "toxiproxy_proxy_toxics_active"
            '{proxy="claims-api_to_customer-api",type="latency"}',
            "values": "0 0 1 0 0",
        },
        {
            "series": 'mock_build_info{service="claims-api",version="1.0.0"}',
            "values": "1 1 _ _ _",
        },
        {
            "series": 'mock_build_info{service="claims-api",version="1.1.0-bad"}',
            "values": "_ _ 1 1 1",
        },
    ]
    expected = (
        "In the last 1m: faults: error on customer-api; toxics: latency on "
        "claims-api_to_customer-api; deploys: new version of claims-api."
    )
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1s",
        "tests": [
            {
                "interval": "1s",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "4s",
                        "alertname": "Changed",
                        "exp_alerts": [
                            {"exp_annotations": {"recent_changes": expected}}
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, width=1 << 20))

    result = _promtool_test(binaries, [tmp_path / "test.yml"])

    assert result.returncode == 0, result.stdout[-2000:]


def _config_with_objectives(tmp_path, names):
    import shutil

    from harness.config import DEFAULT_CONFIG_DIR

    folder = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    path = folder / "slos.yaml"
    document = yaml.safe_load(path.read_text())
    document["slos"] = [o for o in document["slos"] if o["name"] in names]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return folder


def test_slo_export_writes_checked_production_rules_and_tests(tmp_path):
    from harness.cli import main

    # Two objectives keep the promtool run the export makes short.
    config = _config_with_objectives(tmp_path, PRODUCTION_SAMPLE[:2])
    argv = ["slo", "export", "--production", str(tmp_path / "out")]

    assert main([*argv, "--config", str(config)]) == 0

    rules = (tmp_path / "out" / "rules" / "resilience-rules.yml").read_text()
    assert "slo:sli_error:ratio_rate1h" in rules and "ratio_rate1m" not in rules
    assert "https://grafana.example.com/d/slo-overview" in rules
    alertmanager = yaml.safe_load((tmp_path / "out" / "alertmanager.yml").read_text())
    assert alertmanager["route"]["group_wait"] == "30s"
    configs = [
        c
        for r in alertmanager["receivers"]
        for c in r.get("pagerduty_configs", []) + r.get("opsgenie_configs", [])
    ]
    assert configs and not any("url" in c or "api_url" in c for c in configs)
    assert len(list((tmp_path / "out" / "tests").glob("*.test.yml"))) == 4


def test_slo_export_removes_tests_of_objectives_no_longer_declared(estate, tmp_path):
    from harness.slo.export import export

    stale = tmp_path / "tests" / "gone-availability-page.test.yml"
    stale.parent.mkdir(parents=True)
    stale.write_text("rule_files: []\n")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")

    paths = export(estate, tmp_path, production())

    assert not stale.exists() and keep.read_text() == "mine"
    assert all(p.exists() for p in paths)
    assert len(paths) == 2 + 2 * 2 * len(estate.slo_specs.objectives)


def test_slo_export_refuses_a_file_as_folder(tmp_path, capsys):
    from harness.cli import main

    target = tmp_path / "file"
    target.write_text("keep me")

    assert main(["slo", "export", "--production", str(target)]) == 2
    assert "is a file; expected a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"

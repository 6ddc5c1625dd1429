"""What an alert tells the responder beyond its name: runbook, dashboard, changes.

Every generated alert carries the same context annotations, built here, so a
page always says where the runbook is, where to look, and what changed in
the minutes before it fired.
"""

from pathlib import Path
from urllib.parse import quote

from harness.config import Estate
from harness.slo.variant import PRODUCTION, Variant


def runbook_for(estate: Estate, alert: str) -> str:
    """Repo-relative path of the first runbook (by name) answering alert, or ""."""
    for name in sorted(estate.runbooks):
        runbook = estate.runbooks[name]
        if alert in runbook.answers:
            return _repo_relative(runbook.path, estate.config_dir.parent)
    return ""


def dashboard_for(
    estate: Estate, variant: Variant, service: str, slo: str = "", graph: str = ""
) -> str:
    """The dashboard a responder opens first.

    In production, the team's dashboard from slos.yaml; in experiments, the
    live Prometheus graph of graph (a PromQL expression), which is where the
    numbers are while the estate runs.
    """
    if variant.name == PRODUCTION or not graph:
        return estate.slo_specs.policy.dashboard_url.format(service=service, slo=slo)
    return "{{ $externalURL }}/graph?g0.expr=" + quote(graph, safe="") + "&g0.tab=0"


def recent_changes(estate: Estate, variant: Variant, service: str) -> str:
    """A template listing faults, toxics and deploys near service before firing.

    "Near" is the service and what it calls: a fault on a dependency is the
    usual cause of a symptom here. The window is recent_changes_s in
    slos.yaml, compressed like every other duration.
    """
    names = [service, *estate.services[service].dependencies]
    window = variant.duration(
        estate.slo_specs.policy.recent_changes_s, "recent_changes_s"
    )
    services = "|".join(names)
    faults = (
        "max by (service, kind) (max_over_time(mock_faults_active"
        f'{{service=~"{services}"}}[{window}])) > 0'
    )
    toxics = (
        "max by (proxy, type) (max_over_time(toxiproxy_proxy_toxics_active"
        f'{{proxy=~".*({services}).*"}}[{window}])) > 0'
    )
    deploys = (
        "count by (service) (count by (service, version) (count_over_time("
        f'mock_build_info{{service=~"{services}"}}[{window}]))) > 1'
    )
    return (
        f"In the last {window}: faults: "
        + _listing(faults, "{{ .Labels.kind }} on {{ .Labels.service }}")
        + "; toxics: "
        + _listing(toxics, "{{ .Labels.type }} on {{ .Labels.proxy }}")
        + "; deploys: "
        + _listing(deploys, "new version of {{ .Labels.service }}")
        + "."
    )


def _listing(query: str, item: str) -> str:
    # Backquotes keep the PromQL's double quotes out of the template syntax.
    return (
        f"{{{{ with query `{query}` }}}}{{{{ range $i, $c := . }}}}"
        f"{{{{ if $i }}}}, {{{{ end }}}}{item}{{{{ end }}}}"
        "{{ else }}none{{ end }}"
    ).replace("{{ .Labels", "{{ $c.Labels")


def _repo_relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()

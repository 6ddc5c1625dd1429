"""Name the most likely root cause from the evidence alone (a pure function).

The walk, in short:

    burning services (SLO not holding over the window, or down)
      └─ for each: its outgoing edges that failed or slowed against the
         steady state, weighted by the share of its bad spans waiting on each
           ├─ callee an external, or a service that is not burning itself:
           │    the callee, via that route
           └─ callee a burning service: walk on from it
      └─ no such edge: the service itself (its own errors or latency)
    nothing burning: an edge that failed or slowed is still named (the
    callers absorbed it, as a degrading fallback does); nothing at all:
    "nothing is broken"

Each burning service has one vote, split over the edges that explain it;
votes for one (component, via) are summed, and the confidence is the top
candidate's share of all votes.

A fault on a front route (client_to_<service>) is not seen: the load's own
failures are not in Prometheus, so the service's traffic only drops.
"""

from dataclasses import dataclass, field

from harness.rca.evidence import EdgeStats, Evidence, ServiceStats
from harness.rca.traces import EdgeShare, SpanIndex, edge_share

METHOD = (
    "graph walk from the burning SLIs over per-edge dependency metrics "
    "(failures and attempt latency, fault window against steady state), "
    "weighted by the share of bad request-log spans waiting on each edge"
)
# Fewer bad requests than this in the window never make a service burn: a
# single 5xx among a few requests is noise, not an outage. So a fault of a
# second or two under light load can read as nothing broken.
MIN_BAD_REQUESTS = 3
# An edge failed when its failure ratio rose by this much, with at least
# MIN_FAILED_CALLS failures.
FAILURE_RATIO_RISE = 0.05
MIN_FAILED_CALLS = 3
# An edge slowed when its mean attempt rose by this much and at least doubled.
LATENCY_RISE_S = 0.1
MIN_TIMED_CALLS = 3
# Trace shares count only when the service had this many bad spans.
MIN_BAD_SPANS = 3
# Votes for an edge when no service burned: the callers absorbed the trouble.
ABSORBED_WEIGHT = 0.5


@dataclass
class Finding:
    component: str
    via: str | None
    symptom: str
    score: float
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Burn:
    service: str
    burn_rate: float  # bad ratio over the allowance, the worse of the two SLIs
    symptom: str
    sentence: str


@dataclass(frozen=True)
class EdgeTrouble:
    route: str
    caller: str
    callee: str
    symptom: str
    severity: float
    sentence: str


def analyse(evidence: Evidence) -> dict:
    """The contract's rca dict without "injected" and "correct"."""
    walk = _Walk(evidence)
    findings: list[Finding] = []
    for burn in sorted(walk.burning.values(), key=lambda b: -b.burn_rate):
        findings += walk.from_service(burn.service, 1.0, ())
    if not walk.burning:
        findings = [
            Finding(
                t.callee,
                t.route,
                t.symptom,
                ABSORBED_WEIGHT * t.severity,
                [f"no SLO burned: {t.sentence}"],
            )
            for t in walk.troubles.values()
        ]
    return _result(_merge(findings), evidence)


class _Walk:
    """The burning services and troubled edges of one window, walked callee-ward."""

    def __init__(self, evidence: Evidence):
        self.evidence = evidence
        self.burning = _burning(evidence)
        self.troubles = _edge_troubles(evidence)
        self.spans = SpanIndex(evidence.spans)
        self.baseline_spans = SpanIndex(evidence.spans_baseline)

    def from_service(
        self, service: str, weight: float, seen: tuple[str, ...]
    ) -> list[Finding]:
        burn = self.burning[service]
        if burn.symptom == "down":
            return [Finding(service, None, "down", weight, [burn.sentence])]
        mine = [
            self.troubles[route]
            for route in _routes_of(service, self.evidence)
            if route in self.troubles
        ]
        if not mine:
            own = f"{burn.sentence}; none of its dependency edges failed or slowed"
            return [Finding(service, None, burn.symptom, weight, [own])]
        findings = []
        for trouble, (part, traced) in zip(
            mine, self._shares(service, mine), strict=True
        ):
            sentences = [burn.sentence, trouble.sentence, *traced]
            findings += self._along(trouble, weight * part, sentences, seen)
        return findings

    def _along(
        self,
        trouble: EdgeTrouble,
        weight: float,
        sentences: list[str],
        seen: tuple[str, ...],
    ) -> list[Finding]:
        """The callee via this edge, or the walk on from a burning callee."""
        callee = trouble.callee
        burning_service = callee in self.burning and callee in self.evidence.graph
        if not burning_service or callee in seen:
            return [Finding(callee, trouble.route, trouble.symptom, weight, sentences)]
        deeper = self.from_service(callee, weight, (*seen, trouble.caller))
        for finding in deeper:
            finding.evidence = [*sentences, *finding.evidence]
        return deeper

    def _shares(self, service: str, troubles: list[EdgeTrouble]) -> list:
        """Each troubled edge's part of the service's vote, and its trace sentence."""
        slow_s = self.evidence.objectives[service][1]
        weights, sentences = [], []
        for trouble in troubles:
            share = edge_share(
                self.spans, self.baseline_spans, service, trouble.callee, slow_s
            )
            weights.append(_edge_weight(trouble, share))
            sentences.append(_trace_sentence(service, trouble, share))
        total = sum(weights)
        parts = [w / total if total > 0 else 1 / len(weights) for w in weights]
        return list(zip(parts, sentences, strict=True))


def _routes_of(service: str, evidence: Evidence) -> list[str]:
    return [f"{service}_to_{dep}" for dep in evidence.graph.get(service, ())]


def _edge_weight(trouble: EdgeTrouble, share: EdgeShare) -> float:
    if share.bad_spans >= MIN_BAD_SPANS:
        # The metrics say the edge broke; the traces say how much it mattered.
        return trouble.severity * (0.1 + share.share)
    return trouble.severity


def _trace_sentence(service: str, trouble: EdgeTrouble, share: EdgeShare) -> list:
    if share.bad_spans < MIN_BAD_SPANS:
        return []
    return [
        f"{share.share:.0%} of {service}'s slow or failed spans "
        f"({share.on_edge} of {share.bad_spans}) wait on or fail at "
        f"{trouble.callee} ({trouble.route})"
    ]


def _burning(evidence: Evidence) -> dict[str, Burn]:
    burning = {}
    for service, stats in evidence.window.items():
        burn = _burn(service, stats, evidence)
        if burn is not None:
            burning[service] = burn
    return burning


def _burn(service: str, stats: ServiceStats, evidence: Evidence) -> Burn | None:
    if stats.down:
        return Burn(
            service,
            float("inf"),
            "down",
            f"{service} was down: its scrape failed in the fault window",
        )
    availability, _, latency = evidence.objectives[service]
    error_burn = stats.error_ratio / max(1 - availability, 1e-9)
    slow_burn = stats.slow_ratio / max(1 - latency, 1e-9)
    before = evidence.baseline.get(service, ServiceStats())
    sentence = _burn_sentence(service, stats, before, evidence)
    if error_burn > 1 and stats.errors >= MIN_BAD_REQUESTS:
        if slow_burn > error_burn and stats.slow >= MIN_BAD_REQUESTS:
            return Burn(service, slow_burn, "latency", sentence)
        return Burn(service, error_burn, "errors", sentence)
    if slow_burn > 1 and stats.slow >= MIN_BAD_REQUESTS:
        return Burn(service, slow_burn, "latency", sentence)
    return None


def _burn_sentence(service, stats, before, evidence) -> str:
    threshold_s = evidence.objectives[service][1]
    return (
        f"{service}: {stats.error_ratio:.0%} of {stats.requests:.0f} requests "
        f"answered 5xx and {stats.slow_ratio:.0%} slower than {threshold_s:g} s "
        f"in the fault window (steady state {before.error_ratio:.0%} and "
        f"{before.slow_ratio:.0%})"
    )


def _edge_troubles(evidence: Evidence) -> dict[str, EdgeTrouble]:
    troubles = {}
    for service, dependencies in evidence.graph.items():
        for callee in dependencies:
            route = f"{service}_to_{callee}"
            trouble = _trouble(route, service, callee, evidence)
            if trouble is not None:
                troubles[route] = trouble
    return troubles


def _trouble(route, caller, callee, evidence) -> EdgeTrouble | None:
    now = evidence.edges.get(route, EdgeStats())
    before = evidence.edges_baseline.get(route, EdgeStats())
    failure_rise = now.failure_ratio - before.failure_ratio
    failing = failure_rise >= FAILURE_RATIO_RISE and now.failed >= MIN_FAILED_CALLS
    latency_rise_s = _latency_rise_s(now, before)
    slowed = latency_rise_s is not None and now.duration_count >= MIN_TIMED_CALLS
    if not failing and not slowed:
        return None
    slow_s = evidence.objectives.get(caller, (0, 1.0, 0))[1]
    severity = (max(failure_rise, 0.0) if failing else 0.0) + (
        min(1.0, latency_rise_s / slow_s) if slowed else 0.0
    )
    symptom = _edge_symptom(now, failing, callee, evidence)
    return EdgeTrouble(
        route,
        caller,
        callee,
        symptom,
        min(severity, 2.0),
        _edge_sentence(route, now, before),
    )


def _latency_rise_s(now: EdgeStats, before: EdgeStats) -> float | None:
    if now.mean_s is None:
        return None
    base = before.mean_s or 0.0
    rise = now.mean_s - base
    if rise >= LATENCY_RISE_S and now.mean_s >= 2 * base:
        return rise
    return None


def _edge_symptom(now: EdgeStats, failing: bool, callee: str, evidence) -> str:
    if not failing or now.timeouts >= now.errors:
        return "latency"
    callee_stats = evidence.window.get(callee, ServiceStats())
    if callee_stats.down:
        return "down"
    # The callee's own 5xx answers explain the errors; otherwise the calls
    # never reached it (refused, reset) or its answers never came back.
    if callee_stats.errors >= 0.5 * now.errors:
        return "errors"
    return "down"


def _edge_sentence(route: str, now: EdgeStats, before: EdgeStats) -> str:
    parts = [
        f"{route}: {now.failed:.0f} of {now.calls:.0f} attempts failed "
        f"({now.timeouts:.0f} timed out, {now.errors:.0f} refused or in error, "
        f"{now.rejected:.0f} not called) against {before.failed:.0f} of "
        f"{before.calls:.0f} in the steady state"
    ]
    if now.mean_s is not None:
        base = f"{before.mean_s:.3f} s" if before.mean_s is not None else "no calls"
        parts.append(f"mean attempt {now.mean_s:.3f} s (steady state {base})")
    return "; ".join(parts)


def _merge(findings: list[Finding]) -> list[Finding]:
    merged: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.component, finding.via)
        if key not in merged:
            merged[key] = Finding(finding.component, finding.via, finding.symptom, 0.0)
        into = merged[key]
        into.score += finding.score
        into.evidence += [s for s in finding.evidence if s not in into.evidence]
    return sorted(merged.values(), key=lambda f: (-f.score, f.component, f.via or ""))


def _result(candidates: list[Finding], evidence: Evidence) -> dict:
    total = sum(c.score for c in candidates)
    listed = [
        {
            "component": c.component,
            "via": c.via,
            "symptom": c.symptom,
            "score": round(c.score / total, 3) if total > 0 else 0.0,
            "evidence": c.evidence,
        }
        for c in candidates
    ]
    if not candidates:
        return _nothing_broken(evidence)
    top = candidates[0]
    summary = f"{top.component}" + (f", via {top.via}" if top.via else "")
    summary += f" {top.symptom}"
    traced = [s for s in top.evidence if "wait on or fail at" in s]
    headline = (traced or top.evidence or [None])[0]
    if headline:
        summary += f"; {headline}"
    return {
        "guess": {
            "component": top.component,
            "via": top.via,
            "symptom": top.symptom,
            "confidence": round(top.score / total, 3) if total > 0 else 0.0,
            "summary": summary,
        },
        "evidence": top.evidence,
        "candidates": listed,
        "method": METHOD,
    }


def _nothing_broken(evidence: Evidence) -> dict:
    worst = 0.0
    sentence = "no service answered a request with a 5xx or slower than its SLO"
    for service, stats in evidence.window.items():
        availability, _, latency = evidence.objectives[service]
        rate = max(
            stats.error_ratio / max(1 - availability, 1e-9),
            stats.slow_ratio / max(1 - latency, 1e-9),
        )
        if rate > worst:
            worst = rate
            sentence = (
                f"the closest to burning was {service}, at {rate:.0%} of its "
                "error budget's allowed rate"
            )
    evidence_lines = [
        "no service burned its SLO in the fault window and no dependency edge "
        "failed or slowed against the steady state",
        sentence,
    ]
    return {
        "guess": {
            "component": None,
            "via": None,
            "symptom": None,
            "confidence": round(max(0.0, 1.0 - worst), 3),
            "summary": "nothing is broken: every SLO held and every edge behaved",
        },
        "evidence": evidence_lines,
        "candidates": [],
        "method": METHOD,
    }

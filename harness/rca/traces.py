"""How many of a service's bad requests wait on, or fail at, one dependency.

Each mock logs only the spans it serves, so a caller's time on the wire to a
dependency is not a span of its own: it shows as the gap around the
dependency's child span inside the caller's span, or, for a call that never
reached the dependency (refused, reset, blackholed), as a child missing where
the steady state had one.

The share cannot tell a call that failed from the later calls a failed
request never made, nor the two calls on either side of one wait, so the
analysis uses it only to weigh edges the metrics found troubled.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.rca.evidence import Span

# A dependency counts as usually called by a route of the caller when at least
# this share of its steady-state spans had a child there.
USUAL_CHILD_SHARE = 0.5


@dataclass(frozen=True)
class EdgeShare:
    """Of a caller's bad spans, how many wait on or fail at one dependency."""

    bad_spans: int
    on_edge: int

    @property
    def share(self) -> float | None:
        return self.on_edge / self.bad_spans if self.bad_spans else None


class SpanIndex:
    """Spans by service and by parent, for one window."""

    def __init__(self, spans: Iterable[Span]):
        self.by_service: dict[str, list[Span]] = defaultdict(list)
        self.children: dict[str, list[Span]] = defaultdict(list)
        for span in spans:
            self.by_service[span.service].append(span)
            if span.parent_span_id:
                self.children[span.parent_span_id].append(span)

    def bad_spans(self, service: str, slow_s: float) -> list[Span]:
        return [
            s
            for s in self.by_service.get(service, [])
            if s.status >= 500 or s.duration_s > slow_s
        ]


def usual_children(baseline: SpanIndex, caller: str, callee: str) -> set[str]:
    """The routes of caller whose steady-state spans usually had a child in callee."""
    totals: dict[str, int] = defaultdict(int)
    with_child: dict[str, int] = defaultdict(int)
    for span in baseline.by_service.get(caller, []):
        totals[span.route] += 1
        if any(c.service == callee for c in baseline.children.get(span.span_id, [])):
            with_child[span.route] += 1
    return {
        route
        for route, total in totals.items()
        if with_child[route] >= USUAL_CHILD_SHARE * total
    }


def edge_share(
    window: SpanIndex,
    baseline: SpanIndex,
    caller: str,
    callee: str,
    slow_s: float,
) -> EdgeShare:
    """Share of caller's bad spans (5xx or slower than slow_s) on the edge to callee.

    A bad span is on the edge when a child in callee failed or was slow, when
    the wait next to such a child reaches half of slow_s, or when it has no
    child in callee although its route usually has one.
    """
    usual = usual_children(baseline, caller, callee)
    bad = window.bad_spans(caller, slow_s)
    on_edge = sum(
        1 for span in bad if _waits_on(window, span, callee, slow_s / 2, usual)
    )
    return EdgeShare(len(bad), on_edge)


def _waits_on(
    index: SpanIndex, parent: Span, callee: str, wait_s: float, usual: set[str]
) -> bool:
    children = sorted(index.children.get(parent.span_id, []), key=_start)
    mine = [c for c in children if c.service == callee]
    if not mine:
        return parent.route in usual
    if any(c.status >= 500 or c.duration_s >= wait_s for c in mine):
        return True
    return any(_gap_around(parent, children, c) >= wait_s for c in mine)


def _gap_around(parent: Span, children: list[Span], child: Span) -> float:
    """The longer of the waits just before and just after child in parent."""
    at = children.index(child)
    before = children[at - 1].end_unix if at > 0 else parent.start_unix
    after = children[at + 1].start_unix if at + 1 < len(children) else parent.end_unix
    return max(child.start_unix - before, after - child.end_unix)


def _start(span: Span) -> float:
    return span.start_unix

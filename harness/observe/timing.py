"""How long an alert may take to reach the webhook, computed from the config.

A verdict such as "the alert fired in time" compares a measured time with a
deadline built here term by term, so a report can print each term beside the
measurement and a person can see which part of the loop ate the time.
"""

import math
from dataclasses import dataclass

from harness.config import Observability


@dataclass(frozen=True)
class Deadline:
    """A time budget in seconds, as named terms in the order they happen."""

    terms: dict[str, float]

    @property
    def total_s(self) -> float:
        return sum(self.terms.values())

    def describe(self) -> str:
        """One line such as "scrape_s=2 + ... = 7.6 s"."""
        parts = " + ".join(f"{name}={value:g}" for name, value in self.terms.items())
        return f"{parts} = {self.total_s:g} s"


def detection_deadline(
    obs: Observability,
    for_s: float,
    fault_effect_s: float,
    window_fill_s: float = 0.0,
    margin_s: float = 0.0,
) -> Deadline:
    """Latest time after a fault starts by which its alert must reach the webhook.

    fault_effect_s: the fault has to show in the service's own metrics first
    (a dependency timeout only counts as an error once the timeout expires).
    window_fill_s: how long the fault must last before the rule's windows hold
    enough bad events to cross its threshold (a burn-rate alert over 60 s at
    14.4x a 1% budget needs 8.64 s of total failure).
    2 x scrape_interval: one scrape for the first bad sample to land, and one
    more so the rate over the window has a second bad point to cross the
    threshold on.
    evaluation_interval: the rule group runs on its own clock, so the alert
    turns pending up to one evaluation after the data is there.
    for_s: the pending time, rounded up to whole evaluations, because the rule
    can only turn firing at an evaluation.
    resend_delay: Prometheus sends a new firing alert on the evaluation that
    fires it, but a send that failed is only retried after resend_delay.
    group_wait: Alertmanager holds a new group this long before its first
    notification.
    group_interval: if the group already exists (an earlier alert of the same
    name and service; for a team's pager, any earlier page of the service), the
    change goes out at the group's next tick instead.
    delivery_tolerance_s: process scheduling and HTTP delivery on a busy machine.
    margin_s: what the experiment adds on top, stated in its file.
    """
    terms = {
        "fault_effect_s": fault_effect_s,
        "window_fill_s": window_fill_s,
        "scrape_s": 2 * obs.scrape_interval_s,
        "evaluation_s": obs.evaluation_interval_s,
        "for_s": _whole_evaluations(for_s, obs.evaluation_interval_s),
        "resend_delay_s": obs.resend_delay_s,
        "group_wait_s": obs.group_wait_s,
        "group_interval_s": obs.group_interval_s,
        "delivery_tolerance_s": obs.delivery_tolerance_s,
    }
    if margin_s:
        terms["margin_s"] = margin_s
    return Deadline(terms)


def detection_floor(
    obs: Observability, for_s: float, fault_effect_s: float, window_fill_s: float
) -> Deadline:
    """The earliest an alert can reach the webhook: no waiting on any clock.

    The deadline adds the worst case of every clock (scrape, evaluation,
    resend, group interval) and a tolerance; the floor adds none of them,
    so a measured time to detect lies between the two.
    """
    return Deadline(
        {
            "fault_effect_s": fault_effect_s,
            "window_fill_s": window_fill_s,
            "for_s": _whole_evaluations(for_s, obs.evaluation_interval_s),
            "group_wait_s": obs.group_wait_s,
        }
    )


def resolve_deadline(
    obs: Observability,
    recovery_effect_s: float = 0.0,
    window_s: float | None = None,
    margin_s: float = 0.0,
) -> Deadline:
    """Latest time after errors stop by which the resolved notification arrives.

    recovery_effect_s: the recovery has to show in the service's own metrics
    (requests already in flight may still fail).
    rate_window: the last bad sample leaves the rate's window only a full
    window after it was taken (window_s when the alert's window is not
    rate_window_s, such as the short window of a burn-rate pair).
    scrape_interval: the last bad sample itself may be taken up to one scrape
    after the errors stop.
    evaluation_interval: the rule notices at its next evaluation; a resolved
    alert has no "for" and is sent to Alertmanager at once.
    group_interval: Alertmanager sends the change at the group's next tick
    (send_resolved is on).
    delivery_tolerance_s: process scheduling and HTTP delivery on a busy machine.
    """
    terms = {
        "recovery_effect_s": recovery_effect_s,
        "rate_window_s": obs.rate_window_s if window_s is None else window_s,
        "scrape_s": obs.scrape_interval_s,
        "evaluation_s": obs.evaluation_interval_s,
        "group_interval_s": obs.group_interval_s,
        "delivery_tolerance_s": obs.delivery_tolerance_s,
    }
    if margin_s:
        terms["margin_s"] = margin_s
    return Deadline(terms)


def _whole_evaluations(for_s: float, evaluation_interval_s: float) -> float:
    # A tiny epsilon keeps 2.0000000001 evaluations from rounding up to 3.
    evaluations = math.ceil(for_s / evaluation_interval_s - 1e-9)
    return evaluations * evaluation_interval_s

"""When a burn-rate alert can fire and resolve, from the burn-rate arithmetic.

A fault that makes a share r of an SLI's events bad, starting from a clean
window, pushes a window of length W over the threshold t after t * W / r
seconds (the bad share of the window grows linearly). A pair fires when both
of its windows are over, so after long_window * t / r; an alert fires on its
fastest pair. It resolves when every firing pair's short window has let
enough of the bad events go: at most short_window * (1 - t / r) seconds
after the burn stops.

Both are bounds, not predictions, in a young estate: a window longer than
the data Prometheus holds acts as a window of the data's age, so it fills
sooner, and any pair whose threshold the burn exceeds may be the one firing.
"""

from dataclasses import dataclass

from harness.slo.rules import pair_threshold
from harness.slo.spec import BurnWindow, Objective, Policy
from harness.slo.variant import Variant


@dataclass(frozen=True)
class BurnTiming:
    """Seconds from the start of a burn to firing, and from its end to resolving."""

    fill_s: float | None  # None: this burn never fires the alert
    clear_s: float
    pair: BurnWindow | None  # the pair that fires first


def burn_timing(
    policy: Policy,
    variant: Variant,
    objective: Objective,
    severity: str,
    error_ratio: float,
    burn_s: float | None = None,
) -> BurnTiming:
    """How a burn of error_ratio lasting burn_s (None: until stopped) plays out."""
    firing = []
    for pair in policy.windows_of(severity):
        threshold = pair_threshold(objective, pair)
        if error_ratio <= threshold:
            continue
        fill_s = variant.seconds(pair.long_window_s) * threshold / error_ratio
        if burn_s is None or fill_s <= burn_s:
            firing.append((fill_s, pair, threshold))
    if not firing:
        return BurnTiming(None, 0.0, None)
    fill_s, first, _ = min(firing, key=lambda item: item[0])
    clear_s = max(
        variant.seconds(pair.short_window_s)
        * (1 - pair_threshold(objective, pair) / error_ratio)
        for pair in policy.windows_of(severity)
        if error_ratio > pair_threshold(objective, pair)
    )
    return BurnTiming(round(fill_s, 3), round(clear_s, 3), first)

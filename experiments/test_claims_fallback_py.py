"""Python experiment: claims-api's cached fallback keeps claims flowing.

Hypothesis: when customer-api answers claims-api too slowly, the claims-api
availability alert is notified, and switching claims-api to its cached
customer look-ups resolves it while the fault is still live.
"""

import pytest

pytestmark = [pytest.mark.gameday, pytest.mark.slow]

ALERT = "ClaimsApiAvailabilityBurnRate"


def test_cached_fallback_resolves_the_claims_alert(estate, faults, load, alerts):
    load.start(journey="file_a_claim", arrival_rate_per_s=4)
    faults.inject(
        "slow-customer-for-claims",
        "latency",
        route="claims-api_to_customer-api",
        latency_ms=1500,
    )

    alerts.wait_for(ALERT, "firing", timeout_s=120)
    with estate.admin("claims-api") as claims:
        claims.set_dependency("customer-api", {"fallback": "cache"})

    alerts.wait_for(ALERT, "resolved", timeout_s=180)

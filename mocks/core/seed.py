"""Deterministic seeded data: customer CUST-n owns the active policy POL-n.

Record n is drawn from its own random stream, keyed by the random seed and n,
so CUST-000042 is the same person whatever the customer count. Names are made
up from the lists below, e-mail addresses use the reserved example.com
domain, telephone numbers come from the UK range set aside for drama (07700
900000 to 900999), and payment methods are opaque gateway tokens, never card
numbers: no record describes a real person or a real account.
"""

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from mocks.config import SeedConfig
from mocks.core.records import digest, numbered_id
from mocks.core.storage import Store
from mocks.errors import ConfigError

log = logging.getLogger(__name__)

_FIRST_NAMES = (
    "Ada", "Bram", "Cleo", "Dara", "Elio", "Fenna", "Gus", "Hale", "Ines", "Joss",
    "Kit", "Lior", "Mara", "Nico", "Oona", "Pim", "Quin", "Rhea", "Sol", "Tova",
)  # fmt: skip
_LAST_NAMES = (
    "Abernoth", "Brisk", "Calloway", "Dunmere", "Esterly", "Fallow", "Greaves",
    "Hollin", "Ivesby", "Jarrow", "Kettle", "Lumley", "Marrow", "Nettlefold",
    "Orwin", "Pellow", "Quarry", "Rookwood", "Stavely", "Thorne",
)  # fmt: skip
# Every coverage is at least 10,000.00, so any claim of a plausible size
# against a seeded policy is covered.
PRODUCTS = {
    # product: (lowest coverage, highest coverage) in cents
    "home": (10_000_000, 80_000_000),
    "motor": (2_500_000, 6_000_000),
    "travel": (1_000_000, 2_500_000),
    "life": (5_000_000, 100_000_000),
}
# Annual premium as a share of coverage, drawn per policy.
_PREMIUM_RATE = (0.002, 0.02)
_SEED_EPOCH = date(2026, 1, 1)
_SEED_META_KEY = "seed"


def customer_id(number: int) -> str:
    return numbered_id("CUST", number)


def policy_id(number: int) -> str:
    return numbered_id("POL", number)


def _stream(random_seed: int, kind: str, number: int) -> random.Random:
    return random.Random(f"{random_seed}:{kind}:{number}")


def seeded_customer(random_seed: int, number: int) -> dict:
    """Customer number n of the seeded data set."""
    rng = _stream(random_seed, "customer", number)
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    return {
        "customer_id": customer_id(number),
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}.{number}@example.com",
        "date_of_birth": born.isoformat(),
        "identity_status": "verified",
        "crm_contact_id": f"CRM-S{number:06d}",
        "created_at": (_SEED_EPOCH - timedelta(days=rng.randrange(3650))).isoformat(),
        "phone": f"+44 7700 900{rng.randrange(1000):03d}",
        "consent": {
            "marketing_email": rng.random() < 0.4,
            "marketing_sms": rng.random() < 0.2,
            "share_with_partners": rng.random() < 0.1,
            "profiling": rng.random() < 0.3,
            "updated_at": None,
        },
    }


def seeded_policy(random_seed: int, number: int) -> dict:
    """Policy number n of the seeded data set, owned by customer number n."""
    rng = _stream(random_seed, "policy", number)
    product = rng.choice(sorted(PRODUCTS))
    low, high = PRODUCTS[product]
    coverage_cents = rng.randrange(low, high, 100_000)
    premium_cents = round(coverage_cents * rng.uniform(*_PREMIUM_RATE) / 100) * 100
    start = _SEED_EPOCH - timedelta(days=rng.randrange(1, 720))
    # A term runs a year and renews yearly, so every seeded policy is in force.
    end = start + timedelta(days=365)
    while end <= _SEED_EPOCH + timedelta(days=365):
        end += timedelta(days=365)
    return {
        "policy_id": policy_id(number),
        "customer_id": customer_id(number),
        "product": product,
        "status": "active",
        "coverage_cents": coverage_cents,
        "premium_cents": premium_cents,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "payment_method_token": f"pm_{digest('seed', random_seed, number, length=12)}",
    }


@dataclass(frozen=True)
class SeedPlan:
    """Which kind of record a service seeds, and how to make record number n."""

    kind: str
    id_field: str
    make: Callable[[int, int], dict]


CUSTOMERS = SeedPlan("customers", "customer_id", seeded_customer)
POLICIES = SeedPlan("policies", "policy_id", seeded_policy)


def ensure_seeded(store: Store, plan: SeedPlan, seed: SeedConfig) -> None:
    """Seed the store on its first start; on later starts check the seed matches."""
    wanted = _signature(seed)
    found = store.meta(_SEED_META_KEY)
    if found == wanted:
        log.info("seeded data present: %s %s", plan.kind, found)
        return
    if found is not None:
        raise ConfigError(
            f"field 'seed' has value {wanted}, but {store.path} was seeded with "
            f"{found}; accepted: the seed the data was made with, or a fresh data_dir"
        )
    _seed(store, plan, seed)
    log.info("seeded %s: %s", plan.kind, wanted)


def _seed(store: Store, plan: SeedPlan, seed: SeedConfig) -> None:
    records = (
        plan.make(seed.random_seed, number) for number in range(1, seed.customers + 1)
    )
    with store.transaction():
        store.put_many(plan.kind, ((r[plan.id_field], r) for r in records))
        store.set_sequence(plan.kind, seed.customers)
        store.set_meta(_SEED_META_KEY, _signature(seed))


def _signature(seed: SeedConfig) -> str:
    return json.dumps({"random_seed": seed.random_seed, "count": seed.customers})

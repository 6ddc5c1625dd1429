"""The services' domain routes: profiles, sign-in, consent, policy life, claims."""

import asyncio
from datetime import date

import httpx

from mocks.core.seed import seeded_customer
from mocks.services.fraud_detection import ClaimToScore
from mocks.services.fraud_detection import score as fraud_score

SEED = 20261204


def _url(estate, service: str, path: str) -> str:
    return f"{estate[service].url}{path}"


def test_a_profile_change_is_stored_and_filed_with_the_crm_again(estate):
    url = _url(estate, "customer-api", "/customers/CUST-000201")

    changed = httpx.patch(url, json={"email": "new.201@example.org"}, timeout=10)

    assert changed.status_code == 200
    assert changed.json()["email"] == "new.201@example.org"
    assert httpx.get(url).json() == changed.json()


def test_an_empty_or_unknown_profile_change_is_refused(estate):
    url = _url(estate, "customer-api", "/customers/CUST-000202")

    assert httpx.patch(url, json={}).status_code == 422
    assert httpx.patch(url, json={"shoe_size": 9}).status_code == 422
    missing = _url(estate, "customer-api", "/customers/CUST-999999")
    assert httpx.patch(missing, json={"name": "X"}).status_code == 404


def test_a_customer_signs_in_with_their_birth_date_and_the_token_verifies(estate):
    born = seeded_customer(SEED, 203)["date_of_birth"]
    tokens = _url(estate, "customer-api", "/auth/tokens")

    signed_in = httpx.post(
        tokens, json={"customer_id": "CUST-000203", "date_of_birth": born}
    )
    wrong = httpx.post(
        tokens, json={"customer_id": "CUST-000203", "date_of_birth": "1900-01-01"}
    )

    assert signed_in.status_code == 201
    assert wrong.status_code == 401
    verify = _url(estate, "customer-api", "/auth/verify")
    answer = httpx.post(verify, json={"token": signed_in.json()["token"]}).json()
    assert answer["valid"] is True
    assert answer["customer_id"] == "CUST-000203"
    assert httpx.post(verify, json={"token": "ctk_forged"}).json()["valid"] is False


def test_consent_flags_are_read_and_replaced_whole(estate):
    url = _url(estate, "customer-api", "/customers/CUST-000204/consent")
    flags = {
        "marketing_email": True,
        "marketing_sms": False,
        "share_with_partners": False,
        "profiling": True,
    }

    before = httpx.get(url)
    put = httpx.put(url, json=flags)
    partial = httpx.put(url, json={"marketing_email": True})
    as_text = httpx.put(url, json={**flags, "profiling": "yes"})

    assert before.status_code == 200
    assert set(before.json()) >= set(flags)
    assert put.status_code == 200
    assert {k: httpx.get(url).json()[k] for k in flags} == flags
    assert partial.status_code == as_text.status_code == 422


def _policy(customer: str, **changes) -> dict:
    policy = {
        "customer_id": customer,
        "product": "motor",
        "coverage_cents": 3_000_000,
        "premium_cents": 45_000,
        "payment_method": {"type": "card", "token": "tok_visa_4242"},
    }
    return {**policy, **changes}


def test_underwriting_refuses_coverage_beyond_the_product_or_a_tiny_premium(estate):
    url = _url(estate, "policy-api", "/policies")

    too_big = httpx.post(url, json=_policy("CUST-000205", coverage_cents=10**9))
    too_cheap = httpx.post(url, json=_policy("CUST-000205", premium_cents=1))

    assert (too_big.status_code, too_big.json()["field"]) == (422, "coverage_cents")
    assert (too_cheap.status_code, too_cheap.json()["field"]) == (422, "premium_cents")


def test_a_policy_changes_coverage_renews_and_is_cancelled_once(estate):
    created = httpx.post(
        _url(estate, "policy-api", "/policies"), json=_policy("CUST-000206"), timeout=10
    ).json()
    base = _url(estate, "policy-api", f"/policies/{created['policy_id']}")

    coverage = httpx.put(
        f"{base}/coverage", json={"coverage_cents": 4_000_000, "premium_cents": 60_000}
    )
    early = httpx.post(f"{base}/renewal")
    patched = httpx.patch(base, json={"billing_frequency": "monthly"})
    cancelled = httpx.post(f"{base}/cancellation", json={"reason": "replaced"})
    again = httpx.post(f"{base}/cancellation", json={"reason": "replaced"})
    status = httpx.get(f"{base}/status").json()

    assert coverage.status_code == 200
    assert coverage.json()["coverage_history"][0]["coverage_cents"] == 3_000_000
    assert early.status_code == 409
    assert patched.json()["billing_frequency"] == "monthly"
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert status["status"] == "cancelled"


def test_a_seeded_policy_renews_for_a_year_when_its_term_is_near_its_end(estate):
    renewed = []
    for number in range(300, 400):
        base = _url(estate, "policy-api", f"/policies/POL-{number:06d}")
        end = date.fromisoformat(httpx.get(base).json()["end_date"])
        if (end - date.today()).days <= 90:
            answer = httpx.post(f"{base}/renewal")
            assert answer.status_code == 200, answer.text
            renewed.append((end, date.fromisoformat(answer.json()["end_date"])))

    assert renewed, "no seeded policy near its end among 100"
    assert all((new - max(old, date.today())).days == 365 for old, new in renewed)


def _claim(number: int, amount_cents: int) -> dict:
    return {
        "policy_id": f"POL-{number:06d}",
        "customer_id": f"CUST-{number:06d}",
        "amount_cents": amount_cents,
        "description": "Burst pipe under the kitchen sink",
        "incident_date": date.today().isoformat(),
    }


def _claim_for_review(number: int, amount_cents: int) -> dict:
    """A large claim the fraud stub sends to review on today's date.

    The stub's score hashes every field, the incident date included, so the
    description is varied until today's hash is high enough.
    """
    for attempt in range(200):
        claim = {**_claim(number, amount_cents), "description": f"Burst pipe {attempt}"}
        verdict = asyncio.run(fraud_score(ClaimToScore(**claim)))
        if verdict["decision"] == "review":
            return claim
    raise AssertionError("no description sends the claim to review today")


def test_a_claim_under_review_is_adjudicated_once_and_then_paid(estate):
    claims = _url(estate, "claims-api", "/claims")
    filed = httpx.post(
        claims, json=_claim_for_review(207, 2_500_000), timeout=10
    ).json()
    assert filed["status"] == "under_review"
    base = f"{claims}/{filed['claim_id']}"

    too_much = httpx.post(
        f"{base}/adjudication",
        json={
            "decision": "approve",
            "reason": "checked",
            "approved_amount_cents": 3_000_000,
        },
    )
    approved = httpx.post(
        f"{base}/adjudication",
        json={
            "decision": "approve",
            "reason": "photos match",
            "approved_amount_cents": 2_000_000,
        },
    )
    twice = httpx.post(f"{base}/adjudication", json={"decision": "deny", "reason": "x"})
    paid = httpx.post(f"{base}/payout", timeout=10)
    status = httpx.get(f"{base}/status").json()

    assert too_much.status_code == 422
    assert approved.json()["status"] == "approved"
    assert twice.status_code == 409
    assert paid.json()["amount_cents"] == 2_000_000
    assert [step["status"] for step in status["history"]] == [
        "submitted",
        "under_review",
        "approved",
        "paid",
    ]


def test_a_retried_intake_with_its_key_files_one_claim(estate):
    claims = _url(estate, "claims-api", "/claims")
    claim = {**_claim(208, 40_000), "idempotency_key": "intake-208"}

    first = httpx.post(claims, json=claim, timeout=10)
    again = httpx.post(claims, json=claim, timeout=10)
    changed = httpx.post(claims, json={**claim, "amount_cents": 41_000}, timeout=10)

    assert first.status_code == again.status_code == 201
    assert first.json()["claim_id"] == again.json()["claim_id"]
    assert changed.status_code == 409
    assert "'intake-208'" in changed.json()["detail"]


def test_seeded_people_are_synthetic_and_reachable_by_id(estate):
    for number in (1, 999, 2000):
        customer = httpx.get(
            _url(estate, "customer-api", f"/customers/CUST-{number:06d}")
        ).json()
        assert customer["email"].endswith("@example.com")
        assert customer["phone"].startswith("+44 7700 900")
        policy = httpx.get(
            _url(estate, "policy-api", f"/policies/POL-{number:06d}")
        ).json()
        assert policy["payment_method_token"].startswith("pm_")

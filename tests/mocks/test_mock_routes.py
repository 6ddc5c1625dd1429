"""Every route of every service, its answers and its refusals."""

from datetime import date, timedelta

import httpx
import pytest
from mock_processes import CALLS

TODAY = date.today().isoformat()


def _claim(number: int, **changes) -> dict:
    claim = {
        "policy_id": f"POL-{number:06d}",
        "customer_id": f"CUST-{number:06d}",
        "amount_cents": 25_000,
        "description": "Burst pipe under the kitchen sink",
        "incident_date": TODAY,
    }
    claim.update(changes)
    return claim


def _policy(customer_id: str = "CUST-000010", **changes) -> dict:
    policy = {
        "customer_id": customer_id,
        "product": "home",
        "coverage_cents": 20_000_000,
        "premium_cents": 60_000,
        "payment_method": {"type": "card", "token": "tok_visa_4242"},
    }
    policy.update(changes)
    return policy


def _fields(answer: httpx.Response) -> set[str]:
    """The body fields a FastAPI validation error names."""
    return {".".join(map(str, error["loc"][1:])) for error in answer.json()["detail"]}


@pytest.mark.parametrize("name", list(CALLS))
def test_healthz_names_the_service_and_version(estate, name):
    answer = httpx.get(f"{estate[name].url}/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "service": name, "version": "1.0.0"}


def test_seeded_customer_and_policy_are_served(estate):
    customer = httpx.get(f"{estate['customer-api'].url}/customers/CUST-000007")
    policy = httpx.get(f"{estate['policy-api'].url}/policies/POL-000007")

    assert customer.status_code == 200
    assert customer.json()["email"].endswith("@example.com")
    assert policy.status_code == 200
    assert policy.json()["customer_id"] == "CUST-000007"
    assert policy.json()["status"] == "active"


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("customer-api", "/customers/CUST-999999"),
        ("policy-api", "/policies/POL-999999"),
        ("claims-api", "/claims/CLM-999999"),
        ("payment-api", "/payments/PAY-999999"),
        ("payment-api", "/disbursements/DSB-999999"),
        ("payment-gateway", "/charges/CH-999999"),
        ("payment-gateway", "/payouts/PO-999999"),
    ],
)
def test_an_unknown_record_is_404(estate, service, path):
    answer = httpx.get(f"{estate[service].url}{path}")

    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_a_new_customer_is_verified_filed_and_numbered_after_the_seed(estate):
    person = {
        "name": "Wren Tester",
        "email": "wren@example.com",
        "date_of_birth": "1990-02-03",
    }

    answer = httpx.post(f"{estate['customer-api'].url}/customers", json=person)

    assert answer.status_code == 201
    customer = answer.json()
    assert int(customer["customer_id"].removeprefix("CUST-")) > 2000
    assert customer["crm_contact_id"].startswith("CRM-")
    served = httpx.get(
        f"{estate['customer-api'].url}/customers/{customer['customer_id']}"
    )
    assert served.json() == customer


def test_customer_payload_errors_name_each_field(estate):
    bad = {"name": "", "email": "not-an-address", "date_of_birth": "someday", "x": 1}

    answer = httpx.post(f"{estate['customer-api'].url}/customers", json=bad)

    assert answer.status_code == 422
    assert _fields(answer) == {"name", "email", "date_of_birth", "x"}


def test_a_person_identity_verification_refuses_is_422(estate):
    person = {
        "name": "No One",
        "email": "no.one@example.invalid",
        "date_of_birth": "1990-02-03",
    }

    answer = httpx.post(f"{estate['customer-api'].url}/customers", json=person)

    assert answer.status_code == 422
    assert answer.json()["field"] == "email"


def test_a_policy_is_written_for_a_known_customer_with_a_good_method(estate):
    answer = httpx.post(f"{estate['policy-api'].url}/policies", json=_policy())

    assert answer.status_code == 201
    assert answer.json()["status"] == "active"
    assert answer.json()["customer_check"] == "verified"
    assert answer.json()["payment_method_token"].startswith("pm_")


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (_policy("CUST-999999"), "customer_id"),
        (
            _policy(payment_method={"type": "card", "token": "tok_refused_x"}),
            "payment_method.token",
        ),
    ],
)
def test_a_policy_the_checks_refuse_is_422_naming_the_field(estate, policy, field):
    answer = httpx.post(f"{estate['policy-api'].url}/policies", json=policy)

    assert answer.status_code == 422
    assert answer.json()["field"] == field


def test_policy_payload_errors_name_each_field(estate):
    bad = _policy(product="boat", coverage_cents=-1, premium_cents="100")

    answer = httpx.post(f"{estate['policy-api'].url}/policies", json=bad)

    assert answer.status_code == 422
    assert _fields(answer) == {"product", "coverage_cents", "premium_cents"}


def test_a_covered_claim_is_approved_with_every_check_verified(estate):
    answer = httpx.post(f"{estate['claims-api'].url}/claims", json=_claim(11))

    assert answer.status_code == 201
    claim = answer.json()
    assert claim["status"] == "approved"
    assert claim["identity_check"] == "verified"
    assert claim["coverage_check"] == "verified"
    served = httpx.get(f"{estate['claims-api'].url}/claims/{claim['claim_id']}")
    assert served.json() == claim


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        (_claim(12, customer_id="CUST-000013"), "customer_id"),
        (_claim(12, policy_id="POL-999999"), "policy_id"),
        (_claim(12, amount_cents=10**11), "amount_cents"),
        (
            _claim(12, incident_date=(date.today() + timedelta(days=5)).isoformat()),
            "incident_date",
        ),
    ],
)
def test_a_claim_the_coverage_check_refuses_is_422_with_the_reason(
    estate, claim, field
):
    answer = httpx.post(f"{estate['claims-api'].url}/claims", json=claim)

    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert answer.json()["reason"]


def test_claim_payload_errors_name_each_field(estate):
    bad = {"policy_id": "P1", "amount_cents": 0, "incident_date": "yesterday"}

    answer = httpx.post(f"{estate['claims-api'].url}/claims", json=bad)

    assert answer.status_code == 422
    assert _fields(answer) == {
        "policy_id",
        "customer_id",
        "amount_cents",
        "description",
        "incident_date",
    }


def test_an_amount_as_a_string_is_refused(estate):
    claim = _claim(12, amount_cents="25000")

    answer = httpx.post(f"{estate['claims-api'].url}/claims", json=claim)

    assert answer.status_code == 422
    assert _fields(answer) == {"amount_cents"}


def test_a_payout_pays_once_and_a_repeat_answers_the_same(estate):
    claims = estate["claims-api"].url
    claim = httpx.post(f"{claims}/claims", json=_claim(14)).json()

    first = httpx.post(f"{claims}/claims/{claim['claim_id']}/payout", timeout=10)
    again = httpx.post(f"{claims}/claims/{claim['claim_id']}/payout", timeout=10)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    disbursement_id = first.json()["disbursement_id"]
    disbursement = httpx.get(
        f"{estate['payment-api'].url}/disbursements/{disbursement_id}"
    ).json()
    assert disbursement["amount_cents"] == claim["amount_cents"]
    assert httpx.get(f"{claims}/claims/{claim['claim_id']}").json()["status"] == "paid"


def _claim_fraud_detection_reviews(estate) -> dict:
    for attempt in range(50):
        claim = _claim(15, amount_cents=2_500_000, description=f"Fire, room {attempt}")
        score = httpx.post(f"{estate['fraud-detection'].url}/score", json=claim)
        if score.json()["decision"] == "review":
            return claim
    raise AssertionError("no claim of 50 tried was sent to review")


def test_a_claim_under_review_cannot_be_paid_out(estate):
    claims = estate["claims-api"].url
    claim = httpx.post(f"{claims}/claims", json=_claim_fraud_detection_reviews(estate))
    assert claim.json()["status"] == "under_review"

    answer = httpx.post(f"{claims}/claims/{claim.json()['claim_id']}/payout")

    assert answer.status_code == 409
    assert httpx.post(f"{claims}/claims/CLM-999999/payout").status_code == 404


@pytest.mark.parametrize(
    ("disbursement", "field"),
    [
        ({"claim_id": "CLM-999999", "amount_cents": 100}, "claim_id"),
        ({"claim_id": None, "amount_cents": 10**11}, "amount_cents"),
    ],
)
def test_a_disbursement_the_claim_does_not_allow_is_422(estate, disbursement, field):
    filed = httpx.post(f"{estate['claims-api'].url}/claims", json=_claim(16))
    # None stands for the claim just filed, whatever number it was given.
    claim_id = disbursement["claim_id"] or filed.json()["claim_id"]
    body = {**disbursement, "claim_id": claim_id, "idempotency_key": f"refused-{field}"}

    answer = httpx.post(f"{estate['payment-api'].url}/disbursements", json=body)

    assert answer.status_code == 422
    assert answer.json()["field"] == field


def test_a_payment_method_is_verified_through_the_gateway(estate):
    url = f"{estate['payment-api'].url}/payment-methods/verify"
    method = {"customer_id": "CUST-000001", "type": "bank_account", "token": "tok_1"}

    good = httpx.post(url, json=method)
    refused = httpx.post(url, json={**method, "token": "tok_refused_1"})

    assert (good.status_code, good.json()["verified"]) == (200, True)
    assert (refused.status_code, refused.json()["verified"]) == (200, False)
    assert httpx.post(url, json={"type": "cash"}).status_code == 422


def test_a_payment_for_an_unknown_policy_is_422(estate):
    body = {"policy_id": "POL-999999", "amount_cents": 100, "idempotency_key": "p-404"}

    answer = httpx.post(f"{estate['payment-api'].url}/payments", json=body)

    assert answer.status_code == 422
    assert answer.json()["field"] == "policy_id"


@pytest.mark.parametrize(
    ("service", "path", "body"),
    [
        ("identity-verification", "/verify", {"name": "A"}),
        ("crm", "/contacts", {"customer_id": "C-1"}),
        ("fraud-detection", "/score", {"amount_cents": 5}),
        ("payment-gateway", "/verify", {"type": "cash", "token": "t"}),
        ("payment-gateway", "/charges", {"amount_cents": 0}),
        ("payment-gateway", "/payouts", {}),
    ],
)
def test_external_stubs_refuse_bad_payloads(estate, service, path, body):
    assert httpx.post(f"{estate[service].url}{path}", json=body).status_code == 422


def test_external_stubs_answer_deterministically(estate):
    claim = _claim(17)
    person = {
        "name": "Ada Kettle",
        "email": "ada@example.com",
        "date_of_birth": "1980-01-01",
    }

    scores = [
        httpx.post(f"{estate['fraud-detection'].url}/score", json=claim).json()
        for _ in range(2)
    ]
    checks = [
        httpx.post(f"{estate['identity-verification'].url}/verify", json=person).json()
        for _ in range(2)
    ]
    contact = {"customer_id": "CUST-000001", "name": "Ada", "email": "ada@example.com"}
    filed = httpx.post(f"{estate['crm'].url}/contacts", json=contact)

    assert scores[0] == scores[1]
    assert checks[0] == checks[1] and checks[0]["verified"] is True
    assert filed.status_code == 201


def _visits(estate, trace_id: str) -> list[tuple[str, str, str]]:
    return [
        (line["service"], line["method"], line["route"])
        for process in estate.values()
        for line in process.log_lines()
        if line["trace_id"] == trace_id
    ]


def _traceparent(trace_id: str) -> dict:
    return {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}


def test_no_request_path_calls_the_same_route_twice(estate):
    claims = estate["claims-api"].url
    intake_trace, payout_trace = "a" * 32, "b" * 32
    claim = httpx.post(
        f"{claims}/claims", json=_claim(18), headers=_traceparent(intake_trace)
    ).json()
    httpx.post(
        f"{claims}/claims/{claim['claim_id']}/payout",
        headers=_traceparent(payout_trace),
        timeout=10,
    )

    intake = _visits(estate, intake_trace)
    payout = _visits(estate, payout_trace)

    assert len(intake) == len(set(intake)) == 4, intake
    assert len(payout) == len(set(payout)) == 5, payout
    assert ("payment-gateway", "POST", "/payouts") in payout

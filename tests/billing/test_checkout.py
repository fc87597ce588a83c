"""Stripe checkout (hosted and embedded), the customer portal and session status, with the real
`stripe` client talking to a local Stripe stub (contract §2.8)."""

from __future__ import annotations

from typing import Any

import pytest

from mediqom.billing.models import CheckoutSession
from mediqom.records.models import Subscription
from tests.conftest import ok

pytestmark = pytest.mark.django_db

RETURN = "https://app.mediqom.test/med/settings/subscription"
STRIPE_ROUTES = [
    ("post", "/v1/billing/stripe/checkout",
     {"tier_id": "caretaker", "billing_cycle": "monthly", "return_url": RETURN}),
    ("post", "/v1/billing/stripe/embedded-checkout", {"pack_id": "pack_50", "return_url": RETURN}),
    ("post", "/v1/billing/stripe/portal", {"return_url": RETURN}),
    ("get", "/v1/billing/stripe/session-status?session_id=cs_test_0001", None),
]  # fmt: skip


def call(client: Any, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "url", "body"), STRIPE_ROUTES)
def test_without_a_stripe_key_the_routes_answer_503_and_the_rest_works(
    settings, alice, client_for, method, url, body
):
    settings.STRIPE_SECRET_KEY = None
    response = call(client_for(alice), method, url, body)
    assert response.status_code == 503
    assert response.json() == {
        "message": "Payments are not configured on this server",
        "code": "stripe_not_configured",
        "fields": {},
    }
    assert not CheckoutSession.objects.exists()
    assert client_for(alice).get("/v1/billing/tiers").status_code == 200
    assert client_for(alice).get("/v1/billing/subscription").status_code == 200


@pytest.mark.parametrize(("method", "url", "body"), STRIPE_ROUTES)
def test_the_stripe_routes_need_a_token(stripe_stub, client_for, method, url, body):
    response = call(client_for(None), method, url, body)
    assert response.status_code == 401
    assert stripe_stub.requests == []


def test_a_hosted_subscription_checkout(stripe_stub, alice, client_for):
    response = client_for(alice).post(
        "/v1/billing/stripe/checkout",
        {"tier_id": "caretaker", "billing_cycle": "yearly", "return_url": RETURN},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"url", "session_id"}
    assert body["url"] == f"https://checkout.stripe.test/c/pay/{body['session_id']}"

    [customer] = stripe_stub.calls("POST", "/v1/customers")
    assert customer.params == {
        "email": "alice@example.test",
        "metadata[user_id]": str(alice.id),
        "metadata[source]": "mediqom",
    }
    assert customer.headers["idempotency-key"] == f"mediqom-customer-{alice.id}"
    [created] = stripe_stub.calls("POST", "/v1/checkout/sessions")
    customer_id = next(iter(stripe_stub.customers))
    assert created.params == {
        "mode": "subscription",
        "customer": customer_id,
        "line_items[0][price]": "price_caretaker_yearly",
        "line_items[0][quantity]": "1",
        "metadata[user_id]": str(alice.id),
        "metadata[tier_id]": "caretaker",
        "metadata[billing_cycle]": "yearly",
        "subscription_data[metadata][user_id]": str(alice.id),
        "subscription_data[metadata][tier_id]": "caretaker",
        "allow_promotion_codes": "true",
        "billing_address_collection": "auto",
        "tax_id_collection[enabled]": "true",
        "success_url": f"{RETURN}?success=true&session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{RETURN}?canceled=true",
    }
    assert created.headers["authorization"] == "Bearer sk_test_stub_key"
    assert Subscription.objects.get(pk=alice.id).stripe_customer_id == customer_id
    row = CheckoutSession.objects.get()
    assert (row.id, row.user_id, row.mode, row.ui_mode, row.tier_id, row.billing_cycle) == (
        body["session_id"], alice.id, "subscription", "hosted", "caretaker", "yearly",
    )  # fmt: skip


def test_an_embedded_pack_checkout_and_the_customer_is_reused(stripe_stub, alice, client_for):
    client = client_for(alice)
    first = client.post(
        "/v1/billing/stripe/embedded-checkout",
        {"pack_id": "pack_50", "return_url": f"{RETURN}?tab=packs"},
        format="json",
    )
    assert first.status_code == 200, first.content
    body = first.json()
    assert body == {
        "clientSecret": f"{body['sessionId']}_secret_stub",
        "sessionId": body["sessionId"],
    }
    [created] = stripe_stub.calls("POST", "/v1/checkout/sessions")
    assert created.params["ui_mode"] == "embedded"
    assert created.params["mode"] == "payment"
    assert created.params["line_items[0][price]"] == "price_pack_50"
    assert created.params["metadata[pack_id]"] == "pack_50"
    assert created.params["metadata[scans]"] == "50"
    assert created.params["return_url"] == f"{RETURN}?tab=packs&session_id={{CHECKOUT_SESSION_ID}}"
    assert "success_url" not in created.params
    assert "subscription_data[metadata][user_id]" not in created.params

    second = client.post(
        "/v1/billing/stripe/checkout",
        {"tier_id": "family", "billing_cycle": "monthly", "return_url": RETURN},
        format="json",
    )
    assert second.status_code == 200
    assert len(stripe_stub.calls("POST", "/v1/customers")) == 1
    sessions = stripe_stub.calls("POST", "/v1/checkout/sessions")
    assert sessions[1].params["customer"] == sessions[0].params["customer"]
    assert sessions[1].params["line_items[0][price]"] == "price_family_monthly"
    assert CheckoutSession.objects.filter(user_id=alice.id).count() == 2


def test_a_catalogue_price_is_used_when_no_setting_names_one(
    stripe_stub, settings, alice, client_for
):
    from mediqom.records.models import ScanPack

    settings.STRIPE_PRICES = {}
    ScanPack.objects.filter(pk="pack_50").update(stripe_price_id="price_from_catalogue")
    response = client_for(alice).post(
        "/v1/billing/stripe/checkout", {"pack_id": "pack_50", "return_url": RETURN}, format="json"
    )
    assert response.status_code == 200
    [created] = stripe_stub.calls("POST", "/v1/checkout/sessions")
    assert created.params["line_items[0][price]"] == "price_from_catalogue"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"tier_id": "caretaker", "billing_cycle": "monthly"}, 400, "invalid"),
        ({"tier_id": "caretaker", "billing_cycle": "monthly", "return_url": "javascript:x"},
         400, "invalid"),
        ({"tier_id": "caretaker", "return_url": RETURN}, 400, "invalid"),
        ({"tier_id": "caretaker", "billing_cycle": "weekly", "return_url": RETURN}, 400, "invalid"),
        ({"billing_cycle": "monthly", "return_url": RETURN}, 400, "invalid"),
        ({"tier_id": "platinum", "billing_cycle": "monthly", "return_url": RETURN},
         400, "invalid_tier"),
        ({"tier_id": "free", "billing_cycle": "monthly", "return_url": RETURN},
         400, "price_not_configured"),
        ({"pack_id": "pack_1000", "return_url": RETURN}, 400, "invalid_pack"),
    ],
)  # fmt: skip
def test_bad_checkout_input_is_a_400_and_nothing_is_created(
    stripe_stub, alice, client_for, body, status, code
):
    response = client_for(alice).post("/v1/billing/stripe/checkout", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert stripe_stub.requests == []
    assert not CheckoutSession.objects.exists()


def test_the_billing_cycle_message_matches_the_reference(stripe_stub, alice, client_for):
    response = client_for(alice).post(
        "/v1/billing/stripe/checkout", {"tier_id": "caretaker", "return_url": RETURN}, format="json"
    )
    assert ok(response, 400).json()["message"] == (
        'billing_cycle: billing_cycle must be "monthly" or "yearly"'
    )


@pytest.mark.parametrize(
    "failure",
    [
        (500, {"error": {"type": "api_error", "message": "boom"}}),
        (402, {"error": {"type": "card_error", "message": "declined", "code": "card_declined"}}),
    ],
)
def test_a_stripe_failure_is_a_502_and_nothing_is_kept(stripe_stub, alice, client_for, failure):
    stripe_stub.fail_with = failure
    response = client_for(alice).post(
        "/v1/billing/stripe/checkout", {"pack_id": "pack_50", "return_url": RETURN}, format="json"
    )
    assert response.status_code == 502
    assert response.json() == {
        "message": "The payment provider could not complete the request",
        "code": "stripe_error",
        "fields": {},
    }
    assert not CheckoutSession.objects.exists()
    assert Subscription.objects.filter(pk=alice.id, stripe_customer_id__isnull=False).count() == 0


def test_the_portal_opens_for_the_callers_customer_only(stripe_stub, alice, client_for):
    client = client_for(alice)
    none_yet = client.post("/v1/billing/stripe/portal", {"return_url": RETURN}, format="json")
    assert (none_yet.status_code, none_yet.json()["message"]) == (400, "No billing account found")
    assert stripe_stub.requests == []
    checkout = client.post(
        "/v1/billing/stripe/checkout", {"pack_id": "pack_50", "return_url": RETURN}, format="json"
    )
    ok(checkout)
    customer_id = Subscription.objects.get(pk=alice.id).stripe_customer_id
    response = client.post("/v1/billing/stripe/portal", {"return_url": RETURN}, format="json")
    assert response.status_code == 200
    assert response.json()["url"].startswith("https://billing.stripe.test/p/session/bps_")
    [portal] = stripe_stub.calls("POST", "/v1/billing_portal/sessions")
    assert portal.params == {"customer": customer_id, "return_url": RETURN}


def test_session_status_of_the_callers_session(stripe_stub, alice, client_for):
    client = client_for(alice)
    created = client.post(
        "/v1/billing/stripe/checkout", {"pack_id": "pack_50", "return_url": RETURN}, format="json"
    )
    session_id = ok(created).json()["session_id"]
    open_status = client.get(f"/v1/billing/stripe/session-status?session_id={session_id}")
    assert ok(open_status).json() == {
        "status": "open",
        "paymentStatus": "unpaid",
        "customerEmail": None,
    }
    stripe_stub.sessions[session_id].update(
        status="complete", payment_status="paid", customer_details={"email": "alice@example.test"}
    )
    done = client.get(f"/v1/billing/stripe/session-status?session_id={session_id}")
    assert ok(done).json() == {
        "status": "complete",
        "paymentStatus": "paid",
        "customerEmail": "alice@example.test",
    }
    assert stripe_stub.calls("GET", f"/v1/checkout/sessions/{session_id}")


def test_session_status_needs_a_session_id_and_hides_unknown_ones(stripe_stub, alice, client_for):
    client = client_for(alice)
    missing = client.get("/v1/billing/stripe/session-status")
    assert (missing.status_code, missing.json()["code"]) == (400, "session_id_required")
    unknown = client.get("/v1/billing/stripe/session-status?session_id=cs_test_nope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert stripe_stub.requests == []  # never asked Stripe about a session that is not ours


def test_every_new_route_is_in_the_openapi_schema(client_for):
    response = client_for(None).get("/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in {
        "/v1/billing/stripe/checkout": {"post"},
        "/v1/billing/stripe/embedded-checkout": {"post"},
        "/v1/billing/stripe/portal": {"post"},
        "/v1/billing/stripe/session-status": {"get"},
        "/v1/billing/stripe/webhook": {"post"},
        "/v1/beta/apply": {"get", "post"},
    }.items():
        assert methods <= set(paths[path]), path
    # the public routes ask for no token; the Stripe routes for the Supabase JWT
    for path, method in [
        ("/v1/billing/stripe/webhook", "post"),
        ("/v1/beta/apply", "post"),
        ("/v1/beta/apply", "get"),
    ]:
        assert "security" not in paths[path][method], (path, method)
    assert paths["/v1/billing/stripe/checkout"]["post"]["security"] == [{"supabaseJWT": []}]


@pytest.mark.django_db(transaction=True)
def test_parallel_first_checkouts_of_one_user_make_one_customer(stripe_stub, live_server):
    """Four first checkouts released together over real HTTP (own threads and connections):
    the locked subscription row makes them share one Stripe customer."""
    import json
    import threading
    import urllib.request

    from django.db import connection

    from tests.billing.conftest import reseed_catalogue
    from tests.conftest import persona, token_for

    reseed_catalogue()
    alice = persona("alice@example.test")
    token = token_for(alice)
    count = 4
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def checkout() -> None:
        try:
            request = urllib.request.Request(  # noqa: S310 - our local test server
                f"{live_server.url}/v1/billing/stripe/checkout",
                data=json.dumps({"pack_id": "pack_50", "return_url": RETURN}).encode(),
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            barrier.wait(timeout=10)
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                statuses.append(response.status)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=checkout) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    connection.close()
    assert errors == []
    assert statuses == [200] * count
    assert len(stripe_stub.calls("POST", "/v1/customers")) == 1
    customers = {r.params["customer"] for r in stripe_stub.calls("POST", "/v1/checkout/sessions")}
    assert customers == {Subscription.objects.get(pk=alice.id).stripe_customer_id}
    assert CheckoutSession.objects.filter(user_id=alice.id).count() == count

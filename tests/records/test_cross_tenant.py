"""Every records route, cross-tenant: Bob on Alice's ids gets exactly the 404 of a random id and
changes nothing; deleted ids look missing; no token is a 401. Each case runs with RLS on (both
layers) and with RLS off (the queryset layer alone)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mediqom.records.models import Document, Key, PrivateKey, Profile, ProfileLink
from tests.conftest import ok
from tests.records.conftest import NOT_FOUND, World, data_url, document_body, stored_files

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]

UNAUTHORIZED = {"message": "Unauthorized", "code": "not_authenticated", "fields": {}}


def routes(ids: dict[str, Any], bob: uuid.UUID) -> dict[str, tuple[str, str, Any]]:
    """(method, url, body) of every records route, aimed at `ids`."""
    avatar_body = {"file": data_url("avatar.png"), "filename": "x.png", "type": "image/png"}
    return {
        "profile_get": ("get", "/v1/med/profiles/{family}", None),
        "profile_patch": ("patch", "/v1/med/profiles/{family}", {"fullName": "Mallory"}),
        "profile_delete": ("delete", "/v1/med/profiles/{family}", None),
        "profile_delete_own_link": ("delete", "/v1/med/profiles/{alice}", None),
        "parent_link_delete": ("delete", "/v1/med/profiles/{alice}?link_type=parent", None),
        "documents_list": ("get", "/v1/med/profiles/{alice}/documents", None),
        "documents_list_full": (
            "get",
            "/v1/med/profiles/{family}/documents?types=document,health&full=true",
            None,
        ),
        "document_create": (
            "post",
            "/v1/med/profiles/{family}/documents",
            document_body(author=bob, profile=ids["family"]),
        ),
        "document_get": ("get", "/v1/med/profiles/{alice}/documents/{doc}", None),
        "document_get_via_own_profile": ("get", "/v1/med/profiles/{bob}/documents/{doc}", None),
        "document_put": (
            "put",
            "/v1/med/profiles/{family}/documents/{family_doc}",
            {"metadata": "bWFsbG9yeQ==", "content": "bWFsbG9yeQ=="},
        ),
        "document_delete": ("delete", "/v1/med/profiles/{family}/documents/{family_doc}", None),
        "attachment_upload": ("post", "/v1/med/profiles/{family}/attachments", {"file": "eA=="}),
        "attachment_get": ("get", "/v1/med/profiles/{alice}/attachments?path={path}", None),
        "attachment_get_via_own_profile": (
            "get",
            "/v1/med/profiles/{bob}/attachments?path={path}",
            None,
        ),
        "attachment_delete": ("delete", "/v1/med/profiles/{bob}/attachments?path={path}", None),
        "avatar_get": ("get", "/v1/med/profiles/{family}/avatar?path={avatar}", None),
        "avatar_upload": ("post", "/v1/med/profiles/{family}/avatar", avatar_body),
    }


ROUTE_NAMES = list(routes({"family": uuid.uuid4()}, uuid.uuid4()))


def alice_ids(world: World) -> dict[str, Any]:
    return {
        "alice": world.id,
        "family": world.family_id,
        "doc": world.document_id,
        "family_doc": world.family_document_id,
        "path": world.attachment_path,
        "avatar": world.avatar,
    }


def random_ids() -> dict[str, Any]:
    return {
        "alice": uuid.uuid4(),
        "family": uuid.uuid4(),
        "doc": uuid.uuid4(),
        "family_doc": uuid.uuid4(),
        "path": f"{uuid.uuid4()}/a1b2c3d4e5f6g7h8i9j0k1l2m3",
        "avatar": "0.5.png",
    }


def call(client: Any, name: str, ids: dict[str, Any], bob: uuid.UUID) -> Any:
    method, url, body = routes(ids, bob)[name]
    return getattr(client, method)(url.format(bob=bob, **ids), body, format="json")


def snapshot(media: Any) -> dict[str, Any]:
    """Everything of Alice's a request could change."""
    return {
        "profiles": set(Profile.objects.values_list("id", "full_name", "avatar_url", "language")),
        "documents": set(
            Document.objects.values_list("id", "profile_id", "metadata", "content", "type")
        ),
        "keys": set(Key.objects.values_list("id", "document_id", "user_id", "owner_id", "key")),
        "links": set(ProfileLink.objects.values_list("parent_id", "profile_id", "status")),
        "private_keys": set(PrivateKey.objects.values_list("profile_id", "private_key")),
        "files": stored_files(media),
    }


def assert_bob_is_refused_like_a_random_id(world, bob, client_for, local_storage, name):
    client = client_for(bob)
    before = snapshot(local_storage)
    on_alice = call(client, name, alice_ids(world), bob.id)
    assert on_alice.status_code == 404, (name, on_alice.content)
    assert on_alice.json() == NOT_FOUND
    assert snapshot(local_storage) == before
    on_random = call(client, name, random_ids(), bob.id)
    assert on_random.status_code == 404, (name, on_random.content)
    assert on_random.content == on_alice.content
    assert snapshot(local_storage) == before


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_bob_gets_the_404_of_a_random_id_and_changes_nothing(
    world, bob, client_for, local_storage, name
):
    assert_bob_is_refused_like_a_random_id(world, bob, client_for, local_storage, name)


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_the_queryset_layer_alone_refuses_bob(
    rls_disabled, world, bob, client_for, local_storage, name
):
    # rls_disabled first: ALTER TABLE is refused once rows with deferred FK checks exist.
    assert_bob_is_refused_like_a_random_id(world, bob, client_for, local_storage, name)


@pytest.mark.parametrize("layer", ["rls", "queryset_only"])
def test_deleted_ids_look_missing(request, layer):
    if layer == "queryset_only":
        request.getfixturevalue("rls_disabled")
    world = request.getfixturevalue("world")
    client = world.client
    family, doc = world.family_id, world.family_document_id
    assert client.delete(f"/v1/med/profiles/{family}/documents/{doc}").status_code == 200
    for method, url, body in [
        ("get", f"/v1/med/profiles/{family}/documents/{doc}", None),
        ("put", f"/v1/med/profiles/{family}/documents/{doc}", {"metadata": "m", "content": "c"}),
        ("delete", f"/v1/med/profiles/{family}/documents/{doc}", None),
    ]:
        response = getattr(client, method)(url, body, format="json")
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, url)

    path = world.attachment_path
    assert client.delete(f"/v1/med/profiles/{world.id}/attachments?path={path}").status_code == 200
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/v1/med/profiles/{world.id}/attachments?path={path}")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    assert client.delete(f"/v1/med/profiles/{family}").status_code == 200
    for method, url, body in [
        ("get", f"/v1/med/profiles/{family}", None),
        ("patch", f"/v1/med/profiles/{family}", {"fullName": "Again"}),
        ("delete", f"/v1/med/profiles/{family}", None),
        ("get", f"/v1/med/profiles/{family}/documents", None),
        ("get", f"/v1/med/profiles/{family}/avatar?path={world.avatar}", None),
        ("post", f"/v1/med/profiles/{family}/attachments", {"file": "eA=="}),
    ]:
        response = getattr(client, method)(url, body, format="json")
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, url)


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_no_token_is_a_401(client_for, name):
    response = call(client_for(None), name, random_ids(), uuid.uuid4())
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/v1/med/profiles"),
        ("post", "/v1/med/profiles"),
        ("get", "/v1/billing/subscription"),
    ],
)
def test_no_token_is_a_401_on_the_collection_routes(client_for, method, url):
    response = getattr(client_for(None), method)(url, {}, format="json")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize(
    ("method", "url"), [("post", "/v1/user/language"), ("delete", "/v1/user/delete")]
)
def test_no_token_is_a_legacy_401_on_user_routes(client_for, method, url):
    response = getattr(client_for(None), method)(url, {"language": "en"}, format="json")
    assert response.status_code == 401
    assert response.json() == {**UNAUTHORIZED, "success": False, "error": "Unauthorized"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bob_cannot_list_alice_in_his_profiles_or_see_her_user(world, bob, client_for):
    client = client_for(bob)
    assert ok(client.get("/v1/med/profiles")).json() == []
    assert ok(client.get("/v1/med/user")).json()["id"] == str(bob.id)
    assert ok(client.get("/v1/billing/subscription")).json()["id"] == str(bob.id)


WRITE_ROUTES = [
    name
    for name in ROUTE_NAMES
    if routes(random_ids(), uuid.uuid4())[name][0] in {"post", "put", "patch"}
]


@pytest.mark.parametrize("name", WRITE_ROUTES)
@pytest.mark.parametrize("raw", ['{"fullName": ', "[1, 2]", '"text"'])
def test_malformed_or_non_object_bodies_are_a_400_and_change_nothing(
    world, client_for, local_storage, name, raw
):
    method, url, _ = routes(alice_ids(world), world.id)[name]
    before = snapshot(local_storage)
    response = getattr(world.client, method)(
        url.format(bob=world.id, **alice_ids(world)), data=raw, content_type="application/json"
    )
    assert response.status_code == 400, (name, response.content)
    assert response.json()["code"] in {"malformed_json", "invalid_body"}
    assert snapshot(local_storage) == before


def test_a_missing_avatar_path_is_a_400(alice, client_for):
    response = client_for(alice).get(f"/v1/med/profiles/{alice.id}/avatar")
    assert (response.status_code, response.json()["code"]) == (400, "path_required")


# ---------------------------------------------------------------- billing (Stripe)
# Bob can neither read Alice's checkout sessions nor open, reuse or charge her Stripe customer.
# Each case runs with RLS on and with RLS off (the queryset layer alone).

from tests.billing.stripe_stub import stripe_stub  # noqa: E402, F401 - fixture

RETURN_URL = "https://app.mediqom.test/billing"


def _alice_bought(request: Any, layer: str) -> tuple[Any, Any, str, str]:
    """(alice, bob, Alice's checkout session id, Alice's Stripe customer id)."""
    if layer == "queryset_only":
        request.getfixturevalue("rls_disabled")  # before any row exists
    stub = request.getfixturevalue("stripe_stub")
    client_for = request.getfixturevalue("client_for")
    alice, bob = request.getfixturevalue("alice"), request.getfixturevalue("bob")
    created = client_for(alice).post(
        "/v1/billing/stripe/checkout",
        {"pack_id": "pack_50", "return_url": RETURN_URL},
        format="json",
    )
    assert created.status_code == 200, created.content
    customer = stub.calls("POST", "/v1/checkout/sessions")[0].params["customer"]
    stub.requests.clear()
    return client_for(bob), stub, created.json()["session_id"], customer


LAYERS = ["rls", "queryset_only"]


@pytest.mark.parametrize("layer", LAYERS)
def test_bob_gets_the_404_of_a_random_id_for_alices_checkout_session(request, layer):
    bob_client, stub, session_id, _ = _alice_bought(request, layer)
    on_alice = bob_client.get(f"/v1/billing/stripe/session-status?session_id={session_id}")
    assert (on_alice.status_code, on_alice.json()) == (404, NOT_FOUND)
    on_random = bob_client.get("/v1/billing/stripe/session-status?session_id=cs_test_random")
    assert on_random.status_code == 404
    assert on_random.content == on_alice.content
    assert stub.requests == []  # Stripe was never asked about Alice's session


@pytest.mark.parametrize("layer", LAYERS)
def test_bob_cannot_open_alices_billing_portal(request, layer):
    bob_client, stub, _, _ = _alice_bought(request, layer)
    response = bob_client.post(
        "/v1/billing/stripe/portal", {"return_url": RETURN_URL, "customer": "x"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "no_billing_account")
    assert stub.requests == []


@pytest.mark.parametrize("layer", LAYERS)
def test_bobs_checkout_never_uses_alices_customer(request, layer):
    from mediqom.billing.models import CheckoutSession
    from mediqom.records.models import Subscription

    bob_client, stub, session_id, alice_customer = _alice_bought(request, layer)
    response = bob_client.post(
        "/v1/billing/stripe/embedded-checkout",
        {"pack_id": "pack_50", "return_url": RETURN_URL, "customer": alice_customer},
        format="json",
    )
    assert response.status_code == 200
    [made] = stub.calls("POST", "/v1/customers")
    assert made.params["email"] == "bob@example.test"
    [session] = stub.calls("POST", "/v1/checkout/sessions")
    assert session.params["customer"] not in ("", alice_customer)
    alice = request.getfixturevalue("alice")
    assert Subscription.objects.get(pk=alice.id).stripe_customer_id == alice_customer
    assert CheckoutSession.objects.get(pk=session_id).user_id == alice.id
    subscription = ok(bob_client.get("/v1/billing/subscription")).json()
    assert subscription["stripe_customer_id"] == session.params["customer"]

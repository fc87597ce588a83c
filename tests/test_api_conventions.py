"""Cross-cutting API behaviour: error envelope, 4xx stay 4xx, CORS, slashes, body limits."""

from __future__ import annotations

import pytest

from mediqom.records.models import PrivateKey
from tests.conftest import ok

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]

UNAUTHORIZED = {"message": "Unauthorized", "code": "not_authenticated", "fields": {}}


def test_it_answers_401_with_the_envelope_without_a_token(client_for):
    response = client_for(None).get("/v1/med/user")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_malformed_json_and_stores_nothing(alice, client_for):
    response = client_for(alice).post(
        "/v1/account/onboarding", data='{"fullName": "A", ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "Malformed JSON body",
        "code": "malformed_json",
        "fields": {},
    }
    assert not PrivateKey.objects.exists()


def test_it_rejects_a_body_that_is_not_an_object(alice, client_for):
    response = client_for(alice).post("/v1/account/onboarding", data=[1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"


def test_it_reports_wrong_types_per_field(alice, client_for):
    from tests.records.test_api_user import onboarding_body

    body = onboarding_body(fullName=["not", "a", "string"])
    response = client_for(alice).post("/v1/account/onboarding", body, format="json")
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["code"] == "invalid"
    assert "fullName" in envelope["fields"]
    assert envelope["message"].startswith("fullName:")
    assert not PrivateKey.objects.exists()


def test_it_refuses_oversized_bodies_with_413(alice, client_for, settings):
    from tests.records.test_api_user import onboarding_body

    settings.MEDIQOM_MAX_BODY_BYTES = 2048
    body = onboarding_body(privateKey="A" * 4096)
    response = client_for(alice).post("/v1/account/onboarding", body, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not PrivateKey.objects.exists()


def test_it_refuses_other_media_types_with_415(alice, client_for):
    response = client_for(alice).post(
        "/v1/account/onboarding",
        data="fullName=A",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_unknown_routes_and_methods_use_the_envelope(alice, client_for):
    missing = client_for(alice).get("/v1/no/such/route")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not found", "code": "not_found", "fields": {}}
    wrong_method = client_for(alice).delete("/v1/med/user")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


def test_an_unexpected_error_is_a_500_with_a_request_id_and_no_trace(
    alice, client_for, monkeypatch
):
    from mediqom.records import selectors

    def explode(**kwargs: object) -> None:
        raise RuntimeError("database said: secret detail")

    monkeypatch.setattr(selectors, "user_get", explode)
    response = client_for(alice).get("/v1/med/user", HTTP_X_REQUEST_ID="req-500-test")
    assert response.status_code == 500
    assert response.json() == {
        "message": "Internal server error",
        "code": "server_error",
        "fields": {},
        "request_id": "req-500-test",
    }
    assert b"Traceback" not in response.content
    assert b"secret detail" not in response.content


def test_cors_preflight_allows_patch(client_for):
    response = client_for(None).options("/v1/med/profiles/123")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "PATCH" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type, Authorization"


def test_every_v1_response_carries_cors_headers(alice, client_for):
    for response in (client_for(alice).get("/v1/med/user"), client_for(None).get("/v1/med/user")):
        assert response["Access-Control-Allow-Origin"] == "*"
        assert response["Access-Control-Allow-Headers"] == "Content-Type, Authorization"


def test_a_trailing_slash_is_optional_on_v1(alice, client_for):
    with_slash = client_for(alice).get("/v1/med/user/")
    assert with_slash.status_code == 200
    assert with_slash.json()["id"] == str(alice.id)


def test_bob_sees_only_his_own_user_and_links(alice, bob, client_for):
    from mediqom.records.models import Profile, ProfileLink

    child = Profile.objects.create(full_name="Alice's child", owner_id=alice.id)
    ProfileLink.objects.create(parent_id=alice.id, profile=child, status="approved")
    assert ok(client_for(bob).get("/v1/med/user")).json()["id"] == str(bob.id)
    assert ok(client_for(bob).get("/v1/med/profiles")).json() == []
    assert len(ok(client_for(alice).get("/v1/med/profiles")).json()) == 1


def test_the_client_ip_comes_from_the_trusted_proxy_only(settings):
    from django.test import RequestFactory

    from mediqom.api.base import client_ip

    request = RequestFactory().get(
        "/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="10.0.0.2"
    )
    assert client_ip(request) == "10.0.0.2"  # no proxy trusted: a client can't spoof
    settings.MEDIQOM_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"  # the address our one proxy saw
    settings.MEDIQOM_TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.2"  # fewer hops than configured: fall back


@pytest.mark.parametrize("method", ["get", "post", "delete", "patch"])
@pytest.mark.parametrize(
    "path", ["/v1/med/profiles/not-a-uuid", "/v1/med/profiles/null,null/documents/x", "/v1/a\nb"]
)
def test_unmatched_v1_paths_are_a_json_404_even_in_debug(alice, client_for, settings, method, path):
    settings.DEBUG = True
    response = getattr(client_for(alice), method)(path)
    assert response.status_code == 404
    assert response.json() == {"message": "Not found", "code": "not_found", "fields": {}}

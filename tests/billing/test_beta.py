"""The public beta application (contract §2.9): the reference's schema and answers, a per-IP
rate limit, a status lookup that reveals only status and date, review in the admin."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection

from mediqom.billing.models import BetaApplication, BetaAttempt
from mediqom.db.rls import rls_context

pytestmark = pytest.mark.django_db


def application(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_type": "family",
        "problem_description": "Our family's records are spread over three clinics.",
        "current_solution": "Paper folders and photos on my phone.",
        "data_volume": "11-50",
        "timeline": "month",
        "name": "Jana Nováková",
        "email": "Jana.Novakova@Example.test",
        "phone": "+420 777 000 000",
        "country": "CZ",
        "language": "cs",
        "beta_agreement": True,
        "feedback_agreement": True,
        "confidentiality_agreement": True,
        "terms_agreement": True,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def post(client: Any, body: Any, ip: str = "198.51.100.7") -> Any:
    return client.post("/v1/beta/apply", body, format="json", REMOTE_ADDR=ip)


def test_an_application_is_stored(anonymous):
    response = post(anonymous, application())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "success": True,
        "message": "Application submitted successfully",
        "applicationId": body["applicationId"],
    }
    stored = BetaApplication.objects.get(pk=uuid.UUID(body["applicationId"]))
    assert stored.email == "jana.novakova@example.test"
    assert (stored.status, stored.user_type, stored.country, stored.phone) == (
        "pending", "family", "CZ", "+420 777 000 000",
    )  # fmt: skip
    assert stored.organization is None
    assert stored.terms_agreement is True


def test_a_token_is_not_needed_and_a_bad_one_is_ignored(anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    assert post(anonymous, application()).status_code == 200


def test_a_signed_in_caller_applies_with_the_servers_rights(alice, client_for):
    # with a valid token the request is still anonymous: RLS never hides the table from it
    assert post(client_for(alice), application()).status_code == 200
    assert BetaApplication.objects.count() == 1


def test_invalid_applications_get_the_references_validation_answer(anonymous):
    body = application(
        user_type="hacker",
        problem_description="short",
        email="not-an-email",
        name=...,
        phone=12,
        terms_agreement=False,
        beta_agreement=...,
    )
    response = post(anonymous, body)
    assert response.status_code == 400
    answer = response.json()
    field_errors = {
        "user_type": [
            "Invalid enum value. Expected 'family' | 'provider' | 'developer' | 'organization',"
            " received 'hacker'"
        ],
        "problem_description": ["Please provide more detail about your problem"],
        "name": ["Required"],
        "email": ["Valid email is required"],
        "phone": ["Expected string, received number"],
        "beta_agreement": ["You must agree to beta terms"],
        "terms_agreement": ["You must agree to terms of service"],
    }
    assert answer == {
        "success": False,
        "error": "Validation failed",
        "details": {"formErrors": [], "fieldErrors": field_errors},
        "message": "Validation failed",
        "code": "invalid",
        "fields": field_errors,
    }
    assert not BetaApplication.objects.exists()


def test_a_body_that_is_not_an_object_is_a_validation_failure(anonymous):
    response = post(anonymous, [1, 2])
    assert response.status_code == 400
    assert response.json()["details"] == {
        "formErrors": ["Expected object, received array"],
        "fieldErrors": {},
    }


def test_overlong_fields_are_refused(anonymous):
    response = post(anonymous, application(additional_info="x" * 5001))
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["additional_info"]
    assert not BetaApplication.objects.exists()


def test_a_second_application_with_the_same_email_is_a_409(anonymous):
    assert post(anonymous, application()).status_code == 200
    again = post(anonymous, application(email="  jana.novakova@EXAMPLE.test", name="Jana N."))
    assert again.status_code == 409
    assert again.json() == {
        "success": False,
        "error": "An application with this email already exists",
        "status": "pending",
        "message": "An application with this email already exists",
        "code": "already_applied",
        "fields": {},
    }
    assert BetaApplication.objects.count() == 1
    assert BetaApplication.objects.get().name == "Jana Nováková"


def test_the_status_lookup_reveals_only_status_and_date(anonymous):
    created = post(anonymous, application()).json()
    stored = BetaApplication.objects.get(pk=created["applicationId"])
    response = anonymous.get("/v1/beta/apply?email=JANA.novakova@example.test")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "status": "pending",
        "created_at": stored.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_the_status_lookup_answers_400_and_404(anonymous):
    missing = anonymous.get("/v1/beta/apply")
    assert (missing.status_code, missing.json()["error"]) == (400, "Email parameter is required")
    unknown = anonymous.get("/v1/beta/apply?email=nobody@example.test")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "No application found"
    assert unknown.json()["success"] is False


def test_calls_are_rate_limited_per_ip(anonymous, settings):
    settings.MEDIQOM_BETA_RATE_LIMIT = 3
    ip = "203.0.113.50"
    assert post(anonymous, application(), ip=ip).status_code == 200
    assert post(anonymous, application(), ip=ip).status_code == 409
    lookup = anonymous.get("/v1/beta/apply?email=x@example.test", REMOTE_ADDR=ip)
    assert lookup.status_code == 404
    refused = post(anonymous, application(email="other@example.test"), ip=ip)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 3590 <= int(refused["Retry-After"]) <= 3600
    refused_get = anonymous.get("/v1/beta/apply?email=x@example.test", REMOTE_ADDR=ip)
    assert refused_get.status_code == 429
    assert not BetaApplication.objects.filter(email="other@example.test").exists()
    # another address has its own budget
    assert (
        post(anonymous, application(email="other@example.test"), ip="203.0.113.51").status_code
        == 200
    )
    # the IP is never stored in clear
    assert not BetaAttempt.objects.filter(ip_digest__contains="203.0.113").exists()
    assert BetaAttempt.objects.count() == 4


def test_attempts_older_than_the_window_do_not_count(anonymous, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.MEDIQOM_BETA_RATE_LIMIT = 1
    ip = "203.0.113.60"
    assert post(anonymous, application(), ip=ip).status_code == 200
    BetaAttempt.objects.update(created_at=timezone.now() - timedelta(hours=2))
    assert (
        anonymous.get("/v1/beta/apply?email=jana.novakova@example.test", REMOTE_ADDR=ip).status_code
        == 200
    )


def test_signed_in_users_cannot_read_applications_through_the_database(anonymous, alice):
    from django.db import DatabaseError, transaction

    post(anonymous, application())
    with rls_context(alice), pytest.raises(DatabaseError), transaction.atomic():
        BetaApplication.objects.count()  # plain PostgreSQL: no grant at all
    # Supabase grants every public table to `authenticated`; RLS must still hide the rows.
    with connection.cursor() as cursor:
        cursor.execute("grant select, update on beta_applications, billing_beta_attempts"
                       " to authenticated")  # fmt: skip
    with rls_context(alice):
        assert BetaApplication.objects.count() == 0
        assert BetaAttempt.objects.count() == 0
        assert BetaApplication.objects.update(status="approved") == 0
    assert BetaApplication.objects.get().status == "pending"


def test_staff_review_applications_in_the_admin(anonymous, admin_client):
    post(anonymous, application())
    stored = BetaApplication.objects.get()
    listing = admin_client.get("/admin/billing/betaapplication/")
    assert listing.status_code == 200
    assert b"jana.novakova@example.test" in listing.content
    response = admin_client.post(
        "/admin/billing/betaapplication/",
        {"action": "approve", "_selected_action": [str(stored.pk)]},
    )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.status == "approved"
    assert stored.approved_at is not None


def test_the_billing_rows_are_listed_read_only_in_the_admin(admin_client):
    for model in ("purchaseevent", "stripeevent", "checkoutsession"):
        assert admin_client.get(f"/admin/billing/{model}/").status_code == 200
        assert admin_client.get(f"/admin/billing/{model}/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_parallel_applications_with_one_email_store_one():
    """Four submissions released together, each on its own thread and connection."""
    import threading

    from mediqom.billing import services
    from mediqom.billing.api.serializers import beta_application_parse
    from mediqom.errors import Conflict

    count = 4
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []

    def apply(n: int) -> None:
        try:
            data, problems = beta_application_parse(application(name=f"Applicant {n}"))
            barrier.wait(timeout=10)
            results.append(services.beta_apply(ip=f"192.0.2.{n}", data=data, errors=problems))
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=apply, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 1
    assert [type(error) for error in errors] == [Conflict] * (count - 1)
    assert all(error.extra == {"status": "pending"} for error in errors)  # type: ignore[attr-defined]
    assert BetaApplication.objects.count() == 1

"""`manage.py dev_token EMAIL`: a real token for the embedded server, refused in production."""

from __future__ import annotations

import io
import time
from typing import Any

import jwt
import pytest
from django.core.management import CommandError, call_command

from mediqom.auth.tokens import verify_token
from mediqom.records.management.commands.dev_token import dev_user_id
from tests.auth.conftest import Credentials, rest_get

pytestmark = pytest.mark.django_db


def dev_token(*args: str) -> str:
    out = io.StringIO()
    call_command("dev_token", *args, stdout=out)
    return out.getvalue().strip()


def test_it_prints_a_token_that_authenticates() -> None:
    token = dev_token("dana@example.test")
    assert token.count(".") == 2
    assert "\n" not in token
    response = rest_get(Credentials.bearer(token))
    assert response.status_code == 200
    assert response.json()["id"] == str(dev_user_id("dana@example.test"))


def test_the_same_email_always_maps_to_the_same_user() -> None:
    first = verify_token(dev_token("dana@example.test"))
    second = verify_token(dev_token("  DANA@Example.TEST "))
    assert first.id == second.id == dev_user_id("dana@example.test")
    assert verify_token(dev_token("erin@example.test")).id != first.id


def test_it_honours_the_lifetime() -> None:
    claims = jwt.decode(
        dev_token("dana@example.test", "--hours", "1"), options={"verify_signature": False}
    )
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["aud"] == "authenticated"
    assert claims["role"] == "authenticated"


@pytest.mark.parametrize("hours", ["0", "721", "-1"])
def test_it_refuses_an_out_of_range_lifetime(hours: str) -> None:
    with pytest.raises(CommandError):
        dev_token("dana@example.test", "--hours", hours)


def test_it_is_refused_in_production(settings: Any) -> None:
    settings.EMBEDDED = False
    with pytest.raises(CommandError, match="production"):
        dev_token("dana@example.test")


@pytest.mark.parametrize("email", ["dana", "", "   "])
def test_it_refuses_a_bad_email(email: str) -> None:
    with pytest.raises(CommandError):
        dev_token(email)


def test_a_dev_token_is_useless_against_another_secret(settings: Any) -> None:
    token = dev_token("dana@example.test")
    settings.SUPABASE_JWT_SECRET = "a-different-production-secret-0123456789abcdef"
    assert rest_get(Credentials.bearer(token)).status_code == 401

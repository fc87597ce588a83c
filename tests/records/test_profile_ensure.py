"""The first-login profile under a burst of first requests of one new user (a client opening
several streams at once): every request succeeds and exactly one profile row exists."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from mediqom.records.models import Profile
from mediqom.records.services import profile_ensure
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_first_requests_create_one_profile_without_errors() -> None:
    user = make_user()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_request() -> None:
        try:
            start.wait()
            profile_ensure(user=user)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    profile = Profile.objects.get(pk=user.id)
    assert (profile.auth_id, profile.owner_id, profile.email) == (user.id, user.id, user.email)

"""Sessions in the admin: counts and status, never what the patient said."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions_app import services

pytestmark = pytest.mark.django_db


def test_the_admin_lists_sessions_without_transcript_text(alice, settings):
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS = 0
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS = 1
    session = services.session_start(user=alice)
    services.session_add_transcript(
        user=alice, session=session, text="Sharp chest pain when I lean back."
    )
    services.session_analysis_run(user=None, session_id=session.id)
    staff = User.objects.create_user("admin", password="pw", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/sessions_app/consultationsession/")
    assert listing.status_code == 200
    assert str(session.id) in listing.content.decode()
    detail = client.get(f"/admin/sessions_app/consultationsession/{session.id}/change/")
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "Event count" in page
    assert "lean back" not in page
    assert "pericarditis" not in page.lower()

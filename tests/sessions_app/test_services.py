"""Sessions persisted: start, transcripts, background analysis, end, idle end, purge, RLS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone

from mediqom.db.rls import rls_context
from mediqom.errors import Conflict
from mediqom.streams.models import Stream
from sessions_app import services
from sessions_app.events import stream_key
from sessions_app.models import ConsultationSession, SessionTranscript
from tests.sessions_app.conftest import database_contains, stored_events
from tests.sessions_app.fixtures import CHEST_PAIN_EN

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_analysis(settings):
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS = 0
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS = 1


def consult(user, lines=CHEST_PAIN_EN):
    session = services.session_start(user=user, language="en", models=["GP"])
    for i, line in enumerate(lines):
        services.session_add_transcript(
            user=user, session=session, text=line, chunk_id=f"c{i}", sequence_number=i
        )
    return session


def test_it_persists_a_session_and_streams_each_transcript(alice):
    session = consult(alice)
    session.refresh_from_db()
    assert session.status == "active"
    assert session.transcript_count == len(CHEST_PAIN_EN)
    texts = list(
        SessionTranscript.objects.filter(session=session)
        .order_by("position")
        .values_list("text", flat=True)
    )
    assert texts == CHEST_PAIN_EN
    events = stored_events(session.id)
    assert [e["type"] for e in events] == ["session_status"] + ["partial_transcript"] * len(
        CHEST_PAIN_EN
    )
    first = events[1]
    assert set(first) == {"type", "data", "timestamp"}
    assert first["data"]["text"] == CHEST_PAIN_EN[0]
    assert first["data"]["is_final"] is True
    assert first["data"]["sequenceNumber"] == 0
    assert session.event_count == len(events)


def test_silence_adds_nothing(alice):
    session = services.session_start(user=alice)
    assert services.session_add_transcript(user=alice, session=session, text="   ") is None
    assert [e["type"] for e in stored_events(session.id)] == ["session_status"]


def test_background_analysis_thinks_then_updates_with_the_merged_arrays(alice, fast_analysis):
    session = consult(alice)
    assert services.session_analysis_run(user=None, session_id=session.id) == 1
    events = stored_events(session.id)
    tail = [e["type"] for e in events[-3:]]
    assert tail == ["ai_thinking", "analysis_update", "ai_thinking"]
    assert events[-3]["data"] == {"thinking": True}
    assert events[-1]["data"] == {"thinking": False}
    update = events[-2]["data"]
    assert set(update) == {"diagnosis", "treatment", "medication", "followUp", "incremental"}
    assert update["diagnosis"][0]["code"] == "I30.9"
    assert update["incremental"]["provider"] == "local"
    session.refresh_from_db()
    assert session.analysis_chars == session.transcript_chars
    assert session.analysis_provider == "local"
    assert services.load_json(session.analysis)["diagnosis"][0]["name"] == "Acute pericarditis"
    assert services.load_json(session.transcript_analysis)["complaint"] == "Chest pain"
    # caught up: nothing more to do until the transcript grows
    assert services.session_analysis_run(user=None, session_id=session.id) == 0


def test_analysis_is_throttled_by_new_text_and_one_run_in_flight(alice, settings):
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS = 0
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS = 10_000
    session = consult(alice)
    assert (
        services.session_analysis_run(user=None, session_id=session.id) == 0
    )  # not enough new text
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS = 1
    assert services.analysis_claim(user=None, session_id=session.id) is True  # another worker runs
    assert services.analysis_claim(user=None, session_id=session.id) is False
    assert services.session_analysis_run(user=None, session_id=session.id) == 0
    services.analysis_release(user=None, session_id=session.id)
    assert services.session_analysis_run(user=None, session_id=session.id) == 1


def test_a_stale_claim_is_taken_over(alice, settings):
    session = services.session_start(user=alice)
    assert services.analysis_claim(user=None, session_id=session.id)
    later = timezone.now() + timedelta(seconds=settings.MEDIQOM_SESSION_ANALYSIS_STALE_SECONDS + 1)
    assert services.analysis_claim(user=None, session_id=session.id, now=later)


def test_ending_is_final_idempotent_and_closes_the_stream(alice, fast_analysis):
    session = consult(alice)
    ended = services.session_finish(user=alice, session=session)
    assert ended.status == "ended"
    assert ended.ended_at is not None
    types = [e["type"] for e in stored_events(session.id)]
    assert "analysis_update" in types  # the remaining text was analysed before ending
    assert types[-1] == "session_status"
    assert stored_events(session.id)[-1]["data"]["status"] == "ended"
    assert Stream.objects.get(key=stream_key(session.id)).ended_at is not None
    count = len(types)
    services.session_end(user=alice, session=ended)
    assert len(stored_events(session.id)) == count
    with pytest.raises(Conflict):
        services.session_add_transcript(user=alice, session=ended, text="more")


def test_idle_sessions_end_and_expired_ones_are_purged(alice, bob, settings):
    settings.MEDIQOM_SESSION_IDLE_MINUTES = 30
    settings.MEDIQOM_SESSION_TTL_HOURS = 24
    idle = consult(alice, CHEST_PAIN_EN[:2])
    fresh = services.session_start(user=bob)
    ConsultationSession.objects.filter(pk=idle.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=31)
    )
    call_command("end_idle_sessions")
    idle.refresh_from_db()
    fresh.refresh_from_db()
    assert (idle.status, idle.end_reason) == ("ended", "idle")
    assert fresh.status == "active"
    assert services.sessions_purge() == 0  # within the TTL
    later = timezone.now() + timedelta(hours=25)
    assert services.sessions_purge(now=later) == 1
    assert not ConsultationSession.objects.filter(pk=idle.pk).exists()
    assert not SessionTranscript.objects.filter(session_id=idle.pk).exists()
    assert ConsultationSession.objects.filter(pk=fresh.pk).exists()


def test_patient_text_is_encrypted_at_rest(alice, fast_analysis):
    session = consult(alice)
    services.session_analysis_run(user=None, session_id=session.id)
    services.feedback_record(
        user=alice, item_type="diagnosis", item_content={"name": "Acute pericarditis"},
        feedback="approved", session=session,
    )  # fmt: skip
    assert database_contains("lean forward") == []
    assert database_contains("sharp pain") == []
    assert database_contains("pericarditis") == []


def test_rls_alone_hides_sessions_from_other_users(alice, bob, fast_analysis):
    session = consult(alice, CHEST_PAIN_EN[:2])
    with rls_context(bob):
        assert not ConsultationSession.objects.exists()
        assert not SessionTranscript.objects.exists()
        assert ConsultationSession.objects.filter(pk=session.pk).update(status="ended") == 0
        with pytest.raises(DatabaseError), transaction.atomic():
            SessionTranscript.objects.create(
                session_id=session.pk, owner_id=alice.id, position=99, text="injected"
            )
    with rls_context(alice):
        assert list(ConsultationSession.objects.values_list("pk", flat=True)) == [session.pk]
        assert SessionTranscript.objects.count() == 2
    assert ConsultationSession.objects.for_user(bob).count() == 0


def test_patient_context_reaches_the_model_but_is_never_stored_in_plaintext(
    alice, ai_providers, fast_analysis
):
    from tests.sessions_app.test_e2e import stub_answer

    ai_providers.reply(api="openai", tool="extractor", args=stub_answer)
    session = services.session_start(
        user=alice, language="en", context={"history": "Known hypertension since 2019"}
    )
    services.session_add_transcript(user=alice, session=session, text=CHEST_PAIN_EN[1])
    assert services.session_analysis_run(user=None, session_id=session.id) == 1
    prompts = [c.text for c in ai_providers.calls(api="openai")]
    assert any("Known hypertension since 2019" in p for p in prompts)
    session.refresh_from_db()
    assert session.analysis_provider == "openai"
    diagnosis = services.load_json(session.analysis)["diagnosis"]
    assert [d.get("code") for d in diagnosis] == ["I30.9", None]  # invented code dropped
    assert database_contains("hypertension") == []


def test_services_acting_for_a_user_reach_only_that_users_sessions(alice, bob):
    session = services.session_start(user=alice)
    with pytest.raises(ConsultationSession.DoesNotExist):
        services.session_add_transcript(user=bob, session=session, text="injected")
    with pytest.raises(ConsultationSession.DoesNotExist):
        services.session_end(user=bob, session=session)
    assert services.analysis_claim(user=bob, session_id=session.id) is False
    session.refresh_from_db()
    assert (session.status, session.transcript_count) == ("active", 0)
    assert not session.analysis_running
    assert [e["type"] for e in stored_events(session.id)] == ["session_status"]

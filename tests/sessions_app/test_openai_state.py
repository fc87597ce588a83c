"""The optional OpenAI conversation state (`hasOpenAIThread`) through the Conversations API,
with the real `openai` client against the local stub."""

from __future__ import annotations

import pytest

from sessions_app.models import ConsultationSession
from tests.conftest import ok
from tests.sessions_app.conftest import stored_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversations(ai_providers, settings):
    settings.MEDIQOM_SESSION_OPENAI_CONVERSATIONS = True
    return ai_providers


def test_start_creates_a_conversation_without_patient_data_and_end_deletes_it(
    conversations, alice, client_for, django_capture_on_commit_callbacks
):
    conversations.reply(api="conversations")
    api = client_for(alice)
    started = ok(
        api.post(
            "/v1/session/start",
            {"language": "cs", "models": ["GP"], "patientContext": {"name": "Jan Novák"}},
            format="json",
        )
    ).json()
    sid = started["sessionId"]
    assert started["config"]["hasOpenAIThread"] is True
    created = conversations.calls(api="conversations")
    assert len(created) == 1
    assert created[0].path == "/v1/conversations"
    assert created[0].headers["authorization"] == "Bearer sk-test-stub"
    assert created[0].body["metadata"] == {
        "purpose": "medical_analysis", "session_id": sid, "language": "cs", "models": "GP",
    }  # fmt: skip
    assert "Novák" not in created[0].text
    assert str(alice.id) not in created[0].text
    conversation_id = ConsultationSession.objects.get(pk=sid).openai_conversation_id
    assert conversation_id.startswith("conv_stub")
    assert stored_events(sid)[0]["data"]["stats"]["hasOpenAIThread"] is True
    assert ok(api.get(f"/v1/session/{sid}/status")).json()["stats"]["hasOpenAIThread"] is True

    with django_capture_on_commit_callbacks(execute=True):
        ok(api.post(f"/v1/session/{sid}/end", {"analyze": False}, format="json"))
    deleted = conversations.calls(api="conversations")[1:]
    assert [(r.path, r.body) for r in deleted] == [
        (f"/v1/conversations/{conversation_id}", {"method": "DELETE"})
    ]
    assert ConsultationSession.objects.get(pk=sid).openai_conversation_id == ""
    assert ok(api.get(f"/v1/session/{sid}/status")).json()["stats"]["hasOpenAIThread"] is False


def test_a_failing_conversation_api_leaves_the_session_without_one(
    conversations, alice, client_for
):
    conversations.reply(api="conversations", status=500)
    started = ok(client_for(alice).post("/v1/session/start", {}, format="json")).json()
    assert started["config"]["hasOpenAIThread"] is False
    assert len(conversations.calls(api="conversations")) == 1
    assert ConsultationSession.objects.get(pk=started["sessionId"]).openai_conversation_id == ""


def test_off_by_default_and_without_a_key(ai_providers, ai_stub, alice, client_for, settings):
    started = ok(client_for(alice).post("/v1/session/start", {}, format="json")).json()
    assert started["config"]["hasOpenAIThread"] is False
    settings.MEDIQOM_SESSION_OPENAI_CONVERSATIONS = True
    settings.OPENAI_API_KEY = ""
    again = ok(client_for(alice).post("/v1/session/start", {}, format="json")).json()
    assert again["config"]["hasOpenAIThread"] is False
    assert ai_stub.calls(api="conversations") == []

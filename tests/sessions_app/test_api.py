"""The consultation endpoints in-process (no AI key: the local provider; no transcription
provider: 503): shapes, validation, ownership on every route."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader

from sessions_app import services
from sessions_app.models import ConsultationSession, SessionFeedback
from tests.conftest import ok
from tests.sessions_app.conftest import stored_events
from tests.sessions_app.fixtures import CHEST_PAIN_EN

pytestmark = pytest.mark.django_db
NOT_FOUND = {"message": "Session not found", "code": "session_not_found", "fields": {}}


def wav(size: int = 64) -> SimpleUploadedFile:
    return SimpleUploadedFile("chunk.wav", b"RIFF" + b"\0" * size, content_type="audio/wav")


@pytest.fixture
def api(alice, client_for):
    return client_for(alice)


@pytest.fixture
def started(api):
    response = api.post("/v1/session/start", {"language": "en", "models": ["GP"]}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_start_answers_the_contract_shape(started):
    sid = started["sessionId"]
    assert started == {
        "sessionId": sid,
        "status": "success",
        "sseUrl": f"/v1/session/{sid}/stream",
        "audioUrl": f"/v1/session/{sid}/audio",
        "features": {
            "realTimeStreaming": True,
            "incrementalAnalysis": True,
            "chatGPTIntegration": False,
            "voiceActivityDetection": True,
        },
        "config": {"language": "en", "models": ["GP"], "hasOpenAIThread": False},
    }
    assert ConsultationSession.objects.get(pk=sid).status == "active"


def test_status_shows_transcripts_and_the_real_merged_analysis(api, alice, started, settings):
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS = 0
    settings.MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS = 1
    session = ConsultationSession.objects.get(pk=started["sessionId"])
    for line in CHEST_PAIN_EN:
        services.session_add_transcript(user=alice, session=session, text=line)
    services.session_analysis_run(user=None, session_id=session.id)
    body = ok(api.get(f"/v1/session/{session.id}/status")).json()
    assert body["sessionId"] == str(session.id)
    assert body["status"] == "active"
    assert [t["text"] for t in body["transcripts"]] == CHEST_PAIN_EN
    assert body["analysis"]["diagnosis"][0]["code"] == "I30.9"
    assert body["lastUpdated"]


def test_transcription_without_a_provider_is_a_clear_503_and_stores_nothing(api, started):
    sid = started["sessionId"]
    response = api.post(
        f"/v1/session/{sid}/transcribe", {"audio": wav(), "chunkId": "c1"}, format="multipart"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "transcription_unavailable"
    response = api.post("/v1/transcribe", {"file": wav()}, format="multipart")
    assert response.status_code == 503
    assert response.json() == {
        "message": "No transcription provider is configured",
        "code": "transcription_unavailable",
        "fields": {},
    }
    assert [e["type"] for e in stored_events(sid)] == ["session_status"]


def test_transcription_input_is_checked(api, started, settings):
    sid = started["sessionId"]
    no_chunk = api.post(f"/v1/session/{sid}/transcribe", {"audio": wav()}, format="multipart")
    assert (no_chunk.status_code, no_chunk.json()["code"]) == (400, "missing_chunk_id")
    image = SimpleUploadedFile("x.png", b"\x89PNG", content_type="image/png")
    bad = api.post("/v1/transcribe", {"file": image}, format="multipart")
    assert (bad.status_code, bad.json()["code"]) == (400, "unsupported_audio_type")
    assert "Supported: audio/flac" in bad.json()["message"]
    missing = api.post("/v1/transcribe", {}, format="multipart")
    assert (missing.status_code, missing.json()["code"]) == (400, "no_file")
    settings.MEDIQOM_TRANSCRIBE_MAX_BYTES = 1024
    big = api.post("/v1/transcribe", {"file": wav(4096)}, format="multipart")
    assert (big.status_code, big.json()["code"]) == (413, "audio_too_large")


def test_med_session_runs_the_labelled_local_analysis(api):
    text = "\n".join(CHEST_PAIN_EN)
    transcript = api.post(
        "/v1/med/session",
        {"text": text, "type": "transcript", "language": "english"},
        format="json",
    )
    assert transcript.status_code == 200, transcript.content
    body = transcript.json()
    assert body["complaint"] == "Chest pain"
    assert body["provider"] == "local"
    assert body["tokenUsage"] == {"total": 0}
    diagnosis = ok(
        api.post(
            "/v1/med/session",
            {
                "text": json.dumps(body),
                "type": "diagnosis",
                "language": "english",
                "previousAnalysis": {"diagnosis": [{"name": "Anxiety", "probability": 0.1}]},
            },
            format="json",
        )
    ).json()
    names = [d["name"] for d in diagnosis["diagnosis"]]
    assert names[0] == "Anxiety"  # merged with the previous analysis (§4.1)
    assert "Acute pericarditis" in names
    assert diagnosis["label"].startswith("Local rule-based analysis")
    assert diagnosis["diagnosis"][1]["evidence"][0]["transcriptId"].startswith("conversation.")
    czech = ok(api.post(
        "/v1/med/session", {"text": "Už tři dny mám ostrou bolest na hrudi.", "type": "diagnosis",
                            "language": "czech"}, format="json",
    )).json()  # fmt: skip
    assert any(d["code"] == "I30.9" for d in czech["diagnosis"]) or czech["diagnosis"]
    assert czech["label"].startswith("Lokální")


def test_med_session_validates(api):
    empty = api.post("/v1/med/session", {"text": "  ", "type": "transcript"}, format="json")
    assert empty.status_code == 400
    assert empty.json()["message"] == "text: No text provided"
    wrong = api.post("/v1/med/session", {"text": "x", "type": "poem"}, format="json")
    assert wrong.status_code == 400
    assert "type" in wrong.json()["fields"]


def test_finalize_and_the_pdf_report_of_a_session(api, alice, started):
    sid = started["sessionId"]
    ok(
        api.post(
            "/v1/med/session",
            {
                "text": "\n".join(CHEST_PAIN_EN),
                "type": "diagnosis",
                "language": "english",
                "sessionId": sid,
            },
            format="json",
        )
    )
    assert "analysis_update" in [e["type"] for e in stored_events(sid)]
    details = {
        "complaint": "Chest pain",
        "patient": {"name": "Jan Novák"},
        "doctor": "Dr. Eva Dvořák",
    }
    final = api.post(
        "/v1/med/session/finalize",
        {"text": json.dumps(details), "language": "english", "sessionId": sid},
        format="json",
    )
    assert final.status_code == 200, final.content
    body = final.json()
    assert {
        "findings",
        "treatment",
        "medication",
        "follow-up",
        "recommendations",
        "tokenUsage",
    } <= set(body)
    assert "Acute pericarditis" in body["findings"]
    pdf = api.get(f"/v1/session/{sid}/report.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split()
    )
    for expected in ("Jan Novák", "Dr. Eva Dvořák", "Acute pericarditis", "I30.9", "Chest pain"):
        assert expected in text, expected


@pytest.mark.parametrize("timestamp", ["2026-12-02T13:00:00Z", 1764680400000, ""])
def test_feedback_timestamp_is_iso_text_or_epoch_milliseconds(api, alice, started, timestamp):
    body = {"itemType": "diagnosis", "itemContent": "x", "feedback": "neutral",
            "timestamp": timestamp}  # fmt: skip
    assert api.post("/v1/session/feedback", body, format="json").status_code == 200


@pytest.mark.parametrize("timestamp", [1.5, True, [], {}, None, "x" * 65])
def test_feedback_timestamp_of_another_type_is_refused(api, alice, started, timestamp):
    body = {"itemType": "diagnosis", "itemContent": "x", "feedback": "neutral",
            "timestamp": timestamp}  # fmt: skip
    response = api.post("/v1/session/feedback", body, format="json")
    assert response.status_code == 400, response.content
    assert "timestamp" in response.json()["fields"]
    assert not SessionFeedback.objects.exists()


def test_feedback_is_recorded(api, alice, started):
    response = api.post(
        "/v1/session/feedback",
        {"itemType": "diagnosis", "itemContent": {"name": "Acute pericarditis"},
         "feedback": "approved", "timestamp": "2026-12-02T13:00:00Z",
         "sessionId": started["sessionId"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["success"] is True
    row = SessionFeedback.objects.get()
    assert (row.feedback, row.item_type, str(row.session_id)) == (
        "approved",
        "diagnosis",
        started["sessionId"],
    )
    bad = api.post(
        "/v1/session/feedback",
        {"itemType": "x", "itemContent": "y", "feedback": "love"},
        format="json",
    )
    assert bad.status_code == 400
    assert SessionFeedback.objects.count() == 1


def test_end_ends_once(api, started):
    sid = started["sessionId"]
    ended = api.post(f"/v1/session/{sid}/end", {}, format="json")
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    again = api.post(f"/v1/session/{sid}/end", {}, format="json")
    assert again.status_code == 200
    assert again.json()["status"] == "ended"
    late = api.post(
        "/v1/med/session",
        {"text": "chest pain", "type": "diagnosis", "sessionId": sid},
        format="json",
    )
    assert (late.status_code, late.json()["code"]) == (409, "session_ended")


def test_another_user_gets_404_on_every_session_route(bob, client_for, started):
    sid = started["sessionId"]
    stranger = client_for(bob)
    routes = [
        ("get", f"/v1/session/{sid}/status", None, "json"),
        ("get", f"/v1/session/{sid}/stream", None, "json"),
        ("get", f"/v1/session/{sid}/report.pdf", None, "json"),
        ("post", f"/v1/session/{sid}/end", {}, "json"),
        ("post", f"/v1/session/{sid}/transcribe", {"audio": wav(), "chunkId": "c"},
         "multipart"),
        ("post", f"/v1/session/{sid}/audio", {"audio": wav()}, "multipart"),
        ("post", "/v1/med/session",
         {"text": "chest pain", "type": "diagnosis", "sessionId": sid}, "json"),
        ("post", "/v1/med/session/finalize", {"text": "{}", "sessionId": sid}, "json"),
        ("post", "/v1/session/feedback",
         {"itemType": "d", "itemContent": "x", "feedback": "approved", "sessionId": sid}, "json"),
    ]  # fmt: skip
    missing = str(uuid.uuid4())
    for method, path, body, fmt in routes:
        response = getattr(stranger, method)(path, body, format=fmt)
        assert response.status_code == 404, (path, response.status_code)
        assert response.json() == NOT_FOUND, path
        # identical to a session that does not exist
        other = (
            getattr(stranger, method)(path.replace(sid, missing), body, format=fmt)
            if sid in path
            else None
        )
        if other is not None:
            assert other.json() == NOT_FOUND
    assert ConsultationSession.objects.get(pk=sid).status == "active"
    assert SessionFeedback.objects.count() == 0
    assert [e["type"] for e in stored_events(sid)] == ["session_status"]


def test_every_route_needs_authentication(client_for):
    anonymous = client_for(None)
    sid = uuid.uuid4()
    for method, path in [
        ("post", "/v1/session/start"), ("get", f"/v1/session/{sid}/status"),
        ("get", f"/v1/session/{sid}/stream"), ("post", "/v1/transcribe"),
        ("post", "/v1/med/session"), ("post", "/v1/med/session/finalize"),
        ("post", "/v1/chat/conversation"), ("post", "/v1/session/feedback"),
        ("get", "/v1/session/current"),
    ]:  # fmt: skip
        assert getattr(anonymous, method)(path).status_code == 401, path


def test_chat_without_a_provider_answers_offline(api):
    response = api.post(
        "/v1/chat/conversation",
        {"message": "Hi", "mode": "patient", "profileId": "p"},
        format="json",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.streaming_content).decode()
    assert body.startswith('data: {"type":"chunk","content":"Offline answer: no AI model')
    assert body.endswith('data: {"type":"complete"}\n\n')
    bad = api.post("/v1/chat/conversation", {"message": "Hi", "mode": "x"}, format="json")
    assert bad.status_code == 400


def test_the_queryset_layer_alone_hides_other_users_sessions(bob, client_for, started):
    """RLS off for the sessions tables (rolled back with the test): for_user() still 404s."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("set constraints all immediate")  # flush the deferred FK checks first
        for table in ("consultation_sessions", "session_transcripts", "session_feedback"):
            cursor.execute(f'alter table "{table}" disable row level security')
    sid = started["sessionId"]
    stranger = client_for(bob)
    assert ok(stranger.get(f"/v1/session/{sid}/status"), 404).json() == NOT_FOUND
    assert stranger.post(f"/v1/session/{sid}/end", {}, format="json").status_code == 404
    assert ConsultationSession.objects.get(pk=sid).status == "active"


def test_text_fields_take_strings_only(api, started):
    finalize = api.post("/v1/med/session/finalize", {"text": 0}, format="json")
    assert finalize.status_code == 400
    assert finalize.json()["code"] == "invalid"
    assert "text" in finalize.json()["fields"]
    start = api.post("/v1/session/start", {"language": "en", "userId": 0}, format="json")
    assert start.status_code == 400
    assert "userId" in start.json()["fields"]
    flag = api.post("/v1/session/start", {"language": "en", "translate": 0}, format="json")
    assert flag.status_code == 400
    assert "translate" in flag.json()["fields"]
    analysed = api.post("/v1/med/session", {"text": 12, "type": "diagnosis"}, format="json")
    assert analysed.status_code == 400
    assert ConsultationSession.objects.count() == 1  # only the started one

"""Session-less `POST /v1/med/session` and `…/finalize` (what the shipped consultation page
sends) land on the caller's current session and its stream; never on another user's."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from sessions_app import services
from sessions_app.models import ConsultationSession
from tests.conftest import ok, token_for
from tests.sessions_app.conftest import SseReader, stored_events
from tests.sessions_app.fixtures import CHEST_PAIN_EN

HEADER = "X-Mediqom-Session-Id"
# The page's own bodies (src/routes/med/p/[profile]/session/+page.svelte): no sessionId.
TRANSCRIPT_BODY = {"language": "english", "type": "transcript", "models": ["GP"],
                   "text": "\r\n".join(CHEST_PAIN_EN)}  # fmt: skip


def diagnosis_body(analysis: dict) -> dict:
    return {"language": "english", "type": "diagnosis", "models": ["GP"],
            "text": json.dumps(analysis), "previousAnalysis": analysis}  # fmt: skip


def http_for(server, user) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=30
    )


def test_the_page_flow_reaches_a_stream_subscriber_over_real_sse(start_server, alice):
    server = start_server()
    http = http_for(server, alice)
    sid = ok(http.post("/v1/session/start", json={"language": "en"})).json()["sessionId"]
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Accept": "text/event-stream"}
    with httpx.stream(
        "GET", f"{server.url}/v1/session/{sid}/stream", headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        reader = SseReader(response)
        first = reader.events(2)  # the unstored "connected", the stored "started"
        assert [json.loads(f.data)["data"]["status"] for f in first] == ["connected", "started"]

        transcript = http.post("/v1/med/session", json=TRANSCRIPT_BODY)
        assert transcript.status_code == 200, transcript.text
        assert transcript.headers[HEADER] == sid
        analysis = transcript.json()
        assert "sessionId" not in analysis  # the contract's body, nothing added
        assert analysis["complaint"] == "Chest pain"
        diagnosis = http.post("/v1/med/session", json=diagnosis_body(analysis))
        assert diagnosis.status_code == 200, diagnosis.text
        assert diagnosis.headers[HEADER] == sid

        live = [json.loads(f.data) for f in reader.events(7)]
        assert [e["type"] for e in live] == [
            "partial_transcript", "ai_thinking", "ai_thinking", "analysis_update",
            "ai_thinking", "ai_thinking", "analysis_update",
        ]  # fmt: skip
        assert live[0]["data"]["text"] == "\n".join(CHEST_PAIN_EN)
        assert live[0]["data"]["sessionId"] == sid
        assert [e["data"]["thinking"] for e in live if e["type"] == "ai_thinking"] == [
            True, False, True, False,
        ]  # fmt: skip
        from_transcript, from_diagnosis = live[3]["data"], live[6]["data"]
        assert from_transcript["incremental"]["complaint"] == "Chest pain"
        assert from_transcript["diagnosis"] == []  # nothing merged yet
        assert set(from_diagnosis) == {"diagnosis", "treatment", "medication", "followUp",
                                       "incremental"}  # fmt: skip
        codes = [d["code"] for d in from_diagnosis["diagnosis"]]
        assert "I30.9" in codes
        assert from_diagnosis["diagnosis"] == diagnosis.json()["diagnosis"]
    status = ok(http.get(f"/v1/session/{sid}/status")).json()
    assert [d["code"] for d in status["analysis"]["diagnosis"]] == codes
    http.close()


@pytest.mark.django_db
def test_without_a_current_session_one_is_started_and_then_reused(alice, client_for):
    api = client_for(alice)
    assert api.get("/v1/session/current").status_code == 404
    first = ok(api.post("/v1/med/session", TRANSCRIPT_BODY, format="json"))
    sid = first[HEADER]
    assert first["Access-Control-Expose-Headers"] == HEADER
    session = ConsultationSession.objects.get(pk=sid)
    assert (session.owner_id, session.status, session.language) == (alice.id, "active", "en")
    current = ok(api.get("/v1/session/current")).json()
    assert (current["sessionId"], current["status"]) == (sid, "active")
    second = ok(api.post("/v1/med/session", diagnosis_body(first.json()), format="json"))
    assert second[HEADER] == sid
    assert ConsultationSession.objects.filter(owner_id=alice.id).count() == 1
    assert [e["type"] for e in stored_events(sid)] == [
        "session_status", "partial_transcript", "ai_thinking", "ai_thinking", "analysis_update",
        "ai_thinking", "ai_thinking", "analysis_update",
    ]  # fmt: skip
    # the page resends its whole text: only new lines are stored, a repeat stores nothing
    more = {**TRANSCRIPT_BODY, "text": TRANSCRIPT_BODY["text"] + "\r\n\r\nAny allergies?"}
    assert ok(api.post("/v1/med/session", more, format="json"))[HEADER] == sid
    assert ok(api.post("/v1/med/session", more, format="json"))[HEADER] == sid
    transcripts = ok(api.get(f"/v1/session/{sid}/status")).json()["transcripts"]
    assert [t["text"] for t in transcripts] == ["\n".join(CHEST_PAIN_EN), "Any allergies?"]
    # text that does not continue the stored transcript is analysed but not stored
    ok(api.post("/v1/med/session", {**TRANSCRIPT_BODY, "text": "Another story"}, format="json"))
    assert ConsultationSession.objects.get(pk=sid).transcript_count == 2
    ended = ok(api.post(f"/v1/session/{sid}/end", {}, format="json")).json()
    assert ended["status"] == "ended"
    assert api.get("/v1/session/current").status_code == 404


@pytest.mark.django_db
def test_never_another_users_ended_or_idle_session(alice, bob, client_for, settings):
    settings.MEDIQOM_SESSION_IDLE_MINUTES = 30
    bobs = services.session_start(user=bob, language="en")
    ended = services.session_start(user=alice, language="en")
    services.session_end(user=alice, session=ended)
    idle = services.session_start(user=alice, language="en")
    ConsultationSession.objects.filter(pk=idle.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=31)
    )
    bob_events = len(stored_events(bobs.id))
    landed = ok(client_for(alice).post("/v1/med/session", TRANSCRIPT_BODY, format="json"))
    sid = landed[HEADER]
    assert sid not in {str(bobs.id), str(ended.id), str(idle.id)}
    assert ConsultationSession.objects.get(pk=sid).owner_id == alice.id
    assert len(stored_events(bobs.id)) == bob_events  # Bob's stream saw nothing
    assert [e["type"] for e in stored_events(ended.id)][-1] == "session_status"
    # Bob's own session-less call lands on Bob's session, not on Alice's newer one
    his = ok(client_for(bob).post("/v1/med/session", TRANSCRIPT_BODY, format="json"))
    assert his[HEADER] == str(bobs.id)
    assert ok(client_for(bob).get("/v1/session/current")).json()["sessionId"] == str(bobs.id)
    services.session_end(user=bob, session=bobs)
    nothing = client_for(bob).get("/v1/session/current")  # Alice's session is never his
    assert (nothing.status_code, nothing.json()["code"]) == (404, "session_not_found")


@pytest.mark.django_db
def test_the_most_recently_active_session_is_current(alice, client_for):
    older = services.session_start(user=alice, language="en")
    newer = services.session_start(user=alice, language="en")
    api = client_for(alice)
    assert ok(api.post("/v1/med/session", TRANSCRIPT_BODY, format="json"))[HEADER] == str(newer.id)
    # activity on the older one (a transcript through its id) makes it current again
    services.session_add_transcript(user=alice, session=older, text=CHEST_PAIN_EN[1])
    assert ok(api.post("/v1/med/session", TRANSCRIPT_BODY, format="json"))[HEADER] == str(older.id)
    assert ok(api.get("/v1/session/current")).json()["sessionId"] == str(older.id)


@pytest.mark.django_db
def test_finalize_lands_on_the_current_session_and_never_starts_one(alice, client_for):
    api = client_for(alice)
    details = {"complaint": "Chest pain", "diagnosis": [], "patient": {"name": "Jan Novák"}}
    alone = ok(api.post("/v1/med/session/finalize", {"text": json.dumps(details)}, format="json"))
    assert HEADER not in alone
    assert ConsultationSession.objects.filter(owner_id=alice.id).count() == 0
    sid = ok(api.post("/v1/med/session", TRANSCRIPT_BODY, format="json"))[HEADER]
    before = len(stored_events(sid))
    final = ok(api.post("/v1/med/session/finalize", {"text": json.dumps(details)}, format="json"))
    assert final[HEADER] == sid
    assert {"findings", "treatment", "medication", "follow-up", "recommendations",
            "tokenUsage"} <= set(final.json())  # fmt: skip
    added = stored_events(sid)[before:]
    assert [e["type"] for e in added] == ["ai_thinking", "ai_thinking", "session_status"]
    assert added[-1]["data"]["status"] == "finalized"
    stored = json.loads(ConsultationSession.objects.get(pk=sid).report)
    assert stored["details"]["patient"] == {"name": "Jan Novák"}
    assert stored["details"]["diagnosis"] == []  # the clinician's empty choice is kept


def test_parallel_session_less_calls_share_one_session(start_server, alice):
    server = start_server()
    http = http_for(server, alice)
    body = {**TRANSCRIPT_BODY, "text": CHEST_PAIN_EN[1]}
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: http.post("/v1/med/session", json=body), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    ids = {r.headers[HEADER] for r in responses}
    assert len(ids) == 1
    assert ConsultationSession.objects.filter(owner_id=alice.id).count() == 1
    assert ConsultationSession.objects.get(pk=ids.pop()).transcript_count == 1  # not 4
    http.close()


def test_ai_thinking_reaches_the_stream_while_the_model_still_works(start_server, ai_stub, alice):
    """The session-less call commits `ai_thinking` before the model call (no transaction
    waits on it); a failing model ends with `error` (code only) and `ai_thinking` false."""
    server = start_server(
        OPENAI_API_KEY="sk-test-stub", OPENAI_BASE_URL=ai_stub.openai_base_url,
        MEDIQOM_AI_MAX_RETRIES="0", MEDIQOM_AI_TIMEOUT_MS="20000",
    )  # fmt: skip
    ai_stub.reply(api="openai", status=500, delay=3)
    http = http_for(server, alice)
    sid = ok(http.post("/v1/session/start", json={"language": "en"})).json()["sessionId"]
    headers = {"Authorization": f"Bearer {token_for(alice)}", "Accept": "text/event-stream"}
    with httpx.stream(
        "GET", f"{server.url}/v1/session/{sid}/stream", headers=headers, timeout=30
    ) as response:
        reader = SseReader(response)
        reader.events(2)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(http.post, "/v1/med/session", json=diagnosis_body({}))
            thinking = json.loads(reader.events(1)[0].data)
            assert (thinking["type"], thinking["data"]) == ("ai_thinking", {"thinking": True})
            assert not pending.done()  # the model has not answered yet
            failed = pending.result()
        assert failed.status_code == 502
        assert HEADER not in failed.headers
        rest = [json.loads(f.data) for f in reader.events(2)]
        assert [(e["type"], e["data"]) for e in rest] == [
            ("error", {"message": "Analysis failed", "code": failed.json()["code"]}),
            ("ai_thinking", {"thinking": False}),
        ]
    assert {c.tool for c in ai_stub.calls(api="openai")} == {"extractor"}  # model, fallback
    http.close()


@pytest.mark.django_db
def test_late_work_does_not_reopen_an_ended_sessions_stream(alice, client_for):
    """Background analysis finishing after the end (or a call racing it) appends nothing."""
    from mediqom.streams.models import Stream
    from sessions_app.events import stream_key

    session = services.session_start(user=alice, language="en")
    services.session_end(user=alice, session=session)
    before = stored_events(session.id)
    late = services.session_emit(
        user=None, session=session, event_type="ai_thinking", data={"thinking": False}
    )
    assert late is None
    assert stored_events(session.id) == before
    assert Stream.objects.get(pk=stream_key(session.id)).ended_at is not None
    assert ConsultationSession.objects.get(pk=session.pk).event_count == len(before)

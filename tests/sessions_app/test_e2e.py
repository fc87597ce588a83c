"""A whole chest-pain consultation over real HTTP: a uvicorn process on the test database and
the Redis layer, the real `openai` client against the local AI stub, audio spoken by espeak-ng.

start → transcribe (3 chunks) → the SSE stream follows live → background analysis → end →
finalize → PDF; then the same consultation with no AI key (the local provider)."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from sessions_app.transcription import MEDICAL_PROMPT
from tests.conftest import ok, token_for
from tests.sessions_app.conftest import SseReader, database_contains
from tests.sessions_app.fixtures import CHEST_PAIN_EN, SPOKEN_EN

pytestmark = pytest.mark.usefixtures("redis_layer")

FAST_ANALYSIS = {
    "MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS": "0",
    "MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS": "1",
}

TRANSCRIPT_ANALYSIS = {
    "isMedicalConversation": True,
    "conversation": [{"speaker": "patient", "text": t, "stress": "medium", "urgency": "medium"}
                     for t in SPOKEN_EN],
    "complaint": "Sharp chest pain for three days",
    "symptoms": [
        {"name": "Chest pain", "duration": "days", "severity": "moderate", "bodyParts": ["chest"]},
    ],
}  # fmt: skip


def diagnosis_answer() -> dict[str, Any]:
    return {
        "diagnosis": [
            {"name": "Acute pericarditis", "code": "I30.9", "origin": "suggestion",
             "basis": "Pleuritic, positional chest pain after a cold", "probability": 0.7,
             "supportingSymptoms": ["Chest pain"], "rationale": "Classic presentation"},
            {"name": "Invented syndrome", "code": "Z99.999X", "origin": "suggestion",
             "basis": "none", "probability": 0.1, "supportingSymptoms": [], "rationale": "none"},
        ],
        "treatment": [{"description": "NSAID and colchicine", "origin": "suggestion",
                       "targetDiagnosis": ["Acute pericarditis"], "effectiveness": "high"}],
        "followUp": [{"type": "test", "name": "12-lead ECG", "reason": "Pericarditis changes",
                      "origin": "suggestion", "urgency": "immediate"}],
        "medication": [{"name": "Ibuprofen", "dosage": 600, "days": "7-10 days",
                        "days_of_week": ["Monday"], "time_of_day": "morning",
                        "origin": "suggestion", "purpose": "Pain", "alternatives": []}],
        "clarifyingQuestions": [{"question": "Does leaning forward help?",
                                 "category": "differential_diagnosis",
                                 "intent": "confirm_hypothesis", "priority": "high",
                                 "relatedItems": [], "rationale": "r", "expectedAnswers": [],
                                 "clinicalPearl": "", "timeframe": "immediate"}],
        "doctorRecommendations": [],
        "signals": [],
    }  # fmt: skip


REPORT_ANSWER = {
    "findings": "Patient with **sharp chest pain** for three days, worse on breathing.",
    "treatment": "- NSAID with colchicine",
    "medication": "- Ibuprofen 600 mg",
    "follow-up": "- ECG today",
    "recommendations": "- Return at once if breathless",
}


def stub_answer(request: Any) -> dict[str, Any]:
    """The stub's function-call answer, by which §4.7 schema the request carried."""
    tools = json.dumps(request.body.get("tools", []))
    if "isMedicalConversation" in tools:
        return TRANSCRIPT_ANALYSIS
    if '"follow-up"' in tools:
        return REPORT_ANSWER
    return diagnosis_answer()


def speak(text: str, path: Path) -> bytes:
    subprocess.run(["espeak-ng", "-v", "en", "-s", "170", "-w", str(path), text], check=True)
    return path.read_bytes()


class StreamFollower:
    """Follows a session's SSE stream on a thread, collecting frames until it closes."""

    def __init__(self, url: str, token: str) -> None:
        self.frames: list[Any] = []
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.url, self.token = url, token
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.stream(
            "GET", self.url, headers={"Authorization": f"Bearer {self.token}",
                                      "Accept": "text/event-stream"}, timeout=60,
        ) as response:  # fmt: skip
            self.status = response.status_code
            self.headers = dict(response.headers)
            reader = SseReader(response)
            while (frame := reader.next()) is not None:
                self.frames.append(frame)

    def events(self) -> list[tuple[int | None, dict[str, Any]]]:
        return [(f.id, json.loads(f.data)) for f in list(self.frames) if f.data]

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(e) for _, e in self.events()):
                return
            time.sleep(0.05)
        raise AssertionError(f"no such event; got {[e['type'] for _, e in self.events()]}")


def test_a_chest_pain_consultation_with_openai(start_server, ai_stub, alice, tmp_path):
    server = start_server(
        OPENAI_API_KEY="sk-test-stub", OPENAI_BASE_URL=ai_stub.openai_base_url,
        MEDIQOM_AI_TIMEOUT_MS="10000", MEDIQOM_AI_MAX_RETRIES="0", **FAST_ANALYSIS,
    )  # fmt: skip
    for text in SPOKEN_EN:
        ai_stub.reply(api="transcription", transcript=MEDICAL_PROMPT + " " + text, times=1)
    ai_stub.reply(api="openai", tool="extractor", args=stub_answer)
    token = token_for(alice)
    auth = {"Authorization": f"Bearer {token}"}
    http = httpx.Client(base_url=server.url, headers=auth, timeout=30)

    started = ok(http.post("/v1/session/start", json={"language": "en", "models": ["GP"]})).json()
    sid = started["sessionId"]
    assert started["features"]["chatGPTIntegration"] is True
    follower = StreamFollower(f"{server.url}{started['sseUrl']}", token)
    # the unstored "connected" status, then the stored "started" one: replay done, now live
    follower.wait_for(lambda e: e["type"] == "session_status" and e["data"]["status"] == "started")

    audio = [speak(text, tmp_path / f"chunk{i}.wav") for i, text in enumerate(SPOKEN_EN)]
    for i, wav in enumerate(audio):
        response = http.post(
            f"/v1/session/{sid}/transcribe",
            files={"audio": (f"chunk{i}.wav", wav, "audio/wav")},
            data={"chunkId": f"chunk-{i}", "sequenceNumber": str(i), "timestamp": "1764680000000",
                  "instructions": json.dumps({"lang": "en"})},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert (body["chunkId"], body["sequenceNumber"]) == (f"chunk-{i}", i)
        # the prompt the model echoed is stripped
        assert body["transcription"]["text"] == SPOKEN_EN[i]
        follower.wait_for(lambda e, i=i: e["type"] == "partial_transcript"
                          and e["data"]["text"] == SPOKEN_EN[i])  # fmt: skip

    calls = ai_stub.calls(api="transcription")
    assert [c.body["file_size"] for c in calls] == [len(a) for a in audio]
    assert {c.body["model"] for c in calls} == {"gpt-4o-mini-transcribe"}
    assert {c.body["language"] for c in calls} == {"en"}
    assert {c.body["prompt"] for c in calls} == {MEDICAL_PROMPT}

    follower.wait_for(
        lambda e: (
            e["type"] == "analysis_update"
            and any(d.get("code") == "I30.9" for d in e["data"]["diagnosis"])
        )
    )
    ended = http.post(f"/v1/session/{sid}/end", json={})
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    follower.thread.join(timeout=30)
    assert not follower.thread.is_alive(), "the stream closes after the session ended"

    # the stream: 200 event-stream, session_status first (unstored, no id), then stored events
    assert follower.status == 200
    assert follower.headers["content-type"].startswith("text/event-stream")
    events = follower.events()
    first_id, first = events[0]
    assert first_id is None
    assert first["type"] == "session_status"
    assert first["data"]["status"] == "connected"
    assert first["data"]["sessionId"] == sid
    stored = [(i, e) for i, e in events[1:]]
    assert all(i is not None for i, _ in stored)
    assert [i for i, _ in stored] == sorted({i for i, _ in stored})  # each once, in order
    types = [e["type"] for _, e in stored]
    assert types.count("partial_transcript") == 3
    thinking = [e["data"]["thinking"] for _, e in stored if e["type"] == "ai_thinking"]
    assert thinking[:2] == [True, False]
    assert types.index("ai_thinking") < types.index("analysis_update")
    assert stored[-1][1]["type"] == "session_status"
    assert stored[-1][1]["data"]["status"] == "ended"
    update = next(e["data"] for _, e in reversed(stored) if e["type"] == "analysis_update")
    assert set(update) == {"diagnosis", "treatment", "medication", "followUp", "incremental"}
    names = {d["name"]: d for d in update["diagnosis"]}
    assert names["Acute pericarditis"]["code"] == "I30.9"
    assert "code" not in names["Invented syndrome"]  # the invented code is dropped
    assert all(set(e) == {"type", "data", "timestamp"} for _, e in events)

    status = ok(http.get(f"/v1/session/{sid}/status")).json()
    assert status["status"] == "ended"
    assert [t["text"] for t in status["transcripts"]] == SPOKEN_EN

    final = http.post(
        "/v1/med/session/finalize",
        json={"sessionId": sid, "language": "english", "text": json.dumps(
            {"complaint": "Chest pain", "patient": {"name": "Jan Novák"},
             "doctor": "Dr. Eva Dvořák", "diagnosis": update["diagnosis"]})},
    )  # fmt: skip
    assert final.status_code == 200, final.text
    assert final.json()["findings"] == REPORT_ANSWER["findings"]
    assert final.json()["tokenUsage"]["total"] > 0

    pdf = http.get(f"/v1/session/{sid}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split()
    )
    for expected in ("Jan Novák", "Dr. Eva Dvořák", "Acute pericarditis", "I30.9", "70 %",
                     "sharp chest pain", "NSAID and colchicine", "12-lead ECG",
                     "Does leaning forward help?"):  # fmt: skip
        assert expected in text, expected
    assert "Z99.999X" not in text
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
         str(tmp_path / "report.pdf"), str(tmp_path / "report-page1")], check=True,
    )  # fmt: skip
    assert (tmp_path / "report-page1.png").stat().st_size > 10_000

    # nothing the patient said is in the database in plaintext
    for phrase in ("sharp chest pain", "lean forward", "deep breath", "Jan Novák"):
        assert database_contains(phrase) == [], phrase
    http.close()


def test_the_same_consultation_without_an_ai_key_runs_the_local_provider(
    start_server, alice, tmp_path
):
    server = start_server(**FAST_ANALYSIS)
    token = token_for(alice)
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    sid = ok(http.post("/v1/session/start", json={"language": "en"})).json()["sessionId"]
    follower = StreamFollower(f"{server.url}/v1/session/{sid}/stream", token)
    follower.wait_for(lambda e: e["type"] == "session_status")

    wav = speak(SPOKEN_EN[0], tmp_path / "chunk.wav")
    started = time.monotonic()
    refused = http.post(
        f"/v1/session/{sid}/transcribe",
        files={"audio": ("chunk.wav", wav, "audio/wav")}, data={"chunkId": "c0"},
    )  # fmt: skip
    assert refused.status_code == 503
    assert refused.json()["code"] == "transcription_unavailable"
    assert time.monotonic() - started < 5  # at once, never a hang

    # the shipped UI's path: the client's text analysed through /v1/med/session
    text = "\n".join(CHEST_PAIN_EN)
    transcript = ok(
        http.post(
            "/v1/med/session",
            json={"text": text, "type": "transcript", "language": "english", "sessionId": sid},
        )
    ).json()
    assert transcript["provider"] == "local"
    diagnosis = ok(http.post(
        "/v1/med/session",
        json={"text": json.dumps(transcript), "type": "diagnosis", "language": "english",
              "sessionId": sid},
    )).json()  # fmt: skip
    assert diagnosis["provider"] == "local"
    assert diagnosis["label"].startswith("Local rule-based analysis (offline, no AI)")
    codes = [d["code"] for d in diagnosis["diagnosis"]]
    assert codes[0] == "I30.9"
    assert {"R09.1", "I26.9", "I24.9"} <= set(codes)
    follower.wait_for(lambda e: e["type"] == "analysis_update"
                      and e["data"]["incremental"].get("provider") == "local")  # fmt: skip

    assert ok(http.post(f"/v1/session/{sid}/end", json={})).json()["status"] == "ended"
    final = ok(http.post(
        "/v1/med/session/finalize",
        json={"sessionId": sid, "language": "english", "text": json.dumps(
            {"complaint": transcript["complaint"], "symptoms": transcript["symptoms"],
             "patient": "Jan Novák"})},
    )).json()  # fmt: skip
    assert final["provider"] == "local"
    assert "Acute pericarditis" in final["findings"]
    pdf = http.get(f"/v1/session/{sid}/report.pdf")
    assert pdf.status_code == 200
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split()
    )
    for expected in ("Acute pericarditis", "I30.9", "Pulmonary embolism", "Jan Novák",
                     "offline rule-based provider"):  # fmt: skip
        assert expected in text, expected
    follower.thread.join(timeout=30)
    assert not follower.thread.is_alive()
    for phrase in ("lean forward", "deep breath", "sharp pain"):
        assert database_contains(phrase) == [], phrase
    http.close()

"""Provider calls made inside a request hold no database transaction: while the AI stub is
answering a transcription or a form scoring, none of the server's connections is "idle in
transaction" (a slow provider would otherwise hold a connection, and for a session chunk its
row lock, for the whole call). Live uvicorn server on PostgreSQL, the real `openai` client."""

from __future__ import annotations

import io
import wave
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection

from tests.conftest import database_url, ok, token_for
from tests.sessions_app.conftest import start_server  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_stat_activity is PostgreSQL's"
)


def silence_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(16000)
        audio.writeframes(b"\0\0" * 1600)
    return out.getvalue()


class TransactionProbe:
    """Counts the test database's backends that sit in an open transaction, at the moment the
    stub receives a provider call."""

    def __init__(self) -> None:
        self.url = database_url("postgres")
        self.database = connection.settings_dict["NAME"]
        self.seen: list[int] = []

    def __call__(self, _: Any) -> None:
        with psycopg.connect(self.url, autocommit=True) as probe:
            row = probe.execute(
                "select count(*) from pg_stat_activity where datname = %s"
                " and state like 'idle in transaction%%'",
                [self.database],
            ).fetchone()
        self.seen.append(int(row[0]) if row else -1)


def test_no_transaction_is_open_while_the_provider_answers(start_server, ai_stub, alice):  # noqa: F811
    probe = TransactionProbe()
    server = start_server(
        OPENAI_API_KEY="sk-test-stub", OPENAI_BASE_URL=ai_stub.openai_base_url,
        MEDIQOM_AI_TIMEOUT_MS="10000", MEDIQOM_AI_MAX_RETRIES="0",
    )  # fmt: skip
    ai_stub.reply(api="transcription", transcript="chest pain since this morning", on_request=probe)
    ai_stub.reply(api="openai", status=500, on_request=probe)  # form scoring: provider error
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token_for(alice)}"}, timeout=30
    )
    sid = ok(http.post("/v1/session/start", json={"language": "en"})).json()["sessionId"]
    audio = {"audio": ("chunk.wav", silence_wav(), "audio/wav")}

    chunk = http.post(f"/v1/session/{sid}/transcribe", data={"chunkId": "c1"}, files=audio)
    assert chunk.status_code == 200, chunk.text
    assert chunk.json()["transcription"]["text"] == "chest pain since this morning"
    legacy = http.post(f"/v1/session/{sid}/audio", data={"chunkId": "c2"}, files=audio)
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["hasTranscript"] is True
    plain = http.post("/v1/transcribe", files={"file": ("a.wav", silence_wav(), "audio/wav")})
    assert plain.status_code == 200, plain.text
    scored = http.post("/v1/serenity/analyze", json={"transcript": "Calm.", "formType": "pre"})
    assert scored.status_code == 502, scored.text

    # four calls from the requests (the chunks' background analysis may add its own)
    assert len(probe.seen) >= 4
    assert set(probe.seen) == {0}
    # both chunks were stored after their calls
    status = ok(http.get(f"/v1/session/{sid}/status")).json()
    assert [t["text"] for t in status["transcripts"]] == ["chest pain since this morning"] * 2

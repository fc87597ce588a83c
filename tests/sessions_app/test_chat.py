"""POST /v1/chat/conversation over real HTTP with the openai client against the stub: every
network chunk holds whole `data:` lines, as the client (which does not buffer) needs."""

from __future__ import annotations

import json

import httpx

from tests.conftest import token_for

ANSWER = (
    "Pericarditis is an inflammation of the sac around the heart. It often follows a viral "
    "infection and typically causes sharp chest pain that improves when leaning forward. "
) * 8


def unbuffered_client_events(response: httpx.Response) -> tuple[list[dict], int]:
    """What the Mediqom chat client does: split each network chunk on `\\n`, parse the lines
    that start with `data: `, keep nothing between chunks."""
    events, chunks = [], 0
    for chunk in response.iter_raw():
        chunks += 1
        for line in chunk.decode("utf-8").split("\n"):
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))  # a partial line fails here
    return events, chunks


def test_chat_frames_arrive_whole_and_in_order(start_server, ai_stub, alice):
    server = start_server(
        OPENAI_API_KEY="sk-test-stub", OPENAI_BASE_URL=ai_stub.openai_base_url,
        MEDIQOM_AI_MAX_RETRIES="0",
    )  # fmt: skip
    ai_stub.reply(api="openai", text=ANSWER)
    body = {
        "message": "What is pericarditis?",
        "mode": "patient",
        "profileId": str(alice.id),
        "language": "en",
        "conversationHistory": [{"role": "user", "content": "Hello", "timestamp": 1}],
        "pageContext": {"documentsContent": [["doc-1", "ECG: diffuse ST elevation"]]},
    }
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/conversation", json=body,
        headers={"Authorization": f"Bearer {token_for(alice)}"}, timeout=30,
    ) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events, chunks = unbuffered_client_events(response)
    assert chunks > 10  # really streamed in many pieces
    types = [e["type"] for e in events]
    assert types[-2:] == ["metadata", "complete"]
    assert set(types[:-2]) == {"chunk"}
    assert "".join(e["content"] for e in events[:-2]) == ANSWER
    metadata = events[-2]["data"]
    assert metadata["mode"] == "patient"
    assert metadata["documentCount"] == 1
    assert metadata["contextAvailable"] is True
    assert metadata["toolCalls"] == []
    sent = ai_stub.calls(api="openai")[-1].text
    assert "ECG: diffuse ST elevation" in sent  # the client's context reached the model
    assert "What is pericarditis?" in sent


def test_a_provider_failure_is_one_error_frame(start_server, ai_stub, alice):
    server = start_server(
        OPENAI_API_KEY="sk-test-stub", OPENAI_BASE_URL=ai_stub.openai_base_url,
        MEDIQOM_AI_MAX_RETRIES="0",
    )  # fmt: skip
    ai_stub.reply(api="openai", status=500)
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/conversation",
        json={"message": "Hi", "mode": "clinical", "profileId": str(alice.id)},
        headers={"Authorization": f"Bearer {token_for(alice)}"}, timeout=30,
    ) as response:  # fmt: skip
        events, _ = unbuffered_client_events(response)
    assert events == [{"type": "error", "message": "Failed to process AI request"}]

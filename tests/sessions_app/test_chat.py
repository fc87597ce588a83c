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
        "pageContext": {"documentsContent": [
            ["doc-1", "ECG: diffuse ST elevation"],
            ["doc-2", "Discharge letter: acute pericarditis after a viral infection"],
        ]},
    }  # fmt: skip
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
    assert metadata["documentCount"] == 2
    assert metadata["contextAvailable"] is True
    assert metadata["toolCalls"] == []
    assert metadata["documentReferences"] == ["doc-2"]  # the one matching the question
    assert metadata["anatomyReferences"] == ["heart"]  # named in the answer
    assert metadata["contextConfidence"] == 1.0
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


METADATA_KEYS = {"anatomyReferences", "documentReferences", "consentRequests", "toolCalls",
                 "clarifyingQuestions", "tokenUsage", "mode", "contextAvailable",
                 "documentCount", "contextConfidence", "availableTools", "debugInfo"}  # fmt: skip
RECORDS = [
    ["doc-ecg", "ECG 2026-11-30\nDiffuse ST elevation with PR depression, consistent with "
                "pericarditis. Heart rate 96/min."],
    ["doc-lab", {"title": "Blood count 2026-11-29", "values": [
        {"name": "CRP", "value": "48 mg/L"}, {"name": "Leukocytes", "value": "11.2"}]}],
]  # fmt: skip


def offline_chat(server, user, **body) -> list[dict]:
    """The chat on a server with no AI key at all, read like the client reads it."""
    body = {"mode": "patient", "profileId": str(user.id), "language": "en", **body}
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/conversation", json=body,
        headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=30,
    ) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events, _ = unbuffered_client_events(response)
    types = [e["type"] for e in events]
    assert types[-2:] == ["metadata", "complete"]
    assert set(types[:-2]) == {"chunk"}
    assert len(types) > 3
    assert set(events[-2]["data"]) == METADATA_KEYS
    return events


def answer_of(events: list[dict]) -> str:
    return "".join(e["content"] for e in events if e["type"] == "chunk")


def test_offline_chat_answers_from_the_supplied_records_labelled(start_server, alice):
    server = start_server()  # no OPENAI_API_KEY, no other provider
    events = offline_chat(
        server, alice, message="What did my ECG show about my heart?",
        pageContext={"documentsContent": RECORDS},
        assembledContext={"summary": "Seen for chest pain after a cold",
                          "keyPoints": [{"text": "Chest pain worse lying down"}]},
    )  # fmt: skip
    answer = answer_of(events)
    assert answer.startswith("Offline answer: no AI model is connected.")
    assert "Document doc-ecg: “Diffuse ST elevation with PR depression" in answer
    assert "CRP" not in answer  # the lab record does not match the question
    metadata = events[-2]["data"]
    assert metadata["documentReferences"] == ["doc-ecg"]
    assert metadata["anatomyReferences"] == ["heart"]
    assert metadata["contextAvailable"] is True
    assert metadata["documentCount"] == 2
    assert 0 < metadata["contextConfidence"] <= 1
    assert metadata["toolCalls"] == []
    assert metadata["clarifyingQuestions"] == []
    assert metadata["tokenUsage"] == 0

    lab = offline_chat(server, alice, message="Jaké mám CRP?", language="cs",
                       pageContext={"documentsContent": RECORDS})  # fmt: skip
    czech = answer_of(lab)
    assert czech.startswith("Offline odpověď: není připojen žádný model AI.")
    assert "Dokument doc-lab: “name: CRP”" in czech
    assert lab[-2]["data"]["documentReferences"] == ["doc-lab"]


def test_offline_chat_without_records_asks_the_client_to_search(start_server, alice):
    server = start_server()
    events = offline_chat(server, alice, message="What were my latest blood test results?")
    assert "No records were shared with this chat" in answer_of(events)
    metadata = events[-2]["data"]
    assert metadata["contextAvailable"] is False
    assert metadata["contextConfidence"] == 0.0
    assert metadata["toolCalls"] == [{
        "name": "searchDocuments",
        "parameters": {"terms": ["laboratory", "blood", "latest"], "limit": 10},
        "reason": "No records were shared with this chat; search them for: laboratory, "
                  "blood, latest",
    }]  # fmt: skip
    assert metadata["debugInfo"] == {
        "mentionsTools": False, "hasToolCalls": True, "hasAvailableTools": True,
    }  # fmt: skip
    # a client that offers no search tool gets no tool call
    none = offline_chat(server, alice, message="What were my latest blood test results?",
                        availableTools=[])  # fmt: skip
    assert none[-2]["data"]["toolCalls"] == []


def test_offline_chat_asks_which_record_when_none_matches(start_server, alice):
    server = start_server()
    events = offline_chat(server, alice, message="What did the biopsy find?",
                          mode="clinical", pageContext={"documentsContent": RECORDS})  # fmt: skip
    assert "I found nothing about this in the records shared with this chat." in answer_of(events)
    questions = events[-2]["data"]["clarifyingQuestions"]
    assert len(questions) == 1
    assert questions[0]["question"] == "Which of the shared records is your question about?"
    assert questions[0]["options"] == ["ECG 2026-11-30", "title: Blood count 2026-11-29"]
    assert questions[0]["id"].startswith("clarify-")
    assert events[-2]["data"]["documentReferences"] == []

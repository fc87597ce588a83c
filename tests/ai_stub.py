"""A real HTTP server on 127.0.0.1 that answers like the OpenAI and Gemini APIs.

The real `openai`, `langchain-openai` and `google-genai` clients talk to it over TCP, so
their request building, response parsing, timeouts and error handling all run. Replies are
programmed per test:

    stub.reply(tool="ocr_extractor", args={"pages": [...]})        # any API, any model
    stub.reply(api="openai", status=500)                             # OpenAI answers 500
    stub.reply(model="gpt-4o-2024-08-06", hang=True)                 # never answers
    stub.reply(tool="x", args=lambda request: {...}, delay=0.2, times=1)
    stub.reply(text="Hello there")                                   # chat (plain or streamed)
    stub.reply(transcript="Patient reports ...")                     # audio transcriptions

The first matching rule with uses left answers; unmatched requests get a 500 with an
explanatory body (a test that forgot a rule fails loudly). `stub.requests` records every
request (path, headers, parsed JSON or form fields).

Endpoints: OpenAI `POST /v1/chat/completions` (tool_calls or text; `stream: true` as SSE
deltas), `POST /v1/audio/transcriptions` (multipart) and the Conversations API
(`POST /v1/conversations`, `DELETE /v1/conversations/{id}`; api "conversations"); Gemini
`POST /v1beta/models/{model}:generateContent` (functionCall or text) and
`:streamGenerateContent?alt=sse`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Args = dict[str, Any] | Callable[["Recorded"], dict[str, Any]]


@dataclass
class Recorded:
    api: str  # "openai" | "gemini" | "transcription" | "conversations"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    model: str | None
    tool: str | None
    stream: bool
    received: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        """Every text part the request carried (system + user), joined."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class Rule:
    api: str | None = None
    tool: str | None = None
    model: str | None = None
    args: Args | None = None
    text: str | None = None
    transcript: str | None = None
    status: int = 200
    delay: float = 0.0
    hang: bool = False
    times: int | None = None
    tokens: int = 42
    raw_arguments: str | None = None
    # called with the request before it is answered (e.g. to look at the caller's state)
    on_request: Callable[[Recorded], None] | None = None
    used: int = 0

    def matches(self, request: Recorded) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.api is not None and self.api != request.api:
            return False
        if self.tool is not None and self.tool != request.tool:
            return False
        return not (self.model is not None and self.model != request.model)


@dataclass
class AIStub:
    host: str = "127.0.0.1"
    rules: list[Rule] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    # -------------------------------------------------------------- programming
    def reply(self, **kwargs: Any) -> Rule:
        rule = Rule(**kwargs)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.requests.clear()

    def calls(self, *, api: str | None = None, tool: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (api is None or r.api == api) and (tool is None or r.tool == tool)
            ]

    # -------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def gemini_base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -------------------------------------------------------------- lifecycle
    def start(self) -> AIStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _match(self, request: Recorded) -> Rule | None:
        with self.lock:
            self.requests.append(request)
            for rule in self.rules:
                if rule.matches(request):
                    rule.used += 1
                    return rule
        return None


_GEMINI_PATH = re.compile(r"^/v1[a-z0-9]*/models/([^:/]+):(generateContent|streamGenerateContent)")


class _Handler(BaseHTTPRequestHandler):
    owner: AIStub
    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle delay: the stub must not add latency of its own.
    disable_nagle_algorithm = True
    wbufsize = -1

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -------------------------------------------------------------- parsing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        raw = self._body()
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        gemini = _GEMINI_PATH.match(path)
        if path.endswith("/chat/completions"):
            body = json.loads(raw or b"{}")
            tool = _openai_tool(body)
            request = Recorded(
                "openai", path, headers, body, body.get("model"), tool, bool(body.get("stream"))
            )
        elif path.endswith("/audio/transcriptions"):
            body = _multipart(raw, headers.get("content-type", ""))
            request = Recorded("transcription", path, headers, body, body.get("model"), None, False)
        elif path.endswith("/conversations"):
            body = json.loads(raw or b"{}")
            request = Recorded("conversations", path, headers, body, None, None, False)
        elif gemini:
            body = json.loads(raw or b"{}")
            request = Recorded(
                "gemini",
                path,
                headers,
                body,
                gemini.group(1),
                _gemini_tool(body),
                gemini.group(2) == "streamGenerateContent",
            )
        else:
            self._json(404, {"error": {"message": f"stub: no endpoint {path}"}})
            return
        self._answer(request)

    def do_DELETE(self) -> None:
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not re.match(r"^/v1/conversations/[^/]+$", path):
            self._json(404, {"error": {"message": f"stub: no endpoint DELETE {path}"}})
            return
        self._answer(Recorded("conversations", path, headers, {"method": "DELETE"}, None, None,
                              False))  # fmt: skip

    def _answer(self, request: Recorded) -> None:
        rule = self.owner._match(request)
        if rule is None:
            self._json(
                500,
                {"error": {"message": f"stub: no rule for {request.api} tool={request.tool}"}},
            )
            return
        if rule.hang:
            # Hold the connection until the client gives up (its timeout) or the stub stops.
            self.owner.stopping.wait(60)
            return
        if rule.on_request is not None:
            rule.on_request(request)
        if rule.delay:
            time.sleep(rule.delay)
        if rule.status >= 400:
            self._error(request.api, rule.status)
            return
        if request.api == "openai":
            self._openai(request, rule)
        elif request.api == "conversations":
            self._conversation(request)
        elif request.api == "gemini":
            self._gemini(request, rule)
        else:
            self._transcription(request, rule)

    # -------------------------------------------------------------- answers
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, api: str, status: int) -> None:
        if api == "gemini":
            self._json(
                status, {"error": {"code": status, "message": "stub error", "status": "INTERNAL"}}
            )
        else:
            self._json(
                status, {"error": {"message": "stub error", "type": "server_error", "code": None}}
            )

    def _args(self, request: Recorded, rule: Rule) -> dict[str, Any]:
        if callable(rule.args):
            return rule.args(request)
        return dict(rule.args or {})

    def _stream_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _sse(self, payload: Any, *, crlf: bool = False) -> None:
        end = "\r\n\r\n" if crlf else "\n\n"
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self.wfile.write(f"data: {data}{end}".encode())
        self.wfile.flush()

    def _openai(self, request: Recorded, rule: Rule) -> None:
        usage = {
            "prompt_tokens": rule.tokens - 2,
            "completion_tokens": 2,
            "total_tokens": rule.tokens,
        }
        base = {"id": "chatcmpl-stub", "created": int(time.time()), "model": request.model}
        if request.stream:
            self._stream_start()
            for piece in _pieces(rule.text or ""):
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                self._sse(chunk)
            self._sse(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
            self._sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            self._sse("[DONE]")
            return
        if request.tool is not None:
            arguments = rule.raw_arguments
            if arguments is None:
                arguments = json.dumps(self._args(request, rule))
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_stub",
                        "type": "function",
                        "function": {"name": request.tool, "arguments": arguments},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": rule.text or ""}
            finish = "stop"
        self._json(
            200,
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            },
        )

    def _gemini(self, request: Recorded, rule: Rule) -> None:
        usage = {
            "promptTokenCount": rule.tokens - 2,
            "candidatesTokenCount": 2,
            "totalTokenCount": rule.tokens,
        }

        def answer(parts: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": parts},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": request.model,
            }

        if request.stream:
            self._stream_start()
            for piece in _pieces(rule.text or ""):
                self._sse(answer([{"text": piece}]), crlf=True)
            return
        if request.tool is not None:
            parts = [{"functionCall": {"name": request.tool, "args": self._args(request, rule)}}]
        else:
            parts = [{"text": rule.text or ""}]
        self._json(200, answer(parts))

    def _conversation(self, request: Recorded) -> None:
        """OpenAI Conversations API: create (POST /v1/conversations) and delete."""
        if request.body.get("method") == "DELETE":
            conversation_id = request.path.rsplit("/", 1)[1]
            self._json(200, {"id": conversation_id, "object": "conversation.deleted",
                             "deleted": True})  # fmt: skip
            return
        with self.owner.lock:
            number = sum(1 for r in self.owner.requests if r.api == "conversations")
        self._json(200, {"id": f"conv_stub{number}", "object": "conversation",
                         "created_at": int(time.time()),
                         "metadata": request.body.get("metadata") or {}})  # fmt: skip

    def _transcription(self, request: Recorded, rule: Rule) -> None:
        text = rule.transcript or ""
        if request.body.get("response_format") == "text":
            self._send(200, (text + "\n").encode(), "text/plain; charset=utf-8")
        else:
            self._json(200, {"text": text})


def _pieces(text: str) -> list[str]:
    """The text split into word-sized deltas (spaces kept), as a streaming model sends."""
    return re.findall(r"\S+\s*|\s+", text)


def _openai_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name"))
    tools = body.get("tools") or []
    if tools:
        return str(tools[0].get("function", {}).get("name"))
    return None


def _gemini_tool(body: dict[str, Any]) -> str | None:
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    allowed = config.get("allowedFunctionNames") or []
    if allowed:
        return str(allowed[0])
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            return str(declaration.get("name"))
    return None


def _multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    """Form fields of a multipart body; the file as {'file_name', 'file_size', 'file_type'}."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    boundary = b"--" + match.group(1).encode()
    fields: dict[str, Any] = {}
    for part in raw.split(boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, value = part.partition(b"\r\n\r\n")
        value = value.removesuffix(b"\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if not name:
            continue
        key = name.group(1).decode()
        filename = re.search(rb'filename="([^"]*)"', head)
        if filename:
            ctype = re.search(rb"Content-Type:\s*([^\r\n]+)", head, re.I)
            fields["file_name"] = filename.group(1).decode()
            fields["file_size"] = len(value)
            fields["file_type"] = ctype.group(1).decode() if ctype else None
        else:
            fields[key] = value.decode()
    return fields

"""Headless Chromium's own EventSource, authenticated only by the Supabase auth cookie, follows
a session's live analysis (the web app cannot send an Authorization header to EventSource)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from itertools import count
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.auth.conftest import COOKIE, base64_cookie_value
from tests.conftest import ok, token_for
from tests.sessions_app.fixtures import CHEST_PAIN_EN


class Chromium:
    """Chromium driven over the DevTools protocol (no extra test dependency)."""

    def __init__(self, profile: str) -> None:
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port, "chromium did not start"
        page = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json()
                    if t["type"] == "page")  # fmt: skip
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.ids = count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        mid = next(self.ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == mid:
                assert "error" not in message, message
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_a_browser_event_source_with_only_the_cookie_follows_the_analysis(
    start_server, alice, tmp_path
):
    server = start_server(MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS="0")
    token = token_for(alice)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    sid = ok(http.post("/v1/session/start", json={"language": "en"})).json()["sessionId"]
    browser = Chromium(str(tmp_path / "chromium"))
    try:
        browser.call("Network.enable")
        browser.call(
            "Network.setCookie", name=COOKIE, value=base64_cookie_value(token),
            url=server.url, path="/", httpOnly=False,
        )  # fmt: skip
        browser.call("Page.navigate", url=f"{server.url}/healthz")
        time.sleep(0.5)
        browser.evaluate(
            f"""window.__events = []; window.__errors = 0;
            const source = new EventSource('/v1/session/{sid}/stream');
            source.onmessage = (m) => window.__events.push(JSON.parse(m.data));
            source.onerror = () => window.__errors++;"""
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not browser.evaluate("window.__events.length"):
            time.sleep(0.1)
        ok(
            http.post(
                "/v1/med/session",
                json={"text": "\n".join(CHEST_PAIN_EN), "type": "diagnosis", "sessionId": sid},
            )
        )
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            events = browser.evaluate("window.__events")
            if any(e["type"] == "analysis_update" for e in events):
                break
            time.sleep(0.1)
        types = [e["type"] for e in events]
        assert types[0] == "session_status"
        assert events[0]["data"]["status"] == "connected"
        assert "ai_thinking" in types
        update = next(e for e in events if e["type"] == "analysis_update")
        assert update["data"]["diagnosis"][0]["code"] == "I30.9"
        assert browser.evaluate("window.__errors") == 0
    finally:
        browser.close()
        http.close()

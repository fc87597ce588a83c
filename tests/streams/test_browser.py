"""A real browser: headless Chromium opens an EventSource with only the Supabase auth cookie,
receives events, is disconnected by the server (graceful restart), reconnects by itself with
Last-Event-ID and resumes without loss or duplicates. Driven over the DevTools protocol."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from mediqom.streams.services import stream_append
from tests.conftest import token_for
from tests.streams.conftest import new_key

pytestmark = pytest.mark.usefixtures("redis_layer")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url, max_size=None, open_timeout=10)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=10))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return dict(message["result"])

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, limit: float = 20) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}: {self.evaluate('state()')}")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0", "about:blank",
    ]  # fmt: skip
    browser = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.exists() or not active.read_text().strip():
            assert time.monotonic() < deadline, "chromium did not start"
            assert browser.poll() is None, "chromium exited"
            time.sleep(0.1)
        port = int(active.read_text().split()[0])
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(p for p in pages if p["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        yield devtools
        devtools.ws.close()
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()


def auth_cookie(user: Any) -> str:
    """What @supabase/ssr stores: `base64-` + base64url(JSON session)."""
    session = json.dumps({"access_token": token_for(user), "token_type": "bearer"})
    return "base64-" + base64.urlsafe_b64encode(session.encode()).decode().rstrip("=")


PAGE_SCRIPT = """
window.got = []; window.opens = 0; window.errors = 0;
window.state = () => JSON.stringify({got: window.got, opens: window.opens, errors: window.errors});
const source = new EventSource('/v1/streams/%s');
source.onopen = () => { window.opens += 1; };
source.onerror = () => { window.errors += 1; };
source.onmessage = (e) => { window.got.push([Number(e.lastEventId), JSON.parse(e.data).data.n]); };
true
"""


def ev(n: int) -> dict[str, object]:
    return {"type": "partial_transcript", "data": {"n": n}, "timestamp": n}


def test_an_eventsource_with_only_the_cookie_resumes_after_a_server_disconnect(
    start_server, alice, chromium
):
    server = start_server()
    key = new_key()
    for n in (1, 2):
        stream_append(key=key, owner_id=alice.id, payload=ev(n))
    chromium.call(
        "Network.setCookie", name="sb-local-auth-token", value=auth_cookie(alice), url=server.url
    )
    chromium.call("Page.navigate", url=f"{server.url}/")
    chromium.wait_for("document.readyState === 'complete'")
    chromium.evaluate(PAGE_SCRIPT % key)
    chromium.wait_for("window.got.length === 2")
    stream_append(key=key, owner_id=alice.id, payload=ev(3))
    chromium.wait_for("window.got.length === 3")

    # the server ends the stream (graceful shutdown, retry hint) and is down for a while;
    # meanwhile the log grows
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=10)
    for n in (4, 5):
        stream_append(key=key, owner_id=alice.id, payload=ev(n))
    server.start()
    chromium.wait_for("window.got.length >= 5")
    stream_append(key=key, owner_id=alice.id, payload=ev(6))
    chromium.wait_for("window.got.length >= 6")
    time.sleep(0.5)
    state = json.loads(chromium.evaluate("state()"))
    assert state["got"] == [[n, n] for n in range(1, 7)]
    assert state["opens"] >= 2  # it reconnected by itself

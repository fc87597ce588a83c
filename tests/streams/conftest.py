"""Real servers for stream tests: uvicorn subprocesses on the test database, on sockets the
test binds itself (port 0, loopback), with the Redis channel layer; and a small SSE client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def redis_layer_config() -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.TEST_REDIS_URL]},
        }
    }


def server_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "MEDIQOM_ENV": "test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.TEST_REDIS_URL,
        "SUPABASE_JWT_SECRET": settings.SUPABASE_JWT_SECRET,
        "MEDIQOM_FIELD_ENCRYPTION_KEY": ",".join(settings.MEDIQOM_FIELD_ENCRYPTION_KEYS),
        "MEDIQOM_LOG_LEVEL": "WARNING",
        "MEDIQOM_STREAM_KEEPALIVE_SECONDS": "1",
        "MEDIQOM_STREAM_RETRY_MS": "200",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra)
    return env


@dataclass
class Server:
    """One uvicorn process serving config.asgi on a socket we own (restartable in place)."""

    sock: socket.socket
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    args: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        fd = self.sock.fileno()
        command = [
            sys.executable, "-m", "uvicorn", "config.asgi:application", "--fd", str(fd),
            "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "5",
            *self.args,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, pass_fds=(fd,), stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self, sig: int | None = None) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if sig is None:
            self.proc.terminate()
        else:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start_server(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start uvicorn servers on the test database; all stopped (and DB connections closed)
    afterwards."""
    servers: list[Server] = []

    def start(*args: str, **env: str) -> Server:
        log = tmp_path / f"server-{len(servers)}.log"
        server = Server(listening_socket(), server_env(**env), log, args=list(args))
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
        server.sock.close()


@pytest.fixture
def redis_layer(settings: Any) -> Iterator[None]:
    """The test process publishes on the Redis pub/sub layer, like the servers."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = redis_layer_config()
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@dataclass
class Frame:
    id: int | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)


class SseReader:
    """Reads whole SSE frames from a streaming httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> Frame | None:
        frame = Frame()
        for line in self.lines:
            if line == "":
                if frame.raw:
                    return frame
                continue
            frame.raw.append(line)
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = int(value)
            elif name == "data":
                assert frame.data is None, "one data line per event"
                frame.data = value
            elif name == "retry":
                frame.retry = int(value)
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        return frame if frame.raw else None

    def events(self, count: int) -> list[Frame]:
        """The next `count` frames that carry data (comments and hints skipped)."""
        found: list[Frame] = []
        while len(found) < count:
            frame = self.next()
            if frame is None:
                break
            if frame.data is not None:
                found.append(frame)
        return found

    def rest(self) -> list[Frame]:
        """Every frame until the server ends the response."""
        frames = []
        while (frame := self.next()) is not None:
            frames.append(frame)
        return frames


def new_key(kind: str = "session") -> str:
    return f"{kind}:{uuid.uuid4()}"


@pytest.fixture
async def ws_db(transactional_db: None) -> Any:
    """Transactional database for in-process async tests; afterwards the connections opened by
    worker threads are closed, so the test database can be dropped at the end of the run."""
    from channels.db import database_sync_to_async
    from django.db import connections

    from mediqom.streams import db

    yield
    await database_sync_to_async(connections.close_all)()
    await database_sync_to_async(db.close_connections)()


@pytest.fixture(scope="session", autouse=True)
def close_stream_threads_connections(django_db_setup: None) -> Iterator[None]:
    """The stream threads keep their database connections; close them before the test
    database is dropped (a log poll may have reopened one after a test's own cleanup)."""
    yield
    from mediqom.streams import db

    db.close_connections()

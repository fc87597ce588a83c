"""Many SSE clients in one asyncio loop over raw HTTP/1.1 sockets, each behaving like a browser
EventSource: it remembers the last `id:`, honours `retry:`, and reconnects with
`Last-Event-ID` whenever the connection ends or fails."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field


@dataclass(eq=False)
class SseClient:
    port: int
    path: str
    token: str
    last: int = 0
    retry: float = 0.2
    seqs: list[int] = field(default_factory=list)
    connects: int = 0
    opened_at: list[float] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            writer = None
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                resume = f"Last-Event-ID: {self.last}\r\n" if self.last else ""
                writer.write(
                    (
                        f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n"
                        f"{resume}\r\n"
                    ).encode()
                )
                await self._read(reader, stop)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass
            finally:
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry)

    async def _read(self, reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
        status = int((await reader.readline()).split()[1])
        self.statuses.append(status)
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
        if status != 200:
            return
        self.connects += 1
        self.opened_at.append(time.monotonic())
        pending = b""
        while not stop.is_set():
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                pending += data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return
                pending += data
            while b"\n\n" in pending:
                frame, pending = pending.split(b"\n\n", 1)
                self._frame(frame.decode())

    def _frame(self, frame: str) -> None:
        seq = None
        has_data = False
        for line in frame.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                seq = int(value)
            elif name == "data":
                has_data = True
            elif name == "retry":
                self.retry = int(value) / 1000
            elif name == "":
                self.comments.append(value)
        if seq is not None and has_data:
            self.seqs.append(seq)
            self.last = seq

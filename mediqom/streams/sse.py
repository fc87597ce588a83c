"""Server-sent events for any view: `sse_response(request, key=...)`.

Frames (contract §3, §12): `id: <seq>` + one compact `data: <json>` line per stored event,
never an `event:` line; `initial` events have no id; `: keepalive` comments; a `retry:` hint.
Order of work: first bytes at once, `initial`, subscribe, replay after `Last-Event-ID` /
`?since=`, then tail live: duplicates (seq <= last sent) are dropped and a gap in the published
`seq` is backfilled from the log before the newer event is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import InvalidInput, NotAuthenticated
from mediqom.logging import get_logger
from mediqom.streams import hub
from mediqom.streams.selectors import StoredEvent, StreamState, stream_read
from mediqom.streams.services import validate_key

log = get_logger("sse")

PAGE = 500
MAX_SEQ = 2**62

Snapshot = Callable[[], dict[str, Any]]


class IgnoreAcceptNegotiation(BaseContentNegotiation):
    """For DRF views that answer with `sse_response`: an EventSource sends
    `Accept: text/event-stream`, which must not turn a 401/404 into a 406; errors stay JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def requested_since(request: HttpRequest | Request) -> int:
    """The last seq the client has: `Last-Event-ID` (set by EventSource on reconnect) wins over
    `?since=`; neither means 0. Anything but a non-negative integer is a 400."""
    raw = request.META.get("HTTP_LAST_EVENT_ID")
    if raw is None or raw == "":
        raw = request.GET.get("since")
    if raw is None or raw == "":
        return 0
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(
            "Last-Event-ID / since must be a non-negative integer", code="invalid_since"
        )
    return int(raw)


def sse_response(
    request: HttpRequest | Request,
    *,
    key: str,
    initial: Callable[[], list[dict[str, Any]]] | None = None,
    close_when: Callable[[dict[str, Any]], bool] | None = None,
    snapshot: Snapshot | None = None,
    user: SupabaseUser | None = None,
    since: int | None = None,
) -> StreamingHttpResponse:
    """A streaming response that follows stream `key` for the authenticated caller.

    The caller has authorized the stream (ownership, 404) before calling this. `initial()`
    (called in a worker thread) gives unstored events sent first; `close_when(payload)` ends
    the response after that event; `snapshot()` is the body of the `reset` event sent when
    the client asks for events older than the retained ones. Must be served under ASGI.
    """
    validate_key(key)
    who = user if user is not None else getattr(request, "user", None)
    if not isinstance(who, SupabaseUser):
        raise NotAuthenticated()
    start = requested_since(request) if since is None else since
    body = EventStream(
        user=who, key=key, since=start, initial=initial, close_when=close_when, snapshot=snapshot
    )
    response = StreamingHttpResponse(body.frames(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _decode(payload: str) -> dict[str, Any]:
    value = orjson.loads(payload)
    return value if isinstance(value, dict) else {}


class EventStream:
    """The body of one SSE response; also the replay/tail engine of the WebSocket consumer."""

    def __init__(
        self,
        *,
        user: SupabaseUser,
        key: str,
        since: int,
        initial: Callable[[], list[dict[str, Any]]] | None = None,
        close_when: Callable[[dict[str, Any]], bool] | None = None,
        snapshot: Snapshot | None = None,
    ) -> None:
        self.user = user
        self.key = key
        self.last = since
        self.initial = initial
        self.close_when = close_when
        self.snapshot = snapshot
        self.done = False
        self.ended = False

    async def _read(
        self, after: int, limit: int = PAGE
    ) -> tuple[StreamState | None, list[StoredEvent]]:
        read = database_sync_to_async(stream_read, thread_sensitive=False)
        result: tuple[StreamState | None, list[StoredEvent]] = await read(
            user=self.user, key=self.key, after=after, limit=limit
        )
        return result

    def _stored(self, seq: int, payload: str) -> bytes:
        self.last = seq
        if self.close_when is not None and self.close_when(_decode(payload)):
            self.done = True
        return hub.sse_frame(seq, payload.encode())

    async def catch_up(self, upto: int = MAX_SEQ) -> AsyncIterator[tuple[int | None, bytes]]:
        """Stored events after `last` up to `upto`, page by page; a `reset` first when the
        client's position is older than what is retained. Yields (seq, frame)."""
        while not self.done and self.last < upto:
            state, rows = await self._read(self.last)
            if state is None:
                return
            if self.last < state.trimmed_seq:
                yield state.trimmed_seq, self._reset(state.trimmed_seq)
                continue
            for row in rows:
                if row.seq > upto:
                    return
                yield row.seq, self._stored(row.seq, row.payload)
                if self.done:
                    return
            if len(rows) < PAGE:
                self.ended = state.ended and self.last >= state.last_seq
                return

    def _reset(self, seq: int) -> bytes:
        data = self.snapshot() if self.snapshot is not None else {}
        self.last = seq
        frame = {"type": "reset", "data": data, "timestamp": int(time.time() * 1000)}
        return hub.sse_frame(seq, orjson.dumps(frame))

    async def frames(self) -> AsyncIterator[bytes]:
        retry = settings.MEDIQOM_STREAM_RETRY_MS
        yield b"retry: %d\n: connected\n\n" % retry
        if self.initial is not None:
            events = await database_sync_to_async(self.initial, thread_sensitive=False)()
            for event in events:
                yield hub.sse_frame(None, orjson.dumps(event))
        central = hub.get_hub()
        listener = await central.listen(self.key)
        try:
            async for _, frame in self.catch_up():
                yield frame
            if self.done or self.ended:
                return
            async for frame in self.tail(listener):
                yield frame
        finally:
            central.release(listener)

    async def tail(self, listener: hub.Listener) -> AsyncIterator[bytes]:
        """Live events after the replay, until close_when, the stream's end or shutdown."""
        keepalive = settings.MEDIQOM_STREAM_KEEPALIVE_SECONDS
        stop = asyncio.ensure_future(listener.shutdown.wait())
        get: asyncio.Future[hub.Item] | None = None
        try:
            while True:
                get = asyncio.ensure_future(listener.queue.get())
                finished, _ = await asyncio.wait(
                    {get, stop}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED
                )
                if stop in finished:
                    # server shutting down: reconnect soon, to another process
                    yield b"retry: %d\n: shutdown\n\n" % settings.MEDIQOM_STREAM_SHUTDOWN_RETRY_MS
                    return
                if get not in finished:
                    yield b": keepalive\n\n"
                    continue
                item = get.result()
                if listener.lagging:
                    yield b"retry: %d\n: lagging\n\n" % settings.MEDIQOM_STREAM_RETRY_MS
                    return
                async for frame in self.deliver(item):
                    yield frame
                if self.done:
                    return
        finally:
            stop.cancel()
            if get is not None:
                get.cancel()

    async def deliver(self, item: hub.Item) -> AsyncIterator[bytes]:
        """Frames for one live item: nothing for a duplicate, the log's events first when the
        item skips ahead, everything left when the stream ended. Sets `done` to finish."""
        if item.kind == hub.END:
            async for _, frame in self.catch_up():
                yield frame
            self.done = True
            return
        if item.kind == hub.POKE:
            async for _, frame in self.catch_up(upto=item.seq):
                yield frame
            return
        if item.seq <= self.last:
            return  # already sent (replay overlap or a repeated publish)
        if item.seq > self.last + 1:
            async for _, frame in self.catch_up(upto=item.seq):
                yield frame
            if self.done or item.seq <= self.last:
                return
        assert item.event is not None
        self.last = item.seq
        yield item.frame
        if self.close_when is not None and self.close_when(item.event):
            self.done = True

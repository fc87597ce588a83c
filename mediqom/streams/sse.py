"""Server-sent events for any view: `sse_response(request, key=...)`.

Frames (contract §3, §12): `id: <seq>` + one compact `data: <json>` line per stored event,
never an `event:` line; `initial` events have no id; `: keepalive` comments; a `retry:` hint.
Order of work: first bytes at once, `initial`, subscribe, replay after `Last-Event-ID` /
`?since=`, then tail live: duplicates (seq <= last sent) are dropped and a gap in the published
`seq` is backfilled from the log before the newer event is sent.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, StreamingHttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import InvalidInput, NotAuthenticated
from mediqom.logging import get_logger
from mediqom.streams import db, hub
from mediqom.streams.selectors import StoredEvent, StreamState, stream_read
from mediqom.streams.services import validate_key

log = get_logger("sse")

PAGE = 500
MAX_SEQ = 2**62

Snapshot = Callable[[], dict[str, Any]]
Event = tuple[int, bytes]  # (seq, compact JSON payload)
KEEPALIVE = "keepalive"
LAGGING = "lagging"
SHUTDOWN = "shutdown"


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


def _close_request_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


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
        result: tuple[StreamState | None, list[StoredEvent]] = await hub.get_hub().shared_read(
            (self.user.id, self.key, after, limit),
            functools.partial(stream_read, user=self.user, key=self.key, after=after, limit=limit),
        )
        return result

    def _stored(self, seq: int, payload: str) -> Event:
        self.last = seq
        if self.close_when is not None and self.close_when(_decode(payload)):
            self.done = True
        return seq, payload.encode()

    async def catch_up(self, upto: int = MAX_SEQ) -> AsyncIterator[Event]:
        """Stored events after `last` up to `upto`, page by page; a `reset` first when the
        client's position is older than what is retained."""
        while not self.done and self.last < upto:
            state, rows = await self._read(self.last)
            if state is None:
                return
            if self.last < state.trimmed_seq:
                yield self._reset(state.trimmed_seq)
                continue
            for row in rows:
                if row.seq > upto:
                    return
                yield self._stored(row.seq, row.payload)
                if self.done:
                    return
            if len(rows) < PAGE:
                self.ended = state.ended and self.last >= state.last_seq
                return

    def _reset(self, seq: int) -> Event:
        data = self.snapshot() if self.snapshot is not None else {}
        self.last = seq
        body = {"type": "reset", "data": data, "timestamp": int(time.time() * 1000)}
        return seq, orjson.dumps(body)

    async def frames(
        self, *, release_request_connection: bool = True, sink: hub.Sink | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The SSE body. With `sink` (the response's ASGI `send`), live events in order are
        written by the hub directly (`hub.Listener`); everything else comes from here."""
        yield b"retry: %d\n: connected\n\n" % settings.MEDIQOM_STREAM_RETRY_MS
        if release_request_connection:
            # A sync view ran in this request's own thread and left its database connection
            # open; Django would close it only when the response ends, i.e. hold one
            # connection per open stream. Later reads run on the stream threads.
            await sync_to_async(_close_request_connection, thread_sensitive=True)()
        if self.initial is not None:
            events = await db.run(self.initial)
            for event in events:
                yield hub.sse_frame(None, orjson.dumps(event))
        async for out in self.follow(sink):
            if isinstance(out, str):
                yield _CONTROL_FRAMES[out]()
            else:
                yield hub.sse_frame(*out)

    async def follow(self, sink: hub.Sink | None = None) -> AsyncIterator[Event | str]:
        """Subscribe, replay, tail: (seq, compact JSON) per event, or a control word
        (KEEPALIVE; LAGGING and SHUTDOWN end the iteration). With `sink`, the hub writes the
        events that arrive in order while this is parked, itself (see `hub.Listener`)."""
        central = hub.get_hub()
        listener = await central.listen(self.key)
        listener.position = self
        listener.sink = sink
        try:
            async for event in self.catch_up():
                yield event
            if self.done or self.ended:
                return
            queue = listener.queue
            direct = sink is not None
            while True:
                listener.live = direct and queue.empty()
                item = await queue.get()
                listener.live = False
                await listener.settle()
                kind = item.kind
                if listener.lagging:
                    yield LAGGING
                    return
                if kind == hub.FINISH:
                    self.done = True  # the hub wrote the closing event
                    return
                if kind == hub.EVENT and item.seq == self.last + 1:
                    # the common case, kept short: the next event, in order
                    self.last = item.seq
                    yield item.seq, item.data
                    if self.close_when is not None and self.close_when(item.event or {}):
                        return
                elif kind == hub.KEEPALIVE:
                    yield KEEPALIVE
                elif kind == hub.SHUTDOWN:
                    yield SHUTDOWN  # reconnect soon, to another process
                    return
                else:
                    async for event in self.deliver(item):
                        yield event
                    if self.done:
                        return
        finally:
            central.release(listener)

    async def deliver(self, item: hub.Item) -> AsyncIterator[Event]:
        """Events for one live item: nothing for a duplicate, the log's events first when the
        item skips ahead, everything left when the stream ended. Sets `done` to finish."""
        if item.kind == hub.END:
            async for event in self.catch_up():
                yield event
            self.done = True
            return
        if item.kind == hub.POKE:
            async for event in self.catch_up(upto=item.seq):
                yield event
            return
        if item.seq <= self.last:
            return  # already sent (replay overlap or a repeated publish)
        if item.seq > self.last + 1:
            async for event in self.catch_up(upto=item.seq):
                yield event
            if self.done or item.seq <= self.last:
                return
        assert item.event is not None
        self.last = item.seq
        yield item.seq, item.data
        if self.close_when is not None and self.close_when(item.event):
            self.done = True


_CONTROL_FRAMES: dict[str, Callable[[], bytes]] = {
    KEEPALIVE: lambda: b": keepalive\n\n",
    LAGGING: lambda: b"retry: %d\n: lagging\n\n" % settings.MEDIQOM_STREAM_RETRY_MS,
    SHUTDOWN: lambda: b"retry: %d\n: shutdown\n\n" % settings.MEDIQOM_STREAM_SHUTDOWN_RETRY_MS,
}

"""Fan-out of committed stream events through the channel layer, and the per-process hub that
delivers them to local listeners.

The channel layer is at-most-once, so nothing here is trusted for delivery: listeners compare
`seq` with what they sent and backfill gaps from the log. Per process and event loop there is
one layer subscription per stream key however many clients follow it; each client has a
bounded queue, and a client whose queue overflows is marked `lagging` (its response ends with a
retry hint and it resumes from the log), so a slow client never blocks the others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import signal
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from types import CoroutineType, FrameType
from typing import Any, Protocol

import orjson
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
from django.db import DatabaseError

from mediqom.logging import get_logger
from mediqom.streams import db

log = get_logger("sse")

EVENT = "stream.event"
END = "stream.end"
POKE = "stream.poke"  # from the hub's own poll: the log holds events up to `seq`
KEEPALIVE = "stream.keepalive"  # the listener was idle for MEDIQOM_STREAM_KEEPALIVE_SECONDS
SHUTDOWN = "stream.shutdown"  # the server is stopping
FINISH = "stream.finish"  # a direct write ended the response (close_when, or a failed write)
PUBLISH_TIMEOUT_SECONDS = 2.0


def group_name(key: str) -> str:
    """The channel-layer group of a stream (layer names allow only `[A-Za-z0-9-_.]`)."""
    return "stream." + hashlib.sha256(key.encode()).hexdigest()[:40]


# --------------------------------------------------------------------------- publishing


class _PublisherThread:
    """A private event loop for publishing from threads that belong to no server loop
    (background workers, management commands): one Redis connection, not one per event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="stream-publisher", daemon=True
                ).start()
                self._loop = loop
            return self._loop


_publisher = _PublisherThread()


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the newest hub still running in this process (where local listeners wait;
    the in-memory layer is bound to it)."""
    for loop in reversed(list(_hubs.keys())):
        if loop.is_running() and not loop.is_closed():
            return loop
    return None


class _RedisPublisher:
    """PUBLISH to the Redis pub/sub channel layer from the calling thread, on connections kept
    open per process: no hop to an event loop thread and back for every event. Messages are
    what the layer's own `group_send` would send (its group channel name, shard choice and
    serializer), so any process's layer subscription receives them (tests/streams prove it
    with a real layer subscriber)."""

    def __init__(self, layer: RedisPubSubChannelLayer, hosts: list[dict[str, Any]], prefix: str):
        self.layer = layer
        self.prefix = prefix
        self.clients = [redis.Redis(connection_pool=_pool(host)) for host in hosts]

    @classmethod
    def of(cls, layer: Any) -> _RedisPublisher | None:
        """The publisher of a Redis pub/sub layer (None for other layers and for Sentinel
        hosts, which keep the layer's own path)."""
        if type(layer) is not RedisPubSubChannelLayer:
            return None
        with _redis_publishers_lock:
            if layer not in _redis_publishers:
                config = vars(layer)
                kwargs = dict(config.get("_kwargs", {}))
                args = config.get("_args", ())
                hosts = decode_hosts(args[0] if args else kwargs.get("hosts"))
                usable = all("address" in host or "host" in host for host in hosts)
                _redis_publishers[layer] = (
                    cls(layer, hosts, kwargs.get("prefix", "asgi")) if usable else None
                )
            return _redis_publishers[layer]

    def publish(self, group: str, message: dict[str, Any]) -> None:
        channel = f"{self.prefix}__group__{group}"
        client = self.clients[_consistent_hash(channel, len(self.clients))]
        client.publish(channel, self.layer.serialize(message))


def _pool(host: dict[str, Any]) -> redis.ConnectionPool:
    """A sync pool for one `hosts` entry, like channels_redis.utils.create_pool."""
    options = {
        "socket_timeout": PUBLISH_TIMEOUT_SECONDS,
        "socket_connect_timeout": PUBLISH_TIMEOUT_SECONDS,
        **host,
    }
    if "address" in options:
        return redis.ConnectionPool.from_url(options.pop("address"), **options)
    return redis.ConnectionPool(**options)


_redis_publishers: weakref.WeakKeyDictionary[Any, _RedisPublisher | None] = (
    weakref.WeakKeyDictionary()
)
_redis_publishers_lock = threading.Lock()


def publish(message: dict[str, Any], key: str) -> None:
    """Send one message to the stream's group; waits briefly, never raises (the log is the
    source of truth, so a lost publish is a gap that listeners backfill)."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = group_name(key)
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    try:
        direct = None if running is not None else _RedisPublisher.of(layer)
        if direct is not None:
            direct.publish(group, message)
            return
        if running is not None:
            # sync code called on a running loop cannot block on it; fire and forget
            running.create_task(layer.group_send(group, message))
            return
        loop = _server_loop() or _publisher.loop()
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except (concurrent.futures.TimeoutError, TimeoutError, redis.TimeoutError):
        log.warning("stream publish timed out; listeners will backfill from the log")
    except Exception as exc:  # noqa: BLE001 - a broken layer must never fail the append
        log.warning("stream publish failed (%s); listeners will backfill", type(exc).__name__)


def publish_event(key: str, seq: int, event: dict[str, Any]) -> None:
    publish({"type": EVENT, "seq": seq, "event": event}, key)


def publish_end(key: str, seq: int) -> None:
    publish({"type": END, "seq": seq}, key)


async def apublish(message: dict[str, Any], key: str) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group_name(key), message)


def publish_sync(message: dict[str, Any], key: str) -> None:
    """For tests and tools: publish from sync code, waiting for the layer."""
    async_to_sync(apublish)(message, key)


# --------------------------------------------------------------------------- listening


@dataclass(eq=False)
class Item:
    """One live message for a listener: a stored event (its compact JSON, SSE frame and ASGI
    message made once per process, not once per client), the end of the stream, or a poke from
    the log poll."""

    kind: str  # EVENT, END, POKE, KEEPALIVE, SHUTDOWN or FINISH
    seq: int
    event: dict[str, Any] | None = None
    data: bytes = b""
    message: dict[str, Any] | None = None  # EVENT: the ASGI body message of its SSE frame


def sse_frame(seq: int | None, data: bytes) -> bytes:
    """One whole SSE frame: an `id:` line for stored events, one compact `data:` line."""
    head = b"" if seq is None else b"id: %d\n" % seq
    return head + b"data: " + data + b"\n\n"


Sink = Callable[[dict[str, Any]], Awaitable[None]]  # an ASGI `send`


class Position(Protocol):
    """What a listener delivers for (`sse.EventStream`): the last seq sent and when to stop."""

    last: int
    close_when: Callable[[dict[str, Any]], bool] | None


@dataclass(eq=False)
class Listener:
    """One follower's bounded queue. Keepalives and shutdown arrive as items too, so a
    follower only ever awaits `queue.get()` (no timers or helper tasks per event).

    Direct delivery (SSE routes): while its follower is parked on an empty queue and caught up
    (`live`), the next event in order is written by the hub itself, straight through the
    response's ASGI `send` (`sink`), without waking the follower: one write per client per
    event instead of a task switch and two generators. A send that cannot complete at once (the
    client's socket is full) finishes in a task of its own (`inflight`), which the follower
    awaits before it writes anything else; until then every item goes through the queue."""

    key: str
    queue: asyncio.Queue[Item]
    lagging: bool = False
    touched: float = 0.0
    sink: Sink | None = None
    position: Position | None = None
    live: bool = False
    inflight: asyncio.Future[Any] | None = None

    def offer(self, item: Item) -> None:
        if self.lagging:
            return
        self.touched = time.monotonic()
        if self.live and item.kind == EVENT and self.queue.empty():
            position = self.position
            assert position is not None
            if item.seq == position.last + 1:
                self._send(item, position)
                return
            if item.seq <= position.last:
                return  # already sent (a repeated publish)
        self._put(item)

    def _put(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.lagging = True
            log.info("stream listener fell behind; closing it with a retry hint")

    def _send(self, item: Item, position: Position) -> None:
        assert self.sink is not None
        assert item.message is not None
        assert item.event is not None
        position.last = item.seq
        try:
            self.inflight = start(self.sink(item.message))
        except Exception:  # noqa: BLE001 - a broken response ends this follower only
            self.live = False
            self.lagging = True
            self._put(_FINISH)
            return
        if self.inflight is not None:
            self.live = False  # the follower waits for this write before any other
            self.inflight.add_done_callback(self._landed)
        if position.close_when is None:
            return
        try:
            closing = position.close_when(item.event)
        except Exception:  # noqa: BLE001 - the route's predicate failed: end this follower only
            log.warning("stream close_when failed; ending the response")
            self.lagging = True
            closing = True
        if closing:
            self.live = False
            self._put(_FINISH)

    def _landed(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.lagging = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(_FINISH)

    async def settle(self) -> None:
        """Wait for a direct write still in progress (it raises if the write failed)."""
        inflight, self.inflight = self.inflight, None
        if inflight is not None:
            await inflight


def start(awaitable: Awaitable[Any]) -> asyncio.Future[Any] | None:
    """Run a coroutine until it first waits: None if it finished (the usual case for an SSE
    write: the socket took the bytes), else a task that finishes it. What Python 3.12's eager
    tasks do; an awaitable that is not a coroutine goes to `ensure_future`."""
    if type(awaitable) is not CoroutineType:
        return asyncio.ensure_future(awaitable)
    try:
        yielded = awaitable.send(None)
    except StopIteration:
        return None
    task = asyncio.ensure_future(_Resumed(awaitable, yielded))
    # a task cancelled before its first step never reaches the coroutine: close it then (its
    # `finally` blocks run); a no-op for a coroutine that finished
    task.add_done_callback(lambda _: awaitable.close())
    return task


class _Resumed:
    """Awaitable continuing a coroutine that already ran up to its first wait: it hands the
    task what the coroutine waits on, then relays the task's wake-ups (as `await` would)."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting_on = self.waiting_on
        while True:
            try:
                sent = yield waiting_on
            except BaseException as exc:  # noqa: BLE001 - relayed into the coroutine
                try:
                    waiting_on = self.coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting_on = self.coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


@dataclass(eq=False)
class _Topic:
    key: str
    seen: int = -1
    suspect: tuple[int, bool] | None = None  # the log's head at the last poll, not yet seen
    listeners: set[Listener] = field(default_factory=set)
    ready: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None


class StreamHub:
    """Listeners of this event loop, one layer subscription per followed stream key."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.topics: dict[str, _Topic] = {}
        self.listeners: set[Listener] = set()
        self.shutting_down = False
        self.ticker: asyncio.Task[None] | None = None
        # log reads in flight, shared by listeners asking the same thing at the same time
        # (a stream's followers after a poke, a reconnect storm)
        self.reads: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    async def listen(self, key: str) -> Listener:
        """Subscribe to a stream; returns once the layer subscription is in place, so that a
        log read after this call cannot miss an event published later."""
        listener = Listener(
            key,
            asyncio.Queue(maxsize=settings.MEDIQOM_STREAM_CLIENT_QUEUE),
            touched=time.monotonic(),
        )
        if self.shutting_down:
            listener.offer(_SHUTDOWN)
        if self.ticker is None or self.ticker.done():
            self.ticker = self.loop.create_task(self._keepalives())
        topic = self.topics.get(key)
        if topic is None:
            topic = _Topic(key, ready=self.loop.create_future())
            self.topics[key] = topic
            topic.task = self.loop.create_task(self._follow(topic))
        topic.listeners.add(listener)
        self.listeners.add(listener)
        assert topic.ready is not None
        try:
            await asyncio.shield(topic.ready)
        except BaseException:
            self.release(listener)
            raise
        return listener

    def release(self, listener: Listener) -> None:
        """Drop a listener; the last one of a key ends that key's layer subscription."""
        self.listeners.discard(listener)
        listener.live = False
        if listener.inflight is not None:
            listener.inflight.cancel()
        topic = self.topics.get(listener.key)
        if topic is None:
            return
        topic.listeners.discard(listener)
        if not topic.listeners:
            del self.topics[listener.key]
            if topic.task is not None:
                topic.task.cancel()

    async def _follow(self, topic: _Topic) -> None:
        assert topic.ready is not None
        layer = get_channel_layer()
        group = group_name(topic.key)
        channel: str | None = None
        try:
            channel = await layer.new_channel("streams.")
            await layer.group_add(group, channel)
            topic.ready.set_result(None)
            poll = settings.MEDIQOM_STREAM_POLL_SECONDS
            # one receive stays pending across polls: cancelling a pub/sub layer's receive()
            # unsubscribes its channel
            receive = asyncio.ensure_future(layer.receive(channel))
            try:
                while True:
                    done, _ = await asyncio.wait({receive}, timeout=poll)
                    if done:
                        item = _item(receive.result())
                        receive = asyncio.ensure_future(layer.receive(channel))
                    else:
                        # the layer may have dropped the newest events (at-most-once) and no
                        # later event would reveal the gap: compare with the log's head
                        item = await _head_item(topic)
                    if item is not None:
                        topic.seen = max(topic.seen, item.seq)
                        for listener in list(topic.listeners):
                            listener.offer(item)
            finally:
                receive.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any layer failure ends the listeners
            log.warning("stream subscription failed (%s)", type(exc).__name__)
            if not topic.ready.done():
                topic.ready.set_exception(exc)
            # listeners notice the dead subscription and end with a retry hint
            for listener in list(topic.listeners):
                listener.lagging = True
                with contextlib.suppress(asyncio.QueueFull):
                    listener.queue.put_nowait(Item(END, -1))
            if self.topics.get(topic.key) is topic:
                del self.topics[topic.key]
        finally:
            if channel is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(layer.group_discard(group, channel))

    async def shared_read(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        """`db.run(read)`, or the result of the identical read already in flight."""
        future = self.reads.get(key)
        if future is None:
            future = asyncio.ensure_future(db.run(read))
            self.reads[key] = future
            future.add_done_callback(lambda _: self.reads.pop(key, None))
        return await asyncio.shield(future)

    async def _keepalives(self) -> None:
        """Offer a keepalive to every listener idle for MEDIQOM_STREAM_KEEPALIVE_SECONDS."""
        while self.listeners or self.topics:
            interval = settings.MEDIQOM_STREAM_KEEPALIVE_SECONDS
            await asyncio.sleep(min(1.0, interval / 2))
            idle_since = time.monotonic() - interval
            for listener in list(self.listeners):
                if listener.touched <= idle_since:
                    listener.offer(_KEEPALIVE)

    def begin_shutdown(self) -> None:
        """Ask every listener of this loop to end its response with a retry hint."""
        self.shutting_down = True
        for listener in list(self.listeners):
            listener.offer(_SHUTDOWN)


_KEEPALIVE = Item(KEEPALIVE, -1)
_SHUTDOWN = Item(SHUTDOWN, -1)
_FINISH = Item(FINISH, -1)


def _item(message: dict[str, Any]) -> Item | None:
    kind = message.get("type")
    seq = message.get("seq")
    if not isinstance(seq, int):
        return None
    if kind == EVENT and isinstance(message.get("event"), dict):
        event = message["event"]
        data = orjson.dumps(event)
        body = {"type": "http.response.body", "body": sse_frame(seq, data), "more_body": True}
        return Item(EVENT, seq, event, data, body)
    if kind == END:
        return Item(END, seq)
    return None


def _stream_head(key: str) -> tuple[int, bool] | None:
    # server rights, counters only (no payloads): each listener then reads the events itself,
    # through for_user() and RLS
    from mediqom.streams.models import Stream

    row = Stream.objects.filter(key=key).values_list("last_seq", "ended_at").first()
    return None if row is None else (row[0], row[1] is not None)


async def _head_item(topic: _Topic) -> Item | None:
    try:
        head = await db.run(_stream_head, topic.key)
    except DatabaseError:
        return None  # try again at the next poll
    if head is None:
        return None
    seq, ended = head
    if seq <= topic.seen and not ended:
        topic.suspect = None
        return None
    # Only a head that stays ahead for a whole poll interval means a dropped message (a head
    # just ahead is usually a message still in flight, and a poke costs every listener a read).
    if topic.suspect != head:
        topic.suspect = head
        return None
    topic.suspect = None
    return Item(END, seq) if ended else Item(POKE, seq)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamHub] = weakref.WeakKeyDictionary()
_previous_sigterm: Any = None
_sigterm_installed = False


def get_hub() -> StreamHub:
    """The hub of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = StreamHub(loop)
        _hubs[loop] = hub
        _install_sigterm()
    return hub


def begin_shutdown() -> None:
    """End every local stream with a retry hint (called on SIGTERM; safe from any thread)."""
    for loop, hub in list(_hubs.items()):
        if loop.is_running():
            loop.call_soon_threadsafe(hub.begin_shutdown)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    begin_shutdown()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous in (signal.SIG_DFL, None):
        raise SystemExit(128 + signum)


def _install_sigterm() -> None:
    """Chain our handler in front of the server's (uvicorn/daphne keep theirs)."""
    global _previous_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    _previous_sigterm = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _sigterm_installed = True

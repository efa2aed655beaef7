"""The live bus: NATS JetStream between one ingest and any number of serve replicas.

The ingest (`mbo-fast ingest --live URL --nats nats://…`, or `serve --live URL --publish
nats://…`) applies the feed as any live server does and publishes the feed's bytes, exactly as
received and only after its own market decoded them without error, to a JetStream stream
(`MBO_<NAME>`, subject `mbo.<NAME>.feed`), in order, at most `MAX_MESSAGE` bytes a message.
Each message carries the feed connection it came from (`Mbo-Connection`: the ingest's start
time and its connection number) and `Nats-Msg-Id`, so a publish retried after a lost
acknowledgement is stored once. A replica (`serve --live nats://HOST:PORT/NAME`) replays the
stream from its first message with an ordered consumer and feeds the bytes to its own
`LiveMarket`: every replica applies the same bytes in the same order, so record indexes (the
SSE `id:`s), books and frames agree between replicas and with the ingest; a new connection
value means the feed reconnected (`LiveMarket.reconnect`: metadata follows, books stale).

Why bytes rather than frames: the core already decodes and applies 30 M records/s, so a
replica rebuilds every book from the bytes for less than it would cost to encode, ship and
decode per-book frames, and the stream doubles as the session's replayable record.

Bounds: the ingest holds at most `bus_max_pending_mb` of unpublished bytes (NATS down or slow);
beyond that publishing stops, counted (`lost`) and logged: a replica then sees the stream end
where it was cut, never a silent hole. The stream keeps at most `bus_max_stream_mb` (oldest
discarded); a replica whose first message is not a connection's first waits for the next
connection's start. The NATS URL's credentials are never logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

log = logging.getLogger("mbo_fast_server.bus")

ALIVE_EVERY_S = 1.0
SILENT_AFTER_S = 3.0  # a replica that heard nothing from the ingest this long calls it silent
MAX_MESSAGE = 512 * 1024  # under NATS's default 1 MiB max_payload
CONNECTION = "Mbo-Connection"
START = "Mbo-Start"  # "1" on a connection's first message (it begins with the DBN metadata)
SUBSCRIBER_BUFFER = 64 << 20  # bytes a replica's client holds before applying them
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def safe_url(url: str) -> str:
    """The NATS URL without credentials (what logs show)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def split_replica_url(url: str) -> tuple[str, str]:
    """`nats://HOST:PORT/NAME` -> (`nats://HOST:PORT`, NAME)."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.strip("/") or "mbo"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "", "")), name


def replica_url_ok(url: str) -> bool:
    if not url.startswith("nats://"):
        return False
    try:
        server, name = split_replica_url(url)
        return bool(urllib.parse.urlsplit(server).hostname) and bool(NAME.match(name))
    except ValueError:
        return False


def stream_name(name: str) -> str:
    return f"MBO_{name}"


def subject(name: str) -> str:
    return f"mbo.{name}.feed"


def alive_subject(name: str) -> str:
    """Where the ingest says it is alive every ALIVE_EVERY_S (core NATS: nothing is stored)."""
    return f"mbo.{name}.alive"


async def _connect(url: str, on_state: Callable[[str], None]) -> Any:
    import nats

    async def disconnected() -> None:
        on_state("disconnected")

    async def reconnected() -> None:
        on_state("connected")

    async def error(exc: Exception) -> None:
        log.debug("nats: %s", exc)

    nc = await nats.connect(
        url,
        connect_timeout=2,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    on_state("connected")
    return nc


class BusPublisher:
    """The ingest's side: `offer()` (any thread) queues the bytes a market just applied; a thread
    of its own publishes them in order, retrying until JetStream acknowledges each."""

    def __init__(self, url: str, name: str, max_pending_mb: int, max_stream_mb: int) -> None:
        self.url, self.name = url, name
        self.label = safe_url(url)
        self.max_pending = max_pending_mb << 20
        self.max_stream = max_stream_mb << 20
        self.epoch = time.time_ns()
        self.state = "connecting"
        self.published = 0  # bytes acknowledged
        self.pending = 0  # bytes queued, not acknowledged yet
        self.lost = 0  # bytes not published: more than max_pending held
        self.last_error: str | None = None
        self._queue: collections.deque[tuple[int, bool, bytes]] = collections.deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._sequence = 0
        self._last_connection: int | None = None
        self._thread = threading.Thread(target=self._main, name="mbo-bus-pub", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, connection: int, data: bytes) -> None:
        """Queue `data` (applied bytes of feed connection `connection`) for publishing."""
        with self._lock:
            if self.lost:
                self.lost += len(data)
                return
            if self.pending + len(data) > self.max_pending:
                self.lost += len(data)
                log.error(
                    "the bus is not publishing (more than %d MiB held): stopped; replicas end "
                    "where it was cut",
                    self.max_pending >> 20,
                )
                return
            start = connection != self._last_connection
            self._last_connection = connection
            for at in range(0, len(data), MAX_MESSAGE):
                self._queue.append((connection, start and at == 0, data[at : at + MAX_MESSAGE]))
            self.pending += len(data)
        self._ready.set()

    def status(self) -> dict[str, Any]:
        return {
            "url": self.label,
            "stream": stream_name(self.name),
            "state": self.state,
            "published_bytes": self.published,
            "pending_bytes": self.pending,
            "lost_bytes": self.lost,
            "last_error": self.last_error,
        }

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop after publishing what is queued (waiting at most `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline and self.state == "connected":
            time.sleep(0.02)
        self._stop.set()
        self._ready.set()
        self._thread.join(timeout_s)

    def _set_state(self, state: str) -> None:
        self.state = state

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        from nats.js.api import DiscardPolicy, StreamConfig

        delay = 0.05
        nc: Any = None
        last_alive = 0.0
        while not self._stop.is_set():
            try:
                if nc is None:
                    nc = await _connect(self.url, self._set_state)
                    js = nc.jetstream(timeout=5)
                    config = StreamConfig(
                        name=stream_name(self.name),
                        subjects=[subject(self.name)],
                        max_bytes=self.max_stream,
                        discard=DiscardPolicy.OLD,
                    )
                    try:
                        await js.add_stream(config)
                    except Exception:  # it exists (another ingest run): same limits
                        await js.update_stream(config)
                    log.info("publishing the feed to %s (%s)", self.label, stream_name(self.name))
                await self._drain(js)
                delay = 0.05
                if time.monotonic() - last_alive >= ALIVE_EVERY_S:
                    await nc.publish(alive_subject(self.name), b"")
                    last_alive = time.monotonic()
                await asyncio.to_thread(self._ready.wait, 0.5)
                self._ready.clear()
            except Exception as exc:  # NATS down, a timeout: keep the bytes, retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.state = "backoff" if nc is None else self.state
                log.warning("bus publish failed (retrying): %s", self.last_error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                if nc is not None and nc.is_closed:
                    nc = None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.drain()
        self.state = "stopped"

    async def _drain(self, js: Any) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                connection, start, data = self._queue[0]
            headers = {
                CONNECTION: f"{self.epoch}:{connection}",
                "Nats-Msg-Id": f"{self.epoch}:{self._sequence}",
            }
            if start:
                headers[START] = "1"
            await js.publish(subject(self.name), data, headers=headers, timeout=5)
            with self._lock:
                self._queue.popleft()
                self.pending -= len(data)
            self._sequence += 1
            self.published += len(data)


class BusSubscriber:
    """A replica's side: replays the stream from its first message into `on_bytes`, calling
    `on_reconnect` when the feed connection changes; runs until `stop` is set. After NATS comes
    back (or a failed run), it resumes after the last message it applied, never replaying one."""

    def __init__(
        self,
        url: str,
        on_bytes: Callable[[bytes], None],
        on_reconnect: Callable[[], None],
        on_state: Callable[[str], None],
    ) -> None:
        self.server, self.name = split_replica_url(url)
        self.stream = stream_name(self.name)
        self.on_bytes, self.on_reconnect, self.on_state = on_bytes, on_reconnect, on_state
        self.last_seq = 0  # the stream sequence of the last message applied
        self.connection: str | None = None
        # after bytes the market refused (DecodeError), skip to the next connection's start
        self.await_start = False
        self._resubscribe = False
        self.heard = time.monotonic()  # the last message or alive signal from the ingest

    def _state(self, state: str) -> None:
        if state == "connected":
            self._resubscribe = True  # the server may have lost our consumer: make a new one
        self.on_state(state)

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._run(stop))

    @property
    def ingest_silent(self) -> bool:
        """Nothing from the ingest for SILENT_AFTER_S: it stopped, or cannot reach NATS."""
        return time.monotonic() - self.heard > SILENT_AFTER_S

    async def _subscribe(self, js: Any) -> Any:
        """An ordered push consumer (flow control, heartbeats) from the first message, or from
        the one after the last applied; its client-side buffer bounded (SUBSCRIBER_BUFFER)."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        config = (
            ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.last_seq + 1
            )
            if self.last_seq
            else ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        return await js.subscribe(
            subject(self.name),
            ordered_consumer=True,
            config=config,
            pending_bytes_limit=SUBSCRIBER_BUFFER,
        )

    async def _run(self, stop: threading.Event) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        nc = await _connect(self.server, self._state)
        try:
            js = nc.jetstream(timeout=5)

            async def alive(msg: Any) -> None:
                self.heard = time.monotonic()

            await nc.subscribe(alive_subject(self.name), cb=alive)
            self._resubscribe = False
            sub = await self._subscribe(js)
            while not stop.is_set():
                if self._resubscribe and nc.is_connected:
                    self._resubscribe = False
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = await self._subscribe(js)
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except (asyncio.TimeoutError, NatsTimeout):
                    continue
                self.heard = time.monotonic()
                seq = msg.metadata.sequence.stream
                if seq <= self.last_seq:
                    continue  # delivered again after a resubscribe
                self.last_seq = seq
                headers = msg.headers or {}
                this = headers.get(CONNECTION)
                if this != self.connection or self.await_start:
                    if headers.get(START) != "1":
                        continue  # mid-connection (a trimmed stream, or after garbage)
                    if self.connection is not None:
                        self.on_reconnect()
                    self.connection, self.await_start = this, False
                try:
                    self.on_bytes(bytes(msg.data))
                except Exception:
                    self.await_start = True
                    raise
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

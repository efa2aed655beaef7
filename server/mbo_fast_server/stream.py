"""SSE playback of one book: a `snapshot`, then `trade`, `book` and `status` events paced by
ts_recv × speed, each with `id:` = its record index (Last-Event-ID resumes exactly).

The cursor is the source's `Recording.player(...)` (Rust, GIL released, frames JSON-encoded in
Rust, the blocks read on demand; tests compare its frames with a small Python model). Each client
has a producer task (the cursor) and a bounded queue drained by its own writer, so a client
whose socket is full never slows anyone else: when its queue overflows, the backlog is dropped
and replaced by a fresh snapshot (counted in mbo_sse_frames_dropped / mbo_sse_resyncs).

Every write to a client (headers and first frames, ticks, heartbeats) waits at most
`send_timeout_s` (`SseWriter`, `send_within`): a client that takes no bytes for that long is
dropped (connection aborted, slot freed, counted in mbo_clients_dropped, one log line), so
readers that never read cannot hold slots. Live streams and exports write the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from .data import Source

log = logging.getLogger("mbo_fast_server.stream")
_T = TypeVar("_T")

Frame = tuple[str, int, bytes]  # (event, id, JSON data)

# A real-time tick that applied at most this many records last time runs inline on the event
# loop (a few µs of Rust): a thread hop costs more than the work and makes the executor threads
# fight the loop for the GIL. Bigger ticks (speed=max, big jumps) go to the executor.
INLINE_MAX_RECORDS = 2_000
_EVENT_NAMES = {e: e.encode() for e in ("snapshot", "book", "trade", "status", "end", "shutdown")}


def encode_events(batch: list[Frame]) -> bytes:
    """One tick's frames as SSE bytes (CRLF line ends). The data is compact
    JSON (no raw newlines), so it is a single `data:` line."""
    return b"".join(
        b"id: %d\r\nevent: %b\r\ndata: %b\r\n\r\n"
        % (fid, _EVENT_NAMES.get(event) or event.encode(), data)
        for event, fid, data in batch
    )


class PlayerLike(Protocol):
    def seek(self, index: int | None = None, ts: int | None = None) -> list[Frame]: ...
    def snapshot(self) -> tuple[int, bytes]: ...
    def advance(
        self, until_index: int | None = None, until_ts: int | None = None
    ) -> list[Frame]: ...
    @property
    def position(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def ts_recv(self) -> int | None: ...
    @property
    def done(self) -> bool: ...


def make_player(src: Source, instrument_id: int, publisher_id: int, depth: int) -> PlayerLike:
    """A streaming cursor over the source's blocks for one book (Rust; blocks are read on
    demand, the player holds its book and the one block it is reading)."""
    player: PlayerLike = src.recording.player(instrument_id, publisher_id, depth)
    return player


class StreamSession:
    """One client's playback: producer (cursor) -> bounded queue -> writer."""

    def __init__(
        self,
        *,
        app_state: Any,
        player: PlayerLike,
        speed: float | None,
        queue_ticks: int,
        first_ts: int,
    ) -> None:
        self.first_ts = first_ts
        self.state = app_state
        self.config = app_state.config
        self.metrics = app_state.metrics
        self.player = player
        self.speed = speed
        self.queue: asyncio.Queue[list[Frame]] = asyncio.Queue(maxsize=queue_ticks)
        self.closing = False
        self.finished = asyncio.Event()
        self.dropped = 0
        self.records_stream = self.metrics.records_processed.labels("stream")

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.state.executor, fn)

    async def _push(self, frames: list[Frame]) -> None:
        """Queue one tick's frames. At speed `max` the cursor waits for the client (it sets the
        pace); at a real-time speed a full queue means the client fell behind: its backlog is
        dropped and replaced by a snapshot of the current state (the cursor never waits)."""
        if not frames:
            return
        if self.speed is None:
            await self.queue.put(frames)
            return
        try:
            self.queue.put_nowait(frames)
            return
        except asyncio.QueueFull:
            pass
        dropped = len(frames)
        while not self.queue.empty():
            dropped += len(self.queue.get_nowait())
        self.dropped += dropped
        self.metrics.frames_dropped.inc(dropped)
        self.metrics.resyncs.inc()
        idx, snap = await self._run(self.player.snapshot)
        self.queue.put_nowait([("snapshot", idx, snap)])

    def _status(self, rate: float, due_ns: int) -> Frame:
        p = self.player
        doc = {
            "index": p.index if p.index >= 0 else None,
            "position": p.position,
            "clock": p.ts_recv,
            "speed": self.speed,
            "rate": round(rate, 1),
            "done": p.done,
            "dropped": self.dropped,
            # the server's wall clock (ns since the epoch) when this tick was due: a client on
            # the same clock measures the tick's delay (loop lag + apply + queue + send)
            "due_ns": due_ns,
        }
        return ("status", p.index, json.dumps(doc, separators=(",", ":")).encode())

    async def produce(self) -> None:
        cfg = self.config
        period = 1.0 / cfg.frame_rate
        p = self.player
        wall0 = time.monotonic()
        to_epoch_ns = time.time_ns() - int(wall0 * 1e9)
        clock0 = p.ts_recv
        next_tick = wall0
        next_status = wall0 + cfg.status_every_s
        last_pos, last_status_pos, last_status_wall = p.position, p.position, wall0
        last_applied = 0
        while not self.closing:
            next_tick += period
            due = next_tick
            delay = next_tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_tick = time.monotonic()
                await asyncio.sleep(0)
            t_tick = time.perf_counter()
            if self.speed is None:
                target = p.index + cfg.max_records_per_frame
                frames = await self._run(lambda t=target: p.advance(until_index=t))  # type: ignore[misc]
            else:
                if clock0 is None:  # nothing applied yet: the clock starts at the first record
                    clock0 = self.first_ts
                elapsed = time.monotonic() - wall0
                until = clock0 + int(elapsed * self.speed * 1e9)
                if last_applied <= INLINE_MAX_RECORDS:
                    frames = p.advance(until_ts=until)
                else:
                    frames = await self._run(lambda u=until: p.advance(until_ts=u))  # type: ignore[misc]
            pos = p.position
            last_applied = pos - last_pos
            if last_applied:
                self.records_stream.inc(last_applied)
                last_pos = pos
            now = time.monotonic()
            if now >= next_status or p.done:
                rate = (pos - last_status_pos) / max(now - last_status_wall, 1e-9)
                last_status_pos, last_status_wall = pos, now
                next_status = now + cfg.status_every_s
                frames.append(self._status(rate, to_epoch_ns + int(due * 1e9)))
            if p.done:
                end = json.dumps({"index": p.index, "position": p.position}).encode()
                frames.append(("end", p.index, end))
            self.metrics.sse_tick_seconds.observe(time.perf_counter() - t_tick)
            await self._push(frames)
            if p.done:
                return

    async def close(self) -> None:
        """Shutdown: stop producing and tell the client (the writer sends a final event)."""
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
        bye = json.dumps({"reason": "server shutting down"}).encode()
        self.queue.put_nowait([("shutdown", self.player.index, bye)])


class ClientStuck(Exception):
    """A client took no bytes of a write for `send_timeout_s`: its connection was aborted."""


if sys.version_info >= (3, 11):

    async def within(aw: Awaitable[_T], seconds: float) -> _T:
        """`await aw`, for at most `seconds` (then TimeoutError)."""
        async with asyncio.timeout(seconds):  # no task per call, unlike wait_for before 3.12
            return await aw

else:  # pragma: no cover

    async def within(aw: Awaitable[_T], seconds: float) -> _T:
        return await asyncio.wait_for(aw, seconds)


async def send_within(request: web.BaseRequest, write: Awaitable[Any], seconds: float) -> None:
    """Await one write to a client for at most `seconds`. A client that takes nothing for that
    long is stuck: its connection is aborted (a close would wait for the unsent bytes forever),
    which frees what it held, and ClientStuck is raised."""
    try:
        await within(write, seconds)
    except (asyncio.TimeoutError, TimeoutError):
        if request.transport is not None:
            request.transport.abort()
        raise ClientStuck from None


SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a proxy (nginx) passes each event on at once
}
HEARTBEAT = b": ping\r\n\r\n"
RETRY_MS = 1000  # the reconnection delay EventSource clients are told


def tcp_progress(transport: asyncio.BaseTransport | None) -> tuple[int, bool] | None:
    """(bytes the peer has acknowledged so far, whether bytes are waiting for it) of a TCP
    connection, from Linux's TCP_INFO; None where that cannot be asked."""
    if transport is None or sys.platform != "linux":
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except OSError:
        return None
    if len(raw) < _TCP_INFO_LEN:  # before Linux 4.6
        return None
    unacked, acked, notsent = (
        struct.unpack_from("I", raw, 24)[0],  # tcpi_unacked (segments in flight)
        struct.unpack_from("Q", raw, 120)[0],  # tcpi_bytes_acked
        struct.unpack_from("I", raw, 144)[0],  # tcpi_notsent_bytes
    )
    return int(acked), unacked > 0 or notsent > 0


_TCP_INFO_LEN = 148  # struct tcp_info up to tcpi_notsent_bytes
PROBE_EVERY_S = 1.0  # how often a stream asks the kernel whether its client takes bytes


class SseWriter(Generic[_T]):
    """One SSE client's response, fed from `queue`. Every write (the headers and first frames,
    each item's payload, the heartbeat sent after `heartbeat_s` without a write) waits at most
    `send_timeout_s`; a client that takes nothing for that long raises ClientStuck (see
    send_within). A write that cannot wait (the transport is not paused and stays under its
    high-water mark) skips the timer, and the heartbeat is one timer per `heartbeat_s`, not one
    per item: a stream's ticks cost no timer at all.

    A slow stream (heartbeats, a quiet book) to a client that stopped reading fills no buffer
    for a long time (the kernel holds megabytes), so no write ever waits: about once a second
    the kernel is asked whether the client acknowledged any byte (TCP_INFO, Linux), and one that
    acknowledged none of those waiting for it for `send_timeout_s` is stuck all the same."""

    def __init__(
        self,
        request: web.Request,
        headers: dict[str, str],
        config: Any,
        queue: asyncio.Queue[_T],
        idle: _T,
    ) -> None:
        """`idle` is the falsy item (an empty batch, b"") the heartbeat timer puts in an empty
        `queue` to wake the writer; the queue's owner must never put one itself."""
        self.request = request
        self.heartbeat_s: float = config.heartbeat_s
        self.timeout: float = config.send_timeout_s
        self.resp = web.StreamResponse(headers={**SSE_HEADERS, **headers})
        self._queue = queue
        self._idle = idle
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        self._high = 0  # the transport's high-water mark
        self._acked = -1  # bytes the client had acknowledged at the last probe
        self._taken_at = now  # when it was last seen taking bytes
        self._next_probe = now + PROBE_EVERY_S
        self._sent_at = now
        self._beat: asyncio.TimerHandle | None = None

    async def start(self, first: bytes) -> None:
        """The headers, the client's reconnection delay and `first`, as one bounded write."""
        self.resp.enable_chunked_encoding()
        await send_within(self.request, self.resp.prepare(self.request), self.timeout)
        transport = self.request.transport
        if transport is not None:
            self._high = transport.get_write_buffer_limits()[1]
        await self.send(b"retry: %d\r\n\r\n%b" % (RETRY_MS, first))
        self._beat = self._loop.call_at(self._sent_at + self.heartbeat_s, self._beat_due)

    async def get(self) -> _T:
        """The queue's next item, sending heartbeats while none comes (a heartbeat to a client
        that left fails: its stream ends within `heartbeat_s`)."""
        while True:
            item = await self._queue.get()
            if item is not self._idle:
                return item
            if self._loop.time() - self._sent_at >= self.heartbeat_s:
                await self.send(HEARTBEAT)

    async def send(self, payload: bytes) -> None:
        now = self._loop.time()
        self._sent_at = now
        if now >= self._next_probe:
            self._probe(now)
        transport = self.request.transport
        if (
            transport is not None
            and not self.request.protocol.writing_paused
            and transport.get_write_buffer_size() + len(payload) + 64 <= self._high
        ):
            await self.resp.write(payload)  # buffered or sent at once: never waits
        else:
            await send_within(self.request, self.resp.write(payload), self.timeout)

    def close(self) -> None:
        """The stream ended: no more heartbeats."""
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None

    def _beat_due(self) -> None:
        due = self._sent_at + self.heartbeat_s
        now = self._loop.time()
        if now >= due:
            if self._queue.empty():
                self._queue.put_nowait(self._idle)
            due = now + self.heartbeat_s
        self._beat = self._loop.call_at(due, self._beat_due)

    def _probe(self, now: float) -> None:
        self._next_probe = now + PROBE_EVERY_S
        progress = tcp_progress(self.request.transport)
        if progress is None:
            return
        acked, waiting = progress
        if acked != self._acked or not waiting:
            self._acked = acked
            self._taken_at = now
        elif now - self._taken_at >= self.timeout:
            transport = self.request.transport
            assert transport is not None
            transport.abort()
            raise ClientStuck


def log_stuck(state: Any, kind: str) -> None:
    """Count a client dropped for taking no bytes; one log line (at most one a second)."""
    state.metrics.clients_dropped.labels(kind).inc()
    state.drop_log.note(
        "%s client dropped: it took no bytes for %g s", kind, state.config.send_timeout_s
    )


async def serve_stream(
    request: web.Request,
    session: StreamSession,
    first: list[Frame],
    headers: dict[str, str],
) -> web.StreamResponse:
    metrics = session.metrics
    state = session.state
    no_frames: list[Frame] = []  # the writer's heartbeat wake-up (the producer never queues [])
    sse = SseWriter(request, headers, session.config, session.queue, no_frames)
    state.streams.add(session)
    metrics.sse_clients.inc()
    producer: asyncio.Task[None] | None = None
    try:
        await sse.start(encode_events(first))
        for event, _, _ in first:
            metrics.frames_sent.labels(event).inc()
        producer = asyncio.create_task(session.produce())
        sent = {e: metrics.frames_sent.labels(e) for e in _EVENT_NAMES}
        while True:
            # after the end of the data: heartbeats until the client leaves or the server stops
            batch = await sse.get()
            await sse.send(encode_events(batch))  # one write per tick
            for event, _, _ in batch:
                counter = sent.get(event)
                (counter or metrics.frames_sent.labels(event)).inc()
                if event == "shutdown":
                    return sse.resp
    except ClientStuck:
        log_stuck(state, "playback")
    except ConnectionError:  # the client left (a reset, or the connection lost mid-write)
        metrics.errors.labels("stream_disconnect").inc()
    finally:
        sse.close()
        session.closing = True
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer
        metrics.sse_clients.dec()
        state.streams.discard(session)
        session.finished.set()
    return sse.resp


def new_stream_set() -> weakref.WeakSet[StreamSession]:
    return weakref.WeakSet()

"""Live ingest and broadcast: `--live tcp://HOST:PORT` and `GET /api/v1/live`.

A reader thread connects to the feed and hands the socket to the Rust `LiveMarket`, which reads,
decodes and applies it with the GIL released for the whole connection (records split across reads
handled) and wakes the event loop through a pipe after each applied read, so ingest never waits for
the GIL nor the loop for ingest (platforms without `read_fd` receive in Python). A dropped or
refused connection, garbage (a `DecodeError`) or a feed silent for `live_idle_timeout_s` (a socket
receive timeout: the read fails with EAGAIN, reported as `idle`) is counted and retried with
exponential backoff, which restarts from its minimum only after a connection that carried data
and ended cleanly or stayed up `HEALTHY_S` (a feed that sends data then garbage backs off like a
refusal); connect and failure log lines are rate-limited. After a reconnect or a sequence gap the
affected books are stale until a clear or snapshot.

On the event loop, one tick per `1 / frame_rate` s asks the core for the frames of every
subscribed `(instrument, publisher, depth)` (one subscription however many clients follow it),
serialises each book's frames once as SSE bytes and offers that payload to every client's
bounded queue. A client whose queue is full has its backlog replaced by a snapshot of the last
published state (the same policy as playback); it never delays anyone else. Events and `id:`s are
playback's: `snapshot` on join, `trade`, `book`, and `status` every `status_every_s` (connection
state, stale flag, gaps); ids are live record indexes (0-based, counted since the server started).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from mbo_fast import _core, databento_io
from mbo_fast.errors import DecodeError, MboError, SourceError

from .data import Source, source_of
from .logs import LogThrottle, request_id
from .routes import U16, U32, ParamError, _check_known, _int, _state, take_slot
from .state import long_response
from .stream import ClientStuck, Frame, SseWriter, encode_events, log_stuck

log = logging.getLogger("mbo_fast_server.live")
routes = web.RouteTableDef()

BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 2.0
HEALTHY_S = 10.0  # a connection up this long with data resets the backoff however it ends
LOG_EVERY_S = 10.0  # connect and failure lines: one per this at most (each failure counted)
_TIMED_OUT = {errno.EAGAIN, errno.EWOULDBLOCK, errno.ETIMEDOUT}


class FeedIdle(Exception):
    """The feed sent nothing for `live_idle_timeout_s`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the feed sent nothing for {seconds:g} s")


RECV_BYTES = 1 << 20
# A book held back by the rate cap publishes at the first apply after its interval ends, or by
# a timer this long after it (so a quiet book's last change is not held longer than that).
PUBLISH_GRACE_S = 0.002


def parse_databento(url: str) -> tuple[str, list[str]]:
    """`databento:DATASET:SYMBOLS` -> (dataset, [symbol, …]); SYMBOLS comma-separated."""
    _, dataset, symbols = url.split(":", 2)
    return dataset, databento_io.parse_symbols(symbols)


class _DbnSink(io.RawIOBase):
    """The byte stream `databento.Live.add_stream` writes (metadata, then raw DBN records)."""

    def __init__(self, on_bytes: Callable[[bytes], None]) -> None:
        super().__init__()
        self._on_bytes = on_bytes

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._on_bytes(chunk)
        return len(chunk)


def parse_url(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    return host.strip("[]"), int(port)


class LiveClient:
    def __init__(self, hub: Hub, queue_ticks: int) -> None:
        self.hub = hub
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_ticks)
        self.resyncs = 0


class Hub:
    """Every client of one (instrument, publisher, depth): one core subscription."""

    def __init__(self, key: tuple[int, int, int], sub_id: int, snapshot: Frame) -> None:
        self.key = key
        self.sub_id = sub_id
        self.last = snapshot  # the last published state, as a snapshot frame
        self.clients: set[LiveClient] = set()


class LiveIngest:
    def __init__(self, state: Any, url: str) -> None:
        self.app_state = state
        self.config = state.config
        self.metrics = state.metrics
        self.url = url
        self.databento: tuple[str, list[str]] | None = None
        self.replica = url.startswith("nats://")  # a serve replica of an ingest, over the bus
        self.label = url  # what status and logs show (a NATS URL without its credentials)
        if self.replica:
            from .bus import safe_url

            self.label = safe_url(url)
        if url.startswith("databento:"):
            self.databento = parse_databento(url)
            self.host, self.port = "", 0
        elif self.replica:
            self.host, self.port = "", 0
        else:
            self.host, self.port = parse_url(url)
        self.market = _core.LiveMarket(self.config.live_max_seq_jump)
        self._fail_log = LogThrottle(log, LOG_EVERY_S)
        self._connect_log = LogThrottle(log, LOG_EVERY_S, logging.INFO)
        self._persist_log = LogThrottle(log, LOG_EVERY_S)
        self.connection = "connecting"
        self.connections = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self.hubs: dict[tuple[int, int, int], Hub] = {}
        self.by_sub: dict[int, Hub] = {}
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._db_client: Any = None
        target = (
            self._databento_loop
            if self.databento
            else self._bus_loop
            if self.replica
            else self._read_loop
        )
        self._thread = threading.Thread(target=target, name="mbo-live", daemon=True)
        self._tick_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # read_fd's wake pipe (read end watched by the event loop), when the core has read_fd
        self._wake_pipe: tuple[int, int] | None = None
        self._wake = False  # a publish is already scheduled on the event loop
        self._timer: asyncio.TimerHandle | None = None
        self._gaps_seen = 0
        self._records_seen = 0
        self.rate = 0.0
        # the ingest stores the session; its replicas would only store copies of it
        self.store = state.store if self.config.live_persist and not self.replica else None
        self.publisher: Any = None  # the bus (NATS JetStream) this ingest publishes to
        self.subscriber: Any = None  # a replica's side of the bus
        if self.config.live_publish:
            from .bus import BusPublisher, split_replica_url

            server, name = split_replica_url(self.config.live_publish)
            self.publisher = BusPublisher(
                server, name, self.config.bus_max_pending_mb, self.config.bus_max_stream_mb
            )
        self.persisted = 0  # live records stored as blocks
        self.persist_dropped = 0
        self.persist_pending = 0  # records cut into blocks, waiting for the store to return
        self._pending: list[tuple[tuple[int, int, int, int, int], bytes, bytes | None]] = []
        self.db_source_id: int | None = None
        self.source: Source | None = None  # the session in the catalog, growing
        self._builder = _core.BlockBuilder(checkpoint_every=self.config.checkpoint_every)
        self._persister: threading.Thread | None = None
        if self.store is not None:
            self.market.set_persist(True)
            self._persister = threading.Thread(
                target=self._persist_loop, name="mbo-live-db", daemon=True
            )

    # ingest (reader thread) ------------------------------------------------------------------
    def start(self) -> None:
        self.metrics.rust_timings.live.append(self.market)
        self._loop = asyncio.get_running_loop()
        if self.publisher is not None:
            self.publisher.start()
        # read_fd keeps the bytes in Rust: not when they go on to the bus, nor for a replica
        direct = self.databento is None and self.publisher is None and not self.replica
        if direct and hasattr(self.market, "read_fd"):
            self._wake_pipe = os.pipe()
            for fd in self._wake_pipe:
                os.set_blocking(fd, False)
            self._loop.add_reader(self._wake_pipe[0], self._on_wake)
        self._thread.start()
        if self._persister is not None:
            self._persister.start()
        self._tick_task = asyncio.create_task(self._tick_loop())

    def _ingest(self, data: bytes) -> None:
        """Reader thread: decode and apply (GIL released), then have the loop publish."""
        applied = self.market.feed(data)
        if self.publisher is not None:
            self.publisher.offer(self.connections, data)
        if applied and not self._wake and self._loop is not None:
            self._wake = True
            self._loop.call_soon_threadsafe(self._on_applied)

    def _receive(self, sock: socket.socket) -> None:
        """Reader thread: apply everything the connection carries, until it ends. A feed
        silent for `live_idle_timeout_s` raises FeedIdle."""
        idle_s = self.config.live_idle_timeout_s
        if self._wake_pipe is not None:
            sock.setblocking(True)  # read_fd blocks in Rust; close() shuts the socket down
            if idle_s > 0:  # a blocking read then fails with EAGAIN after idle_s of silence
                whole = int(idle_s)
                timeval = struct.pack("ll", whole, int((idle_s - whole) * 1e6))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            try:
                self.market.read_fd(sock.fileno(), self._wake_pipe[1])
            except SourceError as exc:
                if exc.errno in _TIMED_OUT:
                    raise FeedIdle(idle_s) from None
                raise
            return
        buf = bytearray(RECV_BYTES)
        sock.settimeout(0.5)
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                n = sock.recv_into(buf)
            except socket.timeout:
                if idle_s > 0 and time.monotonic() - last >= idle_s:
                    raise FeedIdle(idle_s) from None
                continue
            if n == 0:
                return
            last = time.monotonic()
            self._ingest(bytes(buf[:n]))

    # persistence (its own thread) -----------------------------------------------------------
    def _persist_loop(self) -> None:
        """The session as a growing source of the block store: every `live_persist_every_s`,
        the records applied since are cut into blocks (the open one closed: a crash loses at
        most that long), stored with the books' statistics in one transaction, and appended to
        the catalog's recording, so live history answers like any stored source."""
        store, loop = self.store, self._loop
        assert store is not None and loop is not None
        try:
            sid = store.begin_live(self.url, checkpoint_every=self.config.checkpoint_every)
            stored = store.source(sid)
            assert stored is not None
            self.source = source_of(store, stored)
            self.db_source_id = sid
            catalog = self.app_state.catalog
            if catalog is not None:
                loop.call_soon_threadsafe(catalog.add, self.source)
        except Exception:
            log.exception("live records will not be stored: no source for the session")
            self.market.set_persist(False)
            return
        while True:
            stopping = self._stop.wait(self.config.live_persist_every_s)
            self._persist_once()
            if stopping:
                with contextlib.suppress(Exception):
                    store.finish_live(sid)
                return

    def _persist_once(self) -> None:
        """Cut what was applied since the last call into blocks and store them. The core hands
        the records over ~1 MiB at a time (counted and dated by it, never parsed here) and
        builds the blocks with the GIL released. A store that fails (a database restarting or
        unreachable) keeps the blocks pending, retried at the next call, up to
        `live_persist_max_pending_mb`; beyond that the session stops being stored and the
        records lost are counted and logged."""
        store, src, loop = self.store, self.source, self._loop
        if store is None or src is None or loop is None:
            return
        blocks = self._pending
        while chunk := self.market.take_records():
            blocks.extend(self._builder.push(chunk[0]))
        last = self._builder.flush()
        if last is not None:
            blocks.append(last)
        if not blocks:
            return
        books = self._builder.books()
        t0 = time.perf_counter()
        try:
            self.persisted = store.append_live(src.id, blocks, books)
            self.metrics.storage_seconds.labels("live").observe(time.perf_counter() - t0)
            self.metrics.storage_rows.labels("live").inc(len(blocks))
        except Exception as exc:  # the store failing: hold the blocks and retry, within bounds
            self.metrics.errors.labels("live_persist").inc()
            held = sum(len(data) + len(ckpt or b"") for _, data, ckpt in blocks)
            if held <= self.config.live_persist_max_pending_mb << 20:
                self._pending = blocks
                self.persist_pending = sum(meta[1] for meta, _, _ in blocks)
                self._persist_log.note(
                    "live records not stored yet (%d held, retrying): %s",
                    self.persist_pending,
                    exc,
                    reason="live_persist",
                )
                return
            self._pending = []
            self.persist_pending = 0
            self.persist_dropped += sum(meta[1] for meta, _, _ in blocks)
            log.warning(
                "live records no longer stored (%d lost, more than %d MiB held): %s",
                self.persist_dropped,
                self.config.live_persist_max_pending_mb,
                exc,
            )
            self.market.set_persist(False)
            self.store = None
            return
        self._pending = []
        self.persist_pending = 0
        keys = [(iid, pid) for iid, pid, *_ in books]
        for meta, _, checkpoint in blocks:
            src.recording.append(meta, checkpoint is not None, keys)
        loop.call_soon_threadsafe(src.update_books, books)

    def _fail(self, reason: str, message: str) -> None:
        """Count a failed or lost connection; log it (one line per LOG_EVERY_S at most)."""
        self.last_error = message
        self.metrics.live_errors.labels(reason).inc()
        self._fail_log.note("live feed %s: %s; retrying", self.label, message, reason=reason)

    def _read_loop(self) -> None:
        delay = BACKOFF_MIN_S
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError as exc:
                self.connection = "backoff"
                self._fail("connect", f"cannot connect: {exc.strerror or exc}")
                self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self._sock = sock
            if self._stop.is_set():  # close() ran before it could see this socket to shut it
                sock.close()
                break
            self.connections += 1
            if self.connections > 1:
                self.market.reconnect()
                self.reconnects += 1
                self.metrics.live_reconnects.inc()
            self.connection = "connected"
            self.metrics.live_connected.set(1)
            self._connect_log.note("live feed connected: %s", self.url)
            received = self.market.stats()["bytes"]
            opened = time.monotonic()
            clean = False
            try:
                self._receive(sock)
                clean = True
                if not self._stop.is_set():
                    self._fail("closed", "connection lost: the feed closed the connection")
            except FeedIdle as exc:
                self._fail("idle", f"dropping the connection: {exc}")
            except DecodeError as exc:
                self._fail("garbage", f"dropping the connection, not a valid DBN stream: {exc}")
            except (OSError, MboError) as exc:  # SourceError (a failed read) is an OSError
                if not self._stop.is_set():
                    self._fail("closed", f"connection lost: {exc}")
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # a bug, e.g. a Rust panic (pyo3's PanicException is a
                # BaseException): log it and retry rather than end ingest silently
                log.exception("live ingest failed")
                self._fail("error", "live ingest failed; see the logged traceback")
            finally:
                # The next failure retries quickly only after a connection that was worth
                # having: one that carried data and ended cleanly, or stayed up HEALTHY_S. A
                # feed that sends data then garbage (or goes silent) backs off like a refusal.
                flowed = self.market.stats()["bytes"] != received
                if flowed and (clean or time.monotonic() - opened >= HEALTHY_S):
                    delay = BACKOFF_MIN_S
                self._sock = None
                with contextlib.suppress(OSError):
                    sock.close()
                self.metrics.live_connected.set(0)
                self.connection = "backoff" if not self._stop.is_set() else "stopped"
            self._stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        self.connection = "stopped"

    def _databento_loop(self) -> None:
        """`--live databento:DATASET:SYMBOLS`: a `databento.Live` session writes the raw DBN
        stream into the same LiveMarket path; a failed or closed session is retried with
        backoff (a new session: reconnect semantics, books stale). The key is never logged."""
        assert self.databento is not None
        dataset, symbols = self.databento
        delay = BACKOFF_MIN_S
        key = ""
        while not self._stop.is_set():
            failed: list[BaseException] = []

            def on_error(exc: BaseException, failed: list[BaseException] = failed) -> None:
                failed.append(exc)
                client = self._db_client
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.terminate()  # drop the session: block_for_close returns

            try:
                key = databento_io.resolve_key()
                client = databento_io._client().Live(key=key)
                self._db_client = client
                client.subscribe(
                    dataset=dataset,
                    schema="mbo",
                    symbols=symbols,
                    stype_in=databento_io.stype_for(symbols),
                )
                self.connections += 1
                if self.connections > 1:
                    self.market.reconnect()
                    self.reconnects += 1
                    self.metrics.live_reconnects.inc()
                client.add_stream(_DbnSink(self._ingest), exception_callback=on_error)
                client.start()
                self.connection = "connected"
                self.metrics.live_connected.set(1)
                self._connect_log.note(
                    "live databento session started: %s %s", dataset, ",".join(symbols)
                )
                client.block_for_close()
                if failed:
                    raise failed[0]
                if not self._stop.is_set():
                    raise ConnectionError("the databento session closed")
            except (DecodeError, MboError) as exc:
                reason = "garbage" if isinstance(exc, DecodeError) else "connect"
                self._fail(reason, databento_io._scrub(str(exc), key))
            except Exception as exc:  # the client's own errors (BentoError, …) included
                if not self._stop.is_set():
                    self._fail("closed", databento_io._scrub(f"{type(exc).__name__}: {exc}", key))
            finally:
                self._db_client = None
                self.metrics.live_connected.set(0)
                self.connection = "backoff" if not self._stop.is_set() else "stopped"
            self._stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        self.connection = "stopped"

    @property
    def ingest_silent(self) -> bool:
        """A replica whose ingest has said nothing for a while: its books may be behind."""
        return self.subscriber is not None and self.subscriber.ingest_silent

    def _bus_loop(self) -> None:
        """`--live nats://HOST:PORT/NAME`: a replica. The ingest's feed bytes are replayed from
        the bus into this market (the same bytes in the same order as every other replica), a
        failed subscription retried with backoff, resuming after the last message applied."""
        from .bus import BusSubscriber

        def on_state(state: str) -> None:
            up = state == "connected"
            if up and self.connection != "connected":
                self._connect_log.note("live bus connected: %s", self.label)
            self.connection = "connected" if up else "backoff"
            self.metrics.live_connected.set(1 if up else 0)

        def on_reconnect() -> None:  # the ingest's feed reconnected: metadata follows
            self.market.reconnect()
            self.reconnects += 1
            self.metrics.live_reconnects.inc()

        subscriber = BusSubscriber(self.url, self._ingest, on_reconnect, on_state)
        self.subscriber = subscriber
        self.connections = 1
        delay = BACKOFF_MIN_S
        while not self._stop.is_set():
            try:
                subscriber.run(self._stop)
            except DecodeError as exc:
                self._fail("garbage", f"the bus carried bytes that are not DBN: {exc}")
            except Exception as exc:  # NATS unreachable, the stream missing, …
                if self._stop.is_set():
                    pass
                elif type(exc).__name__ == "NotFoundError":
                    self._fail("connect", f"no stream {subscriber.stream} yet: no ingest published")
                else:
                    self._fail("closed", f"bus: {type(exc).__name__}: {exc}")
            self.metrics.live_connected.set(0)
            if self._stop.is_set():
                break
            self.connection = "backoff"
            self._stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        self.connection = "stopped"

    async def close(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._db_client is not None:
            with contextlib.suppress(Exception):
                self._db_client.terminate()
        if self._timer is not None:
            self._timer.cancel()
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._thread.join, 2.0)
        if self.publisher is not None:
            await loop.run_in_executor(None, self.publisher.close)
        if self._wake_pipe is not None and not self._thread.is_alive():
            loop.remove_reader(self._wake_pipe[0])
            for fd in self._wake_pipe:
                os.close(fd)
            self._wake_pipe = None
        if self._persister is not None and self._persister.is_alive():
            await loop.run_in_executor(None, self._persister.join, 5.0)
        self.shutdown_clients()

    def shutdown_clients(self) -> None:
        bye = encode_events(
            [
                (
                    "shutdown",
                    self.market.index,
                    json.dumps({"reason": "server shutting down"}).encode(),
                )
            ]
        )
        for hub in self.hubs.values():
            for client in hub.clients:
                _replace(client.queue, bye)
                with contextlib.suppress(asyncio.QueueFull):
                    client.queue.put_nowait(None)

    # broadcast (event loop) ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        stats = self.market.stats()
        return {
            "url": self.label,
            "connection": self.connection,
            "connections": self.connections,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "index": self.market.index,
            "rate": round(self.rate, 1),
            "books_followed": len(self.hubs),
            "clients": sum(len(h.clients) for h in self.hubs.values()),
            "persisted": self.persisted,
            "persist_pending": self.persist_pending,
            "persist_lost": self.persist_dropped,
            **({"bus": self.publisher.status()} if self.publisher is not None else {}),
            **({"ingest": "silent" if self.ingest_silent else "alive"} if self.replica else {}),
            **stats,
        }

    def _on_applied(self) -> None:
        self._wake = False
        self._publish_due()

    def _on_wake(self) -> None:
        """The wake pipe is readable: `read_fd` applied records. Acknowledge, then publish."""
        assert self._wake_pipe is not None
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_pipe[0], 4096)
        self.market.woken()  # before publishing: records applied from now on wake us again
        self._publish_due()

    def _on_timer(self) -> None:
        self._timer = None
        self._publish_due()

    def _publish_due(self) -> None:
        """Publish on apply: every changed book whose last frame is at least 1 / frame_rate old
        publishes now; one that published more recently waits (the rate cap): the first apply
        after its interval ends publishes it, with the freshest records, or, if none comes, a
        timer PUBLISH_GRACE_S after the interval's end. Latency is timed once the payloads are in
        the clients' queues."""
        try:
            out, due = self.market.publish_sse(1.0 / self.config.frame_rate)
            for sub_id, payload, last in out:  # SSE-encoded once, in Rust, for every client
                hub = self.by_sub.get(sub_id)
                if hub is not None:
                    if last is not None:
                        hub.last = ("snapshot", last[0], last[1])
                    self._offer(hub, payload)
            self.market.published()
        except Exception:  # never let one bad publish end the broadcast
            log.exception("live publish failed")
            due = 1.0 / self.config.frame_rate
        if due is not None and self._loop is not None:
            when = self._loop.time() + due + PUBLISH_GRACE_S
            if self._timer is not None and self._timer.when() > when:
                self._timer.cancel()
                self._timer = None
            if self._timer is None:
                self._timer = self._loop.call_at(when, self._on_timer)

    async def _tick_loop(self) -> None:
        """Status frames and metrics every `status_every_s` (frames are published on apply)."""
        cfg = self.config
        last_records, last_wall = 0, time.monotonic()
        while True:
            await asyncio.sleep(cfg.status_every_s)
            try:
                now = time.monotonic()
                stats = self.market.stats()
                records = int(stats["records"])
                self.rate = (records - last_records) / max(now - last_wall, 1e-9)
                last_records, last_wall = records, now
                self._update_metrics(stats)
                for hub in list(self.hubs.values()):
                    self._publish(hub, [self._status_frame(hub, stats)])
            except Exception:  # never let one bad tick end the broadcast
                log.exception("live status failed")

    def _update_metrics(self, stats: dict[str, Any]) -> None:
        m = self.metrics
        gaps = int(stats["gaps"])
        if gaps > self._gaps_seen:
            m.live_gaps.inc(gaps - self._gaps_seen)
            log.warning(
                "live feed: %d sequence gap(s), %d sequence numbers missed so far",
                gaps,
                stats["missed"],
            )
            self._gaps_seen = gaps
        m.live_stale_books.set(int(stats["stale_books"]))
        m.live_rate.set(self.rate)
        records = int(stats["records"])
        m.records_processed.labels("live").inc(max(records - self._records_seen, 0))
        self._records_seen = records

    def _status_frame(self, hub: Hub, stats: dict[str, Any]) -> Frame:
        iid, pid, _ = hub.key
        doc = {
            "index": self.market.index if self.market.index >= 0 else None,
            "live": True,
            "clock": None,
            "done": False,
            "connection": self.connection,
            "stale": self.market.is_stale(iid, pid) or self.ingest_silent,
            "gaps": stats["gaps"],
            "reconnects": self.reconnects,
            "records": stats["records"],
            "rate": round(self.rate, 1),
            "due_ns": time.time_ns(),
        }
        return ("status", self.market.index, json.dumps(doc, separators=(",", ":")).encode())

    def _publish(self, hub: Hub, frames: list[Frame]) -> None:
        for event, fid, data in frames:
            if event in ("book", "snapshot"):
                hub.last = ("snapshot", fid, data)
        self._offer(hub, encode_events(frames))  # serialised once for every client of the book

    def _offer(self, hub: Hub, payload: bytes) -> None:
        for client in hub.clients:
            try:
                client.queue.put_nowait(payload)
            except asyncio.QueueFull:
                dropped = client.queue.qsize()
                _replace(client.queue, encode_events([hub.last]))
                client.resyncs += 1
                self.metrics.frames_dropped.inc(dropped)
                self.metrics.resyncs.inc()

    def join(self, iid: int, pid: int, depth: int) -> tuple[LiveClient, bytes]:
        key = (iid, pid, depth)
        hub = self.hubs.get(key)
        if hub is None:
            sub_id = self.market.subscribe(iid, pid, depth)
            idx, snap = self.market.snapshot(sub_id)
            hub = Hub(key, sub_id, ("snapshot", idx, snap))
            self.hubs[key] = hub
            self.by_sub[sub_id] = hub
        client = LiveClient(hub, self.config.queue_ticks)
        hub.clients.add(client)
        self.metrics.live_clients.inc()
        return client, encode_events([hub.last])

    def leave(self, client: LiveClient) -> None:
        hub = client.hub
        if client in hub.clients:
            hub.clients.discard(client)
            self.metrics.live_clients.dec()
        if not hub.clients and self.hubs.get(hub.key) is hub:
            del self.hubs[hub.key]
            del self.by_sub[hub.sub_id]
            self.market.unsubscribe(hub.sub_id)


def _only_publisher(ingest: LiveIngest, iid: int) -> int:
    """The publisher of the instrument's only live book; 1 (the first Databento publisher, e.g.
    GLBX.MDP3) before the feed has sent any record for it; a 400 when it has several."""
    publishers = ingest.market.publishers(iid)
    if len(publishers) > 1:
        names = ", ".join(str(p) for p in publishers)
        raise ParamError(
            "publisher_id", f"instrument {iid} has several publishers ({names}): name one"
        )
    return publishers[0] if publishers else 1


def _replace(queue: asyncio.Queue[bytes | None], payload: bytes) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(payload)


def _ingest(request: web.Request) -> LiveIngest:
    ingest = getattr(_state(request), "live", None)
    if not isinstance(ingest, LiveIngest):
        raise ParamError(None, "live ingest is not configured (start with --live)", status=404)
    return ingest


@routes.get("/api/v1/live/status")
async def live_status(request: web.Request) -> web.Response:
    _check_known(request, set())
    ingest = getattr(_state(request), "live", None)
    if not isinstance(ingest, LiveIngest):  # 200, so the web UI's probe logs no error
        return web.json_response({"configured": False})
    return web.json_response({"configured": True, **ingest.status()})


@routes.get("/api/v1/live")
async def live_stream(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    cfg = state.config
    ingest = _ingest(request)
    _check_known(request, {"instrument_id", "publisher_id", "depth"})
    iid = _int(request, "instrument_id", hi=U32, required=True)
    pid = _int(request, "publisher_id", hi=U16)
    depth = _int(request, "depth", lo=1, hi=min(cfg.max_depth, 100), default=10)
    assert iid is not None and depth is not None
    if pid is None:
        pid = _only_publisher(ingest, iid)
    take_slot(state, state.live_slots, "live streams")  # before the first await: see Slots
    try:
        client, first = ingest.join(iid, pid, depth)
        try:
            with long_response(state, request):
                return await _serve_live(request, client, first)
        finally:
            ingest.leave(client)
    finally:
        state.live_slots.release()


async def _serve_live(request: web.Request, client: LiveClient, first: bytes) -> web.StreamResponse:
    state = _state(request)
    headers = {"X-Request-Id": request_id.get() or ""}
    # b"": the writer's heartbeat wake-up (published payloads are never empty)
    sse = SseWriter(request, headers, state.config, client.queue, b"")
    try:
        await sse.start(first)
        while True:
            payload = await sse.get()
            if payload is None:
                break
            await sse.send(payload)
    except ClientStuck:
        state.metrics.live_dropped_clients.inc()
        log_stuck(state, "live")
    except ConnectionError:
        state.metrics.errors.labels("stream_disconnect").inc()
    finally:
        sse.close()
    return sse.resp

"""Live pipeline: feed (in-process) -> server live ingest -> SSE; the live book equals the book
rebuilt from the same file; reconnect after the feed dies; garbage and truncated streams are
dropped and retried; a slow live subscriber does not delay another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from dbn_builder import metadata_bytes
from server_helpers import (  # noqa: F401
    CLX5_IID,
    make_client,
    make_config,
    read_events,
    ready,
    serve_process,
    until,
)

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast import _core, feed  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402

LIVE = f"/api/v1/live?instrument_id={CLX5_IID}&depth=5"


def _live(client: Any) -> Any:
    return client.server.app[STATE].live


async def test_live_book_equals_file_book(make_client: Any, clx5_path: Path) -> None:
    data = feed.load([str(clx5_path)], resequence=True)  # the file skips sequence numbers
    # 20 k/s: the file takes ~2 s, so the SSE client joins well before its last record
    pub = feed.Feed(data, rate=20_000)
    _, port = await pub.start("127.0.0.1", 0)
    try:
        client = await make_client(live=f"tcp://127.0.0.1:{port}", status_every_s=0.2)
        resp = await client.get(LIVE)
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_events(
            resp,
            lambda e: e["event"] == "status" and json.loads(e["data"])["records"] == len(data),
        )
        resp.close()
        assert events[0]["event"] == "snapshot"
        kinds = {e["event"] for e in events}
        assert {"book", "trade", "status"} <= kinds
        ids = [int(e["id"]) for e in events if e["event"] in ("book", "trade")]
        assert ids == sorted(ids)
        market = mbo_fast.Market()
        market.apply(str(clx5_path))
        live = _live(client)
        assert live.market.to_json() == market.to_json()  # byte-exact
        last_book = json.loads(
            [e for e in events if e["event"] in ("book", "snapshot")][-1]["data"]
        )
        book = market.book(CLX5_IID, 1)
        assert last_book["bids"] == [list(x) for x in book.levels("B", 5)]
        assert last_book["asks"] == [list(x) for x in book.levels("A", 5)]
        status = json.loads(events[-1]["data"])
        assert status["connection"] == "connected" and status["stale"] is False
        metrics = (await (await client.get("/metrics")).text()).splitlines()
        assert any(
            m.startswith('mbo_live_latency_seconds_count{stage="published"}') for m in metrics
        )
        assert "mbo_live_connected 1.0" in metrics
        assert live._wake_pipe is not None or not hasattr(_core.LiveMarket, "read_fd")
    finally:
        await pub.close()


@contextlib.asynccontextmanager
async def _fed_client(make_client: Any, paths: list[str]) -> AsyncIterator[Any]:
    """A server whose live feed has sent and applied every record of `paths`."""
    data = feed.load(paths)
    pub = feed.Feed(data, rate=500_000)
    _, port = await pub.start("127.0.0.1", 0)
    try:
        client = await make_client(live=f"tcp://127.0.0.1:{port}")
        live = _live(client)
        await until(lambda: live.market.stats()["records"] >= len(data))
        yield client
    finally:
        await pub.close()


async def test_live_stream_defaults_to_the_instruments_publisher(
    make_client: Any, tmp_path: Path
) -> None:
    paths = []
    for publisher in (2, 3):
        path = tmp_path / f"p{publisher}.dbn"
        mbo_fast.simulate(seed=5, records=2_000, path=path, publisher_id=publisher)
        paths.append(str(path))
    iid = int(mbo_fast.read_records(paths[0])["instrument_id"][0])
    async with _fed_client(make_client, paths[:1]) as client:
        resp = await client.get(f"/api/v1/live?instrument_id={iid}&depth=3")
        (event,) = await read_events(resp, lambda e: e["event"] == "snapshot")
        resp.close()
    market = mbo_fast.Market()
    market.apply(paths[0])
    snapshot = json.loads(event["data"])
    assert snapshot["bids"] == [list(x) for x in market.book(iid, 2).levels("B", 3)]
    assert snapshot["bids"]  # publisher 2's book, not an empty book of publisher 1
    async with _fed_client(make_client, paths) as client:
        resp = await client.get(f"/api/v1/live?instrument_id={iid}")
        assert resp.status == 400
        body = await resp.json()
        assert body["parameter"] == "publisher_id" and "several publishers (2, 3)" in body["error"]
        resp = await client.get(f"/api/v1/live?instrument_id={iid}&publisher_id=3")
        assert resp.status == 200
        resp.close()


async def test_reconnect_after_the_feed_dies(make_client: Any, clx5_path: Path) -> None:
    data = feed.load([str(clx5_path)], resequence=True)
    pub = feed.Feed(data, rate=20_000)
    _, port = await pub.start("127.0.0.1", 0)
    client = await make_client(live=f"tcp://127.0.0.1:{port}", status_every_s=0.2)
    live = _live(client)
    await until(lambda: live.market.stats()["records"] > 2_000)
    await pub.close()  # killed mid-stream
    await until(lambda: live.connection == "backoff")
    pub2 = feed.Feed(data, rate=200_000)
    await pub2.start("127.0.0.1", port)
    try:
        await until(lambda: live.reconnects == 1 and live.connection == "connected")
        await until(lambda: live.market.stats()["records"] > len(data))
        stats = live.market.stats()
        assert stats["connections"] == 2
        assert stats["stale_books"] >= 1  # stale after the reconnect (no clear followed)
        status = await (await client.get("/api/v1/live/status")).json()
        assert status["reconnects"] == 1
        metrics = await (await client.get("/metrics")).text()
        assert "mbo_live_reconnects_total 1.0" in metrics
    finally:
        await pub2.close()


async def test_an_unexpected_ingest_failure_is_logged_and_retried(
    make_client: Any, clx5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mbo_fast_server.live import LiveIngest

    class FakePanic(BaseException):  # like pyo3's PanicException: not an Exception
        pass

    real = LiveIngest._receive
    calls = []

    def failing_once(self: LiveIngest, sock: socket.socket) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise FakePanic("a bug in the core")
        real(self, sock)

    monkeypatch.setattr(LiveIngest, "_receive", failing_once)
    data = feed.load([str(clx5_path)], resequence=True)
    pub = feed.Feed(data, rate=200_000, loop=True)
    _, port = await pub.start("127.0.0.1", 0)
    try:
        client = await make_client(live=f"tcp://127.0.0.1:{port}", status_every_s=0.2)
        live = _live(client)
        await until(lambda: live.market.stats()["records"] > 1_000)  # the retry ingests
        assert len(calls) == 2 and live.connection == "connected"
        assert live.last_error is not None and "traceback" in live.last_error
        metrics = await (await client.get("/metrics")).text()
        assert 'mbo_live_connection_errors_total{reason="error"} 1.0' in metrics
    finally:
        await pub.close()


async def test_garbage_and_truncated_streams_are_dropped_and_retried(
    make_client: Any, clx5_path: Path
) -> None:
    raw = clx5_path.read_bytes()
    meta = 8 + int.from_bytes(raw[4:8], "little")
    sent: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(sent) % 2 == 0:
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nthis is not DBN at all")
            sent.append("garbage")
        else:
            writer.write(raw[: meta + 56 * 100 + 20])  # 100 records and a partial one
            sent.append("truncated")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = await make_client(live=f"tcp://127.0.0.1:{port}")
        live = _live(client)
        await until(lambda: len(sent) >= 4)
        await until(lambda: live.market.stats()["records"] >= 200)
        assert live.market.stats()["records"] % 100 == 0  # no partial record applied
        metrics = await (await client.get("/metrics")).text()
        assert 'mbo_live_connection_errors_total{reason="garbage"}' in metrics
        assert 'mbo_live_connection_errors_total{reason="closed"}' in metrics
        assert (await client.get("/healthz")).status == 200
    finally:
        server.close()


async def test_slow_live_subscriber_does_not_delay_another(
    make_client: Any, clx5_path: Path
) -> None:
    data = feed.load([str(clx5_path)], resequence=True)
    pub = feed.Feed(data, rate=200_000, loop=True)
    _, port = await pub.start("127.0.0.1", 0)
    try:
        client = await make_client(
            live=f"tcp://127.0.0.1:{port}", queue_ticks=2, frame_rate=100.0, status_every_s=0.2
        )
        url = f"/api/v1/live?instrument_id={CLX5_IID}&depth=50"
        host, cport = client.server.host, client.server.port
        slow = socket.create_connection((host, cport))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())  # never reads
        resp = await client.get(url)
        t0 = time.monotonic()
        events = await read_events(resp, lambda e: time.monotonic() - t0 > 3.0)
        resp.close()
        slow.close()
        status = [json.loads(e["data"]) for e in events if e["event"] == "status"]
        books = [e for e in events if e["event"] == "book"]
        assert len(status) >= 10 and len(books) >= 100  # ~100 ticks/s kept flowing
        delays = [(time.time_ns() - s["due_ns"]) / 1e9 for s in status[-3:]]
        assert max(delays) < 1.0
        metrics = await (await client.get("/metrics")).text()
        resyncs = [m for m in metrics.splitlines() if m.startswith("mbo_sse_resyncs_total")]
        assert resyncs and float(resyncs[0].split()[1]) > 0  # the slow one was resynced
    finally:
        await pub.close()


def test_live_market_binding_exposed() -> None:
    assert hasattr(_core, "LiveMarket")


@pytest.mark.skipif(not hasattr(_core.LiveMarket, "read_fd"), reason="read_fd is Unix-only")
def test_read_fd_reads_a_socket_to_its_end_and_wakes_once(clx5_path: Path) -> None:
    raw = clx5_path.read_bytes()
    live = _core.LiveMarket(0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    ours, theirs = socket.socketpair()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            live.read_fd(ours.fileno(), wake_w)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        theirs.sendall(raw[: len(raw) // 2])
        t0 = time.monotonic()
        while live.stats()["records"] == 0:
            assert time.monotonic() - t0 < 10, "nothing applied"
            time.sleep(0.01)
        time.sleep(0.1)
        assert os.read(wake_r, 100) == b"\x01"  # one wake however many reads applied records
        live.woken()
        theirs.sendall(raw[len(raw) // 2 :])
        theirs.shutdown(socket.SHUT_WR)  # the end of the stream: read_fd returns
        reader.join(10)
        assert not reader.is_alive() and errors == []
        assert os.read(wake_r, 100) == b"\x01"
        market = mbo_fast.Market()
        market.apply(str(clx5_path))
        assert live.to_json() == market.to_json()  # byte-exact
        # garbage on a new connection is a DecodeError, and the fds stay open (the caller's)
        live.reconnect()
        ours2, theirs2 = socket.socketpair()
        theirs2.sendall(b"this is not DBN")
        with pytest.raises(mbo_fast.DecodeError):
            live.read_fd(ours2.fileno(), wake_w)
        assert os.fstat(ours2.fileno()) and os.fstat(wake_w)
        ours2.close()
        theirs2.close()
    finally:
        reader.join(1)
        for s in (ours, theirs):
            s.close()
        os.close(wake_r)
        os.close(wake_w)


def test_publish_on_apply_and_rate_cap(clx5_path: Path) -> None:
    raw = clx5_path.read_bytes()
    live = _core.LiveMarket(0)
    sub = live.subscribe(CLX5_IID, 1, 5)
    live.snapshot(sub)
    batches, held = 0, 0
    for lo in range(0, len(raw), 8192):
        live.feed(raw[lo : lo + 8192])
        out, due = live.publish(0.0)  # no cap: every change publishes at once
        assert due is None
        batches += len(out)
        live.published()
    t = live.timings()["live_receipt_to_published"]
    assert batches > 10 and t["count"] == batches
    assert t["sum_ns"] / t["count"] < 50e6  # handed over right after the apply, not on a tick
    live.feed(b"")  # nothing new: nothing to publish
    assert live.publish(60.0) == ([], None)
    capped = _core.LiveMarket(0)
    s2 = capped.subscribe(CLX5_IID, 1, 5)
    capped.snapshot(s2)
    published = 0
    for lo in range(0, len(raw), 8192):
        capped.feed(raw[lo : lo + 8192])
        out, due = capped.publish(60.0)
        published += len(out)
        held += due is not None
        assert due is None or 0 < due <= 60.0
    assert published == 1 and held > 0  # the rate cap holds; the rest wait for its timer


def test_gap_default_tolerates_filtered_feeds(clx5_path: Path) -> None:
    from mbo_fast_server.config import Config

    assert Config().live_max_seq_jump == 0
    raw = clx5_path.read_bytes()  # filtered to one product: sequence numbers skip
    strict, tolerant = _core.LiveMarket(1), _core.LiveMarket(0)
    strict.feed(raw)
    tolerant.feed(raw)
    assert strict.stats()["gaps"] > 0
    assert tolerant.stats()["gaps"] == 0 and tolerant.stats()["stale_books"] == 0


async def test_live_records_are_stored_as_blocks_and_served_as_history(
    make_client: Any, clx5_path: Path, tmp_path: Path
) -> None:
    """The live session is a growing source of the block store: stored in blocks while the feed
    runs, listed with the other sources, and its history answered like any stored source's."""
    data = feed.load([str(clx5_path)])
    pub = feed.Feed(data, rate=200_000)
    _, port = await pub.start("127.0.0.1", 0)
    db = tmp_path / "live.sqlite3"
    try:
        client = await make_client(db=db, live=f"tcp://127.0.0.1:{port}", live_persist_every_s=0.05)
        live = _live(client)
        await until(lambda: live.persisted == len(data), timeout=20)
        status = await (await client.get("/api/v1/live/status")).json()
        assert status["persisted"] == len(data)
        await until(lambda: live.source is not None and live.source.books, timeout=5)
    finally:
        await pub.close()
    sid = live.db_source_id
    sources = (await (await client.get("/api/v1/sources")).json())["sources"]
    (session,) = [s for s in sources if s["source"] == sid]
    assert (session["kind"], session["records"]) == ("live", len(data))
    assert session["name"] == f"tcp://127.0.0.1:{port}"
    # every record, in order, as the file has it
    recs = mbo_fast.read_records(str(clx5_path))
    page = await (await client.get(f"/api/v1/records?source={sid}&after=-1&limit=10000")).json()
    assert [r["order_id"] for r in page["items"]] == recs["order_id"][:10_000].tolist()
    # a book of the live session at an index equals the file's book there
    doc = await (
        await client.get(
            f"/api/v1/book?source={sid}&instrument_id={CLX5_IID}&index=30000&depth=1000"
        )
    ).json()
    replay = mbo_fast.Replay(clx5_path)
    replay.seek(index=30_000)
    book = replay.book(CLX5_IID, 1)
    assert [[lv["price"], lv["size"], lv["count"]] for lv in doc["bids"]] == [
        list(x) for x in book.levels("B")
    ]
    with sqlite3.connect(db) as conn:
        blocks = conn.execute(
            "SELECT count(*), sum(records) FROM blocks WHERE source_id = ?", (sid,)
        ).fetchone()
    assert blocks[0] > 1 and blocks[1] == len(data)  # stored in batches while the feed ran


async def test_a_ts_out_live_feed_is_stored_whole(aiohttp_client: Any, tmp_path: Path) -> None:
    """A feed with ts_out (64-byte records): every record is stored (as its 56-byte MBO record;
    the gateway's send time is not kept), counted once, and reads back equal."""
    from mbo_fast_server import create_app

    sim = tmp_path / "sim.dbn"
    mbo_fast.simulate(seed=3, records=40_000, path=sim)  # the server's file: no sample data needed
    plain = sim.read_bytes()
    body = plain[8 + int.from_bytes(plain[4:8], "little") :]
    recs = np.frombuffer(body, dtype=np.uint8).reshape(-1, 56)
    ts_out = np.empty((len(recs), 64), dtype=np.uint8)
    ts_out[:, :56] = recs
    ts_out[:, 0] = 64 // 4
    ts_out[:, 56:] = np.arange(len(recs), dtype="<u8").view(np.uint8).reshape(-1, 8)
    stream = metadata_bytes(3, ts_out=True) + ts_out.tobytes()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(stream)
        await writer.drain()
        await reader.read()  # stay connected until the server goes

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = tmp_path / "live.sqlite3"
    config = make_config(
        sim, db, live=f"tcp://127.0.0.1:{port}", live_persist_every_s=0.05, live_max_seq_jump=0
    )
    try:
        client = await aiohttp_client(create_app(config))
        await ready(client.server.app)
        live = _live(client)
        await until(lambda: live.persisted == len(recs), timeout=20)
        assert live.persist_dropped == 0 and live.market.stats()["records"] == len(recs)
        source = live.source
    finally:
        server.close()
    assert source is not None and len(source.recording) == len(recs)
    want = mbo_fast.read_records(plain)
    items, rows, _ = source.recording.page("records", limit=len(recs))
    got = json.loads(items)
    assert rows == len(recs)
    for name in ("ts_recv", "order_id", "size", "sequence", "instrument_id"):
        assert [r[name] for r in got] == want[name].tolist(), name


class _FakeLive:
    """databento.Live replaced at the boundary: the session writes DBN bytes into the stream
    given to add_stream (metadata, then records), as the real client does."""

    sessions: ClassVar[list[_FakeLive]] = []
    payloads: ClassVar[list[bytes]] = []

    def __init__(self, key: str | None = None, **kw: Any) -> None:
        import threading

        self.key = key
        self.subscriptions: list[dict[str, Any]] = []
        self.closed = threading.Event()
        self.stream: Any = None
        self.exc_fn: Any = None
        _FakeLive.sessions.append(self)

    def subscribe(self, **kw: Any) -> int:
        self.subscriptions.append(kw)
        return 1

    def add_stream(self, stream: Any, exception_callback: Any = None) -> None:
        assert stream.writable()
        self.stream, self.exc_fn = stream, exception_callback

    def start(self) -> None:
        import threading

        payload = _FakeLive.payloads[len(_FakeLive.sessions) - 1]

        def run() -> None:
            for lo in range(0, len(payload), 5000):
                try:
                    self.stream.write(payload[lo : lo + 5000])
                except Exception as exc:
                    self.exc_fn(exc)
                    return

        threading.Thread(target=run, daemon=True).start()

    def block_for_close(self, timeout: float | None = None) -> None:
        self.closed.wait()

    def terminate(self) -> None:
        self.closed.set()


async def test_live_databento_through_the_client_boundary(
    make_client: Any, clx5_path: Path, monkeypatch: Any
) -> None:
    import types

    from mbo_fast import databento_io

    raw = clx5_path.read_bytes()
    _FakeLive.sessions, _FakeLive.payloads = [], [b"not DBN at all", raw]
    monkeypatch.setattr(databento_io, "_client", lambda: types.SimpleNamespace(Live=_FakeLive))
    monkeypatch.setenv("DBN_KEY", "db-secret-key-123")
    client = await make_client(live="databento:GLBX.MDP3:CLX5", live_persist=False)
    live = _live(client)
    market = mbo_fast.Market()
    n = market.apply(str(clx5_path))
    await until(lambda: live.market.stats()["records"] == n, timeout=20)
    assert live.market.to_json() == market.to_json()
    first, second = _FakeLive.sessions[:2]
    assert first.key == "db-secret-key-123"
    assert second.subscriptions == [
        {"dataset": "GLBX.MDP3", "schema": "mbo", "symbols": ["CLX5"], "stype_in": "raw_symbol"}
    ]
    assert live.reconnects == 1 and live.connection == "connected"
    assert "db-secret-key-123" not in (live.last_error or "")
    metrics = await (await client.get("/metrics")).text()
    assert 'mbo_live_connection_errors_total{reason="garbage"}' in metrics


# --------------------------------------------------------------------------------------------
# hardening (issue 22): clients that never read (item 9), silent and failing feeds (item 14).
# The server runs as a `mbo-fast serve` process configured through MBO_* variables; the feeds
# are real TCP servers in this test.


class _FeedServer:
    """A TCP feed run on its own thread: `serve(conn, n)` handles the n-th connection."""

    def __init__(self, serve: Any) -> None:
        self.connected: list[float] = []  # monotonic time of each connection
        self._serve = serve
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connected.append(time.monotonic())
            self._open.append(conn)
            with contextlib.suppress(OSError):
                self._serve(conn, len(self.connected))

    def close(self) -> None:
        self._sock.close()
        for conn in self._open:
            conn.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_a_live_client_that_never_reads_is_dropped_counted_and_logged_once(
    serve_process: Any, clx5_path: Path
) -> None:
    raw = clx5_path.read_bytes()

    def endless(conn: socket.socket, _: int) -> None:
        conn.sendall(raw)  # then records again and again (a repeated book, many frames)
        meta = 8 + int.from_bytes(raw[4:8], "little")
        with contextlib.suppress(OSError):  # until the test closes the connection
            while True:
                conn.sendall(raw[meta:])

    feed_server = _FeedServer(lambda c, n: threading.Thread(target=endless, args=(c, n)).start())
    try:
        srv = serve_process(
            {
                "MBO_LIVE": f"tcp://127.0.0.1:{feed_server.port}",
                "MBO_SEND_TIMEOUT_S": "1",
                "MBO_HEARTBEAT_S": "0.5",
                "MBO_QUEUE_TICKS": "4",
            }
        )
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", srv.port))
        stuck.sendall(
            f"GET {LIVE.replace('depth=5', 'depth=100')} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n\r\n".encode()
        )
        t0 = time.monotonic()
        while _metric(srv.get("/metrics")[1].decode(), "mbo_live_dropped_subscribers_total") < 1:
            assert time.monotonic() - t0 < 15, "the stuck live client was not dropped"
            time.sleep(0.1)
        metrics = srv.get("/metrics")[1].decode()
        assert _metric(metrics, 'mbo_clients_dropped_total{kind="live"}') == 1
        assert _metric(metrics, "mbo_live_clients") == 0
        logs = srv.log_lines()
        assert not [r for r in logs if r["level"] == "error"], logs  # no "unhandled error"
        assert len([r for r in logs if "live client dropped" in r["msg"]]) == 1
        stuck.close()
    finally:
        feed_server.close()


def test_a_silent_feed_is_dropped_as_idle_and_reconnected(
    serve_process: Any, clx5_path: Path
) -> None:
    raw = clx5_path.read_bytes()
    meta = 8 + int.from_bytes(raw[4:8], "little")

    def silent(conn: socket.socket, _: int) -> None:
        conn.sendall(raw[: meta + 56 * 1_000])  # a valid start, then nothing, connection open

    feed_server = _FeedServer(silent)
    try:
        srv = serve_process(
            {"MBO_LIVE": f"tcp://127.0.0.1:{feed_server.port}", "MBO_LIVE_IDLE_TIMEOUT_S": "1"}
        )
        t0 = time.monotonic()
        while len(feed_server.connected) < 2:
            assert time.monotonic() - t0 < 10, "a silent feed stays connected"
            time.sleep(0.05)
        gap = feed_server.connected[1] - feed_server.connected[0]
        assert 1.0 <= gap < 3.0, gap  # idle for 1 s, then a quick retry (data had flowed)
        metrics = srv.get("/metrics")[1].decode()
        assert _metric(metrics, 'mbo_live_connection_errors_total{reason="idle"}') >= 1
        assert _metric(metrics, 'mbo_live_connection_errors_total{reason="garbage"}') == 0
        status = json.loads(srv.get("/api/v1/live/status")[1])
        assert "sent nothing for 1 s" in status["last_error"]
    finally:
        feed_server.close()


def test_a_feed_that_sends_data_then_garbage_backs_off(serve_process: Any, clx5_path: Path) -> None:
    raw = clx5_path.read_bytes()
    meta = 8 + int.from_bytes(raw[4:8], "little")

    def then_garbage(conn: socket.socket, _: int) -> None:
        # valid records, then a record header claiming 4 bytes: garbage at once
        conn.sendall(raw[: meta + 56 * 100] + b"\x01" * 64)
        conn.close()

    feed_server = _FeedServer(then_garbage)
    try:
        srv = serve_process({"MBO_LIVE": f"tcp://127.0.0.1:{feed_server.port}"})
        first = time.monotonic()
        while not feed_server.connected:
            assert time.monotonic() - first < 10
            time.sleep(0.05)
        time.sleep(3.0 - (time.monotonic() - feed_server.connected[0]))
        window = [t for t in feed_server.connected if t - feed_server.connected[0] < 3.0]
        # backoff 0.05, 0.1, 0.2, 0.4, 0.8, 1.6 s: at most 7 connections in 3 s (it was ~57)
        assert len(window) <= 7, len(window)
        gaps = [b - a for a, b in zip(window, window[1:])]
        # each retry waits at least twice as long as the one before (extra delays only add)
        assert all(gap >= 0.05 * 2**k * 0.9 for k, gap in enumerate(gaps)), gaps
        metrics = srv.get("/metrics")[1].decode()
        failures = _metric(metrics, 'mbo_live_connection_errors_total{reason="garbage"}')
        assert failures >= len(window) - 1
        lines = [r for r in srv.log_lines() if r["msg"].startswith("live feed")]
        assert len(lines) <= 4, lines  # connect and failure lines: one each per 10 s
    finally:
        feed_server.close()


async def test_live_books_and_the_live_l3_queue(make_client: Any, clx5_path: Path) -> None:
    """The live feed's books are listed (so the UI can offer them without --file) and one live
    book is served with its L3 queues, equal to the book rebuilt from the file."""
    empty = await make_client()
    assert (await (await empty.get("/api/v1/live/books")).json())["configured"] is False
    no_live = await (await empty.get(f"/api/v1/live/book?instrument_id={CLX5_IID}")).json()
    assert no_live == {"configured": False}
    async with _fed_client(make_client, [str(clx5_path)]) as client:
        books = await (await client.get("/api/v1/live/books")).json()
        assert books["configured"] is True and books["index"] == 38_211
        assert books["books"] == [
            {"instrument_id": CLX5_IID, "publisher_id": 1, "symbol": "CLX5", "stale": False}
        ]
        url = f"/api/v1/live/book?instrument_id={CLX5_IID}&depth=3&orders=true"
        doc = await (await client.get(url)).json()
    market = mbo_fast.Market()
    market.apply(str(clx5_path))
    book = market.book(CLX5_IID, 1)
    assert doc["index"] == 38_211 and doc["publisher_id"] == 1 and doc["stale"] is False
    assert [(lv["price"], lv["size"], lv["count"]) for lv in doc["bids"]] == book.levels("B", 3)
    assert [(lv["price"], lv["size"], lv["count"]) for lv in doc["asks"]] == book.levels("A", 3)
    for lv in doc["bids"]:
        assert [tuple(o) for o in lv["orders"]] == book.orders("B", lv["price"])
    assert doc["crossed"] == book.crossed and doc["order_count"] == book.order_count
    assert doc["consistent"] == book.consistent


async def test_live_records_survive_a_block_store_outage(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path
) -> None:
    """PostgreSQL stops mid-session: ingest goes on, the blocks cut meanwhile are held and
    stored when the database returns, and the stored session equals the feed, record for record
    (a real server on loopback; skipped where PostgreSQL or psycopg is missing)."""
    import dataclasses

    pytest.importorskip("psycopg")
    from mbo_fast_server import create_app
    from postgres_server import PASSWORD, PostgresServer

    try:
        pg = PostgresServer()  # its own cluster: stopping it disturbs no other test
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    os.environ.setdefault("PGPASSWORD", PASSWORD)
    data = feed.load([str(clx5_path)])
    pub = feed.Feed(data, rate=8_000)  # ~5 s for the file
    try:
        await asyncio.to_thread(pg.start)
        dsn = await asyncio.to_thread(pg.create_database, "live")
        _, port = await pub.start("127.0.0.1", 0)
        config = dataclasses.replace(
            make_config(clx5_path, tmp_path / "db", live=f"tcp://127.0.0.1:{port}", files=()),
            db=dsn,
            live_persist_every_s=0.05,
        )
        client = await aiohttp_client(create_app(config))
        await ready(client.server.app)
        live = _live(client)
        await until(lambda: live.persisted > 0, timeout=20)
        await asyncio.to_thread(pg.stop)
        await until(lambda: live.persist_pending > 0, timeout=10)
        status = await (await client.get("/api/v1/live/status")).json()
        assert status["persist_pending"] > 0 and status["persist_lost"] == 0
        await asyncio.sleep(0.5)
        await asyncio.to_thread(pg.start)
        await until(lambda: live.persisted == len(data), timeout=30)
        assert live.persist_dropped == 0 and live.persist_pending == 0
        sid = live.db_source_id
        await pub.close()
        await client.close()
        from mbo_fast.store import PostgresStore

        with PostgresStore(dsn) as store:
            recording = store.recording(sid)
            assert len(recording) == len(data)
            items, _, _ = recording.page("records", limit=len(data))
        want = mbo_fast.read_records(str(clx5_path))
        assert [r["order_id"] for r in json.loads(items)] == want["order_id"].tolist()
    finally:
        await pub.close()
        await asyncio.to_thread(pg.close)

"""Live over the bus (server/mbo_fast_server/bus.py), against a real NATS JetStream server on
loopback (tests/support/nats_server.py; skipped where nats-server or nats-py is missing): an
ingest publishes the feed, replicas replay it, and every replica's market equals the ingest's
and the file's — a replica started after the feed ended included, across a NATS restart, and
across a replica's own restart. The NATS URL's credentials never reach a log line."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server_helpers import make_config, ready, until

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast import _core, feed  # noqa: E402
from mbo_fast_server import create_app  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402


@pytest.fixture
def nats() -> Iterator[Any]:
    pytest.importorskip("nats", reason="nats-py not installed (requirements-dev.txt)")
    from nats_server import NatsServer

    try:
        server = NatsServer()
    except FileNotFoundError as exc:
        pytest.skip(f"{exc}: scripts/setup-test-tools.sh installs it")
    server.start()
    try:
        yield server
    finally:
        server.close()


async def _server(aiohttp_client: Any, clx5: Path, db: Path, **over: Any) -> Any:
    app = create_app(make_config(clx5, db, live_persist_every_s=0.05, **over))
    client = await aiohttp_client(app)
    await ready(app)
    return client


def _market(client: Any) -> Any:
    return client.server.app[STATE].live.market


def _file_market(clx5: Path) -> Any:
    market = _core.LiveMarket(0)
    market.feed(clx5.read_bytes())
    return market


async def test_replicas_replay_the_ingest_exactly(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    data = feed.load([str(clx5_path)])
    pub = feed.Feed(data, rate=20_000)  # ~2 s: the first replica follows it live
    _, port = await pub.start("127.0.0.1", 0)
    bus = f"{nats.url}/clx"
    try:
        ingest = await _server(
            aiohttp_client,
            clx5_path,
            tmp_path / "i.db",
            live=f"tcp://127.0.0.1:{port}",
            live_publish=bus,
        )
        first = await _server(aiohttp_client, clx5_path, tmp_path / "r1.db", live=bus)
        last = len(data) - 1
        await until(
            lambda: _market(ingest).index == last and _market(first).index == last, timeout=20
        )
        # a replica started after the feed ended replays the whole stream
        late = await _server(aiohttp_client, clx5_path, tmp_path / "r2.db", live=bus)
        await until(lambda: _market(late).index == last, timeout=20)
        want = _file_market(clx5_path).to_json()
        for client in (ingest, first, late):
            assert _market(client).to_json() == want
        status = await (await ingest.get("/api/v1/live/status")).json()
        assert status["bus"]["lost_bytes"] == 0 and status["bus"]["pending_bytes"] == 0
        assert status["bus"]["published_bytes"] > 0
        replica = await (await late.get("/api/v1/live/status")).json()
        assert replica["connection"] == "connected" and replica["index"] == last
        assert replica["persisted"] == 0, "replicas leave storing to the ingest"
    finally:
        await pub.close()


async def test_a_nats_restart_loses_nothing(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    data = feed.load([str(clx5_path)])
    pub = feed.Feed(data, rate=8_000)  # ~5 s
    _, port = await pub.start("127.0.0.1", 0)
    bus = f"{nats.url}/clx"
    try:
        ingest = await _server(
            aiohttp_client,
            clx5_path,
            tmp_path / "i.db",
            live=f"tcp://127.0.0.1:{port}",
            live_publish=bus,
        )
        replica = await _server(aiohttp_client, clx5_path, tmp_path / "r.db", live=bus)
        await until(lambda: _market(replica).index > 1000, timeout=20)
        await asyncio.to_thread(nats.stop)
        await asyncio.sleep(1.0)  # the ingest goes on applying; its bytes wait
        assert _market(ingest).index > _market(replica).index
        await asyncio.to_thread(nats.start)
        last = len(data) - 1
        await until(lambda: _market(replica).index == last, timeout=40)
        assert _market(replica).to_json() == _file_market(clx5_path).to_json()
        publisher = ingest.server.app[STATE].live.publisher
        assert publisher.lost == 0 and publisher.pending == 0
    finally:
        await pub.close()


async def test_a_replica_restart_resumes_after_its_last_message(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    """The subscriber resumes after the last message it applied (a failed subscription or a
    lost consumer), applying nothing twice."""
    from mbo_fast_server.bus import BusPublisher, BusSubscriber

    raw = clx5_path.read_bytes()
    publisher = BusPublisher(nats.url, "direct", 16, 64)
    publisher.start()
    half = len(raw) // 2
    publisher.offer(1, raw[:half])
    await until(lambda: publisher.pending == 0, timeout=20)
    market = _core.LiveMarket(0)
    subscriber = BusSubscriber(f"{nats.url}/direct", market.feed, market.reconnect, lambda s: None)
    import threading

    stop = threading.Event()
    runner = asyncio.create_task(asyncio.to_thread(subscriber.run, stop))
    await until(lambda: subscriber.last_seq > 0 and market.stats()["bytes"] == half, timeout=20)
    stop.set()
    await runner
    publisher.offer(1, raw[half:])
    await until(lambda: publisher.pending == 0, timeout=20)
    stop.clear()
    runner = asyncio.create_task(asyncio.to_thread(subscriber.run, stop))
    await until(lambda: market.stats()["bytes"] == len(raw), timeout=20)
    stop.set()
    await runner
    publisher.close()
    assert market.to_json() == _file_market(clx5_path).to_json()
    assert market.stats()["records"] == 38_212


async def test_credentials_in_a_nats_url_never_reach_a_log(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mbo_fast_server.bus import safe_url

    caplog.set_level(logging.DEBUG)
    url = "nats://ingest:s3cret-pass@127.0.0.1:1/clx"
    assert safe_url(url) == "nats://127.0.0.1:1/clx"
    client = await _server(aiohttp_client, clx5_path, tmp_path / "r.db", live=url)
    await asyncio.sleep(0.5)  # it fails to connect, and says so
    status = await (await client.get("/api/v1/live/status")).json()
    assert status["connection"] in ("backoff", "connecting")
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert "127.0.0.1:1" in logged and "s3cret-pass" not in logged
    assert "s3cret-pass" not in str(status)


async def test_sse_clients_on_different_replicas_see_the_same_trades_and_ids(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    """Event ids are record indexes, the same on every replica: a client moving to another
    replica with Last-Event-ID finds the same numbering; trades arrive with the same ids and
    bodies wherever a client is."""
    import json

    from server_helpers import CLX5_IID, read_events

    data = feed.load([str(clx5_path)])
    last = len(data) - 1
    bus = f"{nats.url}/clx"
    replicas = [
        await _server(
            aiohttp_client, clx5_path, tmp_path / f"r{i}.db", live=bus, status_every_s=0.2
        )
        for i in range(2)
    ]
    streams = [await r.get(f"/api/v1/live?instrument_id={CLX5_IID}&depth=5") for r in replicas]
    pub = feed.Feed(data, rate=20_000)
    _, port = await pub.start("127.0.0.1", 0)
    try:
        await _server(
            aiohttp_client,
            clx5_path,
            tmp_path / "i.db",
            live=f"tcp://127.0.0.1:{port}",
            live_publish=bus,
        )

        def done(ev: dict[str, Any]) -> bool:
            return ev.get("event") == "status" and json.loads(ev["data"])["index"] == last

        seen = await asyncio.wait_for(asyncio.gather(*(read_events(s, done) for s in streams)), 60)
    finally:
        await pub.close()
    trades = [[(ev["id"], ev["data"]) for ev in evs if ev.get("event") == "trade"] for evs in seen]
    assert trades[0] and trades[0] == trades[1]
    recs = mbo_fast.read_records(str(clx5_path))
    is_trade = (recs["action"] == ord("T")) & (recs["instrument_id"] == CLX5_IID)
    assert [int(i) for i, _ in trades[0]] == recs["index"][is_trade].tolist()


async def test_a_silent_ingest_is_reported_and_its_return_noticed(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    """The ingest stops: its replicas say so in their status and mark their books stale in the
    SSE status events; a new ingest publishes again and they hear it."""
    import json

    from server_helpers import CLX5_IID

    data = feed.load([str(clx5_path)])
    pub = feed.Feed(data, rate=50_000, loop=True)
    _, port = await pub.start("127.0.0.1", 0)
    bus = f"{nats.url}/clx"
    ingest_app = {"live": f"tcp://127.0.0.1:{port}", "live_publish": bus}
    try:
        ingest = await _server(aiohttp_client, clx5_path, tmp_path / "i.db", **ingest_app)
        replica = await _server(
            aiohttp_client, clx5_path, tmp_path / "r.db", live=bus, status_every_s=0.2
        )

        async def status() -> Any:
            return await (await replica.get("/api/v1/live/status")).json()

        await until(lambda: _market(replica).index > 1000, timeout=20)
        assert (await status())["ingest"] == "alive"
        await ingest.close()  # the ingest is gone
        t0 = time.monotonic()
        while (await status())["ingest"] != "silent":
            assert time.monotonic() - t0 < 15, "the silence was not noticed"
            await asyncio.sleep(0.2)
        resp = await replica.get(f"/api/v1/live?instrument_id={CLX5_IID}&depth=1")
        line = b""
        while b'"stale"' not in line:
            line = await asyncio.wait_for(resp.content.readline(), 10)
        assert json.loads(line.decode().removeprefix("data: "))["stale"] is True
        resp.close()
        before = _market(replica).index
        await _server(aiohttp_client, clx5_path, tmp_path / "i2.db", **ingest_app)
        t0 = time.monotonic()
        while (await status())["ingest"] != "alive" or _market(replica).index <= before:
            assert time.monotonic() - t0 < 20, "the new ingest was not heard"
            await asyncio.sleep(0.2)
        assert (await status())["reconnects"] >= 1  # a new feed connection: books stale until R
    finally:
        await pub.close()


async def test_the_ingest_command_publishes_and_stores_only_the_feed(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    """`mbo-fast ingest --live … --nats …` as a process: a replica equals the file, and the
    ingest's store holds the live session alone (no default data of its own)."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    data = feed.load([str(clx5_path)])
    pub = feed.Feed(data, rate=50_000)
    _, feed_port = await pub.start("127.0.0.1", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = f"{nats.url}/cmd"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBO_")}
    env["MBO_LIVE_PERSIST_EVERY_S"] = "0.05"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbo_fast", "ingest", "--live", f"tcp://127.0.0.1:{feed_port}",
         "--nats", bus, "--port", str(port), "--data-dir", str(tmp_path / "ingest")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        replica = await _server(aiohttp_client, clx5_path, tmp_path / "r.db", live=bus)
        last = len(data) - 1
        await until(lambda: _market(replica).index == last, timeout=60)
        assert _market(replica).to_json() == _file_market(clx5_path).to_json()

        def sources() -> Any:
            url = f"http://127.0.0.1:{port}/api/v1/sources"
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())["sources"]

        t0 = time.monotonic()
        while not (found := await asyncio.to_thread(sources)) or found[0]["records"] < len(data):
            assert time.monotonic() - t0 < 30, found
            await asyncio.sleep(0.2)
        assert [(s["kind"], s["records"]) for s in found] == [("live", len(data))]
    finally:
        proc.terminate()
        proc.wait(15)
        await pub.close()


async def test_a_client_of_a_stopped_replica_resumes_on_another_without_gap_or_duplicate(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path, nats: Any
) -> None:
    """A replica goes away mid-feed; its client reconnects to another replica with
    Last-Event-ID: it gets a snapshot at or after the last id it saw (the state, so no gap;
    record indexes are the same on every replica) and then only events after that snapshot."""
    import json

    from server_helpers import CLX5_IID, read_events

    data = feed.load([str(clx5_path)])
    bus = f"{nats.url}/clx"
    first, second = [
        await _server(aiohttp_client, clx5_path, tmp_path / f"r{i}.db", live=bus) for i in (1, 2)
    ]
    pub = feed.Feed(data, rate=8_000)  # ~5 s
    _, port = await pub.start("127.0.0.1", 0)
    try:
        await _server(
            aiohttp_client,
            clx5_path,
            tmp_path / "i.db",
            live=f"tcp://127.0.0.1:{port}",
            live_publish=bus,
        )
        url = f"/api/v1/live?instrument_id={CLX5_IID}&depth=5"
        resp = await first.get(url)
        seen = await asyncio.wait_for(
            read_events(resp, lambda ev: ev.get("event") == "trade" and int(ev["id"]) > 5000), 30
        )
        last_id = int(seen[-1]["id"])
        await first.close()  # the replica is gone
        resp = await second.get(url, headers={"Last-Event-ID": str(last_id)})
        events = await asyncio.wait_for(
            read_events(resp, lambda ev: ev.get("event") == "trade", limit=200), 30
        )
    finally:
        await pub.close()
    snapshot = events[0]
    assert snapshot["event"] == "snapshot" and int(snapshot["id"]) >= last_id
    trades = [int(ev["id"]) for ev in events[1:] if ev.get("event") == "trade"]
    assert trades and all(i > int(snapshot["id"]) for i in trades), (snapshot["id"], trades[:5])
    assert json.loads(snapshot["data"])["bids"], "the snapshot is the book itself"

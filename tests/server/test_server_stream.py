"""Server: SSE playback (resume, slow clients, shutdown) over stored blocks, and SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from player_model import PlayerModel
from server_helpers import (  # noqa: F401
    CLX5_IID,
    make_client,
    make_config,
    read_events,
    ready,
    stored_source,
)

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast_server import create_app  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402
from mbo_fast_server.stream import make_player  # noqa: E402

STREAM = f"/api/v1/stream?instrument_id={CLX5_IID}&depth=5"


def _trade_indexes(clx5: Path) -> list[int]:
    rec = mbo_fast.read_records(str(clx5))
    return rec["index"][rec["action"] == ord("T")].tolist()


async def test_resume_by_last_event_id_no_gap_no_duplicate(
    make_client: Any, clx5_path: Path
) -> None:
    client = await make_client(max_records_per_frame=700)
    resp = await client.get(STREAM + "&speed=max")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    first = await read_events(resp, lambda e: False, limit=400)
    resp.close()
    assert first[0]["event"] == "snapshot" and first[0]["id"] == "0"
    # cut mid-event on purpose: the last event seen is a trade, whose event has more records
    cut = max(k for k, e in enumerate(first) if e["event"] == "trade")
    first = first[: cut + 1]
    last_id = first[-1]["id"]
    resp = await client.get(STREAM + "&speed=max", headers={"Last-Event-ID": last_id})
    second = await read_events(resp, lambda e: e["event"] == "end")
    resp.close()
    assert second[-1]["event"] == "end"
    events = first + second
    trades = [int(e["id"]) for e in events if e["event"] == "trade"]
    assert trades == _trade_indexes(clx5_path)  # every trade once, in order: no gap, no dup
    for e in events:  # frames carry their record index as the SSE id
        doc = json.loads(e["data"])
        if e["event"] in ("trade", "book", "snapshot"):
            assert doc["index"] == int(e["id"])
    books = [int(e["id"]) for e in events if e["event"] in ("book",)]
    assert books == sorted(set(books))
    snap = [e for e in second if e["event"] == "snapshot"]
    assert len(snap) == 1 and int(snap[0]["id"]) >= int(last_id)


async def test_stream_from_time_and_paced(make_client: Any, clx5_path: Path) -> None:
    client = await make_client()
    bbo = mbo_fast.read_bbo(str(clx5_path))
    ts = int(bbo.ts_recv[30_000])
    t0 = time.monotonic()
    resp = await client.get(STREAM + f"&from={ts}&speed=2000")
    events = await read_events(resp, lambda e: e["event"] == "end")
    resp.close()
    elapsed = time.monotonic() - t0
    snap = json.loads(events[0]["data"])
    assert events[0]["event"] == "snapshot" and snap["ts_recv"] <= ts
    span = (int(bbo.ts_recv[-1]) - snap["ts_recv"]) / 1e9 / 2000
    assert elapsed >= span * 0.8  # paced by ts_recv x speed
    status = [json.loads(e["data"]) for e in events if e["event"] == "status"]
    assert status and status[-1]["done"] and status[-1]["position"] == 38_212


async def test_the_player_over_stored_blocks_matches_the_model(
    clx5_path: Path, tmp_path: Path
) -> None:
    src = stored_source(clx5_path, tmp_path / "db.sqlite3")
    native = make_player(src, CLX5_IID, 1, 5)
    py = PlayerModel(str(clx5_path), CLX5_IID, 1, 5)

    def norm(frames: list[Any]) -> list[Any]:
        return [(e, i, json.loads(d)) for e, i, d in frames]

    for p in (native, py):
        p.seek(index=1234)
    (ni, nd), (pi, pd) = native.snapshot(), py.snapshot()
    assert (ni, json.loads(nd)) == (pi, json.loads(pd))
    for target in (1300, 5000, 5001, 17_777, 38_211):
        assert norm(native.advance(until_index=target)) == norm(py.advance(until_index=target))
        assert (native.index, native.position, native.done) == (py.index, py.position, py.done)


async def _raw_stream(port: int, path: str) -> socket.socket:
    """A client that asks for a stream and then never reads: its window stays tiny."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


async def test_slow_client_does_not_delay_a_fast_one(make_client: Any) -> None:
    client = await make_client(queue_ticks=4, frame_rate=100.0)
    state = client.server.app[STATE]
    url = STREAM.replace("depth=5", "depth=50") + "&speed=5000"
    slow = await _raw_stream(client.server.port, url)
    try:
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        resp = await client.get(url)
        events = await read_events(resp, lambda e: e["event"] == "end")
        fast_time = time.monotonic() - t0
        resp.close()
        assert events[-1]["event"] == "end"
        trades = [e for e in events if e["event"] == "trade"]
        assert len(trades) == 1_599  # the fast client lost nothing
        assert fast_time < 6.0  # ~1.8 s of playback at 5000x
        assert len(state.streams) >= 1  # the slow one is still connected
    finally:
        slow.close()


async def test_overflow_drops_backlog_and_resyncs(clx5_path: Path, tmp_path: Path) -> None:
    """A client whose writer does not drain: its backlog is replaced by a fresh snapshot."""
    from mbo_fast_server.state import AppState
    from mbo_fast_server.stream import StreamSession

    app = create_app(make_config(clx5_path, tmp_path / "db.sqlite3", frame_rate=200.0))
    state: AppState = app[STATE]
    src = stored_source(clx5_path, tmp_path / "store.sqlite3")
    player = make_player(src, CLX5_IID, 1, 5)
    player.seek(index=0)
    session = StreamSession(
        app_state=state, player=player, speed=10_000.0, queue_ticks=2, first_ts=src.ts_range[0]
    )  # type: ignore[index]
    task = asyncio.create_task(session.produce())
    await asyncio.sleep(0.5)  # nobody drains the queue
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert session.dropped > 0
    batches = [session.queue.get_nowait() for _ in range(session.queue.qsize())]
    assert any(ev == "snapshot" for batch in batches for ev, _, _ in batch)
    text = state.metrics.render().decode()
    assert "mbo_sse_resyncs_total 0.0" not in text and "mbo_sse_resyncs_total" in text
    state.executor.shutdown()


async def test_shutdown_while_streaming(
    clx5_path: Path, tmp_path: Path, aiohttp_client: Any
) -> None:
    app = create_app(make_config(clx5_path, tmp_path / "db.sqlite3"))
    client = await aiohttp_client(app)
    await ready(app)
    resp = await client.get(STREAM + "&speed=1")
    await read_events(resp, lambda e: e["event"] == "snapshot")
    t0 = time.monotonic()
    closing = asyncio.create_task(client.server.close())
    rest = await read_events(resp, lambda e: e["event"] == "shutdown")
    await closing
    assert rest[-1]["event"] == "shutdown"
    assert time.monotonic() - t0 < 2.0
    assert app[STATE].store is not None and app[STATE].store.closed


def test_cli_serve_sigterm(clx5_path: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("mbo-fast")
    env = dict(os.environ, DBN_KEY="db-SECRETSECRET", MBO_FRAME_RATE="50")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--file",
            str(clx5_path),
            "--port",
            "0",
            "--db",
            str(tmp_path / "cli.sqlite3"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        import urllib.request

        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stream = socket.create_connection(("127.0.0.1", port))
        stream.sendall(f"GET {STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 2.0
        assert proc.returncode == 0
        stream.settimeout(2)
        got = b""
        while b"event: shutdown" not in got:
            chunk = stream.recv(65536)
            if not chunk:
                break
            got += chunk
        assert b"event: shutdown" in got
        stream.close()
        err = proc.stderr.read() if proc.stderr else ""
        assert "SECRETSECRET" not in err
        logs = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
        assert any(r["msg"] == "exited" for r in logs)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

"""Server limits under hostile or careless clients, against real `mbo-fast serve` processes:
exports streamed in bounded memory and capped, stuck readers dropped, `max_streams` under a burst,
header/idle/body timeouts, connection flooding under an open-file limit, shutdown under load.

Settings go through MBO_* variables, so each test also runs (and fails) against a server that
lacks the limit it checks."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, ServeProcess, make_client, serve_process  # noqa: F401

mbo_fast = pytest.importorskip("mbo_fast")

EXPORT = f"/api/v1/export?instrument_id={CLX5_IID}&depth=100"
STREAM = f"/api/v1/stream?instrument_id={CLX5_IID}&depth=100"


def _stuck_request(port: int, path: str) -> socket.socket:
    """A client that sends a request and never reads: its receive window stays tiny."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def _status_line(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """The response's status line (reads a few bytes only)."""
    sock.settimeout(timeout)
    got = b""
    while b"\r\n" not in got:
        chunk = sock.recv(64)
        if not chunk:
            break
        got += chunk
    return got.split(b"\r\n")[0]


def _closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closed the connection within `timeout` (reads and drops whatever
    it sent first)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError:  # socket.timeout
        return False
    return False


def _until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# exports (issue 22, item 2)


async def test_streamed_export_equals_the_core_export_byte_for_byte(
    make_client: Any, clx5_path: Path
) -> None:
    client = await make_client(export_chunk_bytes=4096)  # thousands of chunks
    resp = await client.get(EXPORT.replace("depth=100", "depth=10"))
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/x-ndjson"
    body = await resp.read()
    whole = mbo_fast.export_depth(str(clx5_path), 10, instrument_id=CLX5_IID, publisher_id=1)
    assert body == whole
    resp = await client.get("/api/v1/export?depth=3")  # every book of the source
    assert await resp.read() == mbo_fast.export_depth(str(clx5_path), 3)


def test_exports_that_are_never_read_hold_bounded_memory_and_are_capped(
    serve_process: Any,
) -> None:
    """12 clients ask for CLX5 at depth 100 (69 MB each) and never read: the first 4 are
    streamed a chunk at a time, the rest get 503 with Retry-After; memory stays bounded."""
    srv: ServeProcess = serve_process(
        {"MBO_MAX_EXPORTS": "4", "MBO_SEND_TIMEOUT_S": "60", "MBO_LOG_LEVEL": "warning"}
    )
    srv.get(EXPORT.replace("depth=100", "depth=1"))  # warm: the first export's one-off costs
    base = srv.rss_anon()
    socks = [_stuck_request(srv.port, EXPORT) for _ in range(12)]
    try:
        time.sleep(4.0)  # a whole export takes ~1 s; long enough to build them all at once
        grown = srv.rss_anon() - base
        assert grown < 64 << 20, f"server memory grew by {grown / 2**20:.0f} MiB"
        statuses = sorted(_status_line(s) for s in socks)
        assert statuses.count(b"HTTP/1.1 200 OK") == 4, statuses
        assert statuses.count(b"HTTP/1.1 503 Service Unavailable") == 8, statuses
        assert srv.metric("mbo_exports") == 4
    finally:
        for s in socks:
            s.close()


def test_a_busy_export_answer_says_when_to_retry(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_MAX_EXPORTS": "1", "MBO_SEND_TIMEOUT_S": "60"})
    stuck = _stuck_request(srv.port, EXPORT)
    try:
        assert _status_line(stuck) == b"HTTP/1.1 200 OK"
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{srv.port}{EXPORT}", timeout=10)
        assert info.value.code == 503
        assert info.value.headers["Retry-After"] == "1"
        body = json.loads(info.value.read())
        assert "too many exports" in body["error"]
    finally:
        stuck.close()


def test_an_export_client_that_stops_reading_is_dropped(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_MAX_EXPORTS": "1", "MBO_SEND_TIMEOUT_S": "1"})
    stuck = _stuck_request(srv.port, EXPORT)
    try:
        assert _status_line(stuck) == b"HTTP/1.1 200 OK"
        _until(lambda: srv.metric('mbo_clients_dropped_total{kind="export"}') == 1, 8, "drop")
        assert srv.metric("mbo_exports") == 0  # its slot is free again
        assert srv.get(EXPORT.replace("depth=100", "depth=1"))[0] == 200
        assert _closed(stuck, 5)
        drops = [r for r in srv.log_lines() if "export client dropped" in r["msg"]]
        assert len(drops) == 1 and "exc" not in drops[0]
    finally:
        stuck.close()


# --------------------------------------------------------------------------------------------
# playback: readers that never read (item 3), max_streams under a burst (item 4)


def test_playback_readers_that_never_read_are_dropped_and_free_their_slots(
    serve_process: Any,
) -> None:
    srv: ServeProcess = serve_process(
        {
            "MBO_MAX_STREAMS": "20",
            "MBO_SEND_TIMEOUT_S": "1",
            "MBO_HEARTBEAT_S": "0.5",
            "MBO_LOG_LEVEL": "warning",
        }
    )
    # the whole file at speed=max: far more than a 4 KiB window takes
    socks = [_stuck_request(srv.port, STREAM + "&speed=max") for _ in range(20)]
    try:
        _until(lambda: srv.metric("mbo_sse_clients") == 20, 10, "20 streams")
        assert srv.get(STREAM)[0] == 503  # every slot is held
        # each fills its socket within a moment, then takes nothing for 1 s
        _until(lambda: srv.metric("mbo_sse_clients") == 0, 10, "the stuck readers dropped")
        assert srv.metric('mbo_clients_dropped_total{kind="playback"}') == 20
        assert all(_closed(s, 5) for s in socks)
        fresh = _stuck_request(srv.port, STREAM)  # a new client gets in
        assert _status_line(fresh) == b"HTTP/1.1 200 OK"
        fresh.close()
        logs = srv.log_lines()
        assert not [r for r in logs if r["level"] == "error"], logs
        drops = [r for r in logs if "playback client dropped" in r["msg"]]
        assert 1 <= len(drops) <= 20  # one line each at most, never a traceback
    finally:
        for s in socks:
            s.close()


async def _statuses_of_burst(port: int, path: str, n: int) -> list[bytes]:
    """`n` connections opened at once, each sending the request as soon as it is connected;
    the status line each gets (connections stay open until every answer is in)."""
    opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(n)))
    for _, writer in opened:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    lines = await asyncio.gather(*(asyncio.wait_for(reader.readline(), 20) for reader, _ in opened))
    for _, writer in opened:
        writer.close()
    return [line.strip() for line in lines]


async def test_max_exports_holds_under_a_burst(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_MAX_EXPORTS": "4", "MBO_LOG_LEVEL": "warning"})
    statuses = await _statuses_of_burst(srv.port, EXPORT, 100)  # 69 MB each: none ends
    assert statuses.count(b"HTTP/1.1 200 OK") == 4, sorted(set(statuses))
    assert statuses.count(b"HTTP/1.1 503 Service Unavailable") == 96


async def test_max_streams_holds_under_a_burst(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_MAX_STREAMS": "10", "MBO_LOG_LEVEL": "warning"})
    statuses = await _statuses_of_burst(srv.port, STREAM + "&speed=1", 300)
    assert statuses.count(b"HTTP/1.1 200 OK") == 10, sorted(set(statuses))
    assert statuses.count(b"HTTP/1.1 503 Service Unavailable") == 290


# --------------------------------------------------------------------------------------------
# connections: header, idle and body time, total connections, accept errors (item 5)


def test_partial_headers_and_idle_connections_are_closed(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_IDLE_TIMEOUT_S": "1"})
    partial, idle, kept = [], [], []
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the headers never end
        partial.append(s)
        idle.append(socket.create_connection(("127.0.0.1", srv.port)))  # sends nothing
        k = socket.create_connection(("127.0.0.1", srv.port))
        k.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # then idles, kept alive
        kept.append(k)
    try:
        t0 = time.monotonic()
        assert all(_closed(s, 4) for s in partial + idle + kept)
        assert time.monotonic() - t0 < 4
    finally:
        for s in partial + idle + kept:
            s.close()


def test_a_withheld_body_gets_408_and_the_connection_is_closed(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_BODY_TIMEOUT_S": "1"})
    socks = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(
            b"POST /api/v1/sim/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        socks.append(s)
    try:
        t0 = time.monotonic()
        for s in socks:
            assert _status_line(s, 5) == b"HTTP/1.1 408 Request Timeout"
            assert _closed(s, 5)
        assert time.monotonic() - t0 < 5  # 1 s for the body, then at most 2 s of lingering
        assert srv.metric('mbo_connections_closed_total{reason="body_timeout"}') == 20
    finally:
        for s in socks:
            s.close()


def test_max_connections_busy_answers_503_and_idle_ones_make_room(serve_process: Any) -> None:
    srv: ServeProcess = serve_process({"MBO_MAX_CONNECTIONS": "8"})
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
    busy = [_stuck_request(srv.port, STREAM + "&speed=1") for _ in range(8)]  # evict the idle
    try:
        assert [_status_line(s) for s in busy] == [b"HTTP/1.1 200 OK"] * 8
        assert all(_closed(s, 2) for s in idle)
        status, body = srv.get("/healthz")  # every connection is in a request
        assert status == 503 and b"too many connections" in body
        busy.pop().close()
        _until(lambda: srv.get("/healthz")[0] == 200, 5, "a free connection")
        assert srv.metric('mbo_connections_closed_total{reason="evicted"}') == 4
        assert srv.metric('mbo_connections_closed_total{reason="refused"}') >= 1
    finally:
        for s in idle + busy:
            s.close()


def _raise_own_nofile(want: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"needs {want} open files, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def test_a_connection_flood_under_an_open_file_limit_does_not_lock_out_healthz(
    serve_process: Any,
) -> None:
    """The issue's run: 1,100 connections holding partial headers against a server limited to
    1,024 open files made /healthz time out and asyncio log 72 MB in 20 s."""
    _raise_own_nofile(1_400)
    srv: ServeProcess = serve_process({}, nofile=1024)
    socks = []
    try:
        for _ in range(1_100):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        t0 = time.monotonic()
        assert srv.get("/healthz", timeout=5)[0] == 200
        assert time.monotonic() - t0 < 3
        assert srv.metric("mbo_connections") <= 1_024
        assert srv.metric('mbo_connections_closed_total{reason="evicted"}') > 0
        time.sleep(1.0)
        assert srv.log_path.stat().st_size < 64 << 10
    finally:
        for s in socks:
            s.close()


async def test_refused_accepts_are_counted_and_logged_once(serve_process: Any) -> None:
    """Out of descriptors, accept() fails: each failure is counted and one line is logged
    (asyncio logged a traceback per failure, thousands a second), and the server answers again
    once descriptors are free."""
    import os
    import resource

    srv: ServeProcess = serve_process()
    assert srv.get("/metrics")[0] == 200  # whatever a first request opens, opened
    used = len(os.listdir(f"/proc/{srv.pid}/fd"))
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (used + 4, used + 4))  # 4 to spare

    async def hold() -> Any:
        _, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return writer

    writers = await asyncio.gather(*(hold() for _ in range(50)), return_exceptions=True)
    await asyncio.sleep(2.5)  # asyncio retries the accept once a second
    for w in writers:
        if not isinstance(w, BaseException):
            w.close()
    await asyncio.sleep(0.5)
    assert await asyncio.to_thread(srv.get, "/healthz") == (200, b'{"status": "ok"}')
    text = srv.log_text()
    assert "Traceback" not in text and len(text) < 16 << 10, text[-2000:]
    lines = [r for r in srv.log_lines() if "accept" in r["msg"]]
    assert len(lines) == 1, lines
    assert srv.metric("mbo_accept_errors_total") > 0


# --------------------------------------------------------------------------------------------
# shutdown under load (item 15): the documented bound is 2 s


async def test_shutdown_under_load_stays_within_the_documented_bound(
    serve_process: Any,
) -> None:
    srv: ServeProcess = serve_process()

    async def reader(path: str, pause: float) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", srv.port)
        w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        try:
            while await r.read(4096):
                await asyncio.sleep(pause)
        except OSError:
            pass
        finally:
            w.close()

    tasks = [asyncio.create_task(reader(STREAM + "&speed=100", 0)) for _ in range(150)]
    stuck = [_stuck_request(srv.port, STREAM + "&speed=max") for _ in range(50)]
    exports = [asyncio.create_task(reader(EXPORT, 0.01)) for _ in range(4)]  # slow readers
    tasks += exports
    try:
        await asyncio.sleep(2.0)
        assert srv.metric("mbo_sse_clients") == 200
        assert not any(t.done() for t in exports)  # 69 MB each at ~400 kB/s: mid-export
        elapsed = await asyncio.to_thread(srv.stop)
        assert srv.proc.returncode == 0
        # the documented bound; typically 0.5-1.2 s here on a busy 2-core VM
        assert elapsed < 2.0, f"shutdown took {elapsed:.2f} s (documented: within 2 s)"
        # the server's own part, from SIGTERM to the end of its cleanup (0.3 s; it was 2.1 s):
        # well inside the bound, whatever the interpreter's exit then takes
        (exited,) = [r for r in srv.log_lines() if r["msg"] == "exited"]
        assert exited["shutdown_seconds"] < 1.0, exited
    finally:
        for s in stuck:
            s.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""The server over a PostgreSQL block store (`--db postgresql://…`), against a real server on
loopback: two servers share one history (the second imports nothing and answers the same), a
database outage answers history with 503 while the rest goes on and recovers with the
database, and the DSN's password is in no log line and no response."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, make_config, ready

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast_server import create_app  # noqa: E402

N = 38_212  # CLX5 records


def config(clx5: Path, tmp_path: Path, dsn: str, **over: Any) -> Any:
    return dataclasses.replace(make_config(clx5, tmp_path / "db", **over), db=dsn)


async def get(client: Any, url: str) -> tuple[int, Any]:
    resp = await client.get(url)
    return resp.status, await resp.json()


async def test_two_servers_share_one_postgres_history(
    aiohttp_client: Any,
    clx5_path: Path,
    pg_dsn: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from postgres_server import PASSWORD

    caplog.set_level(logging.DEBUG)
    dsn = pg_dsn.replace("mbo@", f"mbo:{PASSWORD}@")  # even a password in the DSN stays hidden
    book = f"/api/v1/book?instrument_id={CLX5_IID}&index=20000"
    app = create_app(config(clx5_path, tmp_path, dsn))
    first = await aiohttp_client(app)
    await ready(app)
    status, body = await get(first, "/api/v1/sources")
    (src,) = body["sources"]
    assert status == 200 and (src["name"], src["records"]) == ("CLX5_mbo.dbn", N)
    status, one = await get(first, book)
    assert status == 200
    # a second server (another replica) over the same database, without the file
    app2 = create_app(config(clx5_path, tmp_path, pg_dsn, files=()))
    second = await aiohttp_client(app2)
    await ready(app2)
    assert (await get(second, "/api/v1/sources"))[1]["sources"] == [src]
    assert await get(second, book) == (200, one)
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert PASSWORD not in logged and "127.0.0.1" in logged
    await first.close()
    await second.close()


async def test_a_postgres_outage_is_a_503_and_history_returns(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path
) -> None:
    pytest.importorskip("psycopg")
    from postgres_server import PASSWORD, PostgresServer

    try:
        server = PostgresServer()  # its own cluster: stopping it disturbs no other test
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    os.environ.setdefault("PGPASSWORD", PASSWORD)
    try:
        server.start()
        dsn = server.create_database("served")
        app = create_app(config(clx5_path, tmp_path, dsn))
        client = await aiohttp_client(app)
        await ready(app)
        records = "/api/v1/records?after=37000&limit=50"  # blocks not read yet
        server.stop()
        status, body = await get(client, records)
        assert status == 503 and "block store is unavailable" in body["error"], body
        assert PASSWORD not in body["error"]
        assert (await get(client, "/healthz")) == (200, {"status": "ok"})
        server.start()
        status, body = await get(client, records)
        assert status == 200 and body["items"][0]["index"] == 37001, body
        await client.close()
    finally:
        server.close()

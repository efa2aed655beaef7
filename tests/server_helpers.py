"""Server test helpers and fixtures (imported by tests/test_server_*.py): an app over
CLX5_mbo.dbn with its own database, ready (data loaded, storage written)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from conftest import require_core

require_core()

from mbo_fast_server import Config, create_app  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402

CLX5_IID = 432669
MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_config(clx5: Path, db: Path, **over: Any) -> Config:
    fields: dict[str, Any] = {
        "files": (str(clx5),),
        "db": str(db),
        "data_dir": str(db.parent),
        "port": 0,
        "frame_rate": 100.0,
        "heartbeat_s": 5.0,
    }
    fields.update(over)
    return Config(**fields)


async def ready(app: web.Application) -> None:
    state = app[STATE]
    await asyncio.wait_for(state.loaded.wait(), 30)
    assert state.load_error is None, state.load_error


@pytest.fixture
def make_client(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    async def make(db: Path | None = None, **over: Any) -> TestClient[Any, Any]:
        app = create_app(make_config(clx5_path, db or tmp_path / "db.sqlite3", **over))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        await ready(app)
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()


async def read_events(
    resp: Any, stop: Callable[[dict[str, Any]], bool], limit: int = 10**6
) -> list[dict[str, Any]]:
    """Parse SSE events from a streaming response until `stop(event)` is true or EOF."""
    events: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    while len(events) < limit:
        line = await resp.content.readline()
        if not line:
            break
        text = line.decode().rstrip("\r\n")
        if text == "":
            if "event" in cur or "data" in cur:
                events.append(cur)
                if stop(cur):
                    break
            cur = {}
            continue
        if text.startswith(":"):
            continue
        key, _, value = text.partition(": ")
        if key == "data":
            cur["data"] = cur.get("data", "") + value
        else:
            cur[key] = value
    return events

"""Server test helpers and fixtures (imported by tests/test_server_*.py): an app over
CLX5_mbo.dbn with its own database, ready (the file imported into its block store)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core import require_core

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


def stored_source(path: Path, db: Path) -> Any:
    """`path` imported into a block store at `db`, as the server serves it (a data.Source)."""
    from mbo_fast.store import SqliteStore
    from mbo_fast_server.data import source_of

    store = SqliteStore(str(db))
    imported = store.import_file(str(path))
    stored = store.source(imported.source_id)
    return source_of(store, stored)


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


async def until(cond: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait (polling every 20 ms) until `cond()` is true; fail after `timeout` s."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        await asyncio.sleep(0.02)


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


class ServeProcess:
    """`mbo-fast serve` in a subprocess over CLX5 with its own database: settings as MBO_*
    variables (`env`), an optional open-file limit; stderr (the JSON log) goes to a file."""

    def __init__(
        self,
        clx5: Path,
        tmp: Path,
        env: dict[str, str] | None = None,
        nofile: int | None = None,
    ) -> None:
        import os
        import subprocess
        import sys

        exe = Path(sys.executable).with_name("mbo-fast")
        self.log_path = tmp / "serve.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed by stop)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MBO_")}
        full_env.update(env or {})

        def limit() -> None:
            if nofile is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [str(exe), "serve", "--file", str(clx5), "--port", "0", "--db", str(tmp / "s.db")],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=full_env,
            text=True,
            preexec_fn=limit,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line + self.log_text()
        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])
        self.pid = self.proc.pid

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=timeout
            ) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def wait_ready(self, timeout: float = 30.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.get("/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "not ready: " + self.log_text()
            time.sleep(0.05)

    def metric(self, name: str) -> float:
        """The value of one sample of /metrics (0 when absent), e.g. 'mbo_exports'."""
        text = self.get("/metrics")[1].decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def rss_anon(self) -> int:
        """Anonymous resident memory of the server (bytes): what it allocated, not file pages."""
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no RssAnon")

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(ln) for ln in self.log_text().splitlines() if ln.startswith("{")]

    def stop(self) -> float:
        """SIGTERM; returns the seconds until the process exited."""
        import signal
        import time

        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        elapsed = time.monotonic() - t0
        self._log.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return elapsed


@pytest.fixture
def serve_process(clx5_path: Path, tmp_path: Path) -> Any:
    """Start servers with `serve_process(env={...}, nofile=N)`; all are stopped at the end."""
    started: list[ServeProcess] = []

    def start(env: dict[str, str] | None = None, nofile: int | None = None) -> ServeProcess:
        sub = tmp_path / f"serve{len(started)}"
        sub.mkdir()
        proc = ServeProcess(clx5_path, sub, env, nofile)
        started.append(proc)
        proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop()

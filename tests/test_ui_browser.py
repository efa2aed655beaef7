"""The web UI in a real browser: Debian's chromium driven by Playwright (never `playwright
install`), against the real server (in-process, on a free loopback port) over CLX5_mbo.dbn.

Skips cleanly when playwright or /usr/bin/chromium is missing; CI installs both (scripts/setup.sh).
Screenshots go to artifacts/ (gitignored). The page's CSP forbids eval, so waits poll
page.evaluate() instead of page.wait_for_function().
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, make_config, ready

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = os.environ.get("MBO_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)", allow_module_level=True)

from aiohttp import web  # noqa: E402

from mbo_fast_server import create_app  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SEEK_INDEX = 20_000


class ServerThread:
    """The aiohttp app on its own event loop in a thread (the test drives it with call())."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.port = 0

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.app = create_app(self.config)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        await ready(self.app)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start(), timeout=60)

    def stop(self) -> None:
        if self.runner is not None:
            self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def drop_streams(self) -> int:
        """Close every SSE stream server-side (as a restart does): clients must reconnect."""
        assert self.app is not None
        sessions = list(self.app[STATE].streams)
        for s in sessions:
            await s.close()
        return len(sessions)


@pytest.fixture(scope="module")
def server(clx5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    db = tmp_path_factory.mktemp("ui") / "db.sqlite3"
    cfg = make_config(clx5_path, db, frame_rate=20.0, status_every_s=0.25)
    srv = ServerThread(cfg)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page(server: ServerThread) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        pg = browser.new_page(viewport={"width": 1440, "height": 860})
        pg.set_default_timeout(8000)
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        pg.errors = errors
        pg.base = f"http://127.0.0.1:{server.port}"
        pg.goto(pg.base + "/")
        wait_js(pg, "!!(window.__mbo && window.__mbo.store.get().frame)", 15)
        yield pg
        browser.close()


def wait_js(pg: Any, expr: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pg.evaluate(expr)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expr}")
        time.sleep(0.05)


def api(pg: Any, path: str) -> Any:
    with urllib.request.urlopen(pg.base + path, timeout=10) as resp:
        return json.loads(resp.read())


def state(pg: Any, key: str) -> Any:
    return pg.evaluate(f"window.__mbo.store.get()[{json.dumps(key)}]")


def clock(pg: Any) -> int:
    return int(state(pg, "clock"))


def shot(pg: Any, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))


def ladder_best(pg: Any, side: str) -> tuple[int, str]:
    row = pg.locator(f'#ladder .lrow[data-side="{side}"][data-level="0"]')
    size = row.locator(".bsz em" if side == "B" else ".asz em").inner_text()
    return int(row.get_attribute("data-price") or 0), size


def seek_index(pg: Any, index: int) -> None:
    if state(pg, "playing"):
        pg.click("#play")
        wait_js(pg, "!window.__mbo.store.get().playing")
    pg.fill("#jump", f"#{index}")
    pg.press("#jump", "Enter")
    wait_js(pg, f"window.__mbo.store.get().index === {index}")
    pg.wait_for_timeout(100)  # one animation frame for the views


def test_page_loads_without_console_errors(page: Any) -> None:
    assert page.title().startswith("mbo-fast")
    assert page.locator("#ladder .lrow").count() == 1 + 14 + 1 + 14
    assert page.locator("#heatmap canvas").count() == 2
    assert page.locator("#depth canvas").count() == 1
    live = page.locator("#live")
    assert live.is_disabled()  # no live endpoint yet: disabled, with a tooltip
    assert "live" in (page.locator("label.live").get_attribute("title") or "")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    shot(page, "help")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    shot(page, "initial")
    assert page.errors == []


def test_seek_matches_api_book(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    doc = api(page, f"/api/v1/book?instrument_id={CLX5_IID}&index={SEEK_INDEX}&depth=5")
    bid, ask = doc["bids"][0], doc["asks"][0]
    assert ladder_best(page, "B") == (bid["price"], str(bid["size"]))
    assert ladder_best(page, "A") == (ask["price"], str(ask["size"]))
    text = page.locator("#ladder").inner_text()
    assert f"{bid['price'] / 1e9:.2f}" in text  # formatted from the 0.01 tick
    assert state(page, "tick") == 10_000_000
    assert page.locator("#index").inner_text() == f"#{SEEK_INDEX:,}"
    shot(page, "seek")


def test_step_forward_and_back(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    page.keyboard.press("ArrowRight")
    wait_js(page, f"window.__mbo.store.get().index > {SEEK_INDEX}")
    nxt = state(page, "index")
    items = api(page, f"/api/v1/bbo?instrument_id={CLX5_IID}&after={SEEK_INDEX}&limit=1")["items"]
    assert nxt == items[0]["index"]
    page.keyboard.press("ArrowLeft")
    wait_js(page, f"window.__mbo.store.get().index < {nxt}")
    assert state(page, "index") <= SEEK_INDEX


def _advance(pg: Any, seconds: float) -> int:
    c0 = clock(pg)
    pg.wait_for_timeout(int(seconds * 1000))
    return clock(pg) - c0


def test_play_pause_and_speed(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    page.select_option("#speed", "5")
    page.click("#play")
    wait_js(page, "window.__mbo.store.get().conn === 'open'")
    page.wait_for_timeout(300)
    slow = _advance(page, 1.5)
    assert slow > 0, "play advances the clock"
    page.select_option("#speed", "250")
    wait_js(page, "window.__mbo.store.get().conn === 'open'")
    page.wait_for_timeout(300)
    fast = _advance(page, 1.5)
    shot(page, "playing")
    assert fast > 5 * slow, (slow, fast)  # 50x the speed: far more data time per second
    assert 7.5e9 * 0.3 < slow < 7.5e9 * 2.5  # ~1.5 s x 5 of data time
    assert page.locator("#play").inner_text().strip().endswith("Pause")
    page.click("#play")
    wait_js(page, "window.__mbo.store.get().conn === 'paused'")
    page.wait_for_timeout(200)
    assert _advance(page, 0.8) == 0, "pause stops the clock"
    assert page.locator("#conn").inner_text() == "paused"


def test_click_level_opens_l3_queue(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    doc = api(page, f"/api/v1/book?instrument_id={CLX5_IID}&index={SEEK_INDEX}&depth=3&orders=true")
    for side, level in (("B", doc["bids"][1]), ("A", doc["asks"][0])):
        page.click(f'#ladder .lrow[data-side="{side}"][data-price="{level["price"]}"]')
        key = f"{side}:{level['price']}"
        wait_js(page, f"document.querySelector('#queue').dataset.key === '{key}'")
        head = page.locator("#queue .qhead")
        assert head.get_attribute("data-count") == str(level["count"]) == str(len(level["orders"]))
        rows = page.locator("#queue .qrow")
        assert rows.count() == level["count"]
        ids = [int(t) for t in rows.locator("span:nth-child(2)").all_inner_texts()]
        assert ids == [oid for oid, _ in level["orders"]]  # FIFO order
        assert "newest" in (rows.nth(level["count"] - 1).get_attribute("class") or "")
    shot(page, "queue")
    page.keyboard.press("Escape")
    wait_js(page, "document.querySelector('#queue').dataset.state === 'none'")


def test_dropped_connection_reconnects_and_resumes(page: Any, server: ServerThread) -> None:
    seek_index(page, SEEK_INDEX)
    page.select_option("#speed", "50")
    page.click("#play")
    wait_js(page, f"window.__mbo.store.get().index > {SEEK_INDEX + 200}", 15)
    before = page.evaluate("window.__mbo.stream.reconnects")
    seen = state(page, "index")
    page.evaluate(
        "window.__minIdx = Infinity; window.__mbo.store.subscribe("
        "s => { window.__minIdx = Math.min(window.__minIdx, s.index); })"
    )
    assert server.call(server.drop_streams()) == 1
    wait_js(page, f"window.__mbo.stream.reconnects > {before}", 10)
    wait_js(page, "window.__mbo.store.get().conn === 'open'", 10)
    resumed_at = state(page, "index")
    wait_js(page, f"window.__mbo.store.get().index > {resumed_at + 50}", 10)  # streaming again
    # resumed by Last-Event-ID: never back to the URL's from= (the seek index)
    assert page.evaluate("window.__minIdx") >= seen
    assert page.locator("#conn").inner_text() == "streaming"
    shot(page, "reconnected")
    page.click("#play")
    wait_js(page, "!window.__mbo.store.get().playing")
    assert [e for e in page.errors if "ERR_" not in e] == []

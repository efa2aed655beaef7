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

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
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
def playwright() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:  # one per module: they cannot nest
        yield pw


@pytest.fixture(scope="module")
def page(playwright: Any, server: ServerThread) -> Iterator[Any]:
    yield from _browse(playwright, server)


def _browse(pw: Any, server: ServerThread, extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            *extra_args,
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


def next_paint(pg: Any) -> None:
    """Wait until views invalidated before now have rendered (they render on the next frame)."""
    pg.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def ladder_rows(pg: Any) -> list[dict[str, Any]]:
    """The ladder's level rows as drawn on its canvas, top to bottom."""
    next_paint(pg)
    rows: list[dict[str, Any]] = pg.evaluate(
        "window.__mbo.ladder.rows().map(({side, level, price, y, h, texts}) =>"
        " ({side, level, price, y, h, texts}))"
    )
    return rows


def ladder_text(pg: Any) -> str:
    next_paint(pg)
    return str(pg.evaluate("window.__mbo.ladder.text()"))


def ladder_best(pg: Any, side: str) -> tuple[int, str]:
    (row,) = [r for r in ladder_rows(pg) if r["side"] == side and r["level"] == 0]
    return int(row["price"]), row["texts"]["size"]


def click_level(pg: Any, side: str, price: int, modifiers: list[str] | None = None) -> None:
    """A real click on the ladder's canvas, in the middle of the row drawn for that level."""
    (row,) = [r for r in ladder_rows(pg) if r["side"] == side and r["price"] == price]
    canvas = pg.locator("#ladder canvas")
    box = canvas.bounding_box()
    canvas.click(
        position={"x": box["width"] / 2, "y": row["y"] + row["h"] / 2}, modifiers=modifiers or []
    )


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
    assert page.locator("#ladder canvas").count() == 1
    assert len(ladder_rows(page)) == 14 + 14
    assert page.locator("#heatmap canvas").count() == 1
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
    text = ladder_text(page)
    assert f"{bid['price'] / 1e9:.2f}" in text  # formatted from the 0.01 tick
    label = page.locator("#ladder canvas").get_attribute("aria-label") or ""
    assert label.startswith("Price ladder: spread 0.0"), label  # the canvas says what it shows
    # the canvas repaints only rows that changed: rendering an unchanged book paints none
    painted = page.evaluate(
        "(() => { const l = window.__mbo.ladder, n = l.stats.rowsPainted;"
        " l.render(); l.render(); return l.stats.rowsPainted - n; })()"
    )
    assert painted == 0
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
        click_level(page, side, level["price"])
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


def test_consolidated_view_in_the_selector(page: Any) -> None:
    options = page.locator("#book-select option").all_inner_texts()
    assert any("consolidated" in o for o in options), options
    page.select_option("#book-select", f"{CLX5_IID}:c:1")
    wait_js(page, "window.__mbo.store.get().sel.consolidated === true")
    seek_index(page, SEEK_INDEX)
    wait_js(page, "document.querySelector('#ladder').dataset.mode === 'consolidated'")
    doc = api(page, f"/api/v1/consolidated?instrument_id={CLX5_IID}&index={SEEK_INDEX}&depth=5")
    bid, ask = doc["bids"][0], doc["asks"][0]
    assert ladder_best(page, "B") == (bid["price"], str(bid["size"]))
    assert ladder_best(page, "A") == (ask["price"], str(ask["size"]))
    assert "consolidated · 1 pub" in page.locator("#ladder-sub").inner_text()
    page.keyboard.press("ArrowRight")  # a step refreshes the consolidated snapshot too
    wait_js(page, f"window.__mbo.store.get().index > {SEEK_INDEX}")
    nxt = state(page, "index")
    doc = api(page, f"/api/v1/consolidated?instrument_id={CLX5_IID}&index={nxt}&depth=5")
    wait_js(page, f"window.__mbo.store.get().frame.index === {nxt}")
    assert ladder_best(page, "B") == (doc["bids"][0]["price"], str(doc["bids"][0]["size"]))
    shot(page, "consolidated")
    page.select_option("#book-select", f"{CLX5_IID}:1:1")
    wait_js(page, "window.__mbo.store.get().sel.consolidated === false")
    wait_js(page, "document.querySelector('#ladder').dataset.mode === 'book'")
    assert page.errors == []


def _sim_rows(pg: Any) -> list[str]:
    return [str(x) for x in pg.locator("#queue .qrow span:nth-child(2)").all_inner_texts()]


def test_simulated_order_highlighted_in_the_l3_queue(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    doc = api(page, f"/api/v1/book?instrument_id={CLX5_IID}&index={SEEK_INDEX}&depth=1")
    bid = doc["bids"][0]
    click_level(page, "B", bid["price"], ["Shift"])
    wait_js(page, "document.querySelector('#queue .qrow.sim') !== null")
    sim = page.locator("#queue .qrow.sim")
    assert sim.get_attribute("data-ahead") == str(bid["count"])  # joins the back of the queue
    rows = _sim_rows(page)
    assert rows.index(rows[-1]) == bid["count"] and rows[-1].startswith("SIM #")
    placed = api(page, f"/api/v1/sim/orders?instrument_id={CLX5_IID}&index={SEEK_INDEX}")
    (order,) = placed["orders"]
    assert order["status"] == "open" and order["orders_ahead"] == bid["count"]
    # playback advances: the orders ahead leave, the highlight moves up to the backtest's place
    later = 20_600
    seek_index(page, later)
    now = api(page, f"/api/v1/sim/orders?instrument_id={CLX5_IID}&index={later}")["orders"][0]
    assert now["status"] == "open" and now["orders_ahead"] < bid["count"], now
    wait_js(
        page,
        f"document.querySelector('#queue .qrow.sim')?.dataset.ahead === '{now['orders_ahead']}'",
    )
    rows = _sim_rows(page)
    assert rows[now["orders_ahead"]] == f"SIM #{order['id']}"
    ahead = [int(x) for x in rows[: now["orders_ahead"]]]
    assert ahead == now["ahead"]  # exactly the front of the historical queue
    assert f"{now['orders_ahead']} ahead" in page.locator("#queue .qhead").inner_text()
    shot(page, "sim-order")
    seek_index(page, 21_000)  # filled by then (record 20,673)
    wait_js(page, "document.querySelector('#queue .qrow.sim') === null")
    assert "filled" in page.locator("#queue .qhead").inner_text()
    req = urllib.request.Request(page.base + "/api/v1/sim/orders", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["deleted"] == 1
    page.keyboard.press("Escape")
    assert page.errors == []


# --------------------------------------------------------------------------------------------
# live mode and performance: a server reading an in-process `mbo-fast feed` (CLX5 looped)


@pytest.fixture(scope="module")
def live_server(
    clx5_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    from mbo_fast import feed

    data = feed.load([str(clx5_path)], resequence=True)  # the file skips sequence numbers
    pub = feed.Feed(data, rate=3000, loop=True)
    srv = ServerThread(None)
    srv.thread.start()
    _, port = srv.call(pub.start("127.0.0.1", 0))
    db = tmp_path_factory.mktemp("ui-live") / "db.sqlite3"
    srv.config = make_config(
        clx5_path, db, frame_rate=100.0, status_every_s=0.25, live=f"tcp://127.0.0.1:{port}"
    )
    srv.call(srv._start(), timeout=60)
    yield srv
    srv.call(pub.close())
    srv.stop()


@pytest.fixture(scope="module")
def live_page(playwright: Any, live_server: ServerThread) -> Iterator[Any]:
    # precise heap numbers and window.gc() for the memory check
    yield from _browse(
        playwright, live_server, ("--enable-precise-memory-info", "--js-flags=--expose-gc")
    )


def test_live_mode_receives_frames(live_page: Any) -> None:
    pg = live_page
    wait_js(pg, "!document.querySelector('#live').disabled")  # the server has a feed
    assert "live feed" in (pg.locator("label.live").get_attribute("title") or "")
    before = ladder_text(pg)
    ver = state(pg, "frameVer")
    pg.click("#live")
    wait_js(pg, "window.__mbo.store.get().conn === 'open'")
    assert state(pg, "live") is True and state(pg, "playing") is True
    wait_js(pg, f"window.__mbo.store.get().frameVer > {ver + 20}", 10)  # live book frames
    wait_js(pg, f"window.__mbo.ladder.text() !== {json.dumps(before)}")
    assert pg.locator("#conn").inner_text() == "streaming"
    i0 = state(pg, "index")
    pg.wait_for_timeout(500)
    assert state(pg, "index") > i0  # live record indexes advance
    shot(pg, "live")
    pg.click("#live")
    wait_js(pg, "!window.__mbo.store.get().playing")
    assert pg.errors == []


_PERF_JS = """async ([rafMs, heapMs]) => {
  const store = window.__mbo.store;
  let books = 0;
  store.subscribe((s, p) => { if (s.frameVer !== p.frameVer) books++; });
  let renderMs = 0;
  let renders = 0;
  const perView = window.__mbo.views.map(() => 0);
  window.__mbo.views.forEach((v, i) => {
    const inner = v.render.bind(v);
    v.render = () => {
      const t = performance.now();
      inner();
      const dt = performance.now() - t;
      renderMs += dt;
      perView[i] += dt;
      renders++;
    };
  });
  let longMs = 0;
  let longN = 0;
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) { longMs += e.duration; longN++; }
  }).observe({ type: "longtask" });
  const deltas = [];
  const ladder0 = { ...window.__mbo.ladder.stats };
  await new Promise((done) => {
    const t0 = performance.now();
    let last = t0;
    const f = (t) => {
      deltas.push(t - last); last = t;
      if (t - t0 < rafMs) requestAnimationFrame(f); else done();
    };
    requestAnimationFrame(f);
  });
  const rafBooks = books;
  const rafRender = [renderMs, renders, longMs, longN, perView.map((x) => Math.round(x))];
  const ls = window.__mbo.ladder.stats;
  const ladder = [ls.renders - ladder0.renders, ls.rowsPainted - ladder0.rowsPainted];
  window.gc();
  const heap0 = performance.memory.usedJSHeapSize;
  const samples = [heap0];
  let heapMid = null;
  const t1 = performance.now();
  while (performance.now() - t1 < heapMs) {
    await new Promise((r) => setTimeout(r, 1000));
    if (heapMid === null && performance.now() - t1 >= heapMs / 2) {
      window.gc();
      heapMid = performance.memory.usedJSHeapSize;
    }
    samples.push(performance.memory.usedJSHeapSize);
  }
  window.gc();
  const heap1 = performance.memory.usedJSHeapSize;
  return {
    deltas: deltas.slice(1), rafBooks, rafRender, ladder, books, heap0, heapMid, heap1, samples,
  };
}"""


_TAPE_JS = """() => {
  const s = window.__mbo.store.get();
  const rows = window.__mbo.tape.rows();
  const n = s.trades.length;
  const want = rows.map((_, i) => {
    const t = s.trades.get(n - 1 - i);
    return t ? t.index : null;
  });
  return [rows.map((r) => r.index), want];
}"""

# A view's canvas as painted bit by bit while data came (scrolled, then new rows or strips)
# against a fresh paint of the same state: [pixels whose colour differs by more than tol/255
# in a channel, pixels]. The view is window.__mbo[name], its canvas the one in #name.
_REPAINT_DIFF_JS = """([name, tol]) => {
  const canvas = document.querySelector(`#${name} canvas`);
  const pixels = () => canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const painted = pixels();
  window.__mbo[name].repaint();
  const fresh = pixels();
  let differ = 0;
  for (let i = 0; i < fresh.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      if (Math.abs(fresh[i + c] - painted[i + c]) > tol) { differ++; break; }
    }
  }
  return [differ, fresh.length / 4];
}"""


def test_performance_frames_and_heap(live_page: Any) -> None:
    # the live feed at 3,000 records/s (~700x CLX5's real-time rate) and frame_rate 60: a book
    # frame on nearly every tick (playback at 250x gives ~48/s; CLX5 lasts 36 s at 250x)
    pg = live_page
    if not state(pg, "live"):
        pg.click("#live")
    wait_js(pg, "window.__mbo.store.get().conn === 'open'")
    pg.wait_for_timeout(500)
    raf_s, heap_s = 5.0, 20.0
    m = pg.evaluate(_PERF_JS, [raf_s * 1000, heap_s * 1000])
    deltas = sorted(m["deltas"])
    frame = 1000 / 60  # the display interval of headless chromium (60 Hz begin-frames)
    dropped = sum(max(0, round(d / frame) - 1) for d in m["deltas"])
    expected = len(m["deltas"]) + dropped
    book_rate = m["rafBooks"] / raf_s
    growth_mb = (m["heap1"] - m["heap0"]) / 2**20
    report = {
        "book_updates_per_s": round(book_rate, 1),
        "book_updates_per_s_20s": round(m["books"] / (raf_s + heap_s), 1),
        "frame_ms_median": round(deltas[len(deltas) // 2], 2),
        "frame_ms_p99": round(deltas[int(len(deltas) * 0.99)], 2),
        "frame_ms_max": round(deltas[-1], 2),
        "frames": len(m["deltas"]),
        "render_ms_total": round(m["rafRender"][0], 1),
        "view_renders": m["rafRender"][1],
        "render_ms_by_view": m["rafRender"][4],  # selector, market, ladder, depth, heatmap, ...
        "ladder_rows_painted_per_render": round(m["ladder"][1] / max(1, m["ladder"][0]), 2),
        "long_tasks": m["rafRender"][3],
        "long_task_ms": round(m["rafRender"][2], 1),
        "dropped_frames": dropped,
        "dropped_pct": round(100 * dropped / expected, 2),
        "heap_start_mb": round(m["heap0"] / 2**20, 2),
        "heap_end_mb": round(m["heap1"] / 2**20, 2),
        "heap_growth_mb": round(growth_mb, 2),
        "heap_growth_second_half_mb": round((m["heap1"] - m["heapMid"]) / 2**20, 2),
        "heap_max_mb": round(max(m["samples"]) / 2**20, 2),
    }
    print("\nUI performance:", json.dumps(report))
    (ARTIFACTS / "ui-perf.json").write_text(json.dumps(report, indent=1) + "\n")
    shot(pg, "perf")
    pg.click("#live")
    wait_js(pg, "!window.__mbo.store.get().playing")
    # the tape, scrolled a row per new trade, shows exactly the newest trades, newest on top,
    # and looks exactly as if painted afresh
    pg.wait_for_timeout(100)
    rows, want = pg.evaluate(_TAPE_JS)
    assert rows == want and rows[0] is not None and len(rows) > 10, (rows[:5], want[:5])
    pg.wait_for_timeout(500)  # the top row's highlight has faded
    differ, pixels = pg.evaluate(_REPAINT_DIFF_JS, ["tape", 0])
    assert pixels > 0 and differ == 0
    # the heatmap likewise, up to anti-aliasing where bubbles and line caps meet a strip's
    # edge (measured: 0.007-0.014 % of pixels; a scroll one pixel off: 15 %)
    columns = pg.evaluate("window.__mbo.heatmap.ring.length")
    differ, pixels = pg.evaluate(_REPAINT_DIFF_JS, ["heatmap", 8])
    assert columns > 200 and differ < pixels * 0.002, (differ, pixels, columns)
    newest = pg.evaluate("window.__mbo.tape.rows()[0]")
    label = pg.locator("#tape canvas").get_attribute("aria-label")
    assert label == f"Time and sales: last trade {newest['size']} at {newest['price'] / 1e9:.2f}"
    assert book_rate >= 50, report  # the load asked for: 50+ book updates/s
    # Frame timing (dropped frames, render ms) is the machine's as much as ours: on the 2-vCPU
    # VM with software raster it is 0.3-0.7 % dropped, but a slow spell of the host has taken
    # the same code to 32 %, so it is reported (printed and saved in artifacts/ui-perf.json),
    # not asserted. What is ours and does not depend on the machine: no view renders more than
    # once per animation frame, however many updates arrive.
    views = pg.evaluate("window.__mbo.views.length")
    assert report["view_renders"] <= views * (len(m["deltas"]) + 2), report
    assert growth_mb < 8, report  # bounded buffers: no steady growth
    assert report["heap_growth_second_half_mb"] < 1.5, report
    assert pg.errors == [], pg.errors

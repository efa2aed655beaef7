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


def _browse(
    pw: Any,
    server: ServerThread,
    extra_args: tuple[str, ...] = (),
    viewport: tuple[int, int] = (1440, 860),
) -> Iterator[Any]:
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
    pg = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
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
    """The ladder's rows as drawn on its canvas, top to bottom: each a price with its bid and
    ask size (0 on an empty tick, null past the depth the frame carries), `side`/`size` when
    one side rests there, the cells' texts and the row's place (y, h)."""
    next_paint(pg)
    rows: list[dict[str, Any]] = pg.evaluate("window.__mbo.ladder.rows()")
    return rows


def ladder_text(pg: Any) -> str:
    next_paint(pg)
    return str(pg.evaluate("window.__mbo.ladder.text()"))


def ladder_best(pg: Any, side: str) -> tuple[int, str]:
    """The best price of a side as the ladder draws it, with the size in its cell."""
    frame = state(pg, "frame")
    best = (frame["bids"] if side == "B" else frame["asks"])[0][0]
    (row,) = [r for r in ladder_rows(pg) if r["price"] == best]
    assert row["side"] == side or frame["crossed"], row
    return int(row["price"]), row["texts"]["bid" if side == "B" else "ask"]


def ladder_cell_x(pg: Any, cell: str) -> float:
    """The x of the middle of a ladder column (buy, bid, price, ask, sell, volume)."""
    x, w = pg.evaluate(f"window.__mbo.ladder.columns().{cell}")
    return float(x + w / 2)


def click_ladder(pg: Any, price: int, cell: str, modifiers: list[str] | None = None) -> None:
    """A real click on the ladder's canvas, in the given column of the row of `price`."""
    (row,) = [r for r in ladder_rows(pg) if r["price"] == price]
    pg.locator("#ladder canvas").click(
        position={"x": ladder_cell_x(pg, cell), "y": row["y"] + row["h"] / 2},
        modifiers=modifiers or [],
    )


def click_level(pg: Any, side: str, price: int, modifiers: list[str] | None = None) -> None:
    """Click a level's size cell: its L3 queue (Shift: a simulated order there)."""
    click_ladder(pg, price, "bid" if side == "B" else "ask", modifiers)


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
    height = page.evaluate("document.querySelector('#ladder canvas').clientHeight")
    assert len(ladder_rows(page)) == height // 19 >= 30  # as many rows as fit: 1000 px, 50
    assert page.locator("#heatmap canvas").count() == 1
    assert page.locator("#depth canvas").count() == 1
    live = page.locator("#live")
    assert live.is_disabled()  # no live feed on this server: disabled, with a tooltip
    assert "live" in (page.locator("label.live").get_attribute("title") or "")
    shot(page, "initial")
    assert page.errors == []


def test_help_dialog_takes_the_focus_and_gives_it_back(page: Any) -> None:
    page.locator("#jump").focus()
    page.keyboard.press("Escape")  # leaves the field
    page.locator("#ladder canvas").focus()
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    assert page.evaluate("document.activeElement.closest('.dialog') !== null")
    for _ in range(4):  # Tab stays inside the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('.dialog') !== null")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.closest('.dialog') !== null")
    shot(page, "help")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    assert page.evaluate("document.activeElement.id") == "ladder-canvas"  # focus given back
    page.click("#help-btn")
    assert page.evaluate("document.activeElement.closest('.dialog') !== null")
    page.click("#help-close")
    assert page.evaluate("document.activeElement.id") == "help-btn"
    assert page.errors == []


def _first_two_sided(pg: Any) -> int:
    after = None
    while True:
        q = f"/api/v1/bbo?instrument_id={CLX5_IID}&limit=1000"
        page_ = api(pg, q + (f"&after={after}" if after is not None else ""))
        for it in page_["items"]:
            if it["bid_px"] is not None and it["ask_px"] is not None:
                return int(it["index"])
        after = page_["next_after"]
        assert after is not None


def test_opens_at_the_first_two_sided_book_with_the_incomplete_notice(
    playwright: Any, server: ServerThread
) -> None:
    # a fresh page: where the UI opens the book
    for pg in _browse(playwright, server):
        first = _first_two_sided(pg)
        wait_js(pg, f"window.__mbo.store.get().index === {first}")
        frame = state(pg, "frame")
        assert frame["bids"] and frame["asks"]  # two-sided, not record #0 with one order
        notice = pg.locator("#notice")
        wait_js(pg, "!document.querySelector('#notice').hidden")
        text = notice.inner_text()
        assert "Book incomplete: the data starts mid-session" in text, text
        assert f"#{first}" in text
        assert notice.get_attribute("role") == "status"
        shot(pg, "notice")
        pg.click("#notice button")
        assert not notice.is_visible()
        assert pg.errors == []


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
    # every level of the book near the touch is on its row, with its size
    rows = {r["price"]: r for r in ladder_rows(page)}
    for side, levels in (("B", doc["bids"]), ("A", doc["asks"])):
        for lv in levels:
            row = rows[lv["price"]]
            assert row["side"] == side and row["size"] == lv["size"], (row, lv)
    # the canvas repaints only rows that changed: rendering an unchanged book paints none
    painted = page.evaluate(
        "(() => { const l = window.__mbo.ladder, n = l.stats.rowsPainted;"
        " l.render(); l.render(); return l.stats.rowsPainted - n; })()"
    )
    assert painted == 0
    assert state(page, "tick") == 10_000_000
    assert page.locator("#index").inner_text() == f"#{SEEK_INDEX:,}"
    shot(page, "seek")


def _touch_move(pg: Any, start: int) -> tuple[int, int]:
    """A boundary before which the best bid or ask moves by a tick or two: (index before, the
    index after the move)."""
    q = f"/api/v1/bbo?instrument_id={CLX5_IID}&after={start}&limit=5000"
    items = api(pg, q)["items"]

    def near(x: int | None, y: int | None) -> bool:
        return x is not None and y is not None and abs(x - y) <= 2 * 10_000_000

    for a, b in zip(items, items[1:]):
        moved = (a["bid_px"], a["ask_px"]) != (b["bid_px"], b["ask_px"])
        small = near(a["bid_px"], b["bid_px"]) and near(a["ask_px"], b["ask_px"])
        if moved and small and b["bid_px"] < b["ask_px"]:
            return int(a["index"]), int(b["index"])
    raise AssertionError("no small move of the touch")


def test_ladder_rows_are_consecutive_ticks_fixed_while_the_touch_moves(page: Any) -> None:
    before, after = _touch_move(page, SEEK_INDEX)
    seek_index(page, before)
    rows = ladder_rows(page)
    tick = state(page, "tick")
    prices = [r["price"] for r in rows]
    assert all(a - b == tick for a, b in zip(prices, prices[1:]))  # every tick, empty ones too
    assert any(r["bid_size"] == 0 and r["ask_size"] == 0 for r in rows)  # empty ticks shown
    anchor = page.evaluate("window.__mbo.ladder.anchor()")
    where = {r["price"]: r["y"] for r in rows}
    touch0 = (state(page, "frame")["bids"][0][0], state(page, "frame")["asks"][0][0])
    page.locator("#ladder canvas").focus()
    page.keyboard.press("Escape")
    while state(page, "index") < after:  # one event at a time: → (the ladder leaves it alone)
        idx = state(page, "index")
        page.keyboard.press("ArrowRight")
        wait_js(page, f"window.__mbo.store.get().index > {idx}")
    frame = state(page, "frame")
    touch1 = (frame["bids"][0][0], frame["asks"][0][0])
    assert touch1 != touch0  # the touch moved ...
    rows = ladder_rows(page)
    assert page.evaluate("window.__mbo.ladder.anchor()") == anchor  # ... and no row did
    assert {r["price"]: r["y"] for r in rows} == where
    best = next(r for r in rows if r["price"] == touch1[0])
    assert best["side"] == "B" and best["size"] == frame["bids"][0][1]
    # the wheel scrolls prices (and the view holds); c recentres on the touch
    box = page.locator("#ladder canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 100)
    page.mouse.wheel(0, -19 * 6)  # wheel up: six ticks higher
    next_paint(page)
    scrolled = page.evaluate("window.__mbo.ladder.anchor()")
    assert scrolled["top"] == anchor["top"] + 6 * tick and scrolled["held"] is True
    page.keyboard.press("c")
    next_paint(page)
    centred = page.evaluate("window.__mbo.ladder.anchor()")
    mid_row = next(i for i, r in enumerate(ladder_rows(page)) if r["price"] == touch1[0])
    assert centred["held"] is False and abs(mid_row - centred["rows"] // 2) <= 1
    assert page.errors == []


def test_a_crossed_book_reads_in_price_order(page: Any) -> None:
    items = api(page, f"/api/v1/bbo?instrument_id={CLX5_IID}&after=38000&limit=1000")["items"]
    crossed = next(
        it
        for it in items
        if it["bid_px"] is not None and it["ask_px"] is not None and it["bid_px"] > it["ask_px"]
    )
    seek_index(page, crossed["index"])
    rows = ladder_rows(page)
    prices = [r["price"] for r in rows]
    assert prices == sorted(prices, reverse=True)
    by_price = {r["price"]: r for r in rows}
    assert by_price[crossed["bid_px"]]["bid_size"] == crossed["bid_sz"]
    assert by_price[crossed["ask_px"]]["ask_size"] == crossed["ask_sz"]
    # the best bid sits above the best ask, each on its own row: bids read as bids
    assert by_price[crossed["bid_px"]]["y"] < by_price[crossed["ask_px"]]["y"]
    assert page.locator("#crossed-badge").is_visible()
    assert "PRE-OPEN" in page.locator("#crossed-badge").inner_text()
    shot(page, "crossed")


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


def _heat(pg: Any) -> dict[str, Any]:
    next_paint(pg)
    return dict(pg.evaluate("window.__mbo.heatmap.columns()"))


def _heat_ready(pg: Any) -> dict[str, Any]:
    """Wait until the heatmap shows the history the server computed (its raster arrived)."""
    wait_js(pg, "window.__mbo.heatmap.columns().exact > 100", 15)
    return _heat(pg)


def test_heatmap_on_real_time_shows_the_history_after_a_seek(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    h = _heat_ready(page)
    win = page.evaluate("window.__mbo.heatmap.window()")
    # the plot ends at the clock's bucket and is filled with exact history up to it
    assert h["last"] == h["kc"] and h["first"] <= h["kL"] + 2, h
    assert h["exact"] >= 0.9 * (h["kc"] - h["kL"]), h
    assert h["bubbles"] > 0  # trades of the history, at their time
    # the time axis: round times, equally spaced (x proportional to time)
    axis = page.evaluate("window.__mbo.heatmap.axis()")
    assert len(axis) >= 3
    dt = {b["t"] - a["t"] for a, b in zip(axis, axis[1:])}
    dx = [b["x"] - a["x"] for a, b in zip(axis, axis[1:])]
    assert len(dt) == 1 and max(dx) - min(dx) < 0.01, (dt, dx)
    px_per_ns = 2 / win["bucketNs"]
    assert abs(dx[0] - dt.pop() * px_per_ns) < 0.01
    # a jump back: the history before the new position is there at once, not one column
    seek_index(page, 12_000)
    h2 = _heat_ready(page)
    assert h2["kc"] < h["kc"] and h2["last"] == h2["kc"] and h2["exact"] > 100, h2
    shot(page, "heatmap")
    assert page.errors == []


def test_heatmap_pan_zoom_and_contrast(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    _heat_ready(page)
    w0 = page.evaluate("window.__mbo.heatmap.window()")
    page.click("#heat-zoom-out")  # a longer span: a new raster over it
    # wait for the raster of the new span itself: right after the zoom the old columns are
    # dropped and the new raster is still on its way (reading in between saw 0 columns)
    wait_js(
        page,
        f"window.__mbo.heatmap.window().bucketNs > {w0['bucketNs'] * 1.4}"
        " && window.__mbo.heatmap.columns().exact > 100",
        15,
    )
    w1 = page.evaluate("window.__mbo.heatmap.window()")
    assert w1["span"] > w0["span"] * 1.4
    canvas = page.locator("#heatmap canvas")
    canvas.focus()
    page.keyboard.press("ArrowLeft")  # pan back in time: no longer following the clock
    w2 = page.evaluate("window.__mbo.heatmap.window()")
    assert w2["follow"] is False and w2["t1"] is not None
    page.keyboard.press("PageUp")  # price zoom in: taller rows
    assert page.evaluate("window.__mbo.heatmap.window().rowPx") > w1["rowPx"]
    page.keyboard.press("ArrowUp")  # price pan
    assert page.evaluate("window.__mbo.heatmap.window().pfollow") is False

    def pixels() -> str:
        next_paint(page)
        return str(
            page.evaluate(
                "(() => { const c = document.querySelector('#heatmap canvas');"
                " const d = c.getContext('2d').getImageData(0, 0, c.width / 2, c.height / 2).data;"
                " let h = 0; for (let i = 0; i < d.length; i += 16) h = (h * 31 + d[i]) | 0;"
                " return h; })()"
            )
        )

    def repainted(than: str) -> str:
        """The pixels once they differ from `than` (the heatmap repaints at most ~30 times a
        second, so the frame after a change may still be the old picture)."""
        for _ in range(60):
            now = pixels()
            if now != than:
                return now
        raise AssertionError("the heatmap did not repaint differently")

    before = pixels()
    page.select_option("#heat-scale", "linear")
    after = repainted(before)  # the contrast control changes the colours
    page.select_option("#heat-clip", "90")
    repainted(after)
    page.keyboard.press("f")  # follow again
    w3 = page.evaluate("window.__mbo.heatmap.window()")
    assert w3["follow"] is True and w3["pfollow"] is True
    page.select_option("#heat-scale", "sqrt")
    page.select_option("#heat-clip", "99")
    page.click("#heat-zoom-in")
    assert page.errors == []


def test_order_flow_of_the_session(page: Any) -> None:
    seek_index(page, SEEK_INDEX)
    # the session's aggregate arrives from the server; then the flow equals the trades so far
    wait_js(page, "window.__mbo.store.get().flow.trades > 100", 10)
    now = clock(page)
    trades: list[dict[str, Any]] = []
    after = None
    while True:
        q = f"/api/v1/trades?instrument_id={CLX5_IID}&end={now}&limit=10000"
        res = api(page, q + (f"&after={after}" if after is not None else ""))
        trades += res["items"]
        if res["next_after"] is None:
            break
        after = res["next_after"]
    flow = page.evaluate(
        "(() => { const f = window.__mbo.store.get().flow;"
        " return {delta: f.delta, vwap: f.vwap, high: f.high, low: f.low, volume: f.volume}; })()"
    )
    buy = sum(t["size"] for t in trades if t["side"] == "B")
    sell = sum(t["size"] for t in trades if t["side"] == "A")
    volume = sum(t["size"] for t in trades)
    vwap = sum(t["price"] / 1e9 * t["size"] for t in trades) / volume
    assert flow["delta"] == buy - sell and flow["volume"] == volume
    assert flow["high"] == max(t["price"] for t in trades)
    assert flow["low"] == min(t["price"] for t in trades)
    assert abs(flow["vwap"] / 1e9 - vwap) < 1e-6
    strip = page.locator("#market").inner_text()
    assert f"{flow['vwap'] / 1e9:.3f}" in strip and f"{buy - sell:+,}" in strip
    # playing on adds the trades as they come, each once
    page.select_option("#speed", "1000")
    page.click("#play")
    wait_js(page, f"window.__mbo.store.get().index > {SEEK_INDEX + 3000}", 15)
    page.click("#play")
    wait_js(page, "!window.__mbo.store.get().playing")
    idx = state(page, "index")
    page.wait_for_timeout(300)
    counted = page.evaluate("window.__mbo.store.get().flow.volume")
    more = api(
        page, f"/api/v1/trades?instrument_id={CLX5_IID}&after={trades[-1]['index']}&limit=10000"
    )
    later = sum(t["size"] for t in more["items"] if t["index"] <= idx)
    assert counted == volume + later
    assert page.errors == []


def _sims(pg: Any) -> list[dict[str, Any]]:
    return list(pg.evaluate("(window.__mbo.store.get().sims || {orders: []}).orders"))


def _sim_rows(pg: Any) -> list[str]:
    return [str(x) for x in pg.locator("#queue .qrow span:nth-child(2)").all_inner_texts()]


def _delete_sims(pg: Any) -> None:
    req = urllib.request.Request(pg.base + "/api/v1/sim/orders?source=1", method="DELETE")
    with urllib.request.urlopen(req, timeout=10):
        pass
    pg.evaluate("window.__mbo.store.set({sims: null, simSelected: null, simVer: 0})")


def test_simulated_order_lifecycle(page: Any) -> None:
    """Place at a price by a click, watch it move up the queue, resize and move it by keys,
    cancel it, and have another fill, with the position and P&L."""
    seek_index(page, SEEK_INDEX)
    doc = api(page, f"/api/v1/book?instrument_id={CLX5_IID}&index={SEEK_INDEX}&depth=3")
    bid = doc["bids"][0]
    page.locator("#ladder canvas").focus()
    page.keyboard.press("2")  # order size 2 (a key on the ladder)
    next_paint(page)
    assert page.locator("#order-size").input_value() == "2"
    click_ladder(page, bid["price"], "buy")  # the buy column: a buy limit order at that price
    wait_js(page, "document.querySelector('#queue .qrow.sim') !== null")
    (order,) = _sims(page)
    assert (order["side"], order["price"], order["size"], order["status"]) == (
        "B",
        bid["price"],
        2,
        "open",
    )
    assert order["orders_ahead"] == bid["count"]  # the back of the queue
    sim = page.locator("#queue .qrow.sim")
    assert sim.get_attribute("data-ahead") == str(bid["count"])
    row = next(r for r in ladder_rows(page) if r["price"] == bid["price"])
    assert row["buy"]["size"] == 2 and row["texts"]["buy"] == f"2·{bid['count']}"
    # playback moves on: the orders ahead leave, the order moves up (the L3 queue shows it)
    seek_index(page, 20_600)
    now = api(page, f"/api/v1/sim/orders?instrument_id={CLX5_IID}&index=20600")["orders"][0]
    assert now["status"] == "open" and now["orders_ahead"] < bid["count"], now
    wait_js(
        page,
        f"document.querySelector('#queue .qrow.sim')?.dataset.ahead === '{now['orders_ahead']}'",
    )
    rows = _sim_rows(page)
    assert rows[now["orders_ahead"]] == f"SIM #{order['id']}"
    assert [int(x) for x in rows[: now["orders_ahead"]]] == now["ahead"]
    note = page.locator("#queue .qnotes .simnote").inner_text()
    assert f"{now['orders_ahead']} orders" in note and "ahead" in note  # not cut off
    shot(page, "sim-order")
    # select it on the ladder, then: + resizes it, Shift+↓ moves it a tick, Delete cancels it
    click_ladder(page, bid["price"], "buy")
    wait_js(page, f"window.__mbo.store.get().simSelected === {order['id']}")
    page.keyboard.press("+")
    wait_js(page, "window.__mbo.store.get().sims.orders[0].size === 3")
    page.keyboard.press("Shift+ArrowDown")
    lower = bid["price"] - 10_000_000
    wait_js(page, f"window.__mbo.store.get().sims.orders[0].price === {lower}")
    row = next(r for r in ladder_rows(page) if r["price"] == lower)
    assert row["buy"]["size"] == 3  # drawn at its new price
    page.keyboard.press("Delete")
    wait_js(page, "window.__mbo.store.get().sims.orders[0].status === 'cancelled'")
    served = api(page, f"/api/v1/sim/orders?instrument_id={CLX5_IID}&index=20600")["orders"][0]
    assert (served["status"], served["price"], served["size"]) == ("cancelled", lower, 3)
    assert page.locator("#position").get_attribute("data-position") == "0"
    # another, at the best bid at #20,000: filled by #21,000 (record 20,673); position and P&L
    seek_index(page, SEEK_INDEX)
    page.keyboard.press("Escape")
    page.fill("#order-size", "1")
    page.press("#order-size", "Enter")
    page.click("#buy-bid")
    wait_js(page, "window.__mbo.store.get().sims.orders.length === 2")
    seek_index(page, 21_000)
    wait_js(page, "window.__mbo.store.get().sims.orders.some((o) => o.status === 'filled')")
    filled = next(o for o in _sims(page) if o["status"] == "filled")
    (fill,) = filled["fills"]
    assert fill["index"] <= 21_000 and fill["price"] == bid["price"]
    next_paint(page)
    pos = page.evaluate("window.__mbo.trading.position()")
    frame = state(page, "frame")
    mid = (frame["bids"][0][0] + frame["asks"][0][0]) / 2
    assert pos["position"] == 1 and pos["average"] == bid["price"] and pos["realised"] == 0
    assert abs(pos["unrealised"] - (mid - bid["price"]) / 1e9) < 1e-9
    assert page.locator("#sim-orders .sim-order.filled").count() == 1
    assert "pos +1" in page.locator("#position").inner_text()
    shot(page, "sim-filled")
    _delete_sims(page)
    assert page.errors == []


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
    # a simulated order has no queue to join here: a clear message, not silence
    click_ladder(page, doc["bids"][0]["price"], "buy")
    wait_js(page, "document.querySelector('#trade-status').textContent.includes('publisher')")
    assert "pick a publisher" in page.locator("#trade-sub").inner_text()
    assert _sims(page) == []
    shot(page, "consolidated")
    page.select_option("#book-select", f"{CLX5_IID}:1:1")
    wait_js(page, "window.__mbo.store.get().sel.consolidated === false")
    wait_js(page, "document.querySelector('#ladder').dataset.mode === 'book'")
    assert page.errors == []


# --------------------------------------------------------------------------------------------
# layout and access

_CUT_OFF_JS = """() => {
  // every visible element's box, clipped by its scrolling/clipping ancestors, lies in the
  // window horizontally; returns the ones that do not
  const W = window.innerWidth;
  const bad = [];
  for (const el of document.querySelectorAll('header *, main *, footer *, #notice *')) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    let left = r.left, right = r.right;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o !== 'visible') {
        const ar = a.getBoundingClientRect();
        left = Math.max(left, ar.left);
        right = Math.min(right, ar.right);
      }
    }
    if (right <= left) continue;  // scrolled or clipped out of sight inside its panel
    if (left < -0.5 || right > W + 0.5) {
      bad.push(`${el.tagName}#${el.id}.${el.className}: ${left}..${right}`);
    }
  }
  return {bad, scrollWidth: document.documentElement.scrollWidth, width: W};
}"""


def _panels(pg: Any) -> dict[str, dict[str, float]]:
    return dict(
        pg.evaluate(
            "Object.fromEntries([...document.querySelectorAll('main .panel')].map((p) =>"
            " [p.classList[1], p.getBoundingClientRect().toJSON()]))"
        )
    )


@pytest.mark.parametrize("size", [(1280, 720), (800, 900)], ids=["1280x720", "800x900"])
def test_no_horizontal_cut_off(
    playwright: Any, server: ServerThread, size: tuple[int, int]
) -> None:
    width, height = size
    for pg in _browse(playwright, server, viewport=(width, height)):
        seek_index(pg, SEEK_INDEX)
        _heat_ready(pg)
        out = pg.evaluate(_CUT_OFF_JS)
        assert out["bad"] == [] and out["scrollWidth"] <= width, out
        panels = _panels(pg)
        assert len(panels) == 6
        if width >= 900:  # three columns, the whole page in the window
            assert pg.evaluate("document.documentElement.scrollHeight") <= height
            for box in panels.values():
                assert box["right"] <= width and box["bottom"] <= height, panels
            assert len(ladder_rows(pg)) >= 20
            assert pg.evaluate("window.__mbo.heatmap.window().plotH") >= 100
        else:  # stacked: one column as wide as the window, the page scrolls
            lefts = {round(b["left"]) for b in panels.values()}
            assert len(lefts) == 1 and all(b["width"] >= width - 30 for b in panels.values())
            tops = sorted(b["top"] for b in panels.values())
            assert all(b - a > 100 for a, b in zip(tops, tops[1:]))
        shot(pg, f"layout-{width}x{height}")
        assert pg.errors == []


def test_every_panel_is_reachable_by_keyboard(page: Any) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.locator("#book-select").focus()
    seen: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                "(() => { const e = document.activeElement;"
                " const p = e.closest('section, header, footer');"
                " return (p ? (p.classList[1] || p.tagName) : 'body') + ':'"
                " + (e.id || e.tagName); })()"
            )
        )
    panels = {x.split(":")[0] for x in seen}
    for panel in (
        "ladder-panel",
        "heat-panel",
        "depth-panel",
        "tape-panel",
        "trade-panel",
        "queue-panel",
        "FOOTER",
    ):
        assert panel in panels, (panel, seen)
    assert "ladder-panel:ladder-canvas" in seen
    # the ladder works from the keyboard: a cursor, the L3 queue of its level
    page.locator("#ladder canvas").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_js(page, "document.querySelector('#queue').dataset.state !== 'none'")
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
    # the clock is the data's: the time of the newest frame or trade, not a running maximum
    times = pg.evaluate(
        "(() => { const s = window.__mbo.store.get();"
        " return [s.clock, s.frame.ts_recv, s.lastTrade ? s.lastTrade.ts_recv : 0]; })()"
    )
    assert times[0] in (times[1], times[2]) or times[0] >= max(times[1:]), times
    shot(pg, "live")
    pg.click("#live")
    wait_js(pg, "!window.__mbo.store.get().playing")
    assert pg.errors == []


def test_live_l3_queue_without_failed_requests(live_page: Any) -> None:
    pg = live_page
    failed: list[str] = []
    on_response = lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None  # noqa: E731
    pg.on("response", on_response)
    try:
        if not state(pg, "live"):
            pg.click("#live")
        wait_js(pg, "window.__mbo.store.get().conn === 'open'")
        wait_js(
            pg, "window.__mbo.store.get().frame && window.__mbo.store.get().frame.bids.length > 0"
        )
        best = state(pg, "frame")["bids"][0][0]
        click_level(pg, "B", best)
        wait_js(pg, "document.querySelector('#queue').dataset.state === 'ready'", 5)
        assert "live at #" in pg.locator("#queue-sub").inner_text()
        pg.wait_for_timeout(1500)  # refreshed every 400 ms while the live book moves
        assert pg.locator("#queue").get_attribute("data-state") == "ready"
        count = int(pg.locator("#queue .qhead").get_attribute("data-count") or "0")
        assert count == pg.locator("#queue .qrow").count()
        # trading says why it cannot, instead of doing nothing
        assert "live" in pg.locator("#trade-sub").inner_text()
        shot(pg, "live-queue")
    finally:
        pg.remove_listener("response", on_response)
    pg.keyboard.press("Escape")
    pg.click("#live")
    wait_js(pg, "!window.__mbo.store.get().playing")
    assert failed == [] and pg.errors == []


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
    columns = pg.evaluate("window.__mbo.heatmap.columns().columns")
    differ, pixels = pg.evaluate(_REPAINT_DIFF_JS, ["heatmap", 8])
    assert columns > 100 and differ < pixels * 0.002, (differ, pixels, columns)
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


@pytest.fixture(scope="module")
def live_only_server(
    clx5_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """A server with a live feed and no --file (a small simulated default session): CLX5's first
    3,000 records looped at 3,000 records/s, a pass a second."""
    from mbo_fast import feed

    whole = feed.load([str(clx5_path)], resequence=True)
    n = 3000
    data = feed.FeedData(whole.metadata, whole.chunk(0, n), whole.ts_recv[:n], whole.record_len)
    pub = feed.Feed(data, rate=3000, loop=True)
    srv = ServerThread(None)
    srv.thread.start()
    _, port = srv.call(pub.start("127.0.0.1", 0))
    db = tmp_path_factory.mktemp("ui-live-only") / "db.sqlite3"
    srv.config = make_config(
        clx5_path,
        db,
        files=(),
        sim_records=5_000,
        frame_rate=50.0,
        status_every_s=0.25,
        live=f"tcp://127.0.0.1:{port}",
    )
    srv.call(srv._start(), timeout=60)
    yield srv
    srv.call(pub.close())
    srv.stop()


def test_live_instrument_selectable_without_a_file(
    playwright: Any, live_only_server: ServerThread
) -> None:
    for pg in _browse(playwright, live_only_server):
        live = f"live:{CLX5_IID}:1"
        wait_js(
            pg,
            "[...document.querySelectorAll('#book-select option')]"
            f".some((o) => o.value === '{live}')",
            15,
        )
        label = pg.locator(f"#book-select option[value='{live}']").inner_text()
        assert "CLX5" not in label or "live feed" in label
        pg.select_option("#book-select", live)
        wait_js(
            pg, "window.__mbo.store.get().live === true && window.__mbo.store.get().conn === 'open'"
        )
        assert pg.locator("#live").is_checked()
        wait_js(
            pg,
            "window.__mbo.store.get().frame &&"
            f" window.__mbo.store.get().frame.instrument_id === {CLX5_IID}",
        )
        # over a few passes: the clock follows the data back at every pass, and every pass
        # starts from a cleared book (never the crossed pile of two passes)
        samples = pg.evaluate(
            "(async () => { const out = []; for (let i = 0; i < 35; i++) {"
            " const s = window.__mbo.store.get();"
            " out.push([s.clock, s.frame ? s.frame.crossed : false]);"
            " await new Promise((r) => setTimeout(r, 100)); } return out; })()"
        )
        clocks = [c for c, _ in samples if c is not None]
        assert any(b < a for a, b in zip(clocks, clocks[1:])), clocks  # a pass started over
        assert not any(crossed for _, crossed in samples)
        shot(pg, "live-only")
        pg.click("#live")
        wait_js(pg, "!window.__mbo.store.get().playing")
        assert pg.errors == []

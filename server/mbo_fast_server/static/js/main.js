// Bootstrap: the store, the actions (play/pause/seek/step/speed, books, live, simulated orders),
// the stream and the views.
import { createStore } from "./store.js";
import { ApiError, Stream, bookParams, getJSON, postJSON } from "./api.js";
import { Ring, decodeRaster } from "./lib/heat.js";
import { Flow } from "./lib/flow.js";
import { decimalsForTick, deriveTick, nsString } from "./lib/format.js";
import { mountSelector } from "./selector.js";
import { mountMarket } from "./market.js";
import { mountLadder } from "./ladder.js";
import { mountDepth } from "./depth.js";
import { mountHeatmap } from "./heatmap.js";
import { mountTape } from "./tape.js";
import { mountQueue } from "./queue.js";
import { mountTrading } from "./trading.js";
import { mountPlayer } from "./player.js";
import { mountNotice } from "./notice.js";

export const DEPTH = 100; // levels per side in every frame: the ladder shows every tick near the touch
const TAPE_MAX = 300;
const SESSION_NS = 24 * 3600e9; // the order flow's session: the data's start, at most 24 h back

const store = createStore({
  instruments: [],
  sources: [],
  liveBooks: null, // GET /api/v1/live/books when the server has a feed
  sel: null, // {iid, pid, source, symbol, first, last, records, consolidated, live}
  frame: null, // the current book frame {index, ts_recv, bids, asks, crossed, uncross}
  frameVer: 0,
  depth: DEPTH,
  tick: 0,
  decimals: 2,
  index: null,
  clock: null,
  playing: false,
  live: false,
  speed: 1,
  conn: "idle",
  reconnects: 0,
  rate: null,
  done: false,
  trades: new Ring(TAPE_MAX),
  tradeVer: 0,
  lastTrade: null,
  flow: new Flow(), // the session's order flow (volume profile, delta, high/low, VWAP)
  flowVer: 0,
  seekVer: 0, // bumps on every discontinuity (seek, instrument change): views reset history
  selected: null, // {side, price} of the L3 queue
  simVer: 0, // bumps when simulated orders change (views refetch them)
  sims: null, // {index, orders} of the book's simulated orders at `index`
  simSelected: null, // id of the selected simulated order
  orderSize: 1,
  message: null, // {text, kind: "info" | "warn" | "error", t}: the status line
  notice: null, // GET /api/v1/first_book of the book shown (is it complete?)
  error: null,
});

function applyFrame(doc, kind) {
  const s = store.get();
  if (s.sel && s.sel.consolidated && kind !== "consolidated") {
    // consolidated view: the stream (first publisher) drives the clock; the ladder shows the
    // consolidated book fetched at the stream's index (a throttled static snapshot)
    const patch = {};
    if (doc.index !== null && doc.index !== undefined) patch.index = doc.index;
    if (doc.ts_recv !== null && doc.ts_recv !== undefined) patch.clock = nextClock(s, doc.ts_recv, kind);
    store.set(patch);
    refreshConsolidated();
    return;
  }
  const prices = [];
  for (const l of doc.bids || []) prices.push(l[0]);
  prices.reverse();
  for (const l of doc.asks || []) prices.push(l[0]);
  const tick = deriveTick(prices, s.tick);
  const patch = { frame: doc, frameVer: s.frameVer + 1, tick, decimals: decimalsForTick(tick) };
  if (doc.index !== null && doc.index !== undefined) patch.index = doc.index;
  if (doc.ts_recv !== null && doc.ts_recv !== undefined) patch.clock = nextClock(s, doc.ts_recv, kind);
  store.set(patch);
}

/** The clock after a frame at `ts`: never backwards while playing a file (frames of one event
 * share a time), but the data's own time in live mode (a looped feed starts over) and after a
 * snapshot (a seek). */
function nextClock(s, ts, kind) {
  if (kind === "snapshot" || kind === "consolidated" || s.live) return ts;
  return Math.max(s.clock || 0, ts);
}

let consTimer = null;
let consBusy = false;
let consLast = 0;
/** Fetch the consolidated book at the current index, at most every 200 ms. */
function refreshConsolidated() {
  if (consTimer !== null) return;
  const wait = Math.max(0, 200 - (performance.now() - consLast));
  consTimer = setTimeout(async () => {
    consTimer = null;
    const s = store.get();
    if (!s.sel || !s.sel.consolidated || s.index === null) return;
    if (consBusy) { refreshConsolidated(); return; }
    consBusy = true;
    consLast = performance.now();
    try {
      const doc = await getJSON("/api/v1/consolidated", { ...consParams(s.sel), index: s.index });
      if (store.get().sel === s.sel) applyFrame(toFrame(doc), "consolidated");
    } catch (err) {
      reportError(err);
    } finally {
      consBusy = false;
    }
  }, wait);
}

function consParams(sel) {
  return { instrument_id: sel.iid, source: sel.source, depth: DEPTH };
}

/** GET the book (or the consolidated book) for a seek/step target and apply it. */
async function fetchBook(sel, target) {
  const doc = sel.consolidated
    ? await getJSON("/api/v1/consolidated", { ...consParams(sel), ...target })
    : await getJSON("/api/v1/book", { ...bookParams(sel), depth: DEPTH, ...target });
  if (store.get().sel !== sel) return doc;
  applyFrame(toFrame(doc), sel.consolidated ? "consolidated" : "snapshot");
  return doc;
}

function pushTrade(doc) {
  const s = store.get();
  s.trades.push(doc);
  const counted = s.flow.add(doc);
  store.set({
    tradeVer: s.tradeVer + 1,
    lastTrade: doc,
    clock: s.live ? doc.ts_recv : Math.max(s.clock || 0, doc.ts_recv),
    flowVer: counted ? s.flowVer + 1 : s.flowVer,
  });
}

const stream = new Stream(
  {
    snapshot: (doc) => applyFrame(doc, "snapshot"),
    book: (doc) => applyFrame(doc, "book"),
    trade: (doc) => pushTrade(doc),
    status: (doc) => {
      const s = store.get();
      const patch = { rate: doc.rate, done: !!doc.done };
      if (doc.index !== null && doc.index !== undefined) {
        patch.index = s.live ? doc.index : Math.max(s.index ?? -1, doc.index);
      }
      if (doc.clock !== null && doc.clock !== undefined) {
        patch.clock = s.live ? doc.clock : Math.max(s.clock || 0, doc.clock);
      }
      store.set(patch);
      if (store.get().sel?.consolidated) refreshConsolidated();
    },
    end: () => {
      stream.close();
      store.set({ playing: false, done: true, conn: "ended", rate: 0 });
    },
    shutdown: () => store.set({ conn: "reconnecting" }), // the browser reconnects by itself
  },
  (conn) => {
    if (!store.get().playing && conn !== "closed") return;
    store.set({ conn, reconnects: stream.reconnects });
  },
);

function streamParams(from) {
  const s = store.get();
  if (s.live) return { instrument_id: s.sel.iid, publisher_id: s.sel.pid, depth: DEPTH, live: true };
  return { ...bookParams(s.sel), depth: DEPTH, from, speed: s.speed === "max" ? "max" : s.speed };
}

function resetHistory() {
  const s = store.get();
  s.trades.clear();
  s.flow.reset();
  store.set({
    seekVer: s.seekVer + 1, tradeVer: s.tradeVer + 1, lastTrade: null, done: false,
    flowVer: s.flowVer + 1,
  });
  loadFlow();
}

function reportError(err) {
  console.warn(err);
  store.set({ error: String(err.message || err) });
}

/** A line in the status bar (a reason an action did nothing, a confirmation). */
function say(text, kind = "info") {
  store.set({ message: { text, kind, t: performance.now() } });
}

// ---- the session's order flow: the server's aggregate up to the clock, then the trades seen

let flowTimer = null;
let flowGen = 0;
function loadFlow() {
  clearTimeout(flowTimer);
  const gen = ++flowGen;
  flowTimer = setTimeout(async () => {
    const s = store.get();
    if (!s.sel || s.live || s.sel.consolidated || s.clock === null) return;
    // ns as JS numbers carry ~256 ns of error: the session starts a microsecond before the
    // data's first record (none is earlier), and there is nothing to count before it
    const end = s.clock;
    const start = Math.max(s.sel.first - 1000, end - SESSION_NS);
    if (!(end - start >= 1000)) return;
    try {
      const q = new URLSearchParams({
        ...bookParams(s.sel), start: nsString(start), end: nsString(end), buckets: "1",
      });
      const resp = await fetch(`/api/v1/heatmap?${q}`);
      if (!resp.ok) return;
      const raster = decodeRaster(await resp.arrayBuffer());
      const now = store.get();
      if (gen !== flowGen || now.sel !== s.sel) return;
      now.flow.load(raster.trades, raster.header.position_end - 1, start);
      store.set({ flowVer: now.flowVer + 1 });
    } catch (err) {
      console.warn("order flow", err);
    }
  }, 250);
}

// ---- simulated orders

/** Why simulated orders cannot work in this view, or null when they can. */
function simBlocked(s) {
  if (!s.sel) return "no book selected";
  if (s.live) {
    return "Simulated orders run against recorded history: leave live mode (untick live) and " +
      "replay the recorded session to trade.";
  }
  if (s.sel.consolidated) {
    return "Simulated orders rest in one publisher's FIFO queue: pick a publisher in the " +
      "selector (the consolidated book has no queue to join).";
  }
  if (s.index === null) return "waiting for the book";
  return null;
}

let simTimer = null;
let simBusy = false;
/** Fetch the book's simulated orders as they stand at the current index (throttled). */
function refreshSims(now = false) {
  clearTimeout(simTimer);
  simTimer = setTimeout(async () => {
    const s = store.get();
    if (!s.sel || simBlocked(s) || s.simVer === 0) return;
    if (simBusy) { refreshSims(); return; }
    simBusy = true;
    const index = Math.max(0, s.index);
    try {
      const doc = await getJSON("/api/v1/sim/orders", { ...bookParams(s.sel), index });
      if (store.get().sel === s.sel) store.set({ sims: { index: doc.index, orders: doc.orders } });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 503)) reportError(err);
    } finally {
      simBusy = false;
    }
  }, now ? 0 : 250);
}

async function simRequest(path, body, done) {
  const s = store.get();
  const why = simBlocked(s);
  if (why) {
    say(why, "warn");
    return null;
  }
  try {
    const doc = await postJSON(path, { source: s.sel.source, index: Math.max(0, s.index), ...body });
    const cur = store.get();
    const orders = (cur.sims && cur.sims.index === doc.index ? cur.sims.orders : []).filter((o) => o.id !== doc.order.id);
    orders.push(doc.order);
    orders.sort((a, b) => a.id - b.id);
    store.set({ simVer: cur.simVer + 1, sims: { index: doc.index, orders } });
    if (done) say(done(doc.order));
    refreshSims(true);
    return doc.order;
  } catch (err) {
    say(`simulated order refused: ${err.message || err}`, "error");
    return null;
  }
}

const actions = {
  play() {
    const s = store.get();
    if (!s.sel) return;
    let from = s.index === null || s.index < 0 ? 0 : s.index;
    if (s.done || (s.sel.records && from >= s.sel.records - 1)) {
      from = 0;
      resetHistory();
    }
    store.set({ playing: true, error: null });
    stream.open(streamParams(from));
  },
  /** Follow the server's live feed (on) or go back to paused playback (off). A book the feed
   * does not carry is swapped for one it does (the same instrument if it can). */
  setLive(on) {
    if (!on) {
      store.set({ live: false });
      actions.pause();
      const s = store.get();
      if (s.sel && s.sel.liveOnly) say("live book: no recorded history to replay yet", "info");
      return;
    }
    const s = store.get();
    const books = (s.liveBooks && s.liveBooks.books) || [];
    if (!books.length) {
      say("the live feed has sent no book yet", "warn");
      return;
    }
    const cur = s.sel;
    const here = cur && books.find((b) => b.instrument_id === cur.iid && (cur.consolidated || b.publisher_id === cur.pid));
    const pick = here || books[0];
    if (!cur || cur.consolidated || !here || cur.pid !== pick.publisher_id) {
      selectLiveBook(pick);
    }
    resetHistory();
    store.set({ live: true, playing: true, error: null, selected: null, sims: null });
    stream.open(streamParams(null));
  },
  pause() {
    stream.close();
    store.set({ playing: false, conn: "paused", rate: 0 });
  },
  toggle() {
    if (store.get().playing) actions.pause();
    else actions.play();
  },
  setSpeed(speed) {
    store.set({ speed });
    const s = store.get();
    if (s.playing && !s.live) stream.open(streamParams(Math.max(0, s.index ?? 0)));
  },
  /** target: {index} or {ts} (ns number or an exact string the server parses). */
  async seek(target) {
    const s = store.get();
    if (!s.sel || s.live) return;
    resetHistory();
    if (s.playing) {
      const from = target.index !== undefined ? Math.max(0, target.index) : String(target.ts);
      stream.open(streamParams(from));
      return;
    }
    const params = {};
    if (target.index !== undefined) params.index = Math.max(0, Math.min(target.index, s.sel.records - 1));
    else params.ts = typeof target.ts === "number" ? nsString(target.ts) : target.ts;
    try {
      const doc = await fetchBook(s.sel, params);
      store.set({ error: null, done: false });
      loadFlow();
      backfillTape(doc.ts_recv, doc.index);
      refreshSims(true);
    } catch (err) {
      reportError(err);
    }
  },
  async step(dir) {
    if (store.get().playing) actions.pause();
    const s = store.get();
    if (!s.sel || s.live) return;
    const cur = s.index ?? -1;
    try {
      const next = dir > 0 ? await nextBoundary(s, cur) : await prevBoundary(s, cur);
      if (next === null) return;
      if (dir < 0) resetHistory();
      await fetchBook(s.sel, { index: next });
      if (dir > 0) {
        const trades = await getJSON("/api/v1/trades", { ...bookParams(s.sel), after: cur, limit: 50 });
        for (const t of trades.items) if (t.index <= next) pushTrade(t);
      } else {
        backfillTape(store.get().clock, next);
      }
      refreshSims(true);
    } catch (err) {
      reportError(err);
    }
  },
  /** Switch to the book (iid, pid, source): stops playback and opens it at its first
   * consistent two-sided state (GET /api/v1/first_book). With pid "c": the consolidated book
   * of the instrument (all publishers of that source; the first publisher's stream drives the
   * clock and the tape). */
  selectBook(iid, pid, source) {
    const s = store.get();
    const inst = s.instruments.find((i) => i.instrument_id === iid);
    const consolidated = pid === "c";
    const pubs = inst ? inst.publishers.filter((p) => p.source === source) : [];
    const pub = consolidated ? pubs[0] : pubs.find((p) => p.publisher_id === pid);
    if (!pub) return;
    const src = s.sources.find((x) => x.source === source);
    const first = consolidated ? Math.min(...pubs.map((p) => p.ts_recv_first)) : pub.ts_recv_first;
    const last = consolidated ? Math.max(...pubs.map((p) => p.ts_recv_last)) : pub.ts_recv_last;
    const sel = {
      iid, pid: pub.publisher_id, source, symbol: inst.symbol, first, last,
      records: src ? src.records : pub.records, consolidated,
      publishers: pubs.map((p) => p.publisher_id), kind: src ? src.kind : "file",
    };
    stream.close();
    store.set({
      sel, tick: 0, decimals: 2, index: null, clock: sel.first, playing: false, live: false,
      conn: "idle", selected: null, frame: null, rate: null, sims: null, simSelected: null,
      notice: null, message: null,
    });
    resetHistory();
    openFirstView(sel);
  },
  /** Switch to a book of the live feed and follow it. */
  selectLive(iid, pid) {
    const s = store.get();
    const b = ((s.liveBooks && s.liveBooks.books) || []).find((x) => x.instrument_id === iid && x.publisher_id === pid);
    if (!b) return;
    selectLiveBook(b);
    actions.setLive(true);
  },
  /** Place a simulated limit order (mbo_fast.Backtest on the server) at the current index. */
  async placeSim(side, price, size = 1) {
    const s = store.get();
    const order = await simRequest("/api/v1/sim/orders", {
      instrument_id: s.sel?.iid, publisher_id: s.sel?.pid, side, price, size,
    }, (o) => `${o.side === "B" ? "buy" : "sell"} ${o.size} @ ${priceText(o.price)}: ${o.status}` +
      (o.orders_ahead !== null ? `, ${o.orders_ahead} orders ahead` : ""));
    // the L3 queue shows the level it joined: the order moves up as the orders ahead leave
    const cur = store.get().selected;
    if (order && order.status === "open" && (!cur || cur.side !== side || cur.price !== price)) {
      store.set({ selected: { side, price } });
    }
    return order;
  },
  cancelSim(id) {
    return simRequest("/api/v1/sim/cancel", { id }, (o) => `order #${o.id}: ${o.status}`);
  },
  /** Change a simulated order's price and/or size ({price, size}). */
  modifySim(id, change) {
    return simRequest("/api/v1/sim/modify", { id, ...change },
      (o) => `order #${o.id}: ${o.remaining} @ ${priceText(o.price)}, ${o.status}`);
  },
  selectSim(id) {
    store.set({ simSelected: id });
  },
  setOrderSize(n) {
    const size = Math.max(1, Math.min(1_000_000, Math.round(n) || 1));
    store.set({ orderSize: size });
  },
  async clearSims() {
    const s = store.get();
    if (!s.sel) return;
    try {
      const resp = await fetch(`/api/v1/sim/orders?source=${s.sel.source}`, { method: "DELETE" });
      if (!resp.ok) throw new ApiError(resp.status, resp.statusText);
      store.set({ sims: null, simSelected: null, simVer: 0 });
    } catch (err) {
      reportError(err);
    }
  },
  selectLevel(side, price) {
    if (side === null) {
      store.set({ selected: null });
      return;
    }
    const cur = store.get().selected;
    const same = cur && cur.side === side && cur.price === price;
    store.set({ selected: same ? null : { side, price } });
  },
  say,
};

function priceText(px) {
  const d = store.get().decimals;
  return (px / 1e9).toFixed(d);
}

function selectLiveBook(b) {
  const s = store.get();
  const inst = s.instruments.find((i) => i.instrument_id === b.instrument_id);
  const live = s.liveBooks;
  const sel = {
    iid: b.instrument_id, pid: b.publisher_id, source: live.source, symbol: b.symbol || inst?.symbol || null,
    first: null, last: null, records: 0, consolidated: false, publishers: [b.publisher_id],
    kind: "live", liveOnly: true,
  };
  stream.close();
  store.set({
    sel, tick: 0, decimals: 2, index: null, clock: null, playing: false, conn: "idle",
    selected: null, frame: null, rate: null, sims: null, simSelected: null, notice: null,
  });
}

/** Open a book at its first consistent two-sided state, saying whether it is complete. */
async function openFirstView(sel) {
  let index = 0;
  if (!sel.consolidated) {
    try {
      const doc = await getJSON("/api/v1/first_book", bookParams(sel));
      if (store.get().sel !== sel) return;
      store.set({ notice: doc });
      if (doc.index !== null) index = doc.index;
    } catch (err) {
      console.warn("first view", err);
    }
  }
  if (store.get().sel === sel) actions.seek({ index });
}

function toFrame(doc) {
  return {
    index: doc.index,
    ts_recv: doc.ts_recv,
    instrument_id: doc.instrument_id,
    publisher_id: doc.publisher_id,
    bids: doc.bids.map((l) => [l.price, l.size, l.count]),
    asks: doc.asks.map((l) => [l.price, l.size, l.count]),
    crossed: doc.crossed,
    uncross: doc.uncross,
  };
}

async function nextBoundary(s, cur) {
  try {
    const page = await getJSON("/api/v1/bbo", { ...bookParams(s.sel), after: cur, limit: 1 });
    return page.items.length ? page.items[0].index : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 503) return Math.min(cur + 1, s.sel.records - 1);
    throw err;
  }
}

async function prevBoundary(s, cur) {
  if (cur <= 0) return null;
  const end = s.clock ?? s.sel.first;
  for (const window of [5e9, 300e9, 36_000e9]) {
    const start = Math.max(s.sel.first, end - window);
    let after = null;
    let best = null;
    for (let page = 0; page < 20; page++) {
      const res = await getJSON("/api/v1/bbo", {
        ...bookParams(s.sel), start: nsString(start), end: nsString(end + 1000), after, limit: 10000,
      });
      for (const it of res.items) if (it.index < cur) best = it.index;
      if (res.next_after === null) break;
      after = res.next_after;
    }
    if (best !== null) return best;
    if (start <= s.sel.first) return null;
  }
  return null;
}

async function backfillTape(ts, index) {
  const s = store.get();
  if (ts === null || ts === undefined || !s.sel) return;
  try {
    const start = Math.max(s.sel.first, ts - 600e9);
    const res = await getJSON("/api/v1/trades", {
      ...bookParams(s.sel), start: nsString(start), end: nsString(ts + 1000), limit: 10000,
    });
    if (store.get().sel !== s.sel) return;
    const items = res.items.filter((t) => t.index <= index).slice(-60);
    const cur = store.get();
    for (const t of items) {
      cur.trades.push(t);
      cur.flow.add(t);
    }
    if (items.length) {
      store.set({
        tradeVer: cur.tradeVer + 1, lastTrade: items[items.length - 1], flowVer: cur.flowVer + 1,
      });
    }
  } catch {
    /* the tape fills as we play */
  }
}

/** Poll the live feed's books (the selector lists them; live mode needs one). */
async function pollLive() {
  try {
    const doc = await getJSON("/api/v1/live/books");
    if (!doc.configured) return;
    const prev = store.get().liveBooks;
    if (!prev || JSON.stringify(prev.books) !== JSON.stringify(doc.books) || prev.source !== doc.source) {
      store.set({ liveBooks: doc });
      // the live session is a stored source too: its recorded history is selectable
      const [{ instruments }, { sources }] = await Promise.all([
        getJSON("/api/v1/instruments"), getJSON("/api/v1/sources"),
      ]);
      store.set({ instruments, sources });
    }
  } catch {
    /* not ready yet */
  }
  setTimeout(pollLive, store.get().liveBooks ? 5000 : 2000);
}

async function boot() {
  const byId = (id) => document.getElementById(id);
  const selector = mountSelector(byId("selector"), store, actions);
  const market = mountMarket(byId("market"), store);
  const ladder = mountLadder(byId("ladder"), store, actions);
  const depth = mountDepth(byId("depth"), store);
  const heatmap = mountHeatmap(byId("heatmap"), store, actions);
  const tape = mountTape(byId("tape"), store);
  const queue = mountQueue(byId("queue"), store);
  const trading = mountTrading(byId("trading"), store, actions);
  const player = mountPlayer(byId("player"), store, actions);
  const notice = mountNotice(byId("notice"), store);
  const views = [selector, market, ladder, depth, heatmap, tape, queue, trading, player, notice];
  actions.recentre = () => ladder.recentre();
  window.__mbo = { store, actions, stream, views, ladder, tape, heatmap, queue, trading }; // tests, the console
  store.subscribe((s, p) => {
    if (s.index !== p.index && s.sims && s.simVer > 0 && !s.live) refreshSims();
  });
  pollLive();
  for (let attempt = 0; ; attempt++) {
    try {
      const { instruments } = await getJSON("/api/v1/instruments");
      const { sources } = await getJSON("/api/v1/sources");
      store.set({ instruments, sources });
      const first = instruments[0];
      if (first) {
        const p = first.publishers[0];
        actions.selectBook(first.instrument_id, p.publisher_id, p.source);
      }
      return;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 503) || attempt > 60) {
        reportError(err);
        return;
      }
      store.set({ conn: "connecting" });
      await new Promise((r) => setTimeout(r, 500)); // data still loading
    }
  }
}

boot();

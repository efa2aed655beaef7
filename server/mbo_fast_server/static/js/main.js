// Bootstrap: the store, the player actions (play/pause/seek/step/speed), the stream and views.
import { createStore } from "./store.js";
import { ApiError, Stream, bookParams, getJSON } from "./api.js";
import { Ring } from "./lib/heat.js";
import { decimalsForTick, deriveTick, nsString } from "./lib/format.js";
import { mountSelector } from "./selector.js";
import { mountMarket } from "./market.js";
import { mountLadder } from "./ladder.js";
import { mountDepth } from "./depth.js";
import { mountHeatmap } from "./heatmap.js";
import { mountTape } from "./tape.js";
import { mountQueue } from "./queue.js";
import { mountPlayer } from "./player.js";

export const DEPTH = 25; // levels per side in every frame
const TAPE_MAX = 300;

const store = createStore({
  instruments: [],
  sources: [],
  sel: null, // {iid, pid, source, symbol, first, last, records}
  frame: null, // the current book frame {index, ts_recv, bids, asks, crossed, uncross}
  frameVer: 0,
  tick: 0,
  decimals: 2,
  index: null,
  clock: null,
  playing: false,
  speed: 1,
  conn: "idle",
  reconnects: 0,
  rate: null,
  done: false,
  trades: new Ring(TAPE_MAX),
  tradeVer: 0,
  lastTrade: null,
  seekVer: 0, // bumps on every discontinuity (seek, instrument change): views reset history
  selected: null, // {side, price} of the L3 queue
  simVer: 0, // bumps when a simulated order is placed (the L3 queue refetches)
  error: null,
});

function applyFrame(doc, kind) {
  const s = store.get();
  if (s.sel && s.sel.consolidated && kind !== "consolidated") {
    // consolidated view: the stream (first publisher) drives the clock; the ladder shows the
    // consolidated book fetched at the stream's index (a throttled static snapshot)
    const patch = {};
    if (doc.index !== null && doc.index !== undefined) patch.index = doc.index;
    if (doc.ts_recv !== null && doc.ts_recv !== undefined) {
      patch.clock = kind === "snapshot" ? doc.ts_recv : Math.max(s.clock || 0, doc.ts_recv);
    }
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
  if (doc.ts_recv !== null && doc.ts_recv !== undefined) {
    patch.clock = kind === "snapshot" ? doc.ts_recv : Math.max(s.clock || 0, doc.ts_recv);
  }
  store.set(patch);
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
  applyFrame(toFrame(doc), sel.consolidated ? "consolidated" : "snapshot");
  return doc;
}

function pushTrade(doc) {
  const s = store.get();
  s.trades.push(doc);
  store.set({
    tradeVer: s.tradeVer + 1,
    lastTrade: doc,
    clock: Math.max(s.clock || 0, doc.ts_recv),
  });
}

const stream = new Stream(
  {
    snapshot: (doc) => applyFrame(doc, "snapshot"),
    book: (doc) => applyFrame(doc, "book"),
    trade: (doc) => pushTrade(doc),
    status: (doc) => {
      const patch = { rate: doc.rate, done: !!doc.done };
      if (doc.index !== null) patch.index = Math.max(store.get().index ?? -1, doc.index);
      if (doc.clock !== null) patch.clock = Math.max(store.get().clock || 0, doc.clock);
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
  if (s.live) return { ...bookParams(s.sel), depth: DEPTH, live: true };
  return { ...bookParams(s.sel), depth: DEPTH, from, speed: s.speed === "max" ? "max" : s.speed };
}

function resetHistory() {
  const s = store.get();
  s.trades.clear();
  store.set({ seekVer: s.seekVer + 1, tradeVer: s.tradeVer + 1, lastTrade: null, done: false });
}

function reportError(err) {
  console.warn(err);
  store.set({ error: String(err.message || err) });
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
  /** Follow the server's live feed (on) or go back to paused playback (off). */
  setLive(on) {
    // the live broadcast is per publisher: leave the consolidated view for its first publisher
    const c = store.get().sel;
    if (on && c && c.consolidated) actions.selectBook(c.iid, c.pid, c.source);
    const s = store.get();
    store.set({ live: on });
    if (!on) return actions.pause();
    if (!s.sel) return;
    resetHistory();
    store.set({ playing: true, error: null });
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
    if (s.playing) stream.open(streamParams(Math.max(0, s.index ?? 0)));
  },
  /** target: {index} or {ts} (ns number or an exact string the server parses). */
  async seek(target) {
    const s = store.get();
    if (!s.sel) return;
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
      backfillTape(doc.ts_recv, doc.index);
    } catch (err) {
      reportError(err);
    }
  },
  async step(dir) {
    if (store.get().playing) actions.pause();
    const s = store.get();
    if (!s.sel) return;
    const cur = s.index ?? -1;
    try {
      const next = dir > 0 ? await nextBoundary(s, cur) : await prevBoundary(s, cur);
      if (next === null) return;
      await fetchBook(s.sel, { index: next });
      if (dir > 0) {
        const trades = await getJSON("/api/v1/trades", { ...bookParams(s.sel), after: cur, limit: 50 });
        for (const t of trades.items) if (t.index <= next) pushTrade(t);
      }
    } catch (err) {
      reportError(err);
    }
  },
  /** Switch to the book (iid, pid, source): stops playback, shows its first record. With pid
   * "c": the consolidated book of the instrument (all publishers of that source; the first
   * publisher's stream drives the clock and the tape). */
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
      publishers: pubs.map((p) => p.publisher_id),
    };
    stream.close();
    store.set({
      sel, tick: 0, decimals: 2, index: null, clock: sel.first, playing: false, conn: "idle",
      selected: null, frame: null, rate: null,
    });
    resetHistory();
    actions.seek({ index: 0 });
  },
  /** Place a simulated limit order (mbo_fast.Backtest on the server) at the current index. */
  async placeSim(side, price, size = 1) {
    const s = store.get();
    if (!s.sel || s.sel.consolidated || s.live || s.index === null) return null; // replay only
    try {
      const resp = await fetch("/api/v1/sim/orders", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          instrument_id: s.sel.iid, publisher_id: s.sel.pid, source: s.sel.source,
          side, price, size, index: Math.max(0, s.index),
        }),
      });
      const body = await resp.json();
      if (!resp.ok) throw new ApiError(resp.status, body.error || resp.statusText);
      const cur = store.get().selected;
      if (!cur || cur.side !== side || cur.price !== price) store.set({ selected: { side, price } });
      store.set({ simVer: store.get().simVer + 1 });
      return body.order;
    } catch (err) {
      reportError(err);
      return null;
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
};

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
  if (ts === null || ts === undefined) return;
  try {
    const start = Math.max(s.sel.first, ts - 600e9);
    const res = await getJSON("/api/v1/trades", {
      ...bookParams(s.sel), start: nsString(start), end: nsString(ts + 1000), limit: 10000,
    });
    const items = res.items.filter((t) => t.index <= index).slice(-60);
    for (const t of items) pushTrade(t);
  } catch {
    /* storage still loading: the tape fills as we play */
  }
}

async function boot() {
  const byId = (id) => document.getElementById(id);
  const selector = mountSelector(byId("selector"), store, actions);
  const market = mountMarket(byId("market"), store);
  const ladder = mountLadder(byId("ladder"), store, actions);
  const depth = mountDepth(byId("depth"), store);
  const heatmap = mountHeatmap(byId("heatmap"), store);
  const tape = mountTape(byId("tape"), store);
  const queue = mountQueue(byId("queue"), store);
  const player = mountPlayer(byId("player"), store, actions);
  const views = [selector, market, ladder, depth, heatmap, tape, queue, player];
  window.__mbo = { store, actions, stream, views, ladder, tape, heatmap }; // tests, the console
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

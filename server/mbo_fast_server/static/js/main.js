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
  error: null,
});

function applyFrame(doc, kind) {
  const s = store.get();
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
    const params = { ...bookParams(s.sel), depth: DEPTH };
    if (target.index !== undefined) params.index = Math.max(0, Math.min(target.index, s.sel.records - 1));
    else params.ts = typeof target.ts === "number" ? nsString(target.ts) : target.ts;
    try {
      const doc = await getJSON("/api/v1/book", params);
      applyFrame(toFrame(doc), "snapshot");
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
      const doc = await getJSON("/api/v1/book", { ...bookParams(s.sel), depth: DEPTH, index: next });
      applyFrame(toFrame(doc), "snapshot");
      if (dir > 0) {
        const trades = await getJSON("/api/v1/trades", { ...bookParams(s.sel), after: cur, limit: 50 });
        for (const t of trades.items) if (t.index <= next) pushTrade(t);
      }
    } catch (err) {
      reportError(err);
    }
  },
  /** Switch to the book (iid, pid, source): stops playback, shows its first record. */
  selectBook(iid, pid, source) {
    const s = store.get();
    const inst = s.instruments.find((i) => i.instrument_id === iid);
    const pub = inst && inst.publishers.find((p) => p.publisher_id === pid && p.source === source);
    if (!pub) return;
    const src = s.sources.find((x) => x.source === source);
    const sel = {
      iid, pid, source, symbol: inst.symbol, first: pub.ts_recv_first, last: pub.ts_recv_last,
      records: src ? src.records : pub.records,
    };
    stream.close();
    store.set({
      sel, tick: 0, decimals: 2, index: null, clock: sel.first, playing: false, conn: "idle",
      selected: null, frame: null, rate: null,
    });
    resetHistory();
    actions.seek({ index: 0 });
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
  const views = [
    mountSelector(document.getElementById("selector"), store, actions),
    mountMarket(document.getElementById("market"), store),
    mountLadder(document.getElementById("ladder"), store, actions),
    mountDepth(document.getElementById("depth"), store),
    mountHeatmap(document.getElementById("heatmap"), store),
    mountTape(document.getElementById("tape"), store),
    mountQueue(document.getElementById("queue"), store),
    mountPlayer(document.getElementById("player"), store, actions),
  ];
  window.__mbo = { store, actions, stream, views }; // for tests and the console
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

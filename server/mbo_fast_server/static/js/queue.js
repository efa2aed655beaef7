// L3 queue of the selected level: its orders in FIFO order (front first), sizes as bars, the
// newest arrival and orders new since the previous look marked. Fetched from
// /api/v1/book?orders=true at the current index (in live mode from /api/v1/live/book, the live
// book now): on selection, then at most every 400 ms. Simulated orders (/api/v1/sim/orders,
// mbo_fast.Backtest) resting at the level are drawn at their exact queue position: after the
// historical orders ahead; each simulated order of the level gets a line saying where it is.
import { invalidate } from "./store.js";
import { bookParams, getJSON } from "./api.js";
import { queueOf } from "./lib/book.js";
import { formatPrice } from "./lib/format.js";

const MAX_ROWS = 300;
const MIN_INTERVAL = 400;

export function mountQueue(root, store) {
  const head = document.createElement("div");
  head.className = "qhead";
  const notes = document.createElement("div");
  notes.className = "qnotes";
  const body = document.createElement("div");
  body.className = "qbody";
  body.tabIndex = 0; // scrollable by keyboard
  body.setAttribute("aria-label", "Orders of the selected level, front of the queue first");
  root.append(head, notes, body);
  const sub = document.getElementById("queue-sub");
  let queue = null; // from queueOf()
  let fetchedIndex = null;
  let inflight = false;
  let again = false;
  let timer = null;
  let lastFetch = 0;
  let prevIds = null;
  let prevKey = null;
  let gone = false;
  let sims = []; // simulated orders of this book at fetchedIndex (all statuses)

  async function fetchQueue() {
    const s = store.get();
    const sel = s.selected;
    if (!sel || !s.sel || s.sel.consolidated || (s.index === null && !s.live)) return;
    if (inflight) { again = true; return; }
    inflight = true;
    lastFetch = performance.now();
    const index = s.index;
    try {
      const levels = sel.side === "B" ? s.frame?.bids : s.frame?.asks;
      const rank = levels ? levels.findIndex((l) => l[0] === sel.price) : -1;
      const depth = Math.max(1, rank >= 0 ? rank + 1 : 100);
      const [doc, simDoc] = s.live
        ? [await getJSON("/api/v1/live/book", {
          instrument_id: s.sel.iid, publisher_id: s.sel.pid, depth, orders: true,
        }), null]
        : await Promise.all([
          getJSON("/api/v1/book", { ...bookParams(s.sel), index, depth, orders: true }),
          s.simVer > 0 ? getJSON("/api/v1/sim/orders", { ...bookParams(s.sel), index }) : null,
        ]);
      sims = simDoc ? simDoc.orders : [];
      const now = store.get().selected;
      if (!now || now.side !== sel.side || now.price !== sel.price) return;
      if (store.get().live !== s.live) return;
      const key = `${sel.side}:${sel.price}`;
      const q = queueOf(doc, sel.side, sel.price, key === prevKey ? prevIds : null);
      gone = q === null;
      if (gone) queue = { price: sel.price, side: sel.side, count: 0, size: 0, orders: [] };
      if (q) {
        queue = q;
        prevIds = new Set(q.orders.map((o) => o.id));
        prevKey = key;
      }
      fetchedIndex = doc.index;
      invalidate(view);
    } catch (err) {
      console.warn("queue fetch failed", err);
    } finally {
      inflight = false;
      if (again) { again = false; schedule(); }
    }
  }

  function schedule() {
    clearTimeout(timer);
    const wait = Math.max(0, MIN_INTERVAL - (performance.now() - lastFetch));
    timer = setTimeout(fetchQueue, wait);
  }

  const view = {
    render() {
      const s = store.get();
      const sel = s.selected;
      root.dataset.state = !sel ? "none" : queue ? "ready" : "loading";
      root.dataset.key = sel && queue ? `${queue.side}:${queue.price}` : "";
      if (sel && s.sel && s.sel.consolidated) {
        head.textContent = "";
        notes.replaceChildren();
        body.innerHTML = '<div class="empty">L3 queues are per publisher: pick a publisher in the selector.</div>';
        return;
      }
      if (!sel) {
        head.textContent = "";
        notes.replaceChildren();
        body.innerHTML = '<div class="empty">Click a price level in the ladder to see its orders (FIFO).</div>';
        sub.textContent = "click a ladder level";
        return;
      }
      const sideName = sel.side === "B" ? "Bid" : "Ask";
      if (!queue) {
        head.textContent = `${sideName} ${formatPrice(sel.price, s.decimals)} · loading…`;
        return;
      }
      sub.textContent = fetchedIndex === null ? "" : `${s.live ? "live " : ""}at #${fetchedIndex}`;
      head.innerHTML = "";
      const b = (t) => { const e = document.createElement("b"); e.textContent = t; return e; };
      head.append(
        `${sideName} `, b(formatPrice(queue.price, s.decimals)), " · ",
        b(String(queue.orders.length)), " orders · ", b(String(queue.size)), " lots",
        gone ? " · no orders at this price now" : "",
      );
      head.dataset.count = String(queue.orders.length);
      const here = sims.filter((o) => o.side === queue.side && o.price === queue.price);
      const open = here.filter((o) => o.status === "open" && o.orders_ahead !== null);
      notes.replaceChildren(...here.map((o) => {
        const f = document.createElement("div");
        f.className = `simnote ${o.status}`;
        f.dataset.simId = String(o.id);
        const what = `◆ simulated #${o.id} ${o.side === "B" ? "buy" : "sell"} ${o.remaining}/${o.size}`;
        f.textContent = o.status === "open"
          ? `${what}: ${o.orders_ahead} orders (${o.volume_ahead} lots) ahead`
          : `${what}: ${o.status}${o.filled ? `, filled ${o.filled} of ${o.size}` : ""}`;
        return f;
      }));
      let max = 1;
      for (const o of queue.orders) if (o.size > max) max = o.size;
      const frag = document.createDocumentFragment();
      const simRow = (o) => {
        const r = document.createElement("div");
        r.className = `qrow ${queue.side} sim`;
        r.dataset.ahead = String(o.orders_ahead);
        r.dataset.simId = String(o.id);
        r.title = `simulated order #${o.id}: ${o.remaining} of ${o.size} lots left, ` +
          `${o.orders_ahead} orders (${o.volume_ahead} lots) ahead`;
        const pos = document.createElement("span"); pos.className = "pos"; pos.textContent = "◆";
        const id = document.createElement("span"); id.textContent = `SIM #${o.id}`;
        const barBox = document.createElement("span");
        const bar = document.createElement("div"); bar.className = "bar";
        bar.style.width = `${Math.max(3, (o.remaining / max) * 100)}%`;
        barBox.append(bar);
        const tag = document.createElement("span"); tag.className = "tag"; tag.textContent = `${o.remaining} ◆`;
        r.append(pos, id, barBox, tag);
        return r;
      };
      // simulated orders do not see each other: each is drawn after its own orders ahead
      const byAhead = new Map();
      for (const o of open) {
        if (!byAhead.has(o.orders_ahead)) byAhead.set(o.orders_ahead, []);
        byAhead.get(o.orders_ahead).push(o);
      }
      queue.orders.slice(0, MAX_ROWS).forEach((o, i) => {
        for (const so of byAhead.get(i) || []) frag.append(simRow(so));
        const r = document.createElement("div");
        r.className = `qrow ${queue.side}${o.newest ? " newest" : ""}`;
        r.title = `order ${o.id}: ${o.size} lots, position ${i + 1} of ${queue.orders.length}`;
        const pos = document.createElement("span"); pos.className = "pos"; pos.textContent = String(i + 1);
        const id = document.createElement("span"); id.textContent = String(o.id);
        const barBox = document.createElement("span");
        const bar = document.createElement("div"); bar.className = "bar";
        bar.style.width = `${Math.max(3, (o.size / max) * 100)}%`;
        barBox.append(bar);
        const tag = document.createElement("span"); tag.className = "tag";
        tag.textContent = `${o.size}${o.newest ? " ★" : o.fresh ? " •" : ""}`;
        r.append(pos, id, barBox, tag);
        frag.append(r);
      });
      for (const [ahead, list] of byAhead) {
        if (ahead >= Math.min(queue.orders.length, MAX_ROWS)) for (const so of list) frag.append(simRow(so));
      }
      if (queue.orders.length > MAX_ROWS) {
        const more = document.createElement("div");
        more.className = "empty";
        more.textContent = `… ${queue.orders.length - MAX_ROWS} more`;
        frag.append(more);
      }
      body.replaceChildren(frag);
    },
  };

  store.subscribe((s, p) => {
    if (s.selected !== p.selected) {
      queue = null;
      root.dataset.state = s.selected ? "loading" : "none";
      root.dataset.key = "";
      gone = false;
      invalidate(view);
      if (s.selected) { lastFetch = 0; fetchQueue(); }
    } else if (s.selected && (s.live !== p.live || (s.index !== p.index && s.index !== fetchedIndex) ||
        s.simVer !== p.simVer)) {
      if (s.simVer !== p.simVer) lastFetch = 0;
      schedule();
    } else if (s.sel !== p.sel) {
      invalidate(view);
    } else if (s.decimals !== p.decimals) {
      invalidate(view);
    }
  });
  invalidate(view);
  return view;
}

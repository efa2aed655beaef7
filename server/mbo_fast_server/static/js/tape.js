// Time & sales: newest trade on top, a bounded number of DOM rows (the store's ring holds them).
import { invalidate } from "./store.js";
import { formatPrice, formatTime } from "./lib/format.js";

const ROWS = 80;
const BIG = 10; // a trade of this size or more is highlighted

export function mountTape(root, store) {
  const head = document.createElement("div");
  head.className = "trow head";
  head.innerHTML = "<span>time (UTC)</span><span>price</span><span>size</span><span></span>";
  const body = document.createElement("div");
  body.className = "tape-body";
  root.append(head, body);
  for (let i = 0; i < ROWS; i++) {
    const r = document.createElement("div");
    r.className = "trow";
    r.innerHTML = "<span></span><span></span><span></span><span></span>";
    body.append(r);
  }
  let shown = -1; // tradeVer drawn
  let topIndex = null; // record index of the trade in the top row

  function fill(r, t, decimals) {
    r.dataset.index = String(t.index);
    r.className = `trow ${t.side}${t.size >= BIG ? " big" : ""}`;
    const [c0, c1, c2, c3] = r.children;
    c0.textContent = formatTime(t.ts_recv);
    c1.textContent = formatPrice(t.price, decimals);
    c2.textContent = String(t.size);
    c3.textContent = t.side === "B" ? "▲" : t.side === "A" ? "▼" : "·";
  }

  function clear(r) {
    for (const c of r.children) c.textContent = "";
    r.className = "trow";
    delete r.dataset.index;
  }

  // The trades newer than the top row, newest first, when they simply continue the tape
  // (the trade below them is the one on top now); null after a seek or when too many arrived.
  function arrivals(trades) {
    const n = trades.length;
    if (topIndex === null || n === 0) return null;
    const fresh = [];
    for (let i = n - 1; i >= 0 && fresh.length < ROWS; i--) {
      const t = trades.get(i);
      if (t.index === topIndex) return fresh;
      if (t.index < topIndex) return null;
      fresh.push(t);
    }
    return null;
  }

  const view = {
    render() {
      const s = store.get();
      if (s.tradeVer === shown) return;
      shown = s.tradeVer;
      const fresh = arrivals(s.trades);
      if (fresh) {
        // A new trade costs one row: the bottom row moves to the top (no other row changes).
        for (let i = fresh.length - 1; i >= 0; i--) {
          const r = body.lastElementChild;
          fill(r, fresh[i], s.decimals);
          body.prepend(r);
        }
      } else {
        const n = s.trades.length;
        body.childNodes.forEach((r, i) => {
          const t = s.trades.get(n - 1 - i);
          if (t) fill(r, t, s.decimals);
          else if (r.dataset.index !== undefined) clear(r);
        });
      }
      const top = s.trades.last();
      if (top && top.index !== topIndex) {
        body.firstElementChild.animate(
          [{ backgroundColor: "rgba(78,161,255,0.25)" }, { backgroundColor: "transparent" }],
          { duration: 400 },
        );
      }
      topIndex = top ? top.index : null;
    },
  };
  store.subscribe((s, p) => {
    if (s.tradeVer !== p.tradeVer) invalidate(view);
  });
  return view;
}

// Time & sales: newest trade on top, a bounded number of DOM rows (the store's ring holds them).
import { invalidate } from "./store.js";
import { formatPrice, formatTime } from "./lib/format.js";

const ROWS = 80;

export function mountTape(root, store) {
  const head = document.createElement("div");
  head.className = "trow head";
  head.innerHTML = "<span>time (UTC)</span><span>price</span><span>size</span><span></span>";
  const body = document.createElement("div");
  body.className = "tape-body";
  root.append(head, body);
  const rows = [];
  for (let i = 0; i < ROWS; i++) {
    const r = document.createElement("div");
    r.className = "trow";
    r.innerHTML = "<span></span><span></span><span></span><span></span>";
    body.append(r);
    rows.push(r);
  }
  let shown = -1; // tradeVer drawn
  let lastTop = null;
  const view = {
    render() {
      const s = store.get();
      if (s.tradeVer === shown) return;
      shown = s.tradeVer;
      const n = s.trades.length;
      const big = 10;
      for (let i = 0; i < ROWS; i++) {
        const t = s.trades.get(n - 1 - i);
        const r = rows[i];
        if (!t) {
          if (r.dataset.index !== undefined) {
            for (const c of r.children) c.textContent = "";
            r.className = "trow";
            delete r.dataset.index;
          }
          continue;
        }
        if (r.dataset.index === String(t.index)) continue;
        r.dataset.index = String(t.index);
        r.className = `trow ${t.side}${t.size >= big ? " big" : ""}`;
        const [c0, c1, c2, c3] = r.children;
        c0.textContent = formatTime(t.ts_recv);
        c1.textContent = formatPrice(t.price, s.decimals);
        c2.textContent = String(t.size);
        c3.textContent = t.side === "B" ? "▲" : t.side === "A" ? "▼" : "·";
      }
      const top = s.trades.get(n - 1);
      if (top && top !== lastTop) rows[0].animate([{ backgroundColor: "rgba(78,161,255,0.25)" }, { backgroundColor: "transparent" }], { duration: 400 });
      lastTop = top;
    },
  };
  store.subscribe((s, p) => {
    if (s.tradeVer !== p.tradeVer) invalidate(view);
  });
  return view;
}

// Market state strip: spread, mid, imbalance, last trade, msgs/s, crossed / pre-open badge.
import { invalidate } from "./store.js";
import { bookStats } from "./lib/book.js";
import { formatPrice } from "./lib/format.js";

export function mountMarket(root, store) {
  const kv = (key, label, title) => {
    const el = document.createElement("div");
    el.className = "kv";
    el.title = title;
    el.innerHTML = `<b data-k="${key}">—</b><i>${label}</i>`;
    root.append(el);
    return el.querySelector("b");
  };
  const f = {
    bid: kv("bid", "best bid", "Best bid price × size"),
    ask: kv("ask", "best ask", "Best ask price × size"),
    spread: kv("spread", "spread", "Best ask − best bid (ticks)"),
    mid: kv("mid", "mid", "(best bid + best ask) / 2"),
    last: kv("last", "last", "Last trade price × size"),
    rate: kv("rate", "msgs/s", "Records replayed per second (server status)"),
  };
  const imbBox = document.createElement("div");
  imbBox.className = "kv";
  imbBox.title = "Top-of-book imbalance (bid size − ask size) / (bid + ask)";
  imbBox.innerHTML = `<b data-k="imb">—</b><div class="imb"><div></div></div><i>imbalance</i>`;
  root.append(imbBox);
  const imbText = imbBox.querySelector("b");
  const imbBar = imbBox.querySelector(".imb > div");
  const badge = document.createElement("div");
  badge.className = "badge";
  badge.id = "crossed-badge";
  badge.textContent = "PRE-OPEN";
  root.append(badge);

  const view = {
    render() {
      const s = store.get();
      const fr = s.frame;
      const st = bookStats(fr);
      const d = s.decimals;
      f.bid.textContent = st.bestBid === null ? "—" : `${formatPrice(st.bestBid, d)} × ${st.bidSize}`;
      f.ask.textContent = st.bestAsk === null ? "—" : `${formatPrice(st.bestAsk, d)} × ${st.askSize}`;
      f.spread.textContent = st.spread === null ? "—"
        : `${formatPrice(st.spread, d)}${s.tick ? ` (${Math.round(st.spread / s.tick)}t)` : ""}`;
      f.mid.textContent = st.mid === null ? "—" : formatPrice(st.mid, d + 1);
      f.last.textContent = s.lastTrade ? `${formatPrice(s.lastTrade.price, d)} × ${s.lastTrade.size}` : "—";
      f.rate.textContent = s.rate === null || s.rate === undefined ? "—" : Math.round(s.rate).toLocaleString();
      if (st.imbalance === null) {
        imbText.textContent = "—";
        imbBar.style.width = "50%";
      } else {
        imbText.textContent = `${st.imbalance >= 0 ? "+" : ""}${(st.imbalance * 100).toFixed(0)}%`;
        imbBar.style.width = `${((st.imbalance + 1) / 2) * 100}%`;
      }
      const crossed = !!(fr && fr.crossed);
      badge.classList.toggle("show", crossed);
      if (crossed) {
        const u = fr.uncross;
        badge.textContent = u
          ? `PRE-OPEN · CROSSED · uncross ${formatPrice(u.price, d)} × ${u.volume} (imb ${u.imbalance})`
          : "PRE-OPEN · CROSSED";
      }
    },
  };
  store.subscribe((s, p) => {
    if (s.frame !== p.frame || s.rate !== p.rate || s.lastTrade !== p.lastTrade || s.decimals !== p.decimals) {
      invalidate(view);
    }
  });
  return view;
}

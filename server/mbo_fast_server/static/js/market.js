// Market state strip: spread, mid, imbalance, last trade, the session's order flow (cumulative
// delta, VWAP, high/low: lib/flow.js), msgs/s, crossed / pre-open badge with the uncross.
import { invalidate } from "./store.js";
import { setText, setWidth } from "./dom.js";
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
    delta: kv("delta", "cum Δ", "Cumulative delta of the session: buy-aggressor minus sell-aggressor volume"),
    vwap: kv("vwap", "vwap", "Volume-weighted average trade price of the session"),
    range: kv("range", "high / low", "The session's highest and lowest trade"),
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
      setText(f.bid, st.bestBid === null ? "—" : `${formatPrice(st.bestBid, d)} × ${st.bidSize}`);
      setText(f.ask, st.bestAsk === null ? "—" : `${formatPrice(st.bestAsk, d)} × ${st.askSize}`);
      const ticks = s.tick && st.spread !== null ? ` (${Math.round(st.spread / s.tick)}t)` : "";
      setText(f.spread, st.spread === null ? "—" : `${formatPrice(st.spread, d)}${ticks}`);
      setText(f.mid, st.mid === null ? "—" : formatPrice(st.mid, d + 1));
      setText(f.last, s.lastTrade ? `${formatPrice(s.lastTrade.price, d)} × ${s.lastTrade.size}` : "—");
      const flow = s.flow;
      setText(f.delta, flow.volume ? `${flow.delta > 0 ? "+" : ""}${flow.delta.toLocaleString("en-US")}` : "—");
      setText(f.vwap, flow.vwap === null ? "—" : formatPrice(flow.vwap, d + 1));
      setText(f.range, flow.high === null ? "—" : `${formatPrice(flow.high, d)} / ${formatPrice(flow.low, d)}`);
      setText(f.rate, s.rate === null || s.rate === undefined ? "—" : Math.round(s.rate).toLocaleString());
      if (st.imbalance === null) {
        setText(imbText, "—");
        setWidth(imbBar, "50%");
      } else {
        setText(imbText, `${st.imbalance >= 0 ? "+" : ""}${(st.imbalance * 100).toFixed(0)}%`);
        setWidth(imbBar, `${((st.imbalance + 1) / 2) * 100}%`);
      }
      const crossed = !!(fr && fr.crossed);
      badge.classList.toggle("show", crossed);
      if (crossed) {
        const u = fr.uncross;
        setText(badge, u
          ? `PRE-OPEN · CROSSED · uncross ${formatPrice(u.price, d)} × ${u.volume} (imb ${u.imbalance})`
          : "PRE-OPEN · CROSSED");
      }
    },
  };
  store.subscribe((s, p) => {
    if (s.frame !== p.frame || s.rate !== p.rate || s.lastTrade !== p.lastTrade || s.decimals !== p.decimals ||
        s.flowVer !== p.flowVer) {
      invalidate(view);
    }
  });
  return view;
}

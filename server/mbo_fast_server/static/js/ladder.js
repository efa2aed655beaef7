// Price ladder (DOM style): asks above, bids below, a pinned spread row; fixed rows (no layout
// shift), size bars against the largest visible size, flashes on size changes.
import { invalidate } from "./store.js";
import { setText, setWidth } from "./dom.js";
import { bookStats, diffLevels, maxSize } from "./lib/book.js";
import { formatPrice, formatSize } from "./lib/format.js";

export const LADDER_ROWS = 14; // per side

const FLASH = {
  up: "rgba(95, 213, 151, 0.45)",
  down: "rgba(242, 122, 128, 0.45)",
  new: "rgba(78, 161, 255, 0.45)",
};

function makeRow(cls) {
  const row = document.createElement("div");
  row.className = `lrow ${cls}`;
  row.innerHTML =
    '<span class="ct"></span><span class="sz bsz"><b></b><em></em></span><span class="px"></span>' +
    '<span class="sz asz"><b></b><em></em></span><span class="ct"></span>';
  const [bct, bsz, px, asz, act] = row.children;
  return {
    row, bct, px, act,
    bbar: bsz.firstChild, btxt: bsz.lastChild, abar: asz.firstChild, atxt: asz.lastChild,
    key: null,
  };
}

export function mountLadder(root, store, actions) {
  const head = document.createElement("div");
  head.className = "lrow head";
  head.innerHTML = "<span class=ct>#</span><span>bid</span><span class=px>price</span><span>ask</span><span class=ct>#</span>";
  head.children[1].style.textAlign = "right";
  const asks = [];
  const bids = [];
  for (let i = 0; i < LADDER_ROWS; i++) asks.push(makeRow("ask"));
  for (let i = 0; i < LADDER_ROWS; i++) bids.push(makeRow("bid"));
  const spread = document.createElement("div");
  spread.className = "lrow spread";
  spread.innerHTML = "<span></span>";
  root.append(head, ...asks.slice().reverse().map((r) => r.row), spread, ...bids.map((r) => r.row));
  asks.forEach((r, i) => { r.row.dataset.level = String(i); r.row.dataset.side = "A"; });
  bids.forEach((r, i) => { r.row.dataset.level = String(i); r.row.dataset.side = "B"; });
  root.addEventListener("click", (ev) => {
    const row = ev.target.closest(".lrow");
    if (!row || !row.dataset.price) return;
    // shift-click: place a simulated 1-lot limit order there (it joins the back of the queue)
    if (ev.shiftKey && actions.placeSim) actions.placeSim(row.dataset.side, Number(row.dataset.price), 1);
    else actions.selectLevel(row.dataset.side, Number(row.dataset.price));
  });
  const sub = document.getElementById("ladder-sub");

  let pending = new Map(); // "B:price" -> flash kind, collected between renders
  let lastFrame = null;
  let lastSeek = -1;

  function fill(r, level, side, max, d, flash, selected) {
    const isBid = side === "B";
    const key = level ? `${side}:${level[0]}` : null;
    if (!level) {
      if (r.key !== null) {
        r.px.textContent = r.bct.textContent = r.act.textContent = "";
        r.btxt.textContent = r.atxt.textContent = "";
        r.bbar.style.width = r.abar.style.width = "0";
        delete r.row.dataset.price;
        r.row.classList.remove("sel", "best");
        r.key = null;
      }
      return;
    }
    r.key = key;
    const [px, sz, ct] = level;
    const price = String(px);
    if (r.row.dataset.price !== price) r.row.dataset.price = price;
    setText(r.px, formatPrice(px, d));
    const w = `${Math.max(2, (sz / max) * 100).toFixed(1)}%`;
    if (isBid) {
      setText(r.btxt, formatSize(sz));
      setText(r.bct, String(ct));
      setWidth(r.bbar, w);
    } else {
      setText(r.atxt, formatSize(sz));
      setText(r.act, String(ct));
      setWidth(r.abar, w);
    }
    r.row.classList.toggle("sel", selected);
    const kind = flash.get(key);
    if (kind) r.row.animate([{ backgroundColor: FLASH[kind] }, { backgroundColor: "transparent" }], { duration: 450 });
  }

  const view = {
    render() {
      const s = store.get();
      const fr = s.frame || { bids: [], asks: [] };
      const max = maxSize(fr);
      const d = s.decimals;
      const flash = pending;
      pending = new Map();
      const sel = s.selected;
      for (let i = 0; i < LADDER_ROWS; i++) {
        const a = fr.asks[i];
        const b = fr.bids[i];
        fill(asks[i], a, "A", max, d, flash, !!(a && sel && sel.side === "A" && sel.price === a[0]));
        fill(bids[i], b, "B", max, d, flash, !!(b && sel && sel.side === "B" && sel.price === b[0]));
      }
      asks[0].row.classList.toggle("best", !!fr.asks[0]);
      bids[0].row.classList.toggle("best", !!fr.bids[0]);
      const st = bookStats(fr);
      const sp = spread.firstChild;
      spread.classList.toggle("crossed", !!fr.crossed);
      if (st.spread === null) setText(sp, "one-sided book");
      else if (fr.crossed) setText(sp, `CROSSED by ${formatPrice(-st.spread, d)}`);
      else {
        const ticks = s.tick ? ` · ${Math.round(st.spread / s.tick)} tick${st.spread === s.tick ? "" : "s"}` : "";
        setText(sp, `spread ${formatPrice(st.spread, d)}${ticks} · mid ${formatPrice(st.mid, d + 1)}`);
      }
      const cons = s.sel && s.sel.consolidated ? `consolidated · ${s.sel.publishers.length} pub · ` : "";
      setText(sub, cons + (s.tick ? `tick ${formatPrice(s.tick, d)}` : ""));
      const mode = cons ? "consolidated" : "book";
      if (root.dataset.mode !== mode) root.dataset.mode = mode;
    },
  };
  store.subscribe((s, p) => {
    if (s.frame !== p.frame) {
      if (s.seekVer === lastSeek && lastFrame && s.frame) {
        for (const [k, v] of diffLevels(lastFrame.bids, s.frame.bids)) pending.set(`B:${k}`, v);
        for (const [k, v] of diffLevels(lastFrame.asks, s.frame.asks)) pending.set(`A:${k}`, v);
      }
      lastFrame = s.frame;
      lastSeek = s.seekVer;
      invalidate(view);
    } else if (s.selected !== p.selected || s.decimals !== p.decimals) {
      invalidate(view);
    }
  });
  return view;
}

// Price ladder (DOM style): asks above, bids below, a pinned spread row; fixed rows (no layout
// shift), size bars against the largest visible size, flashes on size changes.
//
// Drawn on a canvas, row by row, and only the rows whose content changed. The ladder changes
// on nearly every book update; as 28 rows of HTML it cost more style, layout and paint than
// every other view together (benchmarks/ui_frames.py --hide .ladder-panel).
import { invalidate } from "./store.js";
import { cssVar, fitCanvas } from "./canvas.js";
import { bookStats, diffLevels, maxSize } from "./lib/book.js";
import { formatPrice, formatSize } from "./lib/format.js";
import { CELL_PAD, barWidth, flashAlpha, ladderColumns, ladderGeometry, rowAt } from "./lib/ladder.js";

export const LADDER_ROWS = 14; // per side

const FLASH_MS = 450;
const FLASH_PEAK = 0.45;
const FLASH_STEPS = 3;
const FLASH_RGB = { up: "95, 213, 151", down: "242, 122, 128", new: "78, 161, 255" };

/** Colours and fonts from app.css, read once. */
function theme(root) {
  const mono = getComputedStyle(root).fontFamily;
  return {
    panel: cssVar("--panel"), panel2: cssVar("--panel2"), line: cssVar("--line"),
    muted: cssVar("--muted"), accent: cssVar("--accent"), warn: cssVar("--warn"),
    bidDim: cssVar("--bid-dim"), askDim: cssVar("--ask-dim"), size: cssVar("--text"),
    bidPx: "#7fd1a4", askPx: "#f09398",
    font: `12px ${mono}`, bold: `700 12px ${mono}`, small: `11px ${mono}`,
  };
}

export function mountLadder(root, store, actions) {
  const head = document.createElement("div");
  head.className = "lrow head";
  head.innerHTML = "<span class=ct>#</span><span class=r>bid</span><span class=px>price</span><span>ask</span><span class=ct>#</span>";
  const box = document.createElement("div");
  box.className = "canvas-box";
  root.append(head, box);
  const sub = document.getElementById("ladder-sub");
  const t = theme(root);
  const geo = ladderGeometry(LADDER_ROWS);
  const spreadRow = geo.findIndex((r) => r.side === null);

  // renders and rows repainted so far: tests and benchmarks read them
  const stats = { renders: 0, rowsPainted: 0 };
  const view = { render: () => draw(), rows: () => shown.filter((r) => r.side), text: () => text(), stats };
  const { canvas, ctx, size } = fitCanvas(box, () => {
    painted = [];
    ctx.fillStyle = t.panel;
    ctx.fillRect(0, 0, size.w, size.h);
    invalidate(view);
  }, { alpha: false });
  canvas.setAttribute("role", "img");

  // What each row shows ({side, level, price, size, count, texts}) and the signature of what
  // was last painted there: a row is repainted only when its signature changes.
  let shown = geo.map((g) => ({ ...g }));
  let painted = [];
  let hover = -1;
  const flashes = new Map(); // "B:price" -> {kind, t0}
  let lastFrame = null;
  let lastSeek = -1;

  function levelRow(g, level, max, d, selected, best, now, cols) {
    const key = level ? `${g.side}:${level[0]}` : null;
    const f = key && flashes.get(key);
    const alpha = f ? flashAlpha(now - f.t0, FLASH_MS, FLASH_PEAK, FLASH_STEPS) : 0;
    const row = { ...g, price: null, size: 0, count: 0, texts: null, flash: alpha ? f.kind : null, alpha };
    if (level) {
      const [px, sz, ct] = level;
      const cell = g.side === "B" ? cols.bidSize : cols.askSize;
      Object.assign(row, {
        price: px, size: sz, count: ct, selected, best,
        bar: barWidth(sz, max, cell[1] - 2 * CELL_PAD),
        texts: { price: formatPrice(px, d), size: formatSize(sz), count: String(ct) },
      });
    }
    row.sig = row.texts
      ? `${row.texts.price}|${row.texts.size}|${row.texts.count}|${row.bar}|${selected}|${best}|${row.flash}${alpha}`
      : `-|${row.flash}${alpha}`;
    return row;
  }

  function spreadText(fr, s, d) {
    const st = bookStats(fr);
    if (st.spread === null) return "one-sided book";
    if (fr.crossed) return `CROSSED by ${formatPrice(-st.spread, d)}`;
    const ticks = s.tick ? ` · ${Math.round(st.spread / s.tick)} tick${st.spread === s.tick ? "" : "s"}` : "";
    return `spread ${formatPrice(st.spread, d)}${ticks} · mid ${formatPrice(st.mid, d + 1)}`;
  }

  function paintLevel(i, row, cols) {
    const { y, h } = row;
    const w = size.w;
    ctx.fillStyle = t.panel;
    ctx.fillRect(0, y, w, h);
    if (row.flash) {
      ctx.fillStyle = `rgba(${FLASH_RGB[row.flash]}, ${row.alpha})`;
      ctx.fillRect(0, y, w, h);
    }
    if (i === hover && row.texts) {
      ctx.fillStyle = "rgba(78, 161, 255, 0.08)";
      ctx.fillRect(0, y, w, h);
    }
    ctx.fillStyle = "rgba(255, 255, 255, 0.025)";
    ctx.fillRect(0, y + h - 1, w, 1);
    if (!row.texts) return;
    const bid = row.side === "B";
    const mid = y + h / 2 + 0.5;
    const [sx, sw] = bid ? cols.bidSize : cols.askSize;
    ctx.fillStyle = bid ? t.bidDim : t.askDim;
    const barX = bid ? sx + sw - CELL_PAD - row.bar : sx + CELL_PAD;
    ctx.fillRect(barX, y + 2, row.bar, h - 4);
    ctx.textBaseline = "middle";
    ctx.font = t.font;
    ctx.fillStyle = t.size;
    ctx.textAlign = bid ? "right" : "left";
    ctx.fillText(row.texts.size, bid ? sx + sw - CELL_PAD : sx + CELL_PAD, mid, sw - 2 * CELL_PAD);
    const [px, pw] = cols.price;
    ctx.font = row.best ? t.bold : t.font;
    ctx.fillStyle = bid ? t.bidPx : t.askPx;
    ctx.textAlign = "center";
    ctx.fillText(row.texts.price, px + pw / 2, mid, pw - 2 * CELL_PAD);
    const [cx, cw] = bid ? cols.bidCount : cols.askCount;
    ctx.font = t.small;
    ctx.fillStyle = t.muted;
    ctx.fillText(row.texts.count, cx + cw / 2, mid, cw - 2 * CELL_PAD);
    if (row.selected) {
      ctx.strokeStyle = t.accent;
      ctx.lineWidth = 1;
      ctx.strokeRect(0.5, y + 0.5, w - 1, h - 1);
    }
  }

  function paintSpread(row) {
    const { y, h } = row;
    const w = size.w;
    ctx.fillStyle = t.line;
    ctx.fillRect(0, y, w, h);
    ctx.fillStyle = t.panel2;
    ctx.fillRect(0, y + 1, w, h - 2);
    ctx.font = t.small;
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    ctx.fillStyle = row.crossed ? t.warn : t.muted;
    ctx.fillText(row.text, w / 2, y + h / 2 + 0.5, w - 2 * CELL_PAD);
  }

  function draw() {
    const s = store.get();
    const fr = s.frame || { bids: [], asks: [] };
    const max = maxSize(fr);
    const d = s.decimals;
    const sel = s.selected;
    const now = performance.now();
    stats.renders++;
    const cols = ladderColumns(size.w);
    for (const [key, f] of flashes) if (now - f.t0 >= FLASH_MS) flashes.delete(key);
    shown = geo.map((g, i) => {
      if (i === spreadRow) {
        const text = spreadText(fr, s, d);
        return { ...g, text, crossed: !!fr.crossed, sig: `${text}|${!!fr.crossed}` };
      }
      const level = (g.side === "B" ? fr.bids : fr.asks)[g.level];
      const selected = !!(level && sel && sel.side === g.side && sel.price === level[0]);
      return levelRow(g, level, max, d, selected, g.level === 0, now, cols);
    });
    for (let i = 0; i < shown.length; i++) {
      const row = shown[i];
      const sig = `${row.sig}|${i === hover}`; // a resize clears `painted`
      if (painted[i] === sig || row.y >= size.h) continue;
      painted[i] = sig;
      stats.rowsPainted++;
      if (i === spreadRow) paintSpread(row);
      else paintLevel(i, row, cols);
    }
    if (flashes.size) invalidate(view); // fading rows: paint the next step on a later frame
    const cons = s.sel && s.sel.consolidated ? `consolidated · ${s.sel.publishers.length} pub · ` : "";
    const subText = cons + (s.tick ? `tick ${formatPrice(s.tick, d)}` : "");
    if (sub.textContent !== subText) sub.textContent = subText;
    const mode = cons ? "consolidated" : "book";
    if (root.dataset.mode !== mode) root.dataset.mode = mode;
    const label = `Price ladder: ${shown[spreadRow].text}`;
    if (canvas.getAttribute("aria-label") !== label) canvas.setAttribute("aria-label", label);
  }

  /** The ladder as text, top to bottom (what a reader of the canvas sees). */
  function text() {
    return shown
      .map((r) => (r.side ? (r.texts ? `${r.texts.count} ${r.texts.size} ${r.texts.price}` : "") : r.text))
      .join("\n");
  }

  function rowUnder(ev) {
    const i = rowAt(geo, ev.offsetY);
    return i >= 0 && shown[i].texts ? i : -1;
  }

  canvas.addEventListener("click", (ev) => {
    const i = rowUnder(ev);
    if (i < 0) return;
    const { side, price } = shown[i];
    // shift-click: place a simulated 1-lot limit order there (it joins the back of the queue)
    if (ev.shiftKey && actions.placeSim) actions.placeSim(side, price, 1);
    else actions.selectLevel(side, price);
  });
  canvas.addEventListener("mousemove", (ev) => {
    const i = rowUnder(ev);
    if (i === hover) return;
    hover = i;
    canvas.classList.toggle("pointer", i >= 0);
    invalidate(view);
  });
  canvas.addEventListener("mouseleave", () => {
    hover = -1;
    canvas.classList.remove("pointer");
    invalidate(view);
  });

  store.subscribe((s, p) => {
    if (s.frame !== p.frame) {
      if (s.seekVer === lastSeek && lastFrame && s.frame) {
        const now = performance.now();
        for (const [k, kind] of diffLevels(lastFrame.bids, s.frame.bids)) flashes.set(`B:${k}`, { kind, t0: now });
        for (const [k, kind] of diffLevels(lastFrame.asks, s.frame.asks)) flashes.set(`A:${k}`, { kind, t0: now });
      } else {
        flashes.clear();
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

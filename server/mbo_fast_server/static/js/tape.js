// Time & sales: newest trade on top, drawn on a canvas. A new trade scrolls the image down a
// row and paints that row only; the rows below it are not touched (as HTML rows, every trade
// made the browser lay out and raster the whole list again: the largest paint cost of the page
// in a trace, benchmarks/ui_frames.py --trace).
import { invalidate } from "./store.js";
import { cssVar, fitCanvas } from "./canvas.js";
import { flashAlpha } from "./lib/ladder.js";
import { formatPrice, formatTime } from "./lib/format.js";

const ROW_H = 18;
const PAD = 8;
const BIG = 10; // a trade of this size or more is highlighted
const FLASH_MS = 400;
const FLASH_PEAK = 0.25;
const FLASH_STEPS = 3;

/** Colours and fonts from app.css, read once. */
function theme(root) {
  const mono = getComputedStyle(root).fontFamily;
  return {
    panel: cssVar("--panel"), text: cssVar("--text"),
    B: "#5fd597", A: "#f27a80", font: `12px ${mono}`, bold: `700 12px ${mono}`,
  };
}

export function mountTape(root, store) {
  const head = document.createElement("div");
  head.className = "trow head";
  head.innerHTML = "<span>time (UTC)</span><span>price</span><span>size</span><span></span>";
  const box = document.createElement("div");
  box.className = "canvas-box";
  root.append(head, box);
  const t = theme(root);

  let shown = []; // the trades drawn, top row first
  let shownVer = -1; // tradeVer drawn
  let full = true;
  let flash = null; // {index, t0, alpha}: the newest trade's highlight, fading
  // renders and rows painted so far: tests and benchmarks read them
  const stats = { renders: 0, rowsPainted: 0 };
  const view = {
    render: () => draw(),
    rows: () => shown.map((tr) => ({ index: tr.index, price: tr.price, size: tr.size, side: tr.side })),
    stats,
    /** Repaint every row (tests compare the scrolled image with this). */
    repaint: () => { full = true; draw(); },
  };
  const { canvas, ctx, size } = fitCanvas(box, () => { full = true; invalidate(view); }, { alpha: false });
  canvas.setAttribute("role", "img");
  const visibleRows = () => Math.max(1, Math.ceil(size.h / ROW_H));

  function paintRow(i, tr, decimals, alpha) {
    const y = i * ROW_H;
    const w = size.w;
    ctx.fillStyle = t.panel;
    ctx.fillRect(0, y, w, ROW_H);
    stats.rowsPainted++;
    if (!tr) return;
    if (alpha) {
      ctx.fillStyle = `rgba(78, 161, 255, ${alpha})`;
      ctx.fillRect(0, y, w, ROW_H);
    }
    // columns as in app.css .trow: 96px | 1fr | 56px | 22px, 8px padding
    const mid = y + ROW_H / 2 + 0.5;
    const priceRight = w - PAD - 22 - 56;
    ctx.textBaseline = "middle";
    ctx.font = tr.size >= BIG ? t.bold : t.font;
    ctx.fillStyle = t[tr.side] || t.text;
    ctx.textAlign = "left";
    ctx.fillText(formatTime(tr.ts_recv), PAD, mid, 96);
    ctx.textAlign = "right";
    ctx.fillText(formatPrice(tr.price, decimals), priceRight, mid, priceRight - PAD - 96);
    ctx.fillText(String(tr.size), w - PAD - 22, mid, 56);
    ctx.textAlign = "center";
    ctx.fillText(tr.side === "B" ? "▲" : tr.side === "A" ? "▼" : "·", w - PAD - 11, mid, 22);
  }

  // The trades newer than the top row, newest first, when they simply continue the tape
  // (the trade below them is the one on top now); null after a seek or when too many arrived.
  function arrivals(trades, limit) {
    const top = shown[0];
    const n = trades.length;
    if (!top || n === 0) return null;
    const fresh = [];
    for (let i = n - 1; i >= 0 && fresh.length < limit; i--) {
      const tr = trades.get(i);
      if (tr.index === top.index) return fresh;
      if (tr.index < top.index) return null;
      fresh.push(tr);
    }
    return null;
  }

  // Move the image down `k` rows (device pixels; the canvas is opaque, so drawing it onto
  // itself replaces what was there).
  function scrollDown(k) {
    const shift = Math.round(k * ROW_H * size.dpr);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(canvas, 0, 0, canvas.width, canvas.height - shift, 0, shift, canvas.width, canvas.height - shift);
    ctx.restore();
  }

  function draw() {
    const s = store.get();
    const rows = visibleRows();
    const now = performance.now();
    stats.renders++;
    const newVer = s.tradeVer !== shownVer;
    shownVer = s.tradeVer;
    const fresh = !full && newVer ? arrivals(s.trades, rows) : [];
    const top = s.trades.last();
    if (newVer && top && top.index !== (shown[0] && shown[0].index)) flash = { index: top.index, t0: now, alpha: -1 };
    if (fresh === null || full) {
      shown = [];
      for (let i = 0; i < rows; i++) {
        const tr = s.trades.get(s.trades.length - 1 - i);
        if (!tr) break;
        shown.push(tr);
      }
      for (let i = 0; i < rows; i++) paintRow(i, shown[i], s.decimals, 0);
      if (flash) flash.alpha = 0;
      full = false;
    } else if (fresh.length) {
      const k = fresh.length;
      const old = shown[0];
      scrollDown(k);
      shown = [...fresh, ...shown].slice(0, rows);
      for (let i = 0; i < k; i++) paintRow(i, shown[i], s.decimals, 0);
      // the previous top row moved down with its highlight: paint it plain
      if (old && k < rows) paintRow(k, old, s.decimals, 0);
      if (flash) flash.alpha = 0;
    }
    const newest = shown[0];
    const label = newest
      ? `Time and sales: last trade ${String(newest.size)} at ${formatPrice(newest.price, s.decimals)}`
      : "Time and sales: no trades yet";
    if (canvas.getAttribute("aria-label") !== label) canvas.setAttribute("aria-label", label);
    if (flash && shown[0] && shown[0].index === flash.index) {
      const alpha = flashAlpha(now - flash.t0, FLASH_MS, FLASH_PEAK, FLASH_STEPS);
      if (alpha !== flash.alpha) {
        paintRow(0, shown[0], s.decimals, alpha);
        flash.alpha = alpha;
      }
      if (alpha) invalidate(view); // the next step of the fade, on a later frame
      else flash = null;
    }
  }

  store.subscribe((s, p) => {
    if (s.tradeVer !== p.tradeVer) invalidate(view);
    if (s.decimals !== p.decimals) {
      full = true;
      invalidate(view);
    }
  });
  return view;
}

// Price chart with a liquidity heatmap (Bookmap style). Three stacked canvases:
//  - heat: one column per book frame, resting size per price as colour;
//  - trail: best bid/ask lines and trade bubbles (area ~ size, colour = aggressor);
//  - overlay: the axes and the best bid/ask price tags, redrawn whole (a few dozen labels).
// Heat and trail scroll: on a new frame their image is shifted left and only the new columns
// (and a column's new trades) are drawn; they repaint whole only when the price window, the
// colour scale or the size changes. History is a bounded ring buffer of columns.
import { invalidate } from "./store.js";
import { fitCanvas } from "./canvas.js";
import { Ring, binLevels, bubbleRadius, heatColor, intensity } from "./lib/heat.js";
import { followWindow } from "./lib/scale.js";
import { formatPrice, formatTime } from "./lib/format.js";

const COL_W = 3; // CSS px per column
const CAPACITY = 1200; // columns kept
const AXIS_W = 62;
const TIME_H = 16;
const PALETTE = Array.from({ length: 101 }, (_, i) => {
  const [r, g, b] = heatColor(i / 100);
  return `rgb(${r},${g},${b})`;
});
const BG = PALETTE[0];

export function mountHeatmap(box, store) {
  const ring = new Ring(CAPACITY);
  let win = null;
  let maxRef = 0;
  let full = true;
  let pendingCols = 0;
  let overlayDirty = true;
  let trailFull = true;
  let trailCols = 0; // columns pushed since the trail was drawn
  let orphanTrades = [];
  const view = { render: () => draw(), ring };
  const heat = fitCanvas(box, () => {
    const last = ring.last();
    if (win && last) {
      const center = last.bb !== null && last.ba !== null ? (last.bb + last.ba) / 2 : last.bb ?? last.ba;
      win = followWindow(null, center ?? (win.lo + win.hi) / 2, win.tick, rowsFor());
    }
    full = true;
    overlayDirty = true;
    invalidate(view);
  }, { alpha: false });
  const trail = fitCanvas(box, () => { trailFull = true; invalidate(view); });
  const over = fitCanvas(box, () => { overlayDirty = true; invalidate(view); });
  heat.canvas.className = "heat";
  trail.canvas.className = "trail";
  over.canvas.className = "overlay-canvas";

  const plotW = () => Math.max(10, heat.size.w - AXIS_W);
  const plotH = () => Math.max(10, heat.size.h - TIME_H);
  const rowsFor = () => Math.max(16, Math.min(120, Math.floor(plotH() / 8)));
  const rowH = () => plotH() / win.rows;
  const yOf = (price) => plotH() - ((price - win.lo) / win.tick + 0.5) * rowH();
  const xOf = (i) => plotW() - (ring.length - i) * COL_W; // left edge of column i

  function paintColumn(i) {
    const col = ring.get(i);
    const x = xOf(i);
    if (x + COL_W <= 0) return;
    const ctx = heat.ctx;
    ctx.fillStyle = BG;
    ctx.fillRect(x, 0, COL_W, plotH());
    const h = rowH();
    const bins = binLevels(col.levels, win);
    for (let r = 0; r < win.rows; r++) {
      const v = bins[r];
      if (!v) continue;
      ctx.fillStyle = PALETTE[Math.round(intensity(v, maxRef) * 100)];
      ctx.fillRect(x, plotH() - (r + 1) * h, COL_W, Math.ceil(h));
    }
  }

  // Move a canvas's image `k` columns to the left (device pixels; the right part is cleared, the
  // new columns are then drawn there). Heat and trail scroll with it.
  function shiftLeft(layer, k) {
    const { ctx, canvas } = layer;
    const shift = Math.round(k * COL_W * layer.size.dpr);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalCompositeOperation = "copy";
    if (shift < canvas.width) {
      ctx.drawImage(canvas, shift, 0, canvas.width - shift, canvas.height, 0, 0, canvas.width - shift, canvas.height);
    } else {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
    }
    ctx.restore();
  }

  function drawHeat() {
    const ctx = heat.ctx;
    const pw = plotW();
    if (!win) {
      ctx.fillStyle = BG;
      ctx.fillRect(0, 0, heat.size.w, heat.size.h);
      full = false;
      pendingCols = 0;
      return;
    }
    if (full) {
      ctx.fillStyle = BG;
      ctx.fillRect(0, 0, heat.size.w, heat.size.h);
      const first = Math.max(0, ring.length - Math.ceil(pw / COL_W) - 1);
      for (let i = first; i < ring.length; i++) paintColumn(i);
    } else if (pendingCols > 0) {
      const k = Math.min(pendingCols, ring.length);
      shiftLeft(heat, k);
      for (let i = ring.length - k; i < ring.length; i++) paintColumn(i);
    }
    full = false;
    pendingCols = 0;
  }

  // Column i's piece of a best-price line: from the previous column's level, then across.
  function segment(ctx, i, key) {
    const px = ring.get(i)[key];
    if (px === null) return;
    const x = xOf(i);
    const y = yOf(px);
    const prev = i > 0 ? ring.get(i - 1)[key] : null;
    ctx.moveTo(x, prev === null ? y : yOf(prev));
    ctx.lineTo(x, y);
    ctx.lineTo(x + COL_W, y);
  }

  function lines(ctx, from, to) {
    for (const [key, color] of [["bb", "#3ddc84"], ["ba", "#ff5c66"]]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (let i = from; i < to; i++) segment(ctx, i, key);
      ctx.stroke();
    }
  }

  // The trades of column i not drawn yet.
  function bubbles(ctx, i) {
    const col = ring.get(i);
    for (let k = col.drawn; k < col.trades.length; k++) {
      const t = col.trades[k];
      ctx.beginPath();
      ctx.arc(xOf(i) + COL_W / 2, yOf(t.price), bubbleRadius(t.size), 0, Math.PI * 2);
      ctx.fillStyle = t.side === "B" ? "rgba(61,220,132,0.55)" : t.side === "A" ? "rgba(255,92,102,0.55)" : "rgba(200,200,200,0.5)";
      ctx.fill();
      ctx.strokeStyle = "rgba(255,255,255,0.7)";
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    col.drawn = col.trades.length;
  }

  function drawTrail() {
    const ctx = trail.ctx;
    const visible = Math.ceil(plotW() / COL_W) + 1;
    let from;
    if (!win || trailFull || trailCols >= visible) {
      ctx.clearRect(0, 0, trail.size.w, trail.size.h);
      from = Math.max(0, ring.length - visible);
      for (let i = from; i < ring.length; i++) ring.get(i).drawn = 0;
    } else {
      if (trailCols > 0) shiftLeft(trail, trailCols);
      from = Math.max(0, ring.length - trailCols);
    }
    if (win) {
      ctx.lineCap = "square"; // pieces stroked frame by frame join without notches
      lines(ctx, from, ring.length);
      // the column on the right edge before these may have had trades since the last draw
      for (let i = Math.max(0, from - 1); i < ring.length; i++) bubbles(ctx, i);
    }
    trailFull = false;
    trailCols = 0;
  }

  // The price axis changes only with the window, the decimals or the size: its labels are drawn
  // once into a canvas of their own and copied on every frame (text is the costly part).
  let axis = { key: "", canvas: document.createElement("canvas") };
  function priceAxis(decimals) {
    const { h, dpr } = over.size;
    const key = `${win.lo}/${win.tick}/${win.rows}/${decimals}/${plotH()}/${h}/${dpr}`;
    if (axis.key === key) return axis.canvas;
    const canvas = axis.canvas;
    canvas.width = Math.round(AXIS_W * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#121722";
    ctx.fillRect(0, 0, AXIS_W, h);
    ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "left";
    ctx.fillStyle = "#7d8799";
    const every = Math.max(1, Math.ceil(14 / rowH()));
    const firstRow = Math.ceil(Math.round(win.lo / win.tick) / every) * every - Math.round(win.lo / win.tick);
    for (let r = firstRow; r < win.rows; r += every) {
      const px = win.lo + r * win.tick;
      ctx.fillText(formatPrice(px, decimals), 6, yOf(px) + 3);
    }
    axis = { key, canvas };
    return canvas;
  }

  function drawOverlay() {
    const ctx = over.ctx;
    const { w, h } = over.size;
    ctx.clearRect(0, 0, w, h);
    const s = store.get();
    const pw = plotW();
    const ph = plotH();
    if (!win) {
      ctx.fillStyle = "#7d8799";
      ctx.font = "12px system-ui";
      ctx.fillText("waiting for a two-sided book…", 12, 20);
      return;
    }
    const first = Math.max(0, ring.length - Math.ceil(pw / COL_W) - 1);
    ctx.drawImage(priceAxis(s.decimals), pw, 0, AXIS_W, h);
    ctx.fillStyle = "#121722";
    ctx.fillRect(0, ph, w, TIME_H);
    ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "left";
    const last = ring.last();
    const tag = (px, color) => {
      if (px === null || px === undefined) return;
      const y = Math.max(6, Math.min(ph - 6, yOf(px)));
      ctx.fillStyle = color;
      ctx.fillRect(pw + 1, y - 7, AXIS_W - 2, 14);
      ctx.fillStyle = "#061020";
      ctx.fillText(formatPrice(px, s.decimals), pw + 6, y + 3);
    };
    if (last) {
      tag(last.bb, "#3ddc84");
      tag(last.ba, "#ff5c66");
    }
    // time axis: a label every ~120 px
    ctx.fillStyle = "#7d8799";
    ctx.textAlign = "center";
    const step = Math.max(1, Math.round(120 / COL_W));
    for (let i = ring.length - 1 - Math.floor(step / 2); i >= first; i -= step) {
      const x = xOf(i);
      if (x < 40) break;
      ctx.fillText(formatTime(ring.get(i).t).slice(0, 8), x, ph + 12);
    }
  }

  function draw() {
    if (full) trailFull = true;
    if (full || pendingCols) drawHeat();
    if (trailFull || trailCols || overlayDirty) drawTrail();
    if (overlayDirty) drawOverlay();
    overlayDirty = false;
  }

  function pushFrame(fr, tick) {
    const levels = [...fr.bids, ...fr.asks];
    const col = {
      t: fr.ts_recv,
      levels,
      bb: fr.bids.length ? fr.bids[0][0] : null,
      ba: fr.asks.length ? fr.asks[0][0] : null,
      trades: orphanTrades,
      drawn: 0, // trades already drawn on the trail canvas
    };
    orphanTrades = [];
    ring.push(col);
    let m = 0;
    for (const l of levels) if (l[1] > m) m = l[1];
    if (m > maxRef) {
      maxRef = m * 1.25;
      full = true;
    }
    const center = col.bb !== null && col.ba !== null ? (col.bb + col.ba) / 2 : col.bb ?? col.ba;
    if (tick > 0 && center !== null) {
      const next = followWindow(win, center, tick, rowsFor());
      if (next !== win) {
        win = next;
        full = true;
      }
    }
    pendingCols += 1;
    trailCols += 1;
    overlayDirty = true;
  }

  store.subscribe((s, p) => {
    if (s.seekVer !== p.seekVer) {
      ring.clear();
      orphanTrades = [];
      maxRef = 0;
      full = true;
      trailFull = true;
      overlayDirty = true;
      invalidate(view);
    }
    if (s.frame !== p.frame && s.frame) {
      pushFrame(s.frame, s.tick);
      invalidate(view);
    }
    if (s.lastTrade !== p.lastTrade && s.lastTrade) {
      const last = ring.last();
      const t = { price: s.lastTrade.price, size: s.lastTrade.size, side: s.lastTrade.side };
      if (last && last.trades.length < 64) last.trades.push(t);
      else if (!last && orphanTrades.length < 64) orphanTrades.push(t);
      overlayDirty = true;
      invalidate(view);
    }
    if (s.decimals !== p.decimals) {
      overlayDirty = true;
      invalidate(view);
    }
  });
  return view;
}

// Price chart with a liquidity heatmap (Bookmap style), on one opaque canvas:
//  - the plot: one column per book frame, resting size per price as colour, with the best
//    bid/ask lines and trade bubbles (area ~ size, colour = aggressor) drawn over it;
//  - the chrome: the price axis on the right (labels cached) with best bid/ask tags, and the
//    time axis below, redrawn whole (a few dozen labels).
// The plot scrolls: on a new frame its image is shifted left and only the strip of new columns
// is painted (heat, then the lines and bubbles that reach into the strip, clipped to it); it
// repaints whole only when the price window, the colour scale or the size changes. One canvas
// instead of three stacked layers (heat, trail, overlay): every changed canvas costs the browser
// a copy of its pixels per frame and every transparent one a blend; in a Chrome trace
// (benchmarks/ui_frames.py --trace) the merge took the commit's layer updates from 6.6-6.9 to
// 3.7-4.1 ms per frame and the compositor thread from 10.2 to 6.7-7.3 ms per frame.
// History is a bounded ring buffer of columns.
import { invalidate } from "./store.js";
import { cssVar, fitCanvas } from "./canvas.js";
import { Ring, binLevels, bubbleRadius, heatColor, intensity } from "./lib/heat.js";
import { followWindow } from "./lib/scale.js";
import { formatPrice, formatTime } from "./lib/format.js";

const COL_W = 3; // CSS px per column
const CAPACITY = 1200; // columns kept
const AXIS_W = 62;
const TIME_H = 16;
const LINE_W = 1.5; // best bid/ask lines
const MAX_BUBBLE = bubbleRadius(Infinity); // px: how far a bubble reaches beside its column
const PALETTE = Array.from({ length: 101 }, (_, i) => {
  const [r, g, b] = heatColor(i / 100);
  return `rgb(${r},${g},${b})`;
});
const BG = PALETTE[0];

export function mountHeatmap(box, store) {
  const ring = new Ring(CAPACITY);
  const panel = cssVar("--panel");
  let win = null;
  let maxRef = 0;
  let full = true;
  let pendingCols = 0;
  let chromeDirty = true;
  let orphanTrades = [];
  const view = {
    render: () => draw(),
    ring,
    /** Repaint everything (tests compare the scrolled image with this). */
    repaint: () => { full = true; chromeDirty = true; draw(); },
  };
  const { canvas, ctx, size } = fitCanvas(box, () => {
    const last = ring.last();
    if (win && last) {
      const center = last.bb !== null && last.ba !== null ? (last.bb + last.ba) / 2 : last.bb ?? last.ba;
      win = followWindow(null, center ?? (win.lo + win.hi) / 2, win.tick, rowsFor());
    }
    full = true;
    chromeDirty = true;
    invalidate(view);
  }, { alpha: false });
  canvas.className = "heat";

  const plotW = () => Math.max(10, size.w - AXIS_W);
  const plotH = () => Math.max(10, size.h - TIME_H);
  const rowsFor = () => Math.max(16, Math.min(120, Math.floor(plotH() / 8)));
  const rowH = () => plotH() / win.rows;
  const yOf = (price) => plotH() - ((price - win.lo) / win.tick + 0.5) * rowH();
  const xOf = (i) => plotW() - (ring.length - i) * COL_W; // left edge of column i

  /** Run `paint` with drawing confined to the plot from x to its right edge. */
  function clipped(x, paint) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, 0, plotW() - x, plotH());
    ctx.clip();
    paint();
    ctx.restore();
  }

  function paintColumn(i) {
    const col = ring.get(i);
    const x = xOf(i);
    if (x + COL_W <= 0) return;
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

  // Move the plot's image `k` columns to the left (device pixels). The canvas is opaque, so
  // drawing it onto itself replaces what was there; the strip left on the right is repainted.
  function shiftLeft(k) {
    const shift = Math.round(k * COL_W * size.dpr);
    const w = Math.round(plotW() * size.dpr);
    const h = Math.round(plotH() * size.dpr);
    if (shift >= w) return;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(canvas, shift, 0, w - shift, h, 0, 0, w - shift, h);
    ctx.restore();
  }

  // Column i's piece of a best-price line: from the previous column's level, then across. The
  // step is drawn half a line width inside the column, so that all of it lies in the column's
  // strip (a strip is painted clipped to itself).
  function segment(i, key) {
    const px = ring.get(i)[key];
    if (px === null) return;
    const x = xOf(i) + LINE_W / 2;
    const y = yOf(px);
    const prev = i > 0 ? ring.get(i - 1)[key] : null;
    ctx.moveTo(x, prev === null ? y : yOf(prev));
    ctx.lineTo(x, y);
    ctx.lineTo(xOf(i) + COL_W, y);
  }

  function lines(from, to) {
    ctx.lineCap = "square"; // pieces drawn frame by frame join without notches
    for (const [key, color] of [["bb", "#3ddc84"], ["ba", "#ff5c66"]]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = LINE_W;
      ctx.beginPath();
      for (let i = Math.max(0, from); i < to; i++) segment(i, key);
      ctx.stroke();
    }
  }

  /** Trades `from..to` of column i as bubbles. */
  function bubbles(i, from, to) {
    const col = ring.get(i);
    for (let k = from; k < to; k++) {
      const t = col.trades[k];
      ctx.beginPath();
      ctx.arc(xOf(i) + COL_W / 2, yOf(t.price), bubbleRadius(t.size), 0, Math.PI * 2);
      ctx.fillStyle = t.side === "B" ? "rgba(61,220,132,0.55)" : t.side === "A" ? "rgba(255,92,102,0.55)" : "rgba(200,200,200,0.5)";
      ctx.fill();
      ctx.strokeStyle = "rgba(255,255,255,0.7)";
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  }

  function paintPlot() {
    ctx.fillStyle = BG;
    ctx.fillRect(0, 0, plotW(), plotH());
    if (!win) {
      ctx.fillStyle = "#7d8799";
      ctx.font = "12px system-ui";
      ctx.textAlign = "left";
      ctx.fillText("waiting for a two-sided book…", 12, 20);
      return;
    }
    const first = Math.max(0, ring.length - Math.ceil(plotW() / COL_W) - 1);
    for (let i = first; i < ring.length; i++) paintColumn(i);
    clipped(0, () => {
      lines(first, ring.length);
      for (let i = first; i < ring.length; i++) {
        const col = ring.get(i);
        bubbles(i, 0, col.trades.length);
        col.drawn = col.trades.length;
      }
    });
  }

  // After a shift: paint the new columns, then whatever reaches into their strip (the lines
  // from the column before it, the bubbles of the columns up to a bubble's radius before it).
  function paintStrip(k) {
    const start = ring.length - k;
    for (let i = start; i < ring.length; i++) paintColumn(i);
    const reach = Math.ceil(MAX_BUBBLE / COL_W) + 1;
    clipped(xOf(start), () => {
      lines(start - 1, ring.length);
      for (let i = Math.max(0, start - reach); i < ring.length; i++) bubbles(i, 0, ring.get(i).drawn);
    });
  }

  // Trades not drawn yet: those of the `fresh` new columns, and new trades of the column before.
  function newBubbles(fresh) {
    clipped(0, () => {
      for (let i = Math.max(0, ring.length - fresh - 1); i < ring.length; i++) {
        const col = ring.get(i);
        if (col.drawn < col.trades.length) bubbles(i, col.drawn, col.trades.length);
        col.drawn = col.trades.length;
      }
    });
  }

  // The price axis changes only with the window, the decimals or the size: its labels are drawn
  // once into a canvas of their own and copied on every frame (text is the costly part).
  let axis = { key: "", canvas: document.createElement("canvas") };
  function priceAxis(decimals) {
    const { h, dpr } = size;
    const key = `${win.lo}/${win.tick}/${win.rows}/${decimals}/${plotH()}/${h}/${dpr}`;
    if (axis.key === key) return axis.canvas;
    const axisCanvas = axis.canvas;
    axisCanvas.width = Math.round(AXIS_W * dpr);
    axisCanvas.height = Math.round(h * dpr);
    const actx = axisCanvas.getContext("2d");
    actx.setTransform(dpr, 0, 0, dpr, 0, 0);
    actx.fillStyle = panel;
    actx.fillRect(0, 0, AXIS_W, h);
    actx.font = "10px ui-monospace, monospace";
    actx.textAlign = "left";
    actx.fillStyle = "#7d8799";
    const every = Math.max(1, Math.ceil(14 / rowH()));
    const firstRow = Math.ceil(Math.round(win.lo / win.tick) / every) * every - Math.round(win.lo / win.tick);
    for (let r = firstRow; r < win.rows; r += every) {
      const px = win.lo + r * win.tick;
      actx.fillText(formatPrice(px, decimals), 6, yOf(px) + 3);
    }
    axis = { key, canvas: axisCanvas };
    return axisCanvas;
  }

  // The price axis with the best bid/ask tags, and the time axis.
  function paintChrome() {
    const { w, h } = size;
    const s = store.get();
    const pw = plotW();
    const ph = plotH();
    ctx.fillStyle = panel;
    ctx.fillRect(0, ph, w, h - ph);
    if (!win) {
      ctx.fillRect(pw, 0, w - pw, ph);
      return;
    }
    ctx.drawImage(priceAxis(s.decimals), pw, 0, AXIS_W, h);
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
    const first = Math.max(0, ring.length - Math.ceil(pw / COL_W) - 1);
    const step = Math.max(1, Math.round(120 / COL_W));
    for (let i = ring.length - 1 - Math.floor(step / 2); i >= first; i -= step) {
      const x = xOf(i);
      if (x < 40) break;
      ctx.fillText(formatTime(ring.get(i).t).slice(0, 8), x, ph + 12);
    }
  }

  function draw() {
    const fresh = pendingCols;
    if (full || !win) {
      paintPlot();
    } else if (pendingCols > 0) {
      const k = Math.min(pendingCols, ring.length);
      shiftLeft(k);
      paintStrip(k);
    }
    if (win) newBubbles(fresh);
    if (chromeDirty) paintChrome();
    full = false;
    pendingCols = 0;
    chromeDirty = false;
  }

  function pushFrame(fr, tick) {
    const levels = [...fr.bids, ...fr.asks];
    const col = {
      t: fr.ts_recv,
      levels,
      bb: fr.bids.length ? fr.bids[0][0] : null,
      ba: fr.asks.length ? fr.asks[0][0] : null,
      trades: orphanTrades,
      drawn: 0, // trades already drawn as bubbles
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
    chromeDirty = true;
  }

  store.subscribe((s, p) => {
    if (s.seekVer !== p.seekVer) {
      ring.clear();
      orphanTrades = [];
      maxRef = 0;
      full = true;
      chromeDirty = true;
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
      chromeDirty = true;
      invalidate(view);
    }
    if (s.decimals !== p.decimals) {
      chromeDirty = true;
      invalidate(view);
    }
  });
  return view;
}

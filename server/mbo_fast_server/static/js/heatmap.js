// Price chart with a liquidity heatmap (Bookmap style) on real time, one opaque canvas:
//  - the plot: time buckets (2 px each) × price rows, resting size as colour; history comes from
//    the server's raster (GET /api/v1/heatmap: the core replays the stored blocks), so a seek, a
//    pan or a zoom shows the history at once; while playing, frames fill the buckets up to the
//    clock and the raster of the elapsed buckets replaces them every second (exact, not sampled
//    by the frame rate). Nothing right of the clock is drawn.
//  - over it: best bid/ask lines (with a dark halo, readable over any colour), trades as bubbles
//    at their time (area ~ size, colour = aggressor), the session's VWAP and high/low, and our
//    simulated orders (a line at their price while working, a mark at each fill);
//  - beside it: the volume profile (session or visible range, split by aggressor) and the price
//    axis with the best bid/ask tags; below it: the cumulative delta (buy minus sell aggressor
//    volume over the visible range) and the time axis (round times, equally spaced).
// Pan: drag (both axes) or the arrow keys; zoom: wheel (time), Shift+wheel or wheel over the
// axis (price), +/- keys; double-click or 0: follow the clock and the touch again. Contrast:
// linear or log colour scale, clipped at a percentile of the visible cells.
import { invalidate } from "./store.js";
import { bookParams } from "./api.js";
import { cssVar, fitCanvas } from "./canvas.js";
import { HeatColumns, bubbleRadius, decodeRaster, heatColor, intensity, percentile } from "./lib/heat.js";
import { cumulativeDelta } from "./lib/flow.js";
import { nsString, formatPrice, formatSize } from "./lib/format.js";
import { timeLabel, timeTicks } from "./lib/scale.js";

const BUCKET_PX = 2;
const AXIS_W = 62;
const PROFILE_W = 54;
const TIME_H = 16;
const DELTA_H = 52;
const DEFAULT_SPAN = 300e9; // 5 min
const MIN_SPAN = 2e9;
const MAX_SPAN = 24 * 3600e9;
const MAX_ROWS = 2000;
const MAX_CELLS = 2_000_000;
const CATCH_UP_MS = 1000;
// While playing, the whole canvas changes every frame (the clock moves it) and the browser
// copies all of it per frame: it repaints at most every other 60 Hz frame (~30/s).
const PLAYING_FRAME_MS = 30;
const PALETTE = Array.from({ length: 256 }, (_, i) => {
  const [r, g, b] = heatColor(i / 255);
  return (255 << 24) | (b << 16) | (g << 8) | r; // ImageData is RGBA in memory (little-endian)
});
const BG = PALETTE[0];
const BID = "#3ddc84";
const ASK = "#ff5c66";
const MULTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

export function mountHeatmap(box, store, actions) {
  const panel = cssVar("--panel");
  const muted = cssVar("--muted");
  const text = cssVar("--text");
  const cols = new HeatColumns(6000, 20000);
  const tools = toolbar(box);
  // the view: time window, price window, colour scale
  const v = {
    span: DEFAULT_SPAN, t1: null, follow: true,
    pcenter: null, rowPx: 5, mult: 1, pfollow: true,
    scale: "sqrt", clip: 99, profile: "session",
  };
  let clipValue = 1;
  let clipAt = { version: -1, key: "", t: 0 };
  let fetching = null; // {ctrl, key}
  let lastCatchUp = 0;
  let viewTimer = null;
  let axisTicks = [];
  let drawn = { columns: 0, exact: 0, first: null, last: null, kc: null };
  let jumped = true; // the next frame follows a seek or a new book
  const stats = { renders: 0, rasters: 0, rasterMs: 0 };

  let lastDraw = -Infinity;
  const view = {
    render: () => {
      const now = performance.now();
      if (store.get().playing && now - lastDraw < PLAYING_FRAME_MS) {
        invalidate(view); // the next frame draws it
        return;
      }
      lastDraw = now;
      draw();
    },
    /** The time axis as drawn: [{t, x, label}]. */
    axis: () => axisTicks,
    /** The windows shown. */
    window: () => ({ ...v, ...geometry(), bucketNs: cols.bucketNs, grid: cols.grid }),
    /** What the plot holds: columns drawn (non-empty), of them exact (from a raster), the
     * first and last bucket drawn and the clock's bucket. */
    columns: () => drawn,
    repaint: () => draw(),
    stats,
    cols,
    setView: (patch) => { Object.assign(v, patch); viewChanged(); },
  };
  const { canvas, ctx, size } = fitCanvas(box, () => { viewChanged(); }, { alpha: false });
  canvas.className = "heat";
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Liquidity heatmap");
  const heatCanvas = document.createElement("canvas");
  const heatCtx = heatCanvas.getContext("2d");

  function geometry() {
    const plotW = Math.max(20, size.w - AXIS_W - PROFILE_W);
    const plotH = Math.max(20, size.h - TIME_H - DELTA_H);
    const nb = Math.max(10, Math.floor(plotW / BUCKET_PX));
    return { plotW, plotH, nb };
  }

  const tick = () => store.get().tick || 0;
  const step = () => tick() * v.mult;

  /** Right edge of the time window (ns): the clock (a little room after it) when following. */
  function rightEdge() {
    const s = store.get();
    if (v.follow || v.t1 === null) return (s.clock ?? 0) + v.span * 0.04;
    return v.t1;
  }

  /** The view moved or zoomed: the grid follows at once (a new bucket width or price band
   * starts empty), the raster of what is shown once the view rests for 120 ms. */
  function viewChanged() {
    const refit = ensureGrid(false);
    invalidate(view);
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => ensureGrid(true), refit ? 60 : 120);
  }

  /** Configure the columns for the current bucket width and price band (true: they changed,
   * the columns start empty); with `fetchNow`, fetch what is shown. */
  function ensureGrid(fetchNow) {
    const s = store.get();
    if (!s.sel || !(tick() > 0) || v.pcenter === null || s.clock === null) return false;
    const { plotH, nb } = geometry();
    const bucketNs = Math.max(1000, Math.round(v.span / nb));
    const visRows = Math.ceil(plotH / v.rowPx) + 2;
    const st = step();
    const g = cols.grid;
    const inBand = g && g.step === st && cols.bucketNs === bucketNs &&
      v.pcenter - (visRows / 2) * st >= g.lo && v.pcenter + (visRows / 2) * st <= g.lo + g.rows * st;
    if (!inBand) {
      const bandRows = Math.min(MAX_ROWS, Math.floor(MAX_CELLS / nb), visRows * (s.live ? 5 : 3));
      const lo = Math.round((v.pcenter - (bandRows / 2) * st) / st) * st;
      cols.configure(bucketNs, { lo, step: st, rows: bandRows });
      if (s.frame && s.frame.ts_recv !== null && s.frame.ts_recv !== undefined) cols.putFrame(s.frame, s.frame.ts_recv);
    }
    if (fetchNow) fetchVisible();
    return !inBand;
  }

  /** The raster of the visible buckets up to the clock's (exclusive): exact history. */
  function fetchVisible() {
    const s = store.get();
    if (!s.sel || s.live || s.sel.consolidated || !cols.grid) return;
    const { nb } = geometry();
    const kc = cols.bucketOf(s.clock);
    const kR = Math.min(cols.bucketOf(rightEdge()), kc - 1);
    const kL = Math.max(cols.bucketOf(rightEdge()) - nb + 1, cols.bucketOf(s.sel.first) - 1);
    if (kR < kL) return;
    fetchRange(kL, kR);
  }

  async function fetchRange(k0, k1) {
    const s = store.get();
    const g = cols.grid;
    const bw = cols.bucketNs;
    const key = `${s.sel.iid}:${s.sel.pid}:${s.sel.source}:${k0}:${k1}:${bw}:${g.lo}:${g.step}:${g.rows}`;
    if (fetching && fetching.key === key) return;
    if (fetching) fetching.ctrl.abort();
    const ctrl = new AbortController();
    fetching = { ctrl, key };
    const buckets = Math.min(4000, k1 - k0 + 1);
    const start = BigInt(k0) * BigInt(bw);
    const q = new URLSearchParams({
      ...bookParams(s.sel), start: start.toString(), end: (start + BigInt(buckets) * BigInt(bw)).toString(),
      buckets: String(buckets), rows: String(g.rows), price_lo: String(g.lo), price_step: String(g.step),
    });
    const t0 = performance.now();
    try {
      const resp = await fetch(`/api/v1/heatmap?${q}`, { signal: ctrl.signal });
      if (!resp.ok) throw new Error(`heatmap ${resp.status}`);
      const buf = await resp.arrayBuffer();
      if (cols.grid !== g || cols.bucketNs !== bw || store.get().sel !== s.sel) return;
      cols.putRaster(decodeRaster(buf), k0);
      stats.rasters++;
      stats.rasterMs += performance.now() - t0;
      invalidate(view);
    } catch (err) {
      if (err.name !== "AbortError") console.warn("heatmap raster", err);
    } finally {
      if (fetching && fetching.ctrl === ctrl) fetching = null;
    }
  }

  /** While playing: the raster of the buckets the clock has passed since the last exact one. */
  function catchUp() {
    const s = store.get();
    if (s.live || !s.playing || !cols.grid || fetching) return;
    const now = performance.now();
    if (now - lastCatchUp < CATCH_UP_MS) return;
    lastCatchUp = now;
    const { nb } = geometry();
    const kc = cols.bucketOf(s.clock);
    const kL = Math.max(cols.bucketOf(rightEdge()) - nb + 1, kc - nb);
    const from = cols.exactThrough(kL) + 1;
    if (kc - 1 >= from) fetchRange(from, kc - 1);
  }

  // ---- drawing

  // x of time t on a plot whose left edge is tL: BUCKET_PX per bucket, as the columns are drawn
  const xOfT = (t, tL) => ((t - tL) / cols.bucketNs) * BUCKET_PX;
  function yOf(price, plotH) {
    return plotH / 2 - ((price - v.pcenter) / step()) * v.rowPx;
  }

  function colourScale(kL, kR, kc) {
    const key = `${kL}:${kR}:${v.scale}:${v.clip}`;
    const now = performance.now();
    if (clipAt.key === key && (clipAt.version === cols.version || now - clipAt.t < 400)) return;
    const values = [];
    for (let k = kL; k <= Math.min(kR, kc); k += 2) {
      const c = cols.cols.get(k);
      if (c) for (let r = 0; r < c.sizes.length; r += 2) if (c.sizes[r] > 0) values.push(c.sizes[r]);
    }
    clipValue = Math.max(1, percentile(values, v.clip));
    clipAt = { version: cols.version, key, t: now };
  }

  function paintHeat(kL, nb, kc, plotH) {
    const g = cols.grid;
    const st = g.step;
    const rTop = Math.min(g.rows - 1, Math.ceil((v.pcenter - g.lo) / st + plotH / 2 / v.rowPx) + 1);
    const rBot = Math.max(0, Math.floor((v.pcenter - g.lo) / st - plotH / 2 / v.rowPx) - 1);
    const V = rTop - rBot + 1;
    if (V <= 0) return { columns: 0, exact: 0, first: null, last: null };
    if (heatCanvas.width !== nb || heatCanvas.height !== V) {
      heatCanvas.width = nb;
      heatCanvas.height = V;
    }
    const img = heatCtx.createImageData(nb, V);
    const px = new Uint32Array(img.data.buffer);
    px.fill(BG);
    let columns = 0;
    let exact = 0;
    let first = null;
    let last = null;
    for (let i = 0; i < nb; i++) {
      const k = kL + i;
      if (k > kc) break;
      const c = cols.cols.get(k);
      if (!c) continue;
      let any = false;
      for (let j = 0; j < V; j++) {
        const val = c.sizes[rTop - j];
        if (!(val > 0)) continue;
        any = true;
        px[j * nb + i] = PALETTE[Math.round(intensity(val, clipValue, v.scale) * 255)];
      }
      if (any) {
        columns++;
        if (c.exact) exact++;
        if (first === null) first = k;
        last = k;
      }
    }
    heatCtx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    const yTop = yOf(g.lo + rTop * st, plotH) - v.rowPx / 2;
    ctx.drawImage(heatCanvas, 0, 0, nb, V, 0, yTop, nb * BUCKET_PX, V * v.rowPx);
    return { columns, exact, first, last };
  }

  function bestLines(kL, nb, kc, plotH) {
    ctx.lineJoin = "miter";
    for (const [key, color] of [["bid", BID], ["ask", ASK]]) {
      ctx.beginPath();
      let prevY = null;
      for (let i = 0; i < nb; i++) {
        const k = kL + i;
        if (k > kc) break;
        const c = cols.cols.get(k);
        const p = c ? c[key] : null;
        if (p === null || p === undefined) { prevY = null; continue; }
        const y = yOf(p, plotH);
        const x = i * BUCKET_PX;
        if (prevY === null) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
        ctx.lineTo(x + BUCKET_PX, y);
        prevY = y;
      }
      ctx.strokeStyle = "rgba(6, 8, 12, 0.9)"; // the halo: readable over the brightest cells
      ctx.lineWidth = 4;
      ctx.stroke();
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.6;
      ctx.stroke();
    }
  }

  function bubbles(tL, plotW, plotH, tEnd) {
    const list = [];
    for (const t of cols.trades) {
      if (t.t <= tL || t.t > tEnd) continue;
      const y = yOf(t.price, plotH);
      if (y < -10 || y > plotH + 10) continue;
      list.push([xOfT(t.t, tL), y, t]);
    }
    if (list.length > 1500) list.sort((a, b) => b[2].size - a[2].size).length = 1500;
    for (const [x, y, t] of list) {
      ctx.beginPath();
      ctx.arc(x, y, bubbleRadius(t.size), 0, Math.PI * 2);
      ctx.fillStyle = t.side === "B" ? "rgba(61,220,132,0.6)" : t.side === "A" ? "rgba(255,92,102,0.6)" : "rgba(200,200,200,0.5)";
      ctx.fill();
      ctx.strokeStyle = "rgba(255,255,255,0.75)";
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    return list.length;
  }

  function hline(price, plotW, plotH, color, dash, label) {
    if (price === null) return;
    const y = Math.round(yOf(price, plotH)) + 0.5;
    if (y < 0 || y > plotH) return;
    ctx.setLineDash(dash);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, y);
    ctx.lineTo(plotW, y);
    ctx.stroke();
    ctx.setLineDash([]);
    if (label) {
      ctx.font = "10px ui-monospace, monospace";
      ctx.fillStyle = color;
      ctx.textAlign = "left";
      ctx.fillText(label, 4, y - 3);
    }
  }

  function simOrders(tL, plotW, plotH, clock) {
    const s = store.get();
    const orders = s.sims ? s.sims.orders : [];
    for (const o of orders) {
      const color = o.side === "B" ? "#7cc4ff" : "#ffb86b";
      if ((o.status === "open" || o.status === "filled") && o.entry_ts !== null) {
        const end = o.status === "open" ? clock : Math.max(...o.fills.map((f) => f.ts), o.entry_ts);
        const x0 = Math.max(0, xOfT(o.entry_ts, tL));
        const x1 = Math.min(plotW, xOfT(end, tL));
        const y = Math.round(yOf(o.price, plotH)) + 0.5;
        if (x1 > 0 && x0 < plotW && y >= 0 && y <= plotH) {
          ctx.strokeStyle = color;
          ctx.lineWidth = 2;
          ctx.setLineDash(o.status === "open" ? [6, 3] : []);
          ctx.beginPath();
          ctx.moveTo(x0, y);
          ctx.lineTo(x1, y);
          ctx.stroke();
          ctx.setLineDash([]);
          if (o.status === "open") {
            ctx.font = "bold 10px ui-monospace, monospace";
            ctx.fillStyle = color;
            ctx.textAlign = "right";
            ctx.fillText(`◆ ${o.side === "B" ? "B" : "S"}${o.remaining} ${o.orders_ahead ?? ""}`, Math.max(x1, 60), y - 3);
          }
        }
      }
      for (const f of o.fills) {
        const x = xOfT(f.ts, tL);
        const y = yOf(f.price, plotH);
        if (x < 0 || x > plotW || y < 0 || y > plotH || f.ts > clock) continue;
        ctx.beginPath();
        const r = 6;
        const dir = o.side === "B" ? 1 : -1; // a buy fill points up, a sell fill down
        ctx.moveTo(x, y - dir * r);
        ctx.lineTo(x + r, y + dir * r * 0.7);
        ctx.lineTo(x - r, y + dir * r * 0.7);
        ctx.closePath();
        ctx.fillStyle = color;
        ctx.fill();
        ctx.strokeStyle = "#061020";
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
    }
  }

  function profile(plotW, plotH, tL, tEnd) {
    const s = store.get();
    const x0 = plotW;
    ctx.fillStyle = panel;
    ctx.fillRect(x0, 0, PROFILE_W, plotH);
    const st = step();
    const rowsVisible = Math.ceil(plotH / v.rowPx) + 2;
    const byRow = new Map();
    let max = 0;
    const add = (price, buy, sell) => {
      const r = Math.round((price - v.pcenter) / st);
      const cell = byRow.get(r) || [0, 0];
      cell[0] += buy;
      cell[1] += sell;
      byRow.set(r, cell);
      max = Math.max(max, cell[0] + cell[1]);
    };
    if (v.profile === "session") {
      for (const [px, c] of s.flow.byPrice) add(px, c[0], c[1] + c[2]);
    } else {
      for (const t of cols.trades) {
        if (t.t <= tL || t.t > tEnd) continue;
        add(t.price, t.side === "B" ? t.size : 0, t.side === "B" ? 0 : t.size);
      }
    }
    const barH = Math.max(1, Math.min(v.rowPx - (v.rowPx > 4 ? 1 : 0), 14));
    for (const [r, [buy, sell]] of byRow) {
      if (Math.abs(r) > rowsVisible) continue;
      const y = yOf(v.pcenter + r * st, plotH) - barH / 2;
      const wBuy = (buy / max) * (PROFILE_W - 4);
      const wSell = (sell / max) * (PROFILE_W - 4);
      ctx.fillStyle = "rgba(61,220,132,0.55)";
      ctx.fillRect(x0 + 2, y, wBuy, barH);
      ctx.fillStyle = "rgba(255,92,102,0.55)";
      ctx.fillRect(x0 + 2 + wBuy, y, wSell, barH);
    }
    ctx.fillStyle = muted;
    ctx.font = "9px ui-monospace, monospace";
    ctx.textAlign = "left";
    ctx.fillText(v.profile === "session" ? "session" : "visible", x0 + 3, plotH - 4);
  }

  function deltaPane(kL, nb, kc, plotW, plotH) {
    const y0 = plotH;
    ctx.fillStyle = panel;
    ctx.fillRect(0, y0, size.w, DELTA_H);
    ctx.fillStyle = "rgba(255,255,255,0.06)";
    ctx.fillRect(0, y0, plotW, 1);
    const n = Math.max(0, Math.min(nb, kc - kL + 1));
    const trades = [];
    for (const t of cols.trades) if (t.k >= kL && t.k < kL + n) trades.push({ k: t.k - kL, size: t.size, side: t.side });
    const cum = cumulativeDelta(trades, n);
    let lo = 0;
    let hi = 0;
    for (const x of cum) { if (x < lo) lo = x; if (x > hi) hi = x; }
    const span = Math.max(1, hi - lo);
    const top = y0 + 6;
    const h = DELTA_H - 12;
    const yv = (x) => top + h - ((x - lo) / span) * h;
    ctx.strokeStyle = "rgba(213,219,230,0.25)";
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(0, Math.round(yv(0)) + 0.5);
    ctx.lineTo(plotW, Math.round(yv(0)) + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
    if (n > 0) {
      ctx.beginPath();
      for (let i = 0; i < n; i++) {
        const x = i * BUCKET_PX + BUCKET_PX / 2;
        if (i === 0) ctx.moveTo(x, yv(cum[i]));
        else ctx.lineTo(x, yv(cum[i]));
      }
      const end = cum[n - 1];
      ctx.strokeStyle = end >= 0 ? BID : ASK;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    const last = n > 0 ? cum[n - 1] : 0;
    ctx.font = "10px ui-monospace, monospace";
    ctx.fillStyle = text;
    ctx.textAlign = "left";
    ctx.fillText(`cum Δ ${last > 0 ? "+" : ""}${formatSize(last)} (visible)`, plotW + 4, y0 + 14);
    ctx.fillStyle = muted;
    ctx.fillText(`session ${store.get().flow.delta > 0 ? "+" : ""}${formatSize(store.get().flow.delta)}`, plotW + 4, y0 + 28);
    return last;
  }

  function priceAxis(plotW, plotH, d) {
    const s = store.get();
    const x0 = plotW + PROFILE_W;
    ctx.fillStyle = panel;
    ctx.fillRect(x0, 0, AXIS_W, plotH);
    ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "left";
    ctx.fillStyle = muted;
    const st = step();
    const every = Math.max(1, Math.ceil(14 / v.rowPx));
    const rMax = Math.ceil(plotH / 2 / v.rowPx);
    const c0 = Math.round(v.pcenter / st);
    for (let r = -rMax; r <= rMax; r++) {
      if ((c0 + r) % every !== 0) continue;
      const px = (c0 + r) * st;
      const y = yOf(px, plotH);
      if (y < 6 || y > plotH - 4) continue;
      ctx.fillText(formatPrice(px, d), x0 + 6, y + 3);
    }
    const fr = s.frame;
    const tag = (px, color) => {
      if (px === null || px === undefined) return;
      const y = Math.max(6, Math.min(plotH - 6, yOf(px, plotH)));
      ctx.fillStyle = color;
      ctx.fillRect(x0 + 1, y - 7, AXIS_W - 2, 14);
      ctx.fillStyle = "#061020";
      ctx.fillText(formatPrice(px, d), x0 + 6, y + 3);
    };
    if (fr) {
      tag(fr.bids.length ? fr.bids[0][0] : null, BID);
      tag(fr.asks.length ? fr.asks[0][0] : null, ASK);
    }
  }

  function timeAxis(tL, plotW, plotH) {
    const y0 = plotH + DELTA_H;
    ctx.fillStyle = panel;
    ctx.fillRect(0, y0, size.w, TIME_H);
    const tR = tL + (plotW / BUCKET_PX) * cols.bucketNs;
    const { step: tstep, ticks } = timeTicks(tL, tR, Math.max(2, Math.floor(plotW / 80)));
    ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "center";
    ctx.fillStyle = muted;
    axisTicks = [];
    for (const t of ticks) {
      const x = xOfT(t, tL);
      if (x < 24 || x > plotW - 24) continue;
      const label = timeLabel(t, tstep);
      ctx.fillText(label, x, y0 + 12);
      ctx.fillStyle = "rgba(255,255,255,0.05)";
      ctx.fillRect(Math.round(x), 0, 1, plotH);
      ctx.fillStyle = muted;
      axisTicks.push({ t, x, label });
    }
  }

  function draw() {
    stats.renders++;
    const s = store.get();
    const { w, h } = size;
    const { plotW, plotH, nb } = geometry();
    ctx.fillStyle = BG_CSS;
    ctx.fillRect(0, 0, plotW, plotH);
    if (!s.sel || s.clock === null || !(tick() > 0) || v.pcenter === null) {
      ctx.fillStyle = panel;
      ctx.fillRect(plotW, 0, w - plotW, h);
      ctx.fillRect(0, plotH, w, h - plotH);
      ctx.fillStyle = muted;
      ctx.font = "12px system-ui";
      ctx.textAlign = "left";
      ctx.fillText("waiting for a two-sided book…", 12, 20);
      return;
    }
    if (!cols.grid && ensureGrid(false)) fetchVisible();
    if (!cols.grid) return;
    const d = s.decimals;
    const tR = rightEdge();
    const kR = cols.bucketOf(tR);
    const kL = kR - nb + 1;
    const tL = kL * cols.bucketNs; // the left edge of bucket kL
    const kc = cols.bucketOf(s.clock);
    const tEnd = Math.min(s.clock, tL + nb * cols.bucketNs);
    colourScale(kL, kR, kc);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, plotW, plotH);
    ctx.clip();
    const heat = paintHeat(kL, nb, kc, plotH);
    const flow = s.flow;
    hline(flow.vwap, plotW, plotH, "#f2b53a", [5, 4], flow.vwap !== null ? `VWAP ${formatPrice(flow.vwap, d + 1)}` : "");
    hline(flow.high, plotW, plotH, "rgba(213,219,230,0.55)", [1, 3], flow.high !== null ? `session high ${formatPrice(flow.high, d)}` : "");
    hline(flow.low, plotW, plotH, "rgba(213,219,230,0.55)", [1, 3], flow.low !== null ? `session low ${formatPrice(flow.low, d)}` : "");
    bestLines(kL, nb, kc, plotH);
    const nBubbles = bubbles(tL, plotW, plotH, tEnd);
    simOrders(tL, plotW, plotH, s.clock);
    // the clock: nothing is drawn after it
    const xc = xOfT(s.clock, tL);
    if (xc < plotW) {
      ctx.fillStyle = "rgba(213,219,230,0.45)";
      ctx.fillRect(Math.round(xc), 0, 1, plotH);
    }
    ctx.restore();
    drawn = { ...heat, kc, kL, kR, bubbles: nBubbles };
    profile(plotW, plotH, tL, tEnd);
    priceAxis(plotW, plotH, d);
    const delta = deltaPane(kL, nb, kc, plotW, plotH);
    drawn.delta = delta;
    timeAxis(tL, plotW, plotH);
    const label = `Liquidity heatmap, ${Math.round(v.span / 1e9)} s window ending ${timeLabel(tR, 1e9)} UTC; ` +
      `cumulative delta ${delta}`;
    if (canvas.getAttribute("aria-label") !== label) canvas.setAttribute("aria-label", label);
    catchUp();
  }

  // ---- price window following the touch

  function followPrice(fr) {
    if (!v.pfollow || !fr) return;
    const bb = fr.bids.length ? fr.bids[0][0] : null;
    const ba = fr.asks.length ? fr.asks[0][0] : null;
    const mid = bb !== null && ba !== null ? (bb + ba) / 2 : bb ?? ba;
    if (mid === null || !(step() > 0)) return;
    const { plotH } = geometry();
    const half = (plotH / 2 / v.rowPx) * step();
    if (v.pcenter === null || Math.abs(mid - v.pcenter) > half * 0.6) {
      v.pcenter = Math.round(mid / tick()) * tick();
      viewChanged();
    }
  }

  // ---- interaction

  function zoomTime(factor, anchorX) {
    const { plotW } = geometry();
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, v.span * factor));
    if (span === v.span) return;
    if (!v.follow && anchorX !== null) {
      const tR = rightEdge();
      const tAt = tR - v.span + (anchorX / plotW) * v.span;
      v.t1 = tAt + (1 - anchorX / plotW) * span;
    }
    v.span = span;
    viewChanged();
  }

  function zoomPrice(dir) {
    if (dir > 0) { // in
      if (v.mult > 1 && v.rowPx >= 4) { v.mult = MULTS[Math.max(0, MULTS.indexOf(v.mult) - 1)]; v.rowPx = 2; }
      else v.rowPx = Math.min(28, v.rowPx * 1.25);
    } else if (v.rowPx > 2.05) v.rowPx = Math.max(2, v.rowPx / 1.25);
    else { v.mult = MULTS[Math.min(MULTS.length - 1, MULTS.indexOf(v.mult) + 1)]; v.rowPx = 4; }
    viewChanged();
  }

  function pan(dx, dy) {
    const { plotW } = geometry();
    if (dx) {
      v.t1 = rightEdge() - (dx / plotW) * v.span;
      v.follow = false;
    }
    if (dy && v.pcenter !== null) {
      v.pcenter += (dy / v.rowPx) * step();
      v.pfollow = false;
    }
    viewChanged();
  }

  function reset() {
    v.follow = true;
    v.pfollow = true;
    v.t1 = null;
    v.pcenter = null;
    followPrice(store.get().frame);
    viewChanged();
  }

  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const { plotW } = geometry();
    const dir = ev.deltaY > 0 ? -1 : 1; // wheel up: zoom in
    if (ev.shiftKey || ev.offsetX > plotW) zoomPrice(dir);
    else zoomTime(dir > 0 ? 1 / 1.25 : 1.25, ev.offsetX);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) < 2) return;
    drag = { x: ev.clientX, y: ev.clientY };
    pan(dx, dy);
  });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("dblclick", () => reset());
  canvas.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const { plotW } = geometry();
    switch (ev.key) {
      case "ArrowLeft": pan(plotW / 8, 0); break;
      case "ArrowRight": pan(-plotW / 8, 0); break;
      case "ArrowUp": pan(0, 4 * v.rowPx); break;
      case "ArrowDown": pan(0, -4 * v.rowPx); break;
      case "+": case "=": zoomTime(1 / 1.25, null); break;
      case "-": case "_": zoomTime(1.25, null); break;
      case "PageUp": zoomPrice(1); break;
      case "PageDown": zoomPrice(-1); break;
      case "f": case "0": reset(); break;
      default: return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  });

  // toolbar
  tools.follow.addEventListener("click", () => reset());
  tools.zoomIn.addEventListener("click", () => zoomTime(1 / 1.5, null));
  tools.zoomOut.addEventListener("click", () => zoomTime(1.5, null));
  tools.scale.addEventListener("change", () => { v.scale = tools.scale.value; clipAt.key = ""; invalidate(view); });
  tools.clip.addEventListener("change", () => { v.clip = Number(tools.clip.value); clipAt.key = ""; invalidate(view); });
  tools.profile.addEventListener("change", () => { v.profile = tools.profile.value; invalidate(view); });
  const syncTools = () => {
    tools.follow.classList.toggle("on", v.follow && v.pfollow);
    tools.follow.setAttribute("aria-pressed", String(v.follow && v.pfollow));
    tools.span.textContent = spanText(v.span);
  };

  store.subscribe((s, p) => {
    let dirty = false;
    if (s.sel !== p.sel || (s.live && !p.live)) { // another book, or its live timeline
      jumped = true;
      cols.configure(0, null);
      v.pcenter = null;
      v.t1 = null;
      v.follow = true;
      v.pfollow = true;
      dirty = true;
    }
    if (s.seekVer !== p.seekVer) {
      jumped = true;
      v.follow = true;
      v.t1 = null;
      dirty = true;
    }
    if (s.frame !== p.frame && s.frame) {
      followPrice(s.frame);
      const ts = s.frame.ts_recv;
      if (jumped && ts !== null && ts !== undefined) {
        // after a jump: frames after the new clock are no longer history; the history now
        // shown comes from the server
        jumped = false;
        if (cols.grid) {
          cols.dropFrom(cols.bucketOf(ts) + 1);
          cols.lastLive = null;
        }
        clearTimeout(viewTimer);
        viewTimer = setTimeout(() => ensureGrid(true), 30);
      }
      if (cols.grid && ts !== null && ts !== undefined) cols.putFrame(s.frame, ts);
      dirty = true;
    }
    if (s.lastTrade !== p.lastTrade && s.lastTrade && cols.grid) {
      const t = s.lastTrade;
      cols.addTrade(t.ts_recv, t.price, t.size, t.side);
      dirty = true;
    }
    if (s.tick !== p.tick && s.tick > 0 && v.pcenter === null) followPrice(s.frame);
    if (s.clock !== p.clock || s.decimals !== p.decimals || s.sims !== p.sims || s.flowVer !== p.flowVer) {
      dirty = true;
    }
    if (dirty) {
      syncTools();
      invalidate(view);
    }
  });
  syncTools();
  return view;
}

const BG_CSS = (() => {
  const c = PALETTE[0];
  return `rgb(${c & 255},${(c >> 8) & 255},${(c >> 16) & 255})`;
})();

function spanText(ns) {
  const s = ns / 1e9;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** The heatmap's controls, above its canvas (keyboard-reachable). */
function toolbar(box) {
  const bar = document.createElement("div");
  bar.className = "heat-tools";
  const btn = (label, title, id) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.title = title;
    if (id) b.id = id;
    b.setAttribute("aria-label", title);
    return b;
  };
  const select = (id, title, options) => {
    const s = document.createElement("select");
    s.id = id;
    s.title = title;
    s.setAttribute("aria-label", title);
    for (const [value, label] of options) s.append(new Option(label, value));
    return s;
  };
  const follow = btn("follow", "Follow the clock and the touch (double-click the chart, or f)", "heat-follow");
  const zoomOut = btn("−", "Zoom out in time (wheel down, -)", "heat-zoom-out");
  const span = document.createElement("span");
  span.className = "span";
  span.id = "heat-span";
  const zoomIn = btn("+", "Zoom in in time (wheel up, +)", "heat-zoom-in");
  const scale = select("heat-scale", "Colour scale", [["sqrt", "sqrt"], ["linear", "linear"], ["log", "log"]]);
  const clip = select("heat-clip", "Colour scale clipped at this percentile of the visible sizes",
    [["90", "clip 90%"], ["95", "clip 95%"], ["99", "clip 99%"], ["99.9", "clip 99.9%"], ["100", "no clip"]]);
  clip.value = "99";
  const profile = select("heat-profile", "Volume profile: the session's or the visible range's",
    [["session", "profile: session"], ["visible", "profile: visible"]]);
  bar.append(follow, zoomOut, span, zoomIn, scale, clip, profile);
  box.parentElement.insertBefore(bar, box);
  return { follow, zoomIn, zoomOut, span, scale, clip, profile };
}

// Cumulative depth chart of both sides (canvas), redrawn only when the book changes.
import { invalidate } from "./store.js";
import { fitCanvas } from "./canvas.js";
import { cumulative } from "./lib/book.js";
import { formatPrice, formatSize } from "./lib/format.js";
import { linear, niceTicks } from "./lib/scale.js";

const PANEL = "#121722"; // --panel in app.css
const BID_FILL = "rgb(22,54,50)"; // rgba(38,162,105,0.22) over PANEL
const ASK_FILL = "rgb(63,33,44)"; // rgba(224,70,78,0.22) over PANEL

export function mountDepth(box, store) {
  const view = { render: () => draw() };
  const { canvas, ctx, size } = fitCanvas(box, () => invalidate(view), { alpha: false });
  canvas.tabIndex = 0; // a panel of its own: reachable by keyboard, its label says what it shows
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Cumulative depth");

  function draw() {
    const { w, h } = size;
    const s = store.get();
    ctx.fillStyle = PANEL;
    ctx.fillRect(0, 0, w, h);
    const fr = s.frame;
    if (!fr || (!fr.bids.length && !fr.asks.length)) {
      ctx.fillStyle = "#8a94a6";
      ctx.font = "12px system-ui";
      ctx.fillText("no book yet", 12, 20);
      return;
    }
    const bids = cumulative(fr.bids);
    const asks = cumulative(fr.asks);
    const label = `Cumulative depth: ${bids.length ? bids[bids.length - 1][1] : 0} lots bid over ` +
      `${bids.length} levels, ${asks.length ? asks[asks.length - 1][1] : 0} offered over ${asks.length}`;
    if (canvas.getAttribute("aria-label") !== label) canvas.setAttribute("aria-label", label);
    const prices = [...bids.map((l) => l[0]), ...asks.map((l) => l[0])];
    let lo = Math.min(...prices);
    let hi = Math.max(...prices);
    const pad = Math.max(s.tick || 0, (hi - lo) * 0.02);
    lo -= pad;
    hi += pad;
    const ymax = Math.max(1, bids.length ? bids[bids.length - 1][1] : 0, asks.length ? asks[asks.length - 1][1] : 0);
    const L = 44, R = 8, T = 8, B = 20;
    const x = linear(lo, hi, L, w - R);
    const y = linear(0, ymax * 1.08, h - B, T);
    // grid + axes
    ctx.strokeStyle = "#1f2636";
    ctx.fillStyle = "#8a94a6";
    ctx.font = "10px ui-monospace, monospace";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    for (const v of niceTicks(0, ymax * 1.08, 4)) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(w - R, yy); ctx.stroke();
      ctx.fillText(formatSize(v), L - 4, yy + 3);
    }
    ctx.textAlign = "center";
    const pt = niceTicks(lo / 1e9, hi / 1e9, Math.max(2, Math.floor((w - L) / 90)));
    for (const v of pt) ctx.fillText(formatPrice(Math.round(v * 1e9), s.decimals), x(v * 1e9), h - 6);
    const side = (levels, stroke, fill, dir) => {
      if (!levels.length) return;
      ctx.beginPath();
      ctx.moveTo(x(levels[0][0]), y(0));
      let prevY = y(0);
      for (const [px, cum] of levels) {
        const xx = x(px);
        ctx.lineTo(xx, prevY);
        ctx.lineTo(xx, y(cum));
        prevY = y(cum);
      }
      const edge = dir < 0 ? L : w - R;
      ctx.lineTo(edge, prevY);
      ctx.lineTo(edge, y(0));
      ctx.closePath();
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.strokeStyle = stroke;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    };
    if (fr.crossed) {
      // the sides overlap: translucent fills so that both stay visible
      ctx.globalAlpha = 0.8;
      side(bids, "#26a269", "rgba(38,162,105,0.22)", -1);
      side(asks, "#e0464e", "rgba(224,70,78,0.22)", 1);
      ctx.globalAlpha = 1;
    } else {
      // the same colours blended over the panel beforehand: opaque fills are cheaper to raster
      side(bids, "#26a269", BID_FILL, -1);
      side(asks, "#e0464e", ASK_FILL, 1);
    }
    if (bids.length && asks.length) {
      const mx = x((fr.bids[0][0] + fr.asks[0][0]) / 2);
      ctx.strokeStyle = "rgba(213,219,230,0.35)";
      ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(mx, T); ctx.lineTo(mx, h - B); ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  store.subscribe((s, p) => {
    if (s.frame !== p.frame || s.decimals !== p.decimals) invalidate(view);
  });
  return view;
}

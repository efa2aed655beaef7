// Price ladder (DOM style, price-anchored): one row per tick of the grid, highest price on top,
// empty ticks shown; the rows stay put while the touch moves inside them (lib/ladder.js).
// Columns: simulated buy orders · bid size · price · ask size · simulated sell orders · traded
// volume at the price (session, with the last trade marked). Size changes flash the size cell
// only, tinted by its side.
//
// Trading: a click in the buy (sell) column places a simulated buy (sell) limit order of the
// order size at that price; a click on a column holding our orders selects them, and a click at
// another price then moves them there. Keys while the ladder has focus: ↑/↓ cursor, PgUp/PgDn
// scroll, b/s buy/sell at the cursor, 1-9 order size, +/- size (of the selected order if any),
// Shift+↑/↓ move the selected order a tick, Delete cancel it, Enter the L3 queue of the cursor
// level, c recentre (also without focus). The mouse wheel scrolls prices.
//
// Drawn on a canvas, row by row, and only the rows whose content changed (as HTML rows the ladder
// cost more style, layout and paint than every other view together: benchmarks/ui_frames.py).
import { invalidate } from "./store.js";
import { cssVar, fitCanvas } from "./canvas.js";
import { bookStats, diffLevels } from "./lib/book.js";
import { formatPrice, formatSize } from "./lib/format.js";
import {
  CELL_PAD, FLASH, ORDER_BG, ROW_H, barWidth, cellAt, centred, flashAlpha, followTouch, ladderColumns, ladderRows,
  priceOf, rowOf, rowsFor, scrollBy, touchOf,
} from "./lib/ladder.js";

const { ms: FLASH_MS, peak: FLASH_PEAK, steps: FLASH_STEPS, rgb: FLASH_RGB } = FLASH;

/** Colours and fonts from app.css, read once. */
function theme(root) {
  const mono = getComputedStyle(root).fontFamily;
  return {
    panel: cssVar("--panel"), panel2: cssVar("--panel2"), line: cssVar("--line"),
    muted: cssVar("--muted"), accent: cssVar("--accent"), warn: cssVar("--warn"),
    bidDim: cssVar("--bid-dim"), askDim: cssVar("--ask-dim"), size: cssVar("--text"),
    bidPx: cssVar("--bid-text"), askPx: cssVar("--ask-text"), volDim: "rgba(125, 135, 153, 0.22)",
    simBg: ORDER_BG, cursor: "rgba(78, 161, 255, 0.10)",
    font: `12px ${mono}`, bold: `700 12px ${mono}`, small: `11px ${mono}`,
  };
}

export function mountLadder(root, store, actions) {
  const head = document.createElement("div");
  head.className = "lrow head";
  head.innerHTML = "<span>buy</span><span class=r>bid</span><span class=px>price</span>" +
    "<span>ask</span><span>sell</span><span class=r>vol</span>";
  const box = document.createElement("div");
  box.className = "canvas-box";
  root.append(head, box);
  const sub = document.getElementById("ladder-sub");
  const t = theme(root);

  // renders and rows repainted so far: tests and benchmarks read them
  const stats = { renders: 0, rowsPainted: 0 };
  let anchor = null;
  let shown = []; // the rows drawn: {price, bid_size, ask_size, side, size, volume, y, h, texts, …}
  let painted = [];
  let hover = { row: -1, cell: null };
  let cursor = null; // price of the keyboard cursor
  const flashes = new Map(); // "B:price" -> t0
  let lastFrame = null;
  let lastSeek = -1;
  let wheelAcc = 0;

  const view = {
    render: () => draw(),
    /** The rows drawn, top to bottom. */
    rows: () => shown.map(({ price, bid_size, ask_size, side, size, volume, y, h, texts, buy, sell, last }) =>
      ({ price, bid_size, ask_size, side, size, volume, y, h, texts, buy, sell, last })),
    text: () => text(),
    anchor: () => anchor,
    /** The columns' [x, width] (CSS px) at the canvas's width. */
    columns: () => ladderColumns(size.w),
    recentre: () => recentre(),
    scroll: (ticks) => scroll(ticks),
    stats,
  };
  const { canvas, ctx, size } = fitCanvas(box, () => {
    painted = [];
    ctx.fillStyle = t.panel;
    ctx.fillRect(0, 0, size.w, size.h);
    invalidate(view);
  }, { alpha: false });
  canvas.setAttribute("role", "grid");
  canvas.tabIndex = 0;
  canvas.id = "ladder-canvas";

  const nRows = () => rowsFor(size.h);

  function recentre() {
    const s = store.get();
    const next = centred(touchOf(s.frame), s.tick, nRows());
    if (next) anchor = next;
    invalidate(view);
  }

  function scroll(ticks) {
    const s = store.get();
    if (!anchor) return;
    anchor = scrollBy(anchor, ticks, touchOf(s.frame));
    invalidate(view);
  }

  /** Our open orders on each side at each price: "B:price" -> {size, ahead, ids}. */
  function simCells(s) {
    const out = new Map();
    const sims = s.sims && s.sims.orders;
    if (!sims) return out;
    for (const o of sims) {
      if (o.status !== "open" && o.status !== "scheduled" && o.status !== "pending") continue;
      const key = `${o.side}:${o.price}`;
      const c = out.get(key) || { size: 0, ahead: null, ids: [] };
      c.size += o.remaining;
      if (o.orders_ahead !== null && (c.ahead === null || o.orders_ahead < c.ahead)) c.ahead = o.orders_ahead;
      c.ids.push(o.id);
      out.set(key, c);
    }
    return out;
  }

  function cellText(c) {
    if (!c) return "";
    return c.ahead === null ? String(c.size) : `${c.size}·${c.ahead}`;
  }

  function draw() {
    const s = store.get();
    const fr = s.frame || { bids: [], asks: [] };
    const now = performance.now();
    stats.renders++;
    const cols = ladderColumns(size.w);
    const rowsN = nRows();
    const touch = touchOf(fr);
    if (s.tick > 0) anchor = followTouch(anchor, touch, s.tick, rowsN);
    const flow = s.flow;
    const rows = ladderRows(anchor, fr, s.depth, flow ? (p) => flow.volumeAt(p) : () => 0);
    let max = 1;
    for (const r of rows) max = Math.max(max, r.bid_size || 0, r.ask_size || 0);
    const maxVol = Math.max(1, flow ? flow.maxAtPrice : 1);
    const d = s.decimals;
    const sel = s.selected;
    const sims = simCells(s);
    const simSel = s.simSelected;
    const last = s.lastTrade;
    for (const [key, t0] of flashes) if (now - t0 >= FLASH_MS) flashes.delete(key);
    const st = bookStats(fr);
    shown = rows.map((r, i) => {
      const y = i * ROW_H;
      const fb = flashes.get(`B:${r.price}`);
      const fa = flashes.get(`A:${r.price}`);
      const buy = sims.get(`B:${r.price}`) || null;
      const sell = sims.get(`A:${r.price}`) || null;
      const row = {
        ...r, y, h: ROW_H, buy, sell,
        last: !!(last && last.price === r.price),
        best: r.price === st.bestBid ? "B" : r.price === st.bestAsk ? "A" : null,
        zone: st.bestBid !== null && r.price <= st.bestBid ? "B" : st.bestAsk !== null && r.price >= st.bestAsk ? "A" : null,
        selected: sel ? (sel.price === r.price ? sel.side : null) : null,
        simSel: !!(simSel && ((buy && buy.ids.includes(simSel)) || (sell && sell.ids.includes(simSel)))),
        cursor: cursor === r.price,
        hover: hover.row === i ? hover.cell : null,
        fb: fb ? flashAlpha(now - fb, FLASH_MS, FLASH_PEAK, FLASH_STEPS) : 0,
        fa: fa ? flashAlpha(now - fa, FLASH_MS, FLASH_PEAK, FLASH_STEPS) : 0,
        bidBar: r.bid_size ? barWidth(r.bid_size, max, cols.bid[1] - 2 * CELL_PAD) : 0,
        askBar: r.ask_size ? barWidth(r.ask_size, max, cols.ask[1] - 2 * CELL_PAD) : 0,
        volBar: r.volume ? barWidth(r.volume, maxVol, cols.volume[1] - 2 * CELL_PAD) : 0,
      };
      row.texts = {
        price: formatPrice(r.price, d),
        bid: r.bid_size ? formatSize(r.bid_size) : "",
        ask: r.ask_size ? formatSize(r.ask_size) : "",
        buy: cellText(buy),
        sell: cellText(sell),
        volume: r.volume ? formatSize(r.volume) : "",
      };
      row.sig = [
        row.texts.price, row.texts.bid, row.texts.ask, row.texts.buy, row.texts.sell, row.texts.volume,
        row.bidBar, row.askBar, row.volBar, row.last, row.best, row.zone, row.selected, row.simSel,
        row.cursor, row.hover, row.fb, row.fa, row.bid_size === null, row.ask_size === null,
      ].join("|");
      return row;
    });
    for (let i = 0; i < shown.length; i++) {
      const row = shown[i];
      if (painted[i] === row.sig) continue;
      painted[i] = row.sig;
      stats.rowsPainted++;
      paintRow(row, cols);
    }
    if (painted.length > shown.length) {
      ctx.fillStyle = t.panel;
      ctx.fillRect(0, shown.length * ROW_H, size.w, size.h - shown.length * ROW_H);
      painted.length = shown.length;
    }
    if (flashes.size) invalidate(view); // fading cells: paint the next step on a later frame
    const spread = spreadText(fr, s, d, st);
    const cons = s.sel && s.sel.consolidated ? `consolidated · ${s.sel.publishers.length} pub · ` : "";
    const subText = `${cons}${spread}${s.tick ? ` · tick ${formatPrice(s.tick, d)}` : ""}`;
    if (sub.textContent !== subText) sub.textContent = subText;
    const mode = cons ? "consolidated" : "book";
    if (root.dataset.mode !== mode) root.dataset.mode = mode;
    const label = `Price ladder: ${spread}`;
    if (canvas.getAttribute("aria-label") !== label) canvas.setAttribute("aria-label", label);
  }

  function spreadText(fr, s, d, st) {
    if (st.spread === null) return fr.bids.length || fr.asks.length ? "one-sided book" : "empty book";
    if (fr.crossed) return `CROSSED by ${formatPrice(-st.spread, d)}`;
    const ticks = s.tick ? ` (${Math.round(st.spread / s.tick)}t)` : "";
    return `spread ${formatPrice(st.spread, d)}${ticks}`;
  }

  function paintRow(row, cols) {
    const { y, h } = row;
    const w = size.w;
    ctx.fillStyle = t.panel;
    ctx.fillRect(0, y, w, h);
    if (row.cursor) {
      ctx.fillStyle = t.cursor;
      ctx.fillRect(0, y, w, h);
    }
    if (row.hover) {
      const c = cols[row.hover];
      ctx.fillStyle = "rgba(78, 161, 255, 0.10)";
      ctx.fillRect(c[0], y, c[1], h);
    }
    ctx.fillStyle = "rgba(255, 255, 255, 0.03)";
    ctx.fillRect(0, y + h - 1, w, 1);
    ctx.fillStyle = "rgba(255, 255, 255, 0.025)";
    ctx.fillRect(cols.price[0], y, cols.price[1], h - 1);
    const mid = y + h / 2 + 0.5;
    ctx.textBaseline = "middle";
    // beyond the depth the frame carries: unknown, hatched
    for (const [cell, unknown] of [[cols.bid, row.bid_size === null], [cols.ask, row.ask_size === null]]) {
      if (!unknown) continue;
      ctx.fillStyle = "rgba(125, 135, 153, 0.08)";
      ctx.fillRect(cell[0], y, cell[1], h - 1);
    }
    const sizeCell = (cell, bar, text, alpha, side) => {
      const [sx, sw] = cell;
      if (alpha) {
        ctx.fillStyle = `rgba(${FLASH_RGB[side]}, ${alpha})`;
        ctx.fillRect(sx, y, sw, h - 1);
      }
      if (!text) return;
      ctx.fillStyle = side === "B" ? t.bidDim : t.askDim;
      const bx = side === "B" ? sx + sw - CELL_PAD - bar : sx + CELL_PAD;
      ctx.fillRect(bx, y + 2, bar, h - 4);
      ctx.font = row.best === side ? t.bold : t.font;
      ctx.fillStyle = t.size;
      ctx.textAlign = side === "B" ? "right" : "left";
      ctx.fillText(text, side === "B" ? sx + sw - CELL_PAD : sx + CELL_PAD, mid, sw - 2 * CELL_PAD);
    };
    sizeCell(cols.bid, row.bidBar, row.texts.bid, row.fb, "B");
    sizeCell(cols.ask, row.askBar, row.texts.ask, row.fa, "A");
    // price: coloured by the side of the book it lies in, bold at the touch
    const [px, pw] = cols.price;
    ctx.font = row.best ? t.bold : t.font;
    ctx.fillStyle = row.zone === "B" ? t.bidPx : row.zone === "A" ? t.askPx : t.size;
    ctx.textAlign = "center";
    ctx.fillText(row.texts.price, px + pw / 2, mid, pw - 2 * CELL_PAD);
    if (row.selected) {
      ctx.strokeStyle = t.accent;
      ctx.lineWidth = 1;
      const c = row.selected === "B" ? cols.bid : cols.ask;
      ctx.strokeRect(c[0] + 0.5, y + 0.5, c[1] - 1, h - 2);
    }
    // our simulated orders
    for (const [cell, c, text] of [[cols.buy, row.buy, row.texts.buy], [cols.sell, row.sell, row.texts.sell]]) {
      if (!c) continue;
      ctx.fillStyle = t.simBg;
      ctx.fillRect(cell[0] + 1, y + 1, cell[1] - 2, h - 3);
      ctx.font = t.bold;
      ctx.fillStyle = t.size;
      ctx.textAlign = "center";
      ctx.fillText(text, cell[0] + cell[1] / 2, mid, cell[1] - 4);
      if (row.simSel) {
        ctx.strokeStyle = t.accent;
        ctx.lineWidth = 2;
        ctx.strokeRect(cell[0] + 1, y + 1, cell[1] - 2, h - 3);
      }
    }
    // traded volume at the price; the last trade's price marked
    const [vx, vw] = cols.volume;
    if (row.volBar) {
      ctx.fillStyle = t.volDim;
      ctx.fillRect(vx + vw - CELL_PAD - row.volBar, y + 3, row.volBar, h - 6);
    }
    if (row.last) {
      ctx.fillStyle = t.warn;
      ctx.beginPath();
      ctx.moveTo(vx + 2, y + 4);
      ctx.lineTo(vx + 8, y + h / 2);
      ctx.lineTo(vx + 2, y + h - 4);
      ctx.fill();
    }
    if (row.texts.volume) {
      ctx.font = t.small;
      ctx.fillStyle = row.last ? t.warn : t.size;
      ctx.textAlign = "right";
      ctx.fillText(row.texts.volume, vx + vw - CELL_PAD, mid, vw - 2 * CELL_PAD - 8);
    }
  }

  /** The ladder as text, top to bottom: bid size, price, ask size per row. */
  function text() {
    return shown.map((r) => `${r.texts.bid} ${r.texts.price} ${r.texts.ask}`.trim()).join("\n");
  }

  function hit(ev) {
    const i = Math.floor(ev.offsetY / ROW_H);
    if (i < 0 || i >= shown.length) return null;
    return { i, row: shown[i], cell: cellAt(ladderColumns(size.w), ev.offsetX) };
  }

  function levelSide(row, cell) {
    if (cell === "bid" || cell === "buy") return "B";
    if (cell === "ask" || cell === "sell") return "A";
    if (row.bid_size > 0 && !(row.ask_size > 0)) return "B";
    if (row.ask_size > 0) return "A";
    return row.zone === "A" ? "A" : "B";
  }

  /** Click or key on an order column: select our orders there, move the selected ones, or place. */
  function orderAt(side, row) {
    const s = store.get();
    const mine = side === "B" ? row.buy : row.sell;
    const selOrder = s.simSelected !== null && s.sims ? s.sims.orders.find((o) => o.id === s.simSelected) : null;
    if (mine && !(selOrder && mine.ids.includes(selOrder.id))) {
      actions.selectSim(mine.ids[0]);
    } else if (mine && selOrder) {
      actions.selectSim(null);
    } else if (selOrder && selOrder.side === side && selOrder.status === "open") {
      actions.modifySim(selOrder.id, { price: row.price });
    } else {
      actions.placeSim(side, row.price, s.orderSize);
    }
  }

  canvas.addEventListener("click", (ev) => {
    const h = hit(ev);
    if (!h) return;
    canvas.focus({ preventScroll: true });
    cursor = h.row.price;
    const { row, cell } = h;
    if (cell === "buy" || cell === "sell") {
      orderAt(cell === "buy" ? "B" : "A", row);
    } else if (ev.shiftKey && (cell === "bid" || cell === "ask")) {
      actions.placeSim(cell === "bid" ? "B" : "A", row.price, store.get().orderSize);
    } else if (cell !== "volume") {
      actions.selectLevel(levelSide(row, cell), row.price);
    }
    invalidate(view);
  });
  canvas.addEventListener("mousemove", (ev) => {
    const h = hit(ev);
    const next = h ? { row: h.i, cell: h.cell } : { row: -1, cell: null };
    if (next.row === hover.row && next.cell === hover.cell) return;
    hover = next;
    canvas.style.cursor = h && h.cell !== "volume" ? "pointer" : "";
    invalidate(view);
  });
  canvas.addEventListener("mouseleave", () => {
    hover = { row: -1, cell: null };
    invalidate(view);
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    wheelAcc += ev.deltaMode === 1 ? ev.deltaY * ROW_H : ev.deltaY;
    const rows = Math.trunc(wheelAcc / ROW_H);
    if (!rows) return;
    wheelAcc -= rows * ROW_H;
    scroll(-rows); // wheel down: lower prices come into view
  }, { passive: false });

  canvas.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const s = store.get();
    if (!anchor) return;
    if (cursor === null || rowOf(anchor, cursor) < 0 || rowOf(anchor, cursor) >= anchor.rows) {
      const tt = touchOf(s.frame);
      cursor = tt.bid ?? tt.ask ?? priceOf(anchor, Math.floor(anchor.rows / 2));
    }
    const selOrder = s.simSelected !== null && s.sims ? s.sims.orders.find((o) => o.id === s.simSelected) : null;
    const moveCursor = (k) => {
      cursor += k * anchor.tick;
      const r = rowOf(anchor, cursor);
      if (r < 0) scroll(-r);
      else if (r >= anchor.rows) scroll(anchor.rows - 1 - r);
    };
    const row = { price: cursor, bid_size: null, ask_size: null, zone: null };
    switch (ev.key) {
      case "ArrowUp":
      case "ArrowDown": {
        const k = ev.key === "ArrowUp" ? 1 : -1;
        if (ev.shiftKey && selOrder) actions.modifySim(selOrder.id, { price: selOrder.price + k * anchor.tick });
        else moveCursor(k);
        break;
      }
      case "PageUp": scroll(Math.max(1, anchor.rows - 2)); break;
      case "PageDown": scroll(-Math.max(1, anchor.rows - 2)); break;
      case "b": case "B": orderAt("B", shownAt(cursor) || row); break;
      case "s": case "S": orderAt("A", shownAt(cursor) || row); break;
      case "Enter": {
        const r = shownAt(cursor) || row;
        actions.selectLevel(levelSide(r, null), cursor);
        break;
      }
      case "+": case "=":
        if (selOrder) actions.modifySim(selOrder.id, { size: selOrder.remaining + 1 });
        else actions.setOrderSize(s.orderSize + 1);
        break;
      case "-": case "_":
        if (selOrder) { if (selOrder.remaining > 1) actions.modifySim(selOrder.id, { size: selOrder.remaining - 1 }); }
        else actions.setOrderSize(Math.max(1, s.orderSize - 1));
        break;
      case "Delete": case "Backspace": case "x":
        if (selOrder) actions.cancelSim(selOrder.id);
        break;
      default:
        if (/^[1-9]$/.test(ev.key)) {
          actions.setOrderSize(Number(ev.key));
          break;
        }
        return; // Space, ←/→, c, ?, … : the page's keys
    }
    ev.preventDefault();
    ev.stopPropagation();
    invalidate(view);
  });
  canvas.addEventListener("blur", () => invalidate(view));

  function shownAt(price) {
    return shown.find((r) => r.price === price) || null;
  }

  store.subscribe((s, p) => {
    if (s.frame !== p.frame) {
      if (s.seekVer === lastSeek && lastFrame && s.frame) {
        const now = performance.now();
        for (const k of diffLevels(lastFrame.bids, s.frame.bids).keys()) flashes.set(`B:${k}`, now);
        for (const k of diffLevels(lastFrame.asks, s.frame.asks).keys()) flashes.set(`A:${k}`, now);
      } else {
        flashes.clear();
      }
      if (s.seekVer !== lastSeek || (s.sel !== p.sel)) anchor = null; // a jump: centre again
      lastFrame = s.frame;
      lastSeek = s.seekVer;
      invalidate(view);
    } else if (s.selected !== p.selected || s.decimals !== p.decimals || s.sims !== p.sims ||
      s.simSelected !== p.simSelected || s.flowVer !== p.flowVer || s.lastTrade !== p.lastTrade ||
      s.tick !== p.tick) {
      invalidate(view);
    }
  });
  return view;
}

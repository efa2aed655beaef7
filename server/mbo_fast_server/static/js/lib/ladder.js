// Pure layout of the price-anchored ladder (drawn on a canvas by ../ladder.js): one row per tick
// of the instrument's grid, highest price on top, empty ticks included; which price sits in
// which row and when the rows move; the columns and what a click hits; how a flash fades. No DOM.
//
// The rows stay where they are while the touch (best bid and best ask) moves inside them: a
// trader reads a price by its place on the screen. They move only when the touch leaves the
// rows (auto-recentre), on a recentre key, or when the user scrolls.

export const ROW_H = 19; // --row in app.css
export const CELL_PAD = 5;
/** A size change flashes its size cell (only), tinted by its side, fading from `peak`: the size
 * text over it keeps its contrast (tests/ui/contrast.test.mjs). */
export const FLASH = { ms: 450, peak: 0.32, steps: 3, rgb: { B: "38, 162, 105", A: "224, 70, 78" } };
/** The background of our simulated orders' cells. */
export const ORDER_BG = "rgba(78, 161, 255, 0.24)";
/** Rows kept between the touch and the ladder's edge before it recentres. */
export const EDGE_ROWS = 1;

/** Rows of ROW_H px that fit in `height` px (at least one). */
export function rowsFor(height) {
  return Math.max(1, Math.floor(height / ROW_H));
}

/** The touch of a frame: the prices the ladder keeps in view (best bid and best ask). */
export function touchOf(frame) {
  const bid = frame && frame.bids && frame.bids.length ? frame.bids[0][0] : null;
  const ask = frame && frame.asks && frame.asks.length ? frame.asks[0][0] : null;
  return { bid, ask };
}

function touchPrices(touch) {
  return [touch.bid, touch.ask].filter((p) => p !== null && p !== undefined);
}

/** Row of `price` (0 = top) in a ladder whose top row shows `top`; may be outside the rows. */
export function rowOf(anchor, price) {
  return Math.round((anchor.top - price) / anchor.tick);
}

/** Price of row `i` (0 = top). */
export function priceOf(anchor, i) {
  return anchor.top - i * anchor.tick;
}

/** Whether every price of the touch lies in the rows, `EDGE_ROWS` away from the edges. */
export function touchInView(anchor, touch) {
  const prices = touchPrices(touch);
  if (!prices.length) return true;
  const lo = Math.min(EDGE_ROWS, Math.floor((anchor.rows - 1) / 2));
  return prices.every((p) => {
    const r = rowOf(anchor, p);
    return r >= lo && r <= anchor.rows - 1 - lo;
  });
}

/** An anchor with the touch in the middle rows ({top, tick, rows, held: false, inView}). */
export function centred(touch, tick, rows) {
  const prices = touchPrices(touch);
  if (!prices.length || !(tick > 0)) return null;
  const mid = (Math.min(...prices) + Math.max(...prices)) / 2;
  const centre = Math.round(mid / tick) * tick;
  const top = centre + Math.floor(rows / 2) * tick;
  const anchor = { top, tick, rows, held: false, inView: true };
  anchor.inView = touchInView(anchor, touch);
  return anchor;
}

/**
 * The anchor after the book moved to `touch`: `prev` itself while the touch stays in view (the
 * rows do not move), or while the user has scrolled the touch out of view on purpose (`held`
 * and it was already out); recentred when the touch leaves the rows, when the tick or the
 * number of rows changed, or when there is no anchor yet.
 */
export function followTouch(prev, touch, tick, rows) {
  if (!prev || prev.tick !== tick || prev.rows !== rows) return centred(touch, tick, rows) || prev;
  const inView = touchInView(prev, touch);
  if (inView) return prev.inView ? prev : { ...prev, inView: true };
  if (prev.held && !prev.inView) return prev;
  return centred(touch, tick, rows) || prev;
}

/** The anchor scrolled by `ticks` (positive: higher prices come into view); held by the user. */
export function scrollBy(prev, ticks, touch) {
  if (!prev || !ticks) return prev;
  const next = { ...prev, top: prev.top + ticks * prev.tick, held: true };
  next.inView = touchInView(next, touch);
  return next;
}

/**
 * Cells of a row `width` wide, as [x, w] pairs, left to right: the simulated buy orders, bid
 * size, price, ask size, simulated sell orders, and traded volume at the price (with the last
 * trade marker). Order columns and the price are fixed; sizes and volume share the rest.
 */
export function ladderColumns(width) {
  const ORDER_W = 46;
  const PRICE_W = 74;
  const rest = Math.max(0, width - 2 * ORDER_W - PRICE_W);
  const vol = Math.floor(rest * 0.26);
  const size = Math.floor((rest - vol) / 2);
  let x = 0;
  const cell = (w) => {
    const c = [x, w];
    x += w;
    return c;
  };
  const buy = cell(ORDER_W);
  const bid = cell(size);
  const price = cell(PRICE_W);
  const ask = cell(size);
  const sell = cell(ORDER_W);
  const volume = cell(Math.max(0, width - x));
  return { buy, bid, price, ask, sell, volume };
}

/** Name of the cell under `x` ("buy", "bid", "price", "ask", "sell", "volume"), or null. */
export function cellAt(cols, x) {
  for (const [name, [cx, cw]] of Object.entries(cols)) if (x >= cx && x < cx + cw) return name;
  return null;
}

/**
 * What each row shows, top to bottom: {price, bid_size, ask_size, side, size, volume}. A side's
 * size is 0 on an empty tick of the grid and null where the frame says nothing (past the deepest
 * level it carries when it was cut at `depth` levels). `side`/`size` name the one side resting
 * there (null when none or both: a crossed book). `volume(price)` gives the traded volume.
 */
export function ladderRows(anchor, frame, depth, volume = () => 0) {
  if (!anchor) return [];
  const bids = new Map();
  const asks = new Map();
  for (const [px, sz] of (frame && frame.bids) || []) bids.set(px, sz);
  for (const [px, sz] of (frame && frame.asks) || []) asks.set(px, sz);
  const bl = (frame && frame.bids) || [];
  const al = (frame && frame.asks) || [];
  // a side cut at `depth` levels says nothing beyond its last level
  const bidFloor = bl.length >= depth ? bl[bl.length - 1][0] : -Infinity;
  const askCeil = al.length >= depth ? al[al.length - 1][0] : Infinity;
  const rows = [];
  for (let i = 0; i < anchor.rows; i++) {
    const price = priceOf(anchor, i);
    const bid = price < bidFloor ? null : bids.get(price) || 0;
    const ask = price > askCeil ? null : asks.get(price) || 0;
    const one = (bid > 0) !== (ask > 0);
    rows.push({
      price,
      bid_size: bid,
      ask_size: ask,
      side: one ? (bid > 0 ? "B" : "A") : null,
      size: one ? (bid > 0 ? bid : ask) : null,
      volume: volume(price),
    });
  }
  return rows;
}

/** Width in px of a size bar in a cell `cellW` wide: proportional to size/max, at least 2 %. */
export function barWidth(size, max, cellW) {
  const share = Math.max(0.02, Math.min(1, size / Math.max(1, max)));
  return Math.round(share * cellW);
}

/**
 * Opacity of a flash `age` ms after it started: `peak` fading linearly to 0 at `duration`,
 * in `steps` discrete values (so a fading row is repainted a bounded number of times).
 */
export function flashAlpha(age, duration, peak, steps = 10) {
  if (age < 0 || age >= duration) return 0;
  const left = 1 - age / duration;
  return (Math.ceil(left * steps) / steps) * peak;
}

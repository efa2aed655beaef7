// Pure layout of the price ladder (drawn on a canvas by ../ladder.js): which level sits in
// which row, where the columns are, what a click hits, how a flash fades. No DOM.

export const ROW_H = 19; // --row in app.css
export const SPREAD_H = 24;
/** Fixed columns: count | bid size | price | ask size | count (the middle three share the rest). */
const COUNT_W = 40;
const PRICE_W = 78;
export const CELL_PAD = 5;

/**
 * Row boxes top to bottom: asks from worst to best, the spread row, bids from best to worst.
 * `level` is the distance from the best (0 = best); the spread row has side null.
 */
export function ladderGeometry(perSide) {
  const rows = [];
  let y = 0;
  const push = (side, level, h) => {
    rows.push({ side, level, y, h });
    y += h;
  };
  for (let i = perSide - 1; i >= 0; i--) push("A", i, ROW_H);
  push(null, -1, SPREAD_H);
  for (let i = 0; i < perSide; i++) push("B", i, ROW_H);
  return rows;
}

/** Index of the row under `y` (CSS px from the top of the rows), or -1. */
export function rowAt(rows, y) {
  for (let i = 0; i < rows.length; i++) {
    if (y >= rows[i].y && y < rows[i].y + rows[i].h) return i;
  }
  return -1;
}

/** The five cells of a row `width` wide, as [x, w] pairs. */
export function ladderColumns(width) {
  const size = Math.max(0, Math.floor((width - 2 * COUNT_W - PRICE_W) / 2));
  const bidCount = [0, COUNT_W];
  const bidSize = [COUNT_W, size];
  const price = [COUNT_W + size, PRICE_W];
  const askSize = [COUNT_W + size + PRICE_W, size];
  const askCount = [COUNT_W + 2 * size + PRICE_W, COUNT_W];
  return { bidCount, bidSize, price, askSize, askCount };
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

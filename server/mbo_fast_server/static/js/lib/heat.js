// Pure pieces of the liquidity heatmap: a bounded ring buffer, price binning, colours.

/** A fixed-capacity FIFO: push() overwrites the oldest item once full. */
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.items = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }
  push(item) {
    if (this.length < this.capacity) {
      this.items[(this.start + this.length) % this.capacity] = item;
      this.length += 1;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  get(i) {
    return i < 0 || i >= this.length ? undefined : this.items[(this.start + i) % this.capacity];
  }
  last() {
    return this.get(this.length - 1);
  }
  clear() {
    this.items = new Array(this.capacity);
    this.start = 0;
    this.length = 0;
  }
  toArray() {
    const out = [];
    for (let i = 0; i < this.length; i++) out.push(this.get(i));
    return out;
  }
}

/**
 * Resting size per price row of the window {lo, tick, rows}: Float64Array(rows), row 0 = lo.
 * Levels off the window are dropped; prices between grid rows go to the row below.
 */
export function binLevels(levels, win) {
  const out = new Float64Array(win.rows);
  for (const [px, sz] of levels) {
    const r = Math.floor((px - win.lo) / win.tick + 1e-9);
    if (r >= 0 && r < win.rows) out[r] += sz;
  }
  return out;
}

/** One heatmap column from a frame: sizes of both sides binned, best bid and ask. */
export function column(frame, win) {
  const bids = binLevels(frame.bids || [], win);
  const asks = binLevels(frame.asks || [], win);
  const sizes = new Float64Array(win.rows);
  for (let r = 0; r < win.rows; r++) sizes[r] = bids[r] + asks[r];
  return sizes;
}

/** 0..1 intensity of `size` against `max` on a log scale (small sizes stay visible). */
export function intensity(size, max) {
  if (!(size > 0) || !(max > 0)) return 0;
  return Math.min(1, Math.log1p(size) / Math.log1p(max));
}

const STOPS = [
  [0.0, [14, 17, 24]],
  [0.25, [22, 52, 110]],
  [0.5, [18, 130, 160]],
  [0.75, [235, 190, 60]],
  [1.0, [255, 250, 230]],
];

/** The heatmap colour of intensity t in 0..1 as [r, g, b]. */
export function heatColor(t) {
  const x = Math.max(0, Math.min(1, t));
  for (let i = 1; i < STOPS.length; i++) {
    const [t1, c1] = STOPS[i];
    if (x <= t1) {
      const [t0, c0] = STOPS[i - 1];
      const f = (x - t0) / (t1 - t0);
      return c0.map((v, k) => Math.round(v + (c1[k] - v) * f));
    }
  }
  return STOPS[STOPS.length - 1][1];
}

/** Bubble radius (px) of a trade of `size`: area proportional to size, clamped. */
export function bubbleRadius(size, base = 2.5, max = 14) {
  return Math.min(max, base + Math.sqrt(Math.max(0, size)) * 1.6);
}

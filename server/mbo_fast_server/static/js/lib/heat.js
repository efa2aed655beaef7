// Pure pieces of the liquidity heatmap: the server's raster (GET /api/v1/heatmap, binary) decoded,
// the columns of a time axis cut into buckets (from rasters and from live frames), price binning,
// the colour scale (linear or log, clipped at a percentile), colours and bubble sizes.

export const UNDEF = 9.2e18; // i64::MAX read as a number: no price
export const RASTER_MAGIC = "MBOR";

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

const price = (v) => {
  const n = Number(v);
  return n >= UNDEF ? null : n;
};

/**
 * The binary answer of GET /api/v1/heatmap (layout in docs.py and README): "MBOR", a u32 header
 * length, the JSON header, then little-endian arrays. Returns {header, sizes (Uint32Array,
 * bucket-major: sizes[b * rows + r]), bid, ask (price or null per bucket), trades [{b, price,
 * size, count, side}]}.
 */
export function decodeRaster(buffer) {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== RASTER_MAGIC) throw new Error(`not a raster (magic ${JSON.stringify(magic)})`);
  const n = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, n)));
  const B = header.buckets;
  const R = header.rows;
  const N = header.trades;
  let at = 8 + n;
  const take = (Type, count) => {
    const arr = new Type(buffer, at, count);
    at += count * Type.BYTES_PER_ELEMENT;
    return arr;
  };
  const bidRaw = take(BigInt64Array, B);
  const askRaw = take(BigInt64Array, B);
  const tradePx = take(BigInt64Array, N);
  const sizes = take(Uint32Array, B * R);
  const tb = take(Uint32Array, N);
  const ts = take(Uint32Array, N);
  const tc = take(Uint32Array, N);
  const side = take(Uint8Array, N);
  if (at > buffer.byteLength) throw new Error("raster truncated");
  const trades = [];
  for (let i = 0; i < N; i++) {
    trades.push({
      b: tb[i], price: Number(tradePx[i]), size: ts[i], count: tc[i], side: String.fromCharCode(side[i]),
    });
  }
  return {
    header,
    sizes,
    bid: Array.from(bidRaw, price),
    ask: Array.from(askRaw, price),
    trades,
  };
}

/**
 * Resting size per price row of the grid {lo, step, rows}: Float32Array(rows), row 0 = lo; row
 * r holds prices lo + r*step up to the next row. Levels off the grid are dropped.
 */
export function binLevels(levels, grid, out = new Float32Array(grid.rows)) {
  for (const [px, sz] of levels) {
    const r = Math.floor((px - grid.lo) / grid.step + 1e-9);
    if (r >= 0 && r < grid.rows) out[r] += sz;
  }
  return out;
}

/** One column from a frame: both sides binned, best bid and ask. */
export function frameColumn(frame, grid) {
  const sizes = new Float32Array(grid.rows);
  binLevels(frame.bids || [], grid, sizes);
  binLevels(frame.asks || [], grid, sizes);
  return {
    sizes,
    bid: frame.bids && frame.bids.length ? frame.bids[0][0] : null,
    ask: frame.asks && frame.asks.length ? frame.asks[0][0] : null,
    exact: false,
  };
}

/**
 * Heatmap columns by bucket number k (bucket k covers times (k*bucketNs, (k+1)*bucketNs], its
 * column the state at its end), on one price grid. Columns come from server rasters (exact) or
 * from frames as they arrive (each frame's state held until the next: a frame is sent when the
 * book changes); exact columns are never replaced by frames. Trades are kept with their times.
 * Bounded: at most `capacity` columns and `maxTrades` trades (the oldest go first).
 */
export class HeatColumns {
  constructor(capacity = 4000, maxTrades = 20000) {
    this.capacity = capacity;
    this.maxTrades = maxTrades;
    this.bucketNs = 0;
    this.grid = null;
    this.clear();
  }

  clear() {
    this.cols = new Map();
    this.trades = []; // {t, k, price, size, side, exact}
    this.lastLive = null; // k of the newest frame column
    this.version = (this.version || 0) + 1;
  }

  /** Use buckets of `bucketNs` on `grid`; everything goes when either changes. */
  configure(bucketNs, grid) {
    const same = this.bucketNs === bucketNs && this.grid && grid &&
      this.grid.lo === grid.lo && this.grid.step === grid.step && this.grid.rows === grid.rows;
    if (same) return false;
    this.bucketNs = bucketNs;
    this.grid = grid;
    this.clear();
    return true;
  }

  bucketOf(t) {
    return Math.ceil(t / this.bucketNs) - 1;
  }

  /** A decoded raster whose first bucket is number `k0` (same bucket width and grid). */
  putRaster(raster, k0) {
    const { buckets: B, rows: R } = raster.header;
    if (R !== this.grid.rows) throw new Error("raster on another grid");
    for (let b = 0; b < B; b++) {
      this.cols.set(k0 + b, {
        sizes: raster.sizes.slice(b * R, (b + 1) * R), bid: raster.bid[b], ask: raster.ask[b], exact: true,
      });
    }
    const k1 = k0 + B;
    this.trades = this.trades.filter((t) => t.k < k0 || t.k >= k1);
    const half = this.bucketNs / 2;
    for (const t of raster.trades) {
      const k = k0 + t.b;
      this.trades.push({ t: k * this.bucketNs + half, k, price: t.price, size: t.size, side: t.side, exact: true });
    }
    this.trades.sort((a, b) => a.t - b.t);
    this._bound();
    this.version++;
  }

  /** The state of a frame at time `t`; the buckets since the previous frame keep its state. A
   * frame before the newest one (time went back: a looped live feed's next pass) makes the frames
   * after it the future: they go, else the newest-first bound would evict the present. */
  putFrame(frame, t) {
    if (!this.grid || !(this.bucketNs > 0)) return;
    const k = this.bucketOf(t);
    if (this.lastLive !== null && k < this.lastLive) this.dropFrom(k + 1);
    const col = frameColumn(frame, this.grid);
    const prevK = this.lastLive;
    if (prevK !== null && k > prevK && k - prevK <= this.capacity) {
      const prev = this.cols.get(prevK);
      for (let j = prevK + 1; j < k; j++) {
        const c = this.cols.get(j);
        if (prev && !(c && c.exact)) this.cols.set(j, prev);
      }
    }
    const cur = this.cols.get(k);
    if (!(cur && cur.exact)) this.cols.set(k, col);
    this.lastLive = k;
    this._bound();
    this.version++;
  }

  /** A trade at time `t` (ns), unless an exact column already counted it. */
  addTrade(t, priceValue, size, side) {
    if (!(this.bucketNs > 0)) return;
    const k = this.bucketOf(t);
    const c = this.cols.get(k);
    if (c && c.exact) return;
    this.trades.push({ t, k, price: priceValue, size, side, exact: false });
    if (this.trades.length > this.maxTrades) this.trades.splice(0, this.trades.length - this.maxTrades);
    this.version++;
  }

  /** Forget frames from `k` on (a seek back in time: they are in the future now). */
  dropFrom(k) {
    for (const key of [...this.cols.keys()]) if (key >= k && !this.cols.get(key).exact) this.cols.delete(key);
    this.trades = this.trades.filter((t) => t.exact || t.k < k);
    this.lastLive = null;
    this.version++;
  }

  /** The newest k such that every bucket from `from` through it holds an exact column. */
  exactThrough(from) {
    let k = from;
    while (this.cols.has(k) && this.cols.get(k).exact) k++;
    return k - 1;
  }

  _bound() {
    if (this.cols.size <= this.capacity) return;
    const keys = [...this.cols.keys()].sort((a, b) => a - b);
    // keep the newest columns: the view follows the clock
    for (const key of keys.slice(0, keys.length - this.capacity)) this.cols.delete(key);
    const oldest = keys[keys.length - this.capacity];
    this.trades = this.trades.filter((t) => t.k >= oldest);
  }
}

/**
 * The `p`-th percentile (0..100) of the non-zero values of `values` (every `stride`-th value
 * looked at), or 0 when there are none.
 */
export function percentile(values, p, stride = 1) {
  const nz = [];
  for (let i = 0; i < values.length; i += stride) if (values[i] > 0) nz.push(values[i]);
  if (!nz.length) return 0;
  const sorted = Float64Array.from(nz).sort();
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at];
}

/** 0..1 intensity of `size` against `max`: linear, square root, or log (small sizes stay
 * visible); at `max` and above, 1. */
export function intensity(size, max, mode = "log") {
  if (!(size > 0) || !(max > 0)) return 0;
  if (mode === "linear") return Math.min(1, size / max);
  if (mode === "sqrt") return Math.min(1, Math.sqrt(size / max));
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

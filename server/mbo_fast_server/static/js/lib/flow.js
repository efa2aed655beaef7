// Order flow of a session, pure: traded volume at each price (the volume profile) split by
// aggressor, cumulative delta (buy-aggressor minus sell-aggressor volume), high, low and VWAP.
// Fed with trades in record order ({index, price, size, side}; side is the aggressor's: "B" a
// buyer lifted the ask, "A" a seller hit the bid, "N" unknown) and, after a seek, with the
// server's aggregate of the session so far (`load`), then the trades after it.

const MAX_RECENT = 50_000;

export class Flow {
  constructor() {
    this.reset();
  }

  reset(from = null) {
    this.byPrice = new Map(); // price -> [buy volume, sell volume, other volume]
    this.buy = 0;
    this.sell = 0;
    this.other = 0;
    this.high = null;
    this.low = null;
    this.pv = 0; // sum of price (in units) x size, for the VWAP
    this.volume = 0;
    this.trades = 0;
    this.start = from; // ns: the session's first time counted (null: unknown)
    this.through = -1; // index of the last record accounted for
    this.maxAtPrice = 0;
    this.recent = []; // trades added one by one since the reset (replayed over an aggregate)
  }

  /** Count `size` traded at `price` by `side` (an aggregate of `n` trades). */
  addVolume(price, size, side, n = 1) {
    if (!(size > 0) || price === null || price === undefined) return;
    let cell = this.byPrice.get(price);
    if (!cell) {
      cell = [0, 0, 0];
      this.byPrice.set(price, cell);
    }
    const k = side === "B" ? 0 : side === "A" ? 1 : 2;
    cell[k] += size;
    if (k === 0) this.buy += size;
    else if (k === 1) this.sell += size;
    else this.other += size;
    const total = cell[0] + cell[1] + cell[2];
    if (total > this.maxAtPrice) this.maxAtPrice = total;
    if (this.high === null || price > this.high) this.high = price;
    if (this.low === null || price < this.low) this.low = price;
    this.pv += (price / 1e9) * size;
    this.volume += size;
    this.trades += n;
  }

  /** One trade; ignored when its record was accounted for already (replays, overlaps). */
  add(trade) {
    if (trade.index !== undefined && trade.index !== null) {
      if (trade.index <= this.through) return false;
      this.through = trade.index;
    }
    this.addVolume(trade.price, trade.size, trade.side);
    if (this.recent.length < MAX_RECENT) this.recent.push(trade);
    return true;
  }

  /** Replace everything with an aggregate: cells [{price, size, side, count}] through record
   * `through` (the trades of the session up to a point), starting at `start` ns; the trades
   * added since the reset that come after it (they arrived while it was on its way) stay. */
  load(cells, through, start = null) {
    const recent = this.recent;
    this.reset(start);
    for (const c of cells) this.addVolume(c.price, c.size, c.side, c.count || 1);
    this.through = through;
    for (const t of recent) this.add(t);
  }

  /** Cumulative delta: buy-aggressor minus sell-aggressor volume. */
  get delta() {
    return this.buy - this.sell;
  }

  /** Volume-weighted average price in 1e-9 units (null before any trade). */
  get vwap() {
    return this.volume > 0 ? Math.round((this.pv / this.volume) * 1e9) : null;
  }

  /** Volume traded at `price` (both aggressors). */
  volumeAt(price) {
    const c = this.byPrice.get(price);
    return c ? c[0] + c[1] + c[2] : 0;
  }

  /** [buy, sell, other] volume at `price`. */
  splitAt(price) {
    return this.byPrice.get(price) || [0, 0, 0];
  }

  /** The price with the most volume (the point of control), or null. */
  get poc() {
    let best = null;
    let max = 0;
    for (const [px, c] of this.byPrice) {
      const v = c[0] + c[1] + c[2];
      if (v > max || (v === max && best !== null && px < best)) {
        max = v;
        best = px;
      }
    }
    return best;
  }
}

/**
 * Cumulative delta per time bucket: `buckets` values, value k = the sum of (buy - sell) volume
 * of the trades in buckets 0..k. `trades` are {k, size, side} with k the bucket number.
 */
export function cumulativeDelta(trades, buckets) {
  const per = new Float64Array(buckets);
  for (const t of trades) {
    if (t.k < 0 || t.k >= buckets) continue;
    per[t.k] += t.side === "B" ? t.size : t.side === "A" ? -t.size : 0;
  }
  for (let k = 1; k < buckets; k++) per[k] += per[k - 1];
  return per;
}

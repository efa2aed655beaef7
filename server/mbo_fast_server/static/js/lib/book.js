// Pure order-book helpers over frames: levels are [price, size, count], best first.

/** Per-price changes between two level lists: Map price -> "new" | "up" | "down". */
export function diffLevels(prev, next) {
  const out = new Map();
  if (!prev) return out;
  const before = new Map();
  for (const [px, sz] of prev) before.set(px, sz);
  for (const [px, sz] of next) {
    const old = before.get(px);
    if (old === undefined) out.set(px, "new");
    else if (sz > old) out.set(px, "up");
    else if (sz < old) out.set(px, "down");
  }
  return out;
}

/** Cumulative sizes from the best level outward: [[price, cumSize], ...]. */
export function cumulative(levels) {
  let acc = 0;
  return levels.map(([px, sz]) => [px, (acc += sz)]);
}

/** Spread, mid, imbalance (top level and over all given levels) of a frame. */
export function bookStats(frame) {
  const bids = (frame && frame.bids) || [];
  const asks = (frame && frame.asks) || [];
  const bb = bids[0];
  const ba = asks[0];
  const out = {
    bestBid: bb ? bb[0] : null,
    bestAsk: ba ? ba[0] : null,
    bidSize: bb ? bb[1] : 0,
    askSize: ba ? ba[1] : 0,
    spread: null,
    mid: null,
    imbalance: null,
    depthImbalance: null,
  };
  if (bb && ba) {
    out.spread = ba[0] - bb[0];
    out.mid = (ba[0] + bb[0]) / 2;
  }
  const top = out.bidSize + out.askSize;
  if (top > 0) out.imbalance = (out.bidSize - out.askSize) / top;
  const sb = bids.reduce((a, l) => a + l[1], 0);
  const sa = asks.reduce((a, l) => a + l[1], 0);
  if (sb + sa > 0) out.depthImbalance = (sb - sa) / (sb + sa);
  return out;
}

/** The largest size over both sides (for size bars), at least 1. */
export function maxSize(frame) {
  let m = 1;
  for (const l of (frame && frame.bids) || []) if (l[1] > m) m = l[1];
  for (const l of (frame && frame.asks) || []) if (l[1] > m) m = l[1];
  return m;
}

/**
 * The L3 queue of one level from a /api/v1/book?orders=true document: {orders, count, size}
 * with each order {id, size, newest, fresh}; `fresh` marks ids absent from `prevIds`.
 */
export function queueOf(doc, side, price, prevIds) {
  const levels = side === "B" ? doc.bids : doc.asks;
  const level = (levels || []).find((l) => l.price === price);
  if (!level) return null;
  const orders = (level.orders || []).map(([id, size], i, all) => ({
    id,
    size,
    newest: i === all.length - 1,
    fresh: prevIds ? !prevIds.has(id) : false,
  }));
  return { price, side, count: level.count, size: level.size, orders };
}

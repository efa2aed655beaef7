// Position and P&L of simulated fills, pure. Average-cost accounting: buys while long (or sells
// while short) move the average price; trades against the position realise (price - average) x
// size; a fill through zero closes the position and opens the rest at its price. Prices are in
// 1e-9 units; P&L is in price points x lots (no contract multiplier is known here).

/** The fills of simulated orders (server documents) as [{ts, index, side, price, size, order}]
 * in the order they happened. */
export function fillsOf(orders) {
  const out = [];
  for (const o of orders || []) {
    for (const f of o.fills || []) {
      out.push({ ts: f.ts, index: f.index, side: o.side, price: f.price, size: f.size, order: o.id });
    }
  }
  out.sort((a, b) => a.ts - b.ts || (a.index ?? -1) - (b.index ?? -1) || a.order - b.order);
  return out;
}

/**
 * {position (lots, + long), average (1e-9 units, null when flat), realised, unrealised, total
 * (points x lots), bought, sold (lots)} after `fills`, marked at `mark` (1e-9 units; null: no
 * unrealised P&L).
 */
export function positionOf(fills, mark = null) {
  let pos = 0;
  let avg = 0; // points
  let realised = 0;
  let bought = 0;
  let sold = 0;
  for (const f of fills) {
    const px = f.price / 1e9;
    const signed = f.side === "B" ? f.size : -f.size;
    if (f.side === "B") bought += f.size;
    else sold += f.size;
    if (pos === 0 || Math.sign(pos) === Math.sign(signed)) {
      avg = (avg * Math.abs(pos) + px * Math.abs(signed)) / (Math.abs(pos) + Math.abs(signed));
      pos += signed;
      continue;
    }
    const closing = Math.min(Math.abs(pos), Math.abs(signed));
    realised += closing * (px - avg) * Math.sign(pos);
    const left = pos + signed;
    if (left !== 0 && Math.sign(left) !== Math.sign(pos)) avg = px; // flipped: the rest opens here
    pos = left;
    if (pos === 0) avg = 0;
  }
  const unrealised = pos !== 0 && mark !== null && mark !== undefined ? pos * (mark / 1e9 - avg) : 0;
  return {
    position: pos,
    average: pos === 0 ? null : Math.round(avg * 1e9),
    realised,
    unrealised,
    total: realised + unrealised,
    bought,
    sold,
  };
}

/** The mark price of a book frame: the mid of a two-sided book, else the last trade, else null. */
export function markOf(frame, lastTrade) {
  const bb = frame && frame.bids && frame.bids[0];
  const ba = frame && frame.asks && frame.asks[0];
  if (bb && ba && bb[0] < ba[0]) return (bb[0] + ba[0]) / 2;
  if (lastTrade) return lastTrade.price;
  return null;
}

/** A P&L in points as text with its sign ("+1.25", "-0.50", "0.00"). */
export function formatPnl(points, decimals) {
  const d = Math.max(2, decimals);
  const v = Math.abs(points) < 0.5 * 10 ** -d ? 0 : points;
  return `${v > 0 ? "+" : v < 0 ? "−" : ""}${Math.abs(v).toFixed(d)}`;
}

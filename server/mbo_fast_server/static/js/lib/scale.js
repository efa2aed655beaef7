// Pure scales and axis ticks.

/** A linear map of [d0, d1] onto [r0, r1]; a zero-width domain maps to the range's middle. */
export function linear(d0, d1, r0, r1) {
  const span = d1 - d0;
  const f = (v) => (span === 0 ? (r0 + r1) / 2 : r0 + ((v - d0) / span) * (r1 - r0));
  f.invert = (y) => (r1 === r0 ? d0 : d0 + ((y - r0) / (r1 - r0)) * span);
  return f;
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps). */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo) || count < 1) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * The visible price window [lo, hi] (multiples of tick, `rows` ticks tall) keeping `center`
 * inside the middle `keep` fraction of `prev`; returns `prev` unchanged when it still fits, so
 * the chart need not redraw.
 */
export function followWindow(prev, center, tick, rows, keep = 0.6) {
  if (!tick || center === null || center === undefined) return prev;
  if (prev && prev.rows === rows && prev.tick === tick) {
    const margin = ((1 - keep) / 2) * (prev.hi - prev.lo);
    if (center >= prev.lo + margin && center <= prev.hi - margin) return prev;
  }
  const c = Math.round(center / tick) * tick;
  const lo = c - Math.floor(rows / 2) * tick;
  return { lo, hi: lo + (rows - 1) * tick, tick, rows };
}

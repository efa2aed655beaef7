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

const NS = 1e6; // ns per ms
/** Steps of a time axis, ns: round steps of a clock from 1 ms to a day. */
export const TIME_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, // ms
  1e3, 2e3, 5e3, 10e3, 15e3, 30e3, // s
  60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, // min
  3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, // h
].map((ms) => ms * NS);

/**
 * Round times (ns since the epoch, UTC) for an axis over [t0, t1] about `count` apart: the
 * smallest step of TIME_STEPS giving at most `count` labels, and its multiples in the range.
 * Equal steps of time: the labels are equally spaced on a linear time axis.
 */
export function timeTicks(t0, t1, count = 6) {
  const span = t1 - t0;
  if (!(span > 0) || count < 1) return { step: 0, ticks: [] };
  const step = TIME_STEPS.find((s) => span / s <= count) || TIME_STEPS[TIME_STEPS.length - 1];
  const ticks = [];
  for (let k = Math.ceil(t0 / step); k * step <= t1; k++) ticks.push(k * step);
  return { step, ticks };
}

/** A time axis label for time `ns` on an axis of `step` ns (UTC). */
export function timeLabel(ns, step) {
  const d = new Date(Math.round(ns / NS)); // round: a tick's ns carry ~256 ns of float error
  const p = (n, w = 2) => String(n).padStart(w, "0");
  const hm = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  if (step >= 60e3 * NS) return hm;
  if (step >= 1e3 * NS) return `${hm}:${p(d.getUTCSeconds())}`;
  return `${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
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

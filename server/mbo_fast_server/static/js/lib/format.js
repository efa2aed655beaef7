// Pure formatting helpers (prices in 1e-9 units, times in ns since the epoch). No DOM.

export const PRICE_SCALE = 1e9;
export const UNDEF_PRICE = 9223372036854775807; // i64::MAX (as a JS number: never a real price)

export function gcd(a, b) {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The price grid step seen in `prices` (gcd of the differences), combined with `prev`. */
export function deriveTick(prices, prev = 0) {
  let g = prev;
  for (let i = 1; i < prices.length; i++) {
    const d = prices[i] - prices[i - 1];
    if (d !== 0 && Number.isSafeInteger(d)) g = gcd(g, d);
  }
  return g;
}

/** Decimal places needed to print multiples of `tick` exactly (2 when the tick is unknown). */
export function decimalsForTick(tick) {
  if (!tick || tick <= 0) return 2;
  let d = 9;
  let t = tick;
  while (d > 0 && t % 10 === 0) {
    t /= 10;
    d -= 1;
  }
  return d;
}

export function formatPrice(px, decimals) {
  if (px === null || px === undefined || px >= UNDEF_PRICE) return "—";
  return (px / PRICE_SCALE).toFixed(decimals);
}

export function formatSize(n) {
  if (n === null || n === undefined) return "";
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
  if (n >= 1e5) return Math.round(n / 1e3) + "k";
  return String(n);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "HH:MM:SS.mmm" (UTC) of a ts in ns. */
export function formatTime(ns) {
  if (ns === null || ns === undefined) return "--:--:--.---";
  const ms = Math.floor(ns / 1e6);
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** "YYYY-MM-DD HH:MM:SS.mmm" (UTC). */
export function formatDateTime(ns) {
  if (ns === null || ns === undefined) return "—";
  const d = new Date(Math.floor(ns / 1e6));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${formatTime(ns)}`;
}

export const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, "max"];

export function formatSpeed(s) {
  return s === "max" ? "max" : `${s}×`;
}

/** The next speed up (dir 1) or down (dir -1) in SPEEDS. */
export function stepSpeed(current, dir) {
  let i = SPEEDS.indexOf(current);
  if (i < 0) i = SPEEDS.indexOf(1);
  return SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, i + dir))];
}

/**
 * A typed jump target: "#123" or a small integer -> {index}; "HH:MM[:SS[.fff]]" -> {ts} on the
 * session's UTC date (from `sessionStartNs`); an ISO date-time or a ns integer -> {ts} as given.
 * The ts is a string the server parses exactly. Returns null for anything else.
 */
export function parseJump(text, sessionStartNs) {
  const s = String(text || "").trim();
  if (!s) return null;
  let m = /^#\s*(\d+)$/.exec(s);
  if (m) return { index: Number(m[1]) };
  if (/^\d+$/.test(s)) return s.length < 16 ? { index: Number(s) } : { ts: s };
  m = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/.exec(s);
  if (m) {
    const [, h, mi, se = "0", frac = ""] = m;
    if (+h > 23 || +mi > 59 || +se > 59) return null;
    const day = new Date(Math.floor((sessionStartNs || 0) / 1e6));
    const date = `${day.getUTCFullYear()}-${pad(day.getUTCMonth() + 1)}-${pad(day.getUTCDate())}`;
    const f = frac ? `.${frac.padEnd(6, "0").slice(0, 6)}` : "";
    return { ts: `${date}T${pad(+h)}:${mi}:${pad(+se)}${f}+00:00` };
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(s)) {
    return { ts: s.replace(" ", "T") };
  }
  return null;
}

/** Integer ns (a JS number, ~256 ns precision near 2025) as an exact decimal string. */
export function nsString(ns) {
  return BigInt(Math.round(ns)).toString();
}

// WCAG 2 contrast of colours, pure: the UI's text colours are held to >= 4.5:1 against the
// backgrounds they are drawn on (tests/ui/contrast.test.mjs reads them from app.css and the views).

/** [r, g, b, a] (0..255, alpha 0..1) of "#rgb", "#rrggbb", "rgb(…)" or "rgba(…)". */
export function parseColor(text) {
  const s = String(text).trim();
  let m = /^#([0-9a-f]{3})$/i.exec(s);
  if (m) return [...m[1]].map((c) => parseInt(c + c, 16)).concat(1);
  m = /^#([0-9a-f]{6})$/i.exec(s);
  if (m) return [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16)).concat(1);
  m = /^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*([\d.]+)\s*)?\)$/i.exec(s);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
  throw new Error(`not a colour: ${text}`);
}

/** `fg` composited over the opaque `bg` ([r, g, b]). */
export function over(fg, bg) {
  const [r, g, b, a] = fg;
  return [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
}

/** Relative luminance of an sRGB colour [r, g, b]. */
export function luminance([r, g, b]) {
  const lin = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** Contrast ratio (1..21) of text colour `fg` on background `bg` (strings or arrays; layers of
 * `bg` given as an array of strings are composited bottom first). */
export function contrast(fg, bg) {
  const layers = Array.isArray(bg) && typeof bg[0] === "string" ? bg : [bg];
  let base = null;
  for (const layer of layers) {
    const c = typeof layer === "string" ? parseColor(layer) : layer;
    base = base === null ? c.slice(0, 3) : over(c, base);
  }
  const text = typeof fg === "string" ? parseColor(fg) : fg;
  const f = text.length > 3 && text[3] < 1 ? over(text, base) : text.slice(0, 3);
  const [l1, l2] = [luminance(f), luminance(base)].sort((a, b) => b - a);
  return (l1 + 0.05) / (l2 + 0.05);
}

// A canvas filling its box at device-pixel resolution; onResize(width, height) in CSS pixels.
// `alpha: false` for a canvas that paints every pixel itself: the browser then composites it as
// opaque, without blending it with what lies beneath.
export function fitCanvas(box, onResize, { alpha = true } = {}) {
  const canvas = document.createElement("canvas");
  box.append(canvas);
  const ctx = canvas.getContext("2d", { alpha });
  const size = { w: 0, h: 0, dpr: 1 };
  const ro = new ResizeObserver(() => {
    const r = box.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.floor(r.width));
    const h = Math.max(1, Math.floor(r.height));
    if (w === size.w && h === size.h && dpr === size.dpr) return;
    Object.assign(size, { w, h, dpr });
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    onResize(w, h);
  });
  ro.observe(box);
  return { canvas, ctx, size };
}

/** The value of a CSS custom property of the page (app.css `:root`), e.g. cssVar("--panel"). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

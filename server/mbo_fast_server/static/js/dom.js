// DOM writes that happen only on change. Rewriting an unchanged text or style still invalidates
// the element's layout and paint; at tens of book updates a second, skipping those writes
// measurably cut the frames the page dropped (benchmarks/ui_frames.py).

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function setWidth(el, width) {
  if (el.style.width !== width) el.style.width = width;
}

// DOM writes that happen only on change. Rewriting an unchanged text or style still invalidates
// the element's layout and paint, and at tens of book updates a second most ladder cells keep
// their value from one frame to the next.

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function setWidth(el, width) {
  if (el.style.width !== width) el.style.width = width;
}

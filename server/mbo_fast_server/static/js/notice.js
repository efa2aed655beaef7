// The book notice under the header: whether the book shown can be complete (GET
// /api/v1/first_book). A file that starts mid-session, without a snapshot or a clear, misses the
// orders that rested before its first record: the ladder and the L3 queues are then short of
// them, and the notice says so (dismissable, keyboard-reachable).
import { invalidate } from "./store.js";
import { formatTime } from "./lib/format.js";

export function noticeText(doc) {
  if (!doc || doc.complete) return null;
  if (doc.start === "records" && doc.unknown_orders > 0) {
    return {
      kind: "warn",
      text: `Book incomplete: the data starts mid-session. No snapshot or clear precedes its ` +
        `first record, and ${doc.unknown_orders.toLocaleString("en-US")} records soon after name ` +
        `orders never seen: sizes and queues miss the orders resting before the recording began.`,
    };
  }
  if (doc.start === "records") {
    return {
      kind: "info",
      text: "No snapshot or clear precedes the first record: the book is built from it on " +
        "(no record names an order never seen, as in a session recorded from its start).",
    };
  }
  return null;
}

export function mountNotice(root, store) {
  const text = document.createElement("span");
  text.className = "notice-text";
  const close = document.createElement("button");
  close.className = "icon";
  close.textContent = "×";
  close.title = "Dismiss";
  close.setAttribute("aria-label", "Dismiss the notice");
  root.append(text, close);
  root.setAttribute("role", "status");
  let dismissed = null;
  close.addEventListener("click", () => {
    dismissed = store.get().notice;
    invalidate(view);
  });
  const view = {
    render() {
      const s = store.get();
      const n = s.live ? null : noticeText(s.notice);
      const show = !!n && dismissed !== s.notice;
      root.hidden = !show;
      root.dataset.kind = n ? n.kind : "";
      if (!n) return;
      const at = s.notice.index !== null
        ? ` Opened at its first two-sided book, #${s.notice.index.toLocaleString("en-US")} ` +
          `(${formatTime(s.notice.ts_recv)} UTC).`
        : "";
      const full = n.text + at;
      if (text.textContent !== full) text.textContent = full;
    },
  };
  store.subscribe((s, p) => {
    if (s.notice !== p.notice || s.live !== p.live) invalidate(view);
  });
  invalidate(view);
  return view;
}

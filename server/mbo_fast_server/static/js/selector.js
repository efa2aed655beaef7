// Instrument / publisher selector: one option per book (instrument × publisher × source), a
// consolidated book per instrument, and the books of the live feed (GET /api/v1/live/books), so a
// live instrument is selectable whatever files the server has.
import { invalidate } from "./store.js";

export function mountSelector(root, store, actions) {
  const select = document.createElement("select");
  select.id = "book-select";
  select.title = "Instrument · publisher · source";
  select.setAttribute("aria-label", "Book: instrument, publisher, source");
  root.append(select);
  select.addEventListener("change", () => {
    const parts = select.value.split(":");
    if (parts[0] === "live") actions.selectLive(Number(parts[1]), Number(parts[2]));
    else actions.selectBook(Number(parts[0]), parts[1] === "c" ? "c" : Number(parts[1]), Number(parts[2]));
    select.blur();
  });
  const view = {
    render() {
      const s = store.get();
      const opts = [];
      for (const inst of s.instruments) {
        const srcs = new Set();
        for (const p of inst.publishers) {
          const label = `${inst.symbol || "?"} · ${inst.instrument_id} · pub ${p.publisher_id}` +
            (s.sources.length > 1 ? ` · src ${p.source}` : "");
          opts.push([`${inst.instrument_id}:${p.publisher_id}:${p.source}`, label]);
          srcs.add(p.source);
        }
        for (const src of srcs) { // every publisher of the instrument summed per price
          const n = inst.publishers.filter((p) => p.source === src).length;
          const label = `${inst.symbol || "?"} · ${inst.instrument_id} · consolidated (${n} pub)` +
            (s.sources.length > 1 ? ` · src ${src}` : "");
          opts.push([`${inst.instrument_id}:c:${src}`, label]);
        }
      }
      for (const b of (s.liveBooks && s.liveBooks.books) || []) {
        opts.push([`live:${b.instrument_id}:${b.publisher_id}`,
          `${b.symbol || "?"} · ${b.instrument_id} · pub ${b.publisher_id} · live feed${b.stale ? " (stale)" : ""}`]);
      }
      const sig = opts.map((o) => o.join("=")).join("|");
      if (select.dataset.sig !== sig) {
        select.replaceChildren(...opts.map(([v, l]) => new Option(l, v)));
        select.dataset.sig = sig;
      }
      if (s.sel) {
        select.value = s.live
          ? `live:${s.sel.iid}:${s.sel.pid}`
          : `${s.sel.iid}:${s.sel.consolidated ? "c" : s.sel.pid}:${s.sel.source}`;
      }
    },
  };
  store.subscribe((s, p) => {
    if (s.instruments !== p.instruments || s.sel !== p.sel || s.live !== p.live || s.liveBooks !== p.liveBooks) {
      invalidate(view);
    }
  });
  return view;
}

// Instrument / publisher selector: one option per book (instrument × publisher × source).
import { invalidate } from "./store.js";

export function mountSelector(root, store, actions) {
  const select = document.createElement("select");
  select.id = "book-select";
  select.title = "Instrument · publisher · source";
  root.append(select);
  select.addEventListener("change", () => {
    const [iid, pid, source] = select.value.split(":");
    actions.selectBook(Number(iid), pid === "c" ? "c" : Number(pid), Number(source));
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
      if (select.options.length !== opts.length) {
        select.replaceChildren(...opts.map(([v, l]) => new Option(l, v)));
      }
      if (s.sel) {
        select.value = `${s.sel.iid}:${s.sel.consolidated ? "c" : s.sel.pid}:${s.sel.source}`;
      }
    },
  };
  store.subscribe((s, p) => {
    if (s.instruments !== p.instruments || s.sel !== p.sel) invalidate(view);
  });
  return view;
}

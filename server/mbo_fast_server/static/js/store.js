// A tiny store: one state object, shallow patches, synchronous subscribers, and a render
// scheduler that runs each dirty view at most once per animation frame.

export function createStore(initial) {
  let state = initial;
  const subs = new Set();
  return {
    get: () => state,
    set(patch) {
      const prev = state;
      state = { ...state, ...patch };
      for (const fn of subs) fn(state, prev);
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

const dirty = new Set();
let scheduled = false;

/** Ask for view.render() on the next animation frame (coalesced). */
export function invalidate(view) {
  dirty.add(view);
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    const views = [...dirty];
    dirty.clear();
    for (const v of views) {
      try {
        v.render();
      } catch (err) {
        console.error("render failed", err);
      }
    }
  });
}

"""Web UI frame pacing (not a test): the server and a live feed as child processes, headless
Debian chromium (Playwright) on the page in live mode, or with `--playback SPEED` the page
replaying a stored file (`--file`, default CLX5) at that speed from its first two-sided book;
prints book updates/s, the rAF frame interval median/p99 and the share of 60 Hz frames dropped
over each window.

`--hide SELECTOR` hides panels (display: none) to attribute the cost: e.g. `.ladder-panel`,
`#tape`, `.heat-panel`, `.depth-panel`; `--idle` measures the page without live updates;
`--trace FILE` records a Chrome trace of the first window and prints where each thread's time
went (style, layout, paint, script, raster...).

    python benchmarks/ui_frames.py --runs 3 --seconds 5
    python benchmarks/ui_frames.py --playback 100 --runs 3 --seconds 5
    python benchmarks/ui_frames.py --hide .ladder-panel
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

if __package__:
    from . import inputs, processes
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs
    import processes

CHROMIUM = os.environ.get("MBO_CHROMIUM", "/usr/bin/chromium")
DISPLAY_HZ = 60

_RAF_JS = """async (ms) => {
  const store = window.__mbo.store;
  let books = 0;
  const off = store.subscribe((s, p) => { if (s.frameVer !== p.frameVer) books++; });
  const deltas = [];
  await new Promise((done) => {
    const t0 = performance.now();
    let last = t0;
    const f = (t) => {
      deltas.push(t - last);
      last = t;
      if (t - t0 < ms) requestAnimationFrame(f); else done();
    };
    requestAnimationFrame(f);
  });
  off();
  return { deltas: deltas.slice(1), books };
}"""


def summarize(m: dict[str, Any], seconds: float) -> dict[str, float]:
    deltas = sorted(m["deltas"])
    frame = 1000 / DISPLAY_HZ
    dropped = sum(max(0, round(d / frame) - 1) for d in m["deltas"])
    return {
        "book_updates_per_s": round(m["books"] / seconds, 1),
        "frame_ms_median": round(deltas[len(deltas) // 2], 1),
        "frame_ms_p99": round(deltas[int(len(deltas) * 0.99)], 1),
        "dropped_pct": round(100 * dropped / (len(deltas) + dropped), 1),
    }


_TRACE = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink", "cc", "gpu"]


def trace_summary(path: str, top: int = 8) -> dict[str, dict[str, float]]:
    """ms per event name, per thread, over a trace: complete events (ph X) only, so an event
    nested in another is counted in both; read the names as "where", not as a sum."""
    events = json.loads(Path(path).read_text())
    events = events.get("traceEvents", events) if isinstance(events, dict) else events
    names = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    per: dict[str, dict[str, float]] = {}
    for e in events:
        if e.get("ph") != "X" or "dur" not in e:
            continue
        thread = names.get((e.get("pid"), e.get("tid")), "?")
        bucket = per.setdefault(thread, {})
        bucket[e["name"]] = bucket.get(e["name"], 0.0) + e["dur"] / 1000
    return {
        thread: dict(sorted(((k, round(v, 1)) for k, v in ms.items()), key=lambda kv: -kv[1])[:top])
        for thread, ms in per.items()
        if max(ms.values()) >= 20
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=3000, help="feed records/s (CLX5 looped)")
    ap.add_argument("--frame-rate", type=float, default=100.0, help="server frames/s cap")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hide", default="", help="CSS selector of panels to hide")
    ap.add_argument("--idle", action="store_true", help="no live updates")
    ap.add_argument("--trace", default="", help="write a Chrome trace of the first window here")
    ap.add_argument(
        "--playback", default="", help="replay the file at this speed (a UI speed, e.g. 100)"
    )
    ap.add_argument("--file", default="", help="the file replayed (default CLX5)")
    args = ap.parse_args()

    clx5 = inputs.sample_file()
    settings = {"MBO_FRAME_RATE": str(args.frame_rate)}
    if args.playback:
        with processes.serve("--file", args.file or clx5, settings=settings) as server:
            measure(server.base, args, live=False)
        return
    pace = ["--rate", str(args.rate), "--loop", "--resequence"]
    with processes.feed([clx5], *pace) as fport:
        live = ["--live", f"tcp://127.0.0.1:{fport}"]
        with processes.serve("--file", clx5, *live, settings=settings) as server:
            measure(server.base, args, live=True)


def wait_page(page: Any, expr: str, what: str, timeout: float = 30.0) -> None:
    t0 = time.monotonic()
    while not page.evaluate(expr):
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"the page never {what}")
        time.sleep(0.1)


def measure(base: str, args: argparse.Namespace, live: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1440, "height": 860})
        page.goto(base + "/")
        if live:
            wait_page(page, "!document.querySelector('#live').disabled", "saw the live feed")
        else:  # opened at its first two-sided book: the clock is set
            wait_page(page, "window.__mbo && window.__mbo.store.get().clock !== null", "opened")
        if args.hide:  # the page's CSP forbids inline styles: set them through the CSSOM
            page.evaluate(
                "(sel) => document.querySelectorAll(sel)"
                ".forEach((e) => { e.style.display = 'none'; })",
                args.hide,
            )
        if not args.idle:
            if live:
                page.click("#live")
            else:  # the player's own controls, as a user would
                page.select_option("#speed", args.playback)
                page.click("#play")
                wait_page(page, "window.__mbo.store.get().conn === 'open'", "streamed")
        time.sleep(1.0)
        mode = "live" if live else f"playback {args.playback}x"
        for run in range(args.runs):
            if args.trace and run == 0:
                browser.start_tracing(page=page, path=args.trace, categories=_TRACE)
            m = page.evaluate(_RAF_JS, args.seconds * 1000)
            if args.trace and run == 0:
                browser.stop_tracing()
                print(json.dumps(trace_summary(args.trace)), flush=True)
            out = summarize(m, args.seconds)
            row = {"mode": mode, "hide": args.hide, "idle": args.idle, **out}
            if not live:  # still playing: the file did not end inside the window
                row["playing"] = page.evaluate("window.__mbo.store.get().playing")
            print(json.dumps(row), flush=True)
        browser.close()


if __name__ == "__main__":
    main()

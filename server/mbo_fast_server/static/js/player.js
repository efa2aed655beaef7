// Player bar: step back / play-pause / step forward, speed, time slider with seek, jump to a
// typed time or #index, live toggle, clock; the connection pill; keyboard shortcuts and help.
import { invalidate } from "./store.js";
import { SPEEDS, formatDateTime, formatSpeed, parseJump, stepSpeed } from "./lib/format.js";

const SLIDER_STEPS = 10000;

function el(tag, props = {}, text = "") {
  const e = document.createElement(tag);
  Object.assign(e, props);
  if (text) e.textContent = text;
  return e;
}

export function mountPlayer(root, store, actions) {
  const back = el("button", { id: "step-back", title: "Step back one event (←)" }, "◀︎|");
  const play = el("button", { id: "play", className: "play", title: "Play / pause (Space)" }, "▶ Play");
  const fwd = el("button", { id: "step-fwd", title: "Step forward one event (→)" }, "|▶︎");
  const speed = el("select", { id: "speed", title: "Playback speed (↑ / ↓)" });
  for (const sp of SPEEDS) speed.append(new Option(formatSpeed(sp), String(sp)));
  const clock = el("span", { id: "clock", className: "clock" }, "—");
  const idx = el("span", { id: "index", className: "idx" }, "");
  const slider = el("input", { id: "slider", type: "range", min: "0", max: String(SLIDER_STEPS), value: "0", title: "Seek" });
  const jump = el("input", { id: "jump", className: "jump", placeholder: "jump to 20:15:03 or #20000", title: "Jump to a time (UTC, HH:MM:SS[.fff] or ISO) or a record index (#N); Enter" });
  const live = el("label", { className: "live", title: "No live feed on this server yet: playback only" });
  const liveBox = el("input", { id: "live", type: "checkbox", disabled: true });
  live.append(liveBox, "live");
  // enabled only when the server ingests a live feed (GET /api/v1/live/books answers)
  liveBox.addEventListener("change", () => {
    if (actions.setLive) actions.setLive(liveBox.checked);
  });
  root.append(back, play, fwd, speed, clock, slider, idx, jump, live);

  let dragging = false;
  back.addEventListener("click", () => actions.step(-1));
  fwd.addEventListener("click", () => actions.step(1));
  play.addEventListener("click", () => actions.toggle());
  speed.addEventListener("change", () => {
    const v = speed.value === "max" ? "max" : Number(speed.value);
    actions.setSpeed(v);
    speed.blur();
  });
  const sliderTs = () => {
    const sel = store.get().sel;
    return sel.first + ((sel.last - sel.first) * Number(slider.value)) / SLIDER_STEPS;
  };
  slider.addEventListener("input", () => {
    dragging = true;
    if (store.get().sel) clock.textContent = formatDateTime(sliderTs());
  });
  slider.addEventListener("change", () => {
    dragging = false;
    if (store.get().sel) actions.seek({ ts: Math.round(sliderTs()) });
    slider.blur();
  });
  jump.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      const s = store.get();
      const target = parseJump(jump.value, s.sel ? s.sel.first : 0);
      jump.classList.toggle("bad", !target);
      if (target) {
        actions.seek(target);
        jump.blur();
      }
    } else if (ev.key === "Escape") jump.blur();
  });

  const pill = document.getElementById("conn");
  const help = document.getElementById("help");
  const dialog = help.querySelector(".dialog");
  let returnFocus = null;
  // the help is a modal dialog: it takes the focus, keeps Tab inside, and gives the focus back
  const showHelp = (on) => {
    if (on === !help.hidden) return;
    help.hidden = !on;
    if (on) {
      returnFocus = document.activeElement;
      dialog.focus();
    } else if (returnFocus && document.contains(returnFocus)) {
      returnFocus.focus();
      returnFocus = null;
    }
  };
  help.addEventListener("keydown", (ev) => {
    if (ev.key !== "Tab") return;
    const items = [...dialog.querySelectorAll("button, [href], input, select, [tabindex]:not([tabindex='-1'])")];
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && (document.activeElement === first || document.activeElement === dialog)) {
      last.focus();
      ev.preventDefault();
    } else if (!ev.shiftKey && document.activeElement === last) {
      first.focus();
      ev.preventDefault();
    }
  });
  document.getElementById("help-btn").addEventListener("click", () => showHelp(help.hidden));
  document.getElementById("help-close").addEventListener("click", () => showHelp(false));
  help.addEventListener("click", (ev) => { if (ev.target === help) showHelp(false); });

  document.addEventListener("keydown", (ev) => {
    if (ev.defaultPrevented) return; // a focused view (ladder, heatmap) took it
    const t = ev.target;
    if (!help.hidden) {
      if (ev.key === "Escape" || ev.key === "?") {
        showHelp(false);
        ev.preventDefault();
      }
      return;
    }
    if (t && (t.tagName === "INPUT" && t.type !== "range" && t.type !== "checkbox" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const s = store.get();
    switch (ev.key) {
      case " ": actions.toggle(); break;
      case "ArrowRight": actions.step(1); break;
      case "ArrowLeft": actions.step(-1); break;
      case "ArrowUp": actions.setSpeed(stepSpeed(s.speed, 1)); break;
      case "ArrowDown": actions.setSpeed(stepSpeed(s.speed, -1)); break;
      case "Home": actions.seek({ index: 0 }); break;
      case "End": if (s.sel) actions.seek({ index: s.sel.records - 1 }); break;
      case "g": jump.focus(); break;
      case "c": if (actions.recentre) actions.recentre(); break;
      case "?": showHelp(true); break;
      case "Escape":
        actions.selectLevel(null, null);
        if (actions.selectSim) actions.selectSim(null);
        break;
      default: return;
    }
    ev.preventDefault();
  });

  const view = {
    render() {
      const s = store.get();
      play.textContent = s.playing ? "❚❚ Pause" : "▶ Play";
      play.classList.toggle("on", s.playing);
      speed.value = String(s.speed);
      if (!dragging) clock.textContent = formatDateTime(s.clock);
      idx.textContent = s.index === null ? "" : `#${s.index.toLocaleString("en-US")}`;
      idx.dataset.index = s.index === null ? "" : String(s.index);
      clock.dataset.ns = s.clock === null ? "" : String(s.clock);
      if (s.sel && !dragging && s.clock !== null && s.sel.first !== null && !s.live) {
        const span = s.sel.last - s.sel.first;
        const v = span > 0 ? ((s.clock - s.sel.first) / span) * SLIDER_STEPS : 0;
        slider.value = String(Math.round(Math.max(0, Math.min(SLIDER_STEPS, v))));
      }
      const conn = s.conn;
      const label = {
        idle: "idle", paused: "paused", connecting: "connecting", open: "streaming",
        reconnecting: "reconnecting", closed: "disconnected", ended: "end of data",
      }[conn] || conn;
      pill.dataset.state = conn;
      pill.textContent = s.error ? `error` : label;
      pill.title = s.error ? `Error: ${s.error}` : `Stream: ${label}; reconnects: ${s.reconnects}`;
      pill.dataset.reconnects = String(s.reconnects);
      const hasLive = !!(s.liveBooks && s.liveBooks.configured);
      if (liveBox.disabled === hasLive) {
        liveBox.disabled = !hasLive;
        live.title = hasLive
          ? "Follow the live feed (the server's live broadcast of this book; a book the feed does not carry is swapped for one it does)"
          : "No live feed on this server: playback only";
      }
      if (liveBox.checked !== !!s.live) liveBox.checked = !!s.live;
      for (const b of [back, fwd, speed, slider, jump]) b.disabled = !!s.live;
    },
  };
  store.subscribe((s, p) => {
    if (s.playing !== p.playing || s.speed !== p.speed || s.clock !== p.clock || s.index !== p.index ||
        s.conn !== p.conn || s.sel !== p.sel || s.error !== p.error || s.reconnects !== p.reconnects ||
        s.live !== p.live || s.liveBooks !== p.liveBooks) {
      invalidate(view);
    }
  });
  invalidate(view);
  return view;
}

// Simulated trading panel: order size, buy at the bid / sell at the ask, the book's simulated
// orders (status, queue position, fills) with buttons to resize, move a tick and cancel each,
// and the position: lots, average price, realised and unrealised P&L (lib/pnl.js, marked at the
// mid). Orders are mbo_fast.Backtest orders on the server (/api/v1/sim/*): exact FIFO queue
// position against the recorded book. In the consolidated and live views it says why it cannot
// trade there instead of doing nothing.
import { invalidate } from "./store.js";
import { formatPrice } from "./lib/format.js";
import { fillsOf, formatPnl, markOf, positionOf } from "./lib/pnl.js";

function el(tag, props = {}, text = "") {
  const e = document.createElement(tag);
  Object.assign(e, props);
  if (text) e.textContent = text;
  return e;
}

const STATUS = {
  open: "working", pending: "pending", scheduled: "later", filled: "filled", cancelled: "cancelled",
};

export function mountTrading(root, store, actions) {
  const top = el("div", { className: "trade-top" });
  const minus = el("button", { title: "Order size − 1 (-)", ariaLabel: "Order size minus one" }, "−");
  const size = el("input", {
    id: "order-size", type: "number", min: "1", max: "1000000", step: "1", value: "1",
    title: "Order size in lots (1-9 keys on the ladder)",
  });
  size.setAttribute("aria-label", "Order size in lots");
  const plus = el("button", { title: "Order size + 1 (+)", ariaLabel: "Order size plus one" }, "+");
  const buy = el("button", { id: "buy-bid", className: "buy", title: "Buy the order size at the best bid (joins its queue)" }, "Buy bid");
  const sell = el("button", { id: "sell-ask", className: "sell", title: "Sell the order size at the best ask (joins its queue)" }, "Sell ask");
  const sizeBox = el("span", { className: "size-box" });
  sizeBox.append(el("span", { className: "lbl" }, "size"), minus, size, plus);
  top.append(sizeBox, buy, sell);
  const pos = el("div", { id: "position", className: "position" });
  const list = el("div", { className: "orders", id: "sim-orders" });
  list.setAttribute("role", "list");
  list.setAttribute("aria-label", "Simulated orders");
  const status = el("div", { id: "trade-status", className: "trade-status" });
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  root.append(top, pos, list, status);
  const sub = document.getElementById("trade-sub");

  minus.addEventListener("click", () => actions.setOrderSize(store.get().orderSize - 1));
  plus.addEventListener("click", () => actions.setOrderSize(store.get().orderSize + 1));
  size.addEventListener("change", () => actions.setOrderSize(Number(size.value)));
  const best = (side) => {
    const fr = store.get().frame;
    const lv = fr && (side === "B" ? fr.bids : fr.asks)[0];
    return lv ? lv[0] : null;
  };
  buy.addEventListener("click", () => {
    const px = best("B");
    if (px === null) actions.say("no bid to join", "warn");
    else actions.placeSim("B", px, store.get().orderSize);
  });
  sell.addEventListener("click", () => {
    const px = best("A");
    if (px === null) actions.say("no ask to join", "warn");
    else actions.placeSim("A", px, store.get().orderSize);
  });

  let position = positionOf([], null);
  let listSig = "";
  const view = {
    render: () => draw(),
    /** {position, average, realised, unrealised, total, bought, sold} as shown. */
    position: () => position,
  };

  function orderRow(o, s) {
    const row = el("div", { className: `sim-order ${o.side} ${o.status}` });
    row.setAttribute("role", "listitem");
    row.dataset.id = String(o.id);
    row.dataset.status = o.status;
    if (s.simSelected === o.id) row.classList.add("selected");
    const d = s.decimals;
    const what = el("button", {
      className: "what",
      title: "Select (then Shift+↑/↓ on the ladder moves it, +/- resizes it, Delete cancels it)",
    }, `#${o.id} ${o.side === "B" ? "BUY" : "SELL"} ${o.remaining}/${o.size} @ ${formatPrice(o.price, d)}`);
    what.setAttribute("aria-pressed", String(s.simSelected === o.id));
    what.addEventListener("click", () => actions.selectSim(s.simSelected === o.id ? null : o.id));
    const state = o.status === "open" && o.orders_ahead !== null
      ? `${o.orders_ahead} ahead (${o.volume_ahead} lots)`
      : `${STATUS[o.status] || o.status}${o.filled ? ` ${o.filled}/${o.size}` : ""}`;
    const info = el("span", { className: "state" }, state);
    row.append(what, info);
    if (o.status === "open" || o.status === "pending") {
      const tick = s.tick || 0;
      const btn = (label, title, fn, disabled = false) => {
        const b = el("button", { className: "mini", title, disabled }, label);
        b.setAttribute("aria-label", `${title}: order ${o.id}`);
        b.addEventListener("click", fn);
        return b;
      };
      row.append(
        btn("−", "Size − 1", () => actions.modifySim(o.id, { size: o.remaining - 1 }), o.remaining <= 1),
        btn("+", "Size + 1", () => actions.modifySim(o.id, { size: o.remaining + 1 })),
        btn("▲", "Price + 1 tick", () => actions.modifySim(o.id, { price: o.price + tick }), !tick),
        btn("▼", "Price − 1 tick", () => actions.modifySim(o.id, { price: o.price - tick }), !tick),
        btn("×", "Cancel", () => actions.cancelSim(o.id)),
      );
    }
    return row;
  }

  function draw() {
    const s = store.get();
    if (document.activeElement !== size && size.value !== String(s.orderSize)) size.value = String(s.orderSize);
    const blocked = !s.sel ? "" : s.live
      ? "live: simulated orders run against recorded history"
      : s.sel.consolidated ? "consolidated: pick a publisher to trade" : "";
    root.dataset.blocked = blocked ? "true" : "false";
    if (sub.textContent !== blocked) sub.textContent = blocked;
    const orders = s.sims ? s.sims.orders : [];
    const fills = fillsOf(orders);
    position = positionOf(fills, markOf(s.frame, s.lastTrade));
    const d = s.decimals;
    const p = position;
    const avg = p.average === null ? "—" : formatPrice(p.average, d + 1);
    pos.replaceChildren(
      el("span", { className: `pos ${p.position > 0 ? "long" : p.position < 0 ? "short" : ""}` },
        `pos ${p.position > 0 ? "+" : ""}${p.position}`),
      el("span", {}, `avg ${avg}`),
      el("span", {}, `real ${formatPnl(p.realised, d)}`),
      el("span", {}, `unreal ${formatPnl(p.unrealised, d)}`),
      el("b", { className: p.total > 0 ? "gain" : p.total < 0 ? "loss" : "" }, `P&L ${formatPnl(p.total, d)}`),
    );
    pos.dataset.position = String(p.position);
    pos.dataset.realised = String(p.realised);
    pos.dataset.unrealised = String(p.unrealised);
    pos.title = `Position ${p.position} lots (bought ${p.bought}, sold ${p.sold}); P&L in price points × lots, marked at the mid`;
    const shown = [...orders].sort((a, b) => {
      const live = (o) => (o.status === "open" || o.status === "pending" ? 0 : 1);
      return live(a) - live(b) || b.id - a.id;
    });
    const sig = JSON.stringify([s.sims, s.simSelected, d, s.tick, blocked]);
    if (sig !== listSig) {
      listSig = sig;
      // keep the keyboard focus on the same button of the same order across a rebuild
      const focused = list.contains(document.activeElement) ? document.activeElement : null;
      const key = focused ? [focused.closest(".sim-order")?.dataset.id, focused.getAttribute("aria-label") || focused.className] : null;
      list.replaceChildren(...shown.slice(0, 50).map((o) => orderRow(o, s)));
      if (key) {
        const row = list.querySelector(`.sim-order[data-id="${key[0]}"]`);
        const again = row && [...row.querySelectorAll("button")].find((b) => (b.getAttribute("aria-label") || b.className) === key[1]);
        (again || row?.querySelector("button") || list).focus?.();
      }
    }
    if (!shown.length && !list.querySelector(".empty")) {
      list.append(el("div", { className: "empty" }, blocked
        ? (s.live ? "Untick live to replay the recorded session and trade it." : "Pick a single publisher in the selector to trade.")
        : "Click the buy or sell column of the ladder (or press b / s there) to place a simulated order."));
    }
    const m = s.message;
    const text = m ? m.text : "";
    if (status.textContent !== text) status.textContent = text;
    status.dataset.kind = m ? m.kind : "";
  }

  store.subscribe((s, p) => {
    if (s.sims !== p.sims || s.orderSize !== p.orderSize || s.simSelected !== p.simSelected ||
        s.message !== p.message || s.sel !== p.sel || s.live !== p.live || s.decimals !== p.decimals ||
        (s.frame !== p.frame && s.sims && s.sims.orders.length)) {
      invalidate(view);
    }
  });
  invalidate(view);
  return view;
}

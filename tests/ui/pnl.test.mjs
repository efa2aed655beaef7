import { test } from "node:test";
import assert from "node:assert/strict";
import { fillsOf, formatPnl, markOf, positionOf } from "../../server/mbo_fast_server/static/js/lib/pnl.js";

const px = (x) => Math.round(x * 1e9);

test("position and P&L: average cost, realised on reduction, flips, unrealised at the mark", () => {
  const fills = (list) => list.map(([side, p, size], i) => ({ side, price: px(p), size, ts: i, index: i }));
  let p = positionOf(fills([["B", 10, 2], ["B", 11, 2]]), px(12));
  assert.equal(p.position, 4);
  assert.equal(p.average, px(10.5));
  assert.equal(p.realised, 0);
  assert.ok(Math.abs(p.unrealised - 6) < 1e-9); // 4 x (12 - 10.5)
  p = positionOf(fills([["B", 10, 2], ["B", 11, 2], ["A", 12, 3]]), px(12));
  assert.equal(p.position, 1);
  assert.ok(Math.abs(p.realised - 4.5) < 1e-9); // 3 x (12 - 10.5)
  assert.ok(Math.abs(p.unrealised - 1.5) < 1e-9);
  p = positionOf(fills([["B", 10, 1], ["A", 9, 3]]), px(8)); // through zero: short 2 at 9
  assert.equal(p.position, -2);
  assert.equal(p.average, px(9));
  assert.ok(Math.abs(p.realised - -1) < 1e-9);
  assert.ok(Math.abs(p.unrealised - 2) < 1e-9);
  p = positionOf(fills([["A", 5, 1], ["B", 4, 1]]), null);
  assert.equal(p.position, 0);
  assert.equal(p.average, null);
  assert.ok(Math.abs(p.total - 1) < 1e-9);
  assert.equal(formatPnl(1.5, 2), "+1.50");
  assert.equal(formatPnl(-0.25, 2), "−0.25");
  assert.equal(formatPnl(0.000001, 2), "0.00");
});

test("fills of simulated orders in time order; the mark", () => {
  const orders = [
    { id: 1, side: "A", fills: [{ ts: 5, index: 9, price: 3, size: 1 }] },
    { id: 0, side: "B", fills: [{ ts: 2, index: 4, price: 2, size: 2 }, { ts: 5, index: 8, price: 2, size: 1 }] },
  ];
  assert.deepEqual(fillsOf(orders).map((f) => [f.order, f.index, f.side]), [[0, 4, "B"], [0, 8, "B"], [1, 9, "A"]]);
  assert.equal(markOf({ bids: [[10, 1]], asks: [[12, 1]] }, null), 11);
  assert.equal(markOf({ bids: [[12, 1]], asks: [[10, 1]] }, { price: 11 }), 11); // crossed: last trade
  assert.equal(markOf(null, null), null);
});

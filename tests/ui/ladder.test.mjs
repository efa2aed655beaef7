import { test } from "node:test";
import assert from "node:assert/strict";
import {
  EDGE_ROWS, ROW_H, barWidth, cellAt, centred, flashAlpha, followTouch, ladderColumns, ladderRows,
  priceOf, rowOf, rowsFor, scrollBy, touchInView, touchOf,
} from "../../server/mbo_fast_server/static/js/lib/ladder.js";

const T = 10_000_000; // a 0.01 tick in 1e-9 units
const px = (x) => Math.round(x * 1e9);

test("rows fit the height; a row per tick, consecutive, highest on top", () => {
  assert.equal(rowsFor(0), 1);
  assert.equal(rowsFor(ROW_H * 30 + 5), 30);
  const a = centred({ bid: px(64.8), ask: px(64.82) }, T, 11);
  assert.equal(a.top, px(64.86)); // the mid 64.81 in the middle row
  assert.equal(priceOf(a, 5), px(64.81));
  for (let i = 1; i < 11; i++) assert.equal(priceOf(a, i - 1) - priceOf(a, i), T);
  assert.equal(rowOf(a, px(64.8)), 6);
  assert.equal(rowOf(a, px(70)), -514);
});

test("the rows stay put while the touch moves inside them", () => {
  const a = centred({ bid: px(64.8), ask: px(64.82) }, T, 11);
  const moved = followTouch(a, { bid: px(64.77), ask: px(64.78) }, T, 11);
  assert.equal(moved, a); // the same anchor: no row moves
  assert.equal(followTouch(a, { bid: px(64.8), ask: null }, T, 11), a);
  // the touch leaves the rows (or reaches the edge row): recentred on it
  const out = followTouch(a, { bid: px(64.74), ask: px(64.75) }, T, 11);
  assert.notEqual(out, a);
  assert.equal(rowOf(out, px(64.75)), 5); // the mid, 64.745, rounds to the middle row
  const edge = followTouch(a, { bid: px(64.85), ask: px(64.86) }, T, 11);
  assert.notEqual(edge, a); // row 0 is within EDGE_ROWS of the top
  assert.equal(EDGE_ROWS, 1);
  // a new tick or height recentres
  assert.notEqual(followTouch(a, { bid: px(64.8), ask: px(64.82) }, T, 12), a);
  assert.equal(followTouch(null, { bid: null, ask: null }, T, 11), null);
});

test("a crossed book stays in price order: bids above asks read as such", () => {
  const a = centred({ bid: px(64.9), ask: px(64.83) }, T, 15);
  const frame = { bids: [[px(64.9), 10, 1], [px(64.85), 3, 1]], asks: [[px(64.83), 11, 2], [px(64.86), 2, 1]] };
  const rows = ladderRows(a, frame, 100);
  const at = (p) => rows.find((r) => r.price === px(p));
  assert.deepEqual([at(64.9).side, at(64.9).size], ["B", 10]);
  assert.deepEqual([at(64.83).side, at(64.83).size], ["A", 11]);
  for (let i = 1; i < rows.length; i++) assert.equal(rows[i - 1].price - rows[i].price, T);
  assert.equal(at(64.87).bid_size, 0); // an empty tick is shown, empty
  assert.equal(at(64.87).ask_size, 0);
});

test("both sides at one price, empty ticks, and what a frame cut at its depth cannot say", () => {
  const a = centred({ bid: px(10.05), ask: px(10.06) }, T, 21);
  const frame = { bids: [[px(10.05), 5, 1], [px(10.02), 1, 1]], asks: [[px(10.05), 2, 1], [px(10.08), 4, 1]] };
  const rows = ladderRows(a, frame, 2, (p) => (p === px(10.05) ? 7 : 0));
  const at = (p) => rows.find((r) => r.price === px(p));
  assert.deepEqual([at(10.05).bid_size, at(10.05).ask_size, at(10.05).side], [5, 2, null]);
  assert.equal(at(10.05).volume, 7);
  assert.equal(at(10.03).bid_size, 0);
  // two levels a side were sent (depth 2): below the last bid and above the last ask, unknown
  assert.equal(at(10.01).bid_size, null);
  assert.equal(at(10.09).ask_size, null);
  assert.equal(at(10.01).ask_size, 0);
});

test("scrolling holds the rows where the user put them until the touch comes back and leaves", () => {
  const touch = { bid: px(50), ask: px(50.01) };
  const a = centred(touch, T, 11);
  const up = scrollBy(a, 30, touch); // 30 ticks higher: the touch is out of view
  assert.equal(up.top, a.top + 30 * T);
  assert.equal(up.held, true);
  assert.equal(up.inView, false);
  assert.equal(followTouch(up, { bid: px(49.99), ask: px(50) }, T, 11), up); // held
  const small = scrollBy(a, 1, touch); // still in view: the touch leaving recentres
  assert.equal(small.inView, true);
  const gone = followTouch(small, { bid: px(49.9), ask: px(49.91) }, T, 11);
  assert.equal(gone.held, false);
  assert.equal(touchInView(gone, { bid: px(49.9), ask: px(49.91) }), true);
  assert.deepEqual(touchOf({ bids: [[5, 1, 1]], asks: [] }), { bid: 5, ask: null });
});

test("columns tile the width; clicks find their cell", () => {
  const c = ladderColumns(340);
  const cells = [c.buy, c.bid, c.price, c.ask, c.sell, c.volume];
  let x = 0;
  for (const [cx, cw] of cells) {
    assert.equal(cx, x);
    assert.ok(cw >= 0);
    x += cw;
  }
  assert.equal(x, 340);
  assert.equal(c.bid[1], c.ask[1]);
  assert.equal(cellAt(c, 0), "buy");
  assert.equal(cellAt(c, c.price[0] + 1), "price");
  assert.equal(cellAt(c, 339), "volume");
  assert.equal(cellAt(c, 340), null);
  assert.equal(ladderColumns(100).bid[1], 0); // too narrow: empty size cells, no negatives
});

test("size bars are proportional, at least 2 %, at most the cell", () => {
  assert.equal(barWidth(50, 100, 80), 40);
  assert.equal(barWidth(1, 1000, 100), 2);
  assert.equal(barWidth(200, 100, 80), 80);
});

test("flashes fade from the peak to nothing in a few discrete steps", () => {
  assert.equal(flashAlpha(0, 450, 0.5, 10), 0.5);
  assert.equal(flashAlpha(450, 450, 0.5), 0);
  const seen = new Set();
  for (let t = 0; t < 450; t += 1) seen.add(flashAlpha(t, 450, 0.5, 10));
  assert.equal(seen.size, 10);
});

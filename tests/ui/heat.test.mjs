import { test } from "node:test";
import assert from "node:assert/strict";
import { Ring, binLevels, bubbleRadius, column, heatColor, intensity } from "../../server/mbo_fast_server/static/js/lib/heat.js";
import { followWindow, linear, niceTicks } from "../../server/mbo_fast_server/static/js/lib/scale.js";

test("ring buffer is bounded and ordered", () => {
  const r = new Ring(3);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.equal(r.length, 3);
  assert.deepEqual(r.toArray(), [3, 4, 5]);
  assert.equal(r.get(0), 3);
  assert.equal(r.last(), 5);
  assert.equal(r.get(3), undefined);
  r.clear();
  assert.equal(r.length, 0);
});

test("binning levels into price rows", () => {
  const win = { lo: 100, tick: 10, rows: 4 };
  const b = binLevels([[100, 1], [110, 2], [115, 3], [130, 4], [140, 9], [90, 9]], win);
  assert.deepEqual([...b], [1, 5, 0, 4]);
  const c = column({ bids: [[110, 2]], asks: [[120, 5]] }, win);
  assert.deepEqual([...c], [0, 2, 5, 0]);
});

test("colours and bubbles", () => {
  assert.equal(intensity(0, 10), 0);
  assert.equal(intensity(10, 10), 1);
  assert.ok(intensity(1, 100) > 0 && intensity(1, 100) < intensity(50, 100));
  assert.deepEqual(heatColor(0), [14, 17, 24]);
  assert.deepEqual(heatColor(1), [255, 250, 230]);
  assert.equal(heatColor(0.6).length, 3);
  assert.ok(bubbleRadius(1) < bubbleRadius(50));
  assert.equal(bubbleRadius(1e9), 14);
});

test("scales", () => {
  const s = linear(0, 10, 100, 0);
  assert.equal(s(0), 100);
  assert.equal(s(5), 50);
  assert.equal(s.invert(50), 5);
  assert.equal(linear(3, 3, 0, 10)(3), 5);
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.13, 0.61, 4), [0.2, 0.4, 0.6]);
});

test("price window follows the mid with hysteresis", () => {
  const w = followWindow(null, 1000, 10, 11);
  assert.deepEqual(w, { lo: 950, hi: 1050, tick: 10, rows: 11 });
  assert.equal(followWindow(w, 1010, 10, 11), w); // still inside: same object, no redraw
  const w2 = followWindow(w, 1040, 10, 11);
  assert.notEqual(w2, w);
  assert.equal(w2.lo, 990);
});

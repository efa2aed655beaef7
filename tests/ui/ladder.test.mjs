import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ROW_H, SPREAD_H, barWidth, flashAlpha, ladderColumns, ladderGeometry, rowAt,
} from "../../server/mbo_fast_server/static/js/lib/ladder.js";

test("rows: asks worst to best, the spread, bids best to worst, stacked without gaps", () => {
  const rows = ladderGeometry(3);
  assert.deepEqual(rows.map((r) => [r.side, r.level]), [
    ["A", 2], ["A", 1], ["A", 0], [null, -1], ["B", 0], ["B", 1], ["B", 2],
  ]);
  for (let i = 1; i < rows.length; i++) assert.equal(rows[i].y, rows[i - 1].y + rows[i - 1].h);
  assert.equal(rows[3].h, SPREAD_H);
  assert.equal(rows[6].y + rows[6].h, 6 * ROW_H + SPREAD_H);
});

test("hit testing finds the row under a y, and nothing outside", () => {
  const rows = ladderGeometry(3);
  assert.equal(rowAt(rows, 0), 0);
  assert.equal(rowAt(rows, ROW_H - 0.5), 0);
  assert.equal(rowAt(rows, ROW_H), 1);
  assert.equal(rowAt(rows, 3 * ROW_H + 1), 3); // the spread row
  assert.equal(rowAt(rows, 3 * ROW_H + SPREAD_H), 4); // best bid
  assert.equal(rowAt(rows, -1), -1);
  assert.equal(rowAt(rows, 6 * ROW_H + SPREAD_H), -1);
});

test("columns tile the width: fixed counts and price, sizes share the rest", () => {
  const c = ladderColumns(330);
  assert.deepEqual(c.bidCount, [0, 40]);
  assert.deepEqual(c.bidSize, [40, 86]);
  assert.deepEqual(c.price, [126, 78]);
  assert.deepEqual(c.askSize, [204, 86]);
  assert.deepEqual(c.askCount, [290, 40]);
  assert.equal(ladderColumns(100).bidSize[1], 0); // too narrow: empty size cells, no negatives
});

test("size bars are proportional, at least 2 %, at most the cell", () => {
  assert.equal(barWidth(50, 100, 80), 40);
  assert.equal(barWidth(1, 1000, 100), 2);
  assert.equal(barWidth(200, 100, 80), 80);
  assert.equal(barWidth(0, 0, 50), 1);
});

test("flashes fade from the peak to nothing in a few discrete steps", () => {
  assert.equal(flashAlpha(0, 450, 0.5, 10), 0.5);
  assert.equal(flashAlpha(450, 450, 0.5), 0);
  assert.equal(flashAlpha(-1, 450, 0.5), 0);
  const seen = new Set();
  for (let t = 0; t < 450; t += 1) seen.add(flashAlpha(t, 450, 0.5, 10));
  assert.equal(seen.size, 10);
  let prev = Infinity;
  for (let t = 0; t < 450; t += 15) {
    const a = flashAlpha(t, 450, 0.5, 10);
    assert.ok(a <= prev && a > 0);
    prev = a;
  }
});

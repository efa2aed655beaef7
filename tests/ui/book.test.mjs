import { test } from "node:test";
import assert from "node:assert/strict";
import { bookStats, cumulative, diffLevels, maxSize, queueOf } from "../../server/mbo_fast_server/static/js/lib/book.js";

test("level diffs", () => {
  const prev = [[100, 5, 1], [99, 3, 2], [98, 7, 1]];
  const next = [[101, 1, 1], [100, 6, 2], [99, 2, 1], [98, 7, 1]];
  const d = diffLevels(prev, next);
  assert.deepEqual([...d.entries()].sort(), [[100, "up"], [101, "new"], [99, "down"]].sort());
  assert.equal(diffLevels(null, next).size, 0);
});

test("cumulative depth", () => {
  assert.deepEqual(cumulative([[100, 5], [99, 3], [98, 2]]), [[100, 5], [99, 8], [98, 10]]);
  assert.deepEqual(cumulative([]), []);
});

test("book stats", () => {
  const s = bookStats({ bids: [[100, 30, 3], [99, 10, 1]], asks: [[102, 10, 1]] });
  assert.equal(s.spread, 2);
  assert.equal(s.mid, 101);
  assert.equal(s.imbalance, 0.5);
  assert.equal(s.depthImbalance, 30 / 50);
  const empty = bookStats({ bids: [], asks: [[102, 10, 1]] });
  assert.equal(empty.spread, null);
  assert.equal(empty.imbalance, -1);
  assert.equal(maxSize({ bids: [[1, 4, 1]], asks: [[2, 9, 1]] }), 9);
  assert.equal(maxSize(null), 1);
});

test("queue of a level marks newest and fresh orders", () => {
  const doc = { bids: [{ price: 100, size: 4, count: 3, orders: [[7, 1], [8, 2], [9, 1]] }], asks: [] };
  const q = queueOf(doc, "B", 100, new Set([7, 8]));
  assert.equal(q.count, 3);
  assert.deepEqual(q.orders.map((o) => [o.id, o.newest, o.fresh]), [[7, false, false], [8, false, false], [9, true, true]]);
  assert.equal(queueOf(doc, "A", 100, null), null);
});

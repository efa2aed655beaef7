import { test } from "node:test";
import assert from "node:assert/strict";
import { Flow, cumulativeDelta } from "../../server/mbo_fast_server/static/js/lib/flow.js";

const px = (x) => Math.round(x * 1e9);

test("order flow: profile, delta, high/low, VWAP; records counted once", () => {
  const f = new Flow();
  assert.equal(f.vwap, null);
  assert.ok(f.add({ index: 1, price: px(10), size: 3, side: "B" }));
  assert.ok(f.add({ index: 2, price: px(10.02), size: 1, side: "A" }));
  assert.ok(!f.add({ index: 2, price: px(10.02), size: 1, side: "A" })); // the same record
  assert.ok(f.add({ index: 5, price: px(9.99), size: 2, side: "N" }));
  assert.equal(f.delta, 2); // 3 bought - 1 sold; unknown aggressors do not count
  assert.equal(f.high, px(10.02));
  assert.equal(f.low, px(9.99));
  assert.equal(f.volumeAt(px(10)), 3);
  assert.deepEqual(f.splitAt(px(10.02)), [0, 1, 0]);
  assert.equal(f.vwap, px((10 * 3 + 10.02 + 9.99 * 2) / 6));
  assert.equal(f.poc, px(10));
  f.reset();
  f.add({ index: 150, price: px(12), size: 4, side: "B" }); // streamed before the aggregate came
  f.add({ index: 90, price: px(12), size: 9, side: "B" }); // older: ignored (records in order)
  f.load([{ price: px(11), size: 5, side: "A", count: 2 }], 100, 7);
  assert.equal(f.volumeAt(px(12)), 4); // kept: after the aggregate's last record
  f.load([{ price: px(11), size: 5, side: "A", count: 2 }], 200, 7);
  assert.equal(f.volumeAt(px(12)), 0); // inside the aggregate: counted once, there
  assert.equal(f.delta, -5);
  assert.ok(!f.add({ index: 199, price: px(11), size: 1, side: "B" })); // in the aggregate
  assert.ok(f.add({ index: 201, price: px(11), size: 1, side: "B" }));
  assert.equal(f.volumeAt(px(11)), 6);
});

test("cumulative delta per bucket", () => {
  const d = cumulativeDelta([{ k: 0, size: 2, side: "B" }, { k: 2, size: 5, side: "A" }, { k: 9, size: 1, side: "B" }], 4);
  assert.deepEqual([...d], [2, 2, -3, -3]);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  HeatColumns, RASTER_MAGIC, Ring, binLevels, bubbleRadius, decodeRaster, frameColumn, heatColor,
  intensity, percentile,
} from "../../server/mbo_fast_server/static/js/lib/heat.js";
import { linear, niceTicks, timeLabel, timeTicks } from "../../server/mbo_fast_server/static/js/lib/scale.js";

test("ring buffer is bounded and ordered", () => {
  const r = new Ring(3);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.toArray(), [3, 4, 5]);
  assert.equal(r.last(), 5);
  r.clear();
  assert.equal(r.length, 0);
});

test("binning levels into price rows", () => {
  const grid = { lo: 100, step: 10, rows: 4 };
  const b = binLevels([[100, 1], [110, 2], [115, 3], [130, 4], [140, 9], [90, 9]], grid);
  assert.deepEqual([...b], [1, 5, 0, 4]);
  const c = frameColumn({ bids: [[110, 2]], asks: [[120, 5]] }, grid);
  assert.deepEqual([...c.sizes], [0, 2, 5, 0]);
  assert.equal(c.bid, 110);
  assert.equal(c.ask, 120);
});

/** A raster body as the server writes it (heatmap.py), built independently here. */
function rasterBody({ buckets, rows, sizes, bid, ask, trades }) {
  const header = JSON.stringify({ buckets, rows, trades: trades.length, price_lo: 0, price_step: 1 });
  let text = new TextEncoder().encode(header);
  const pad = (8 - ((8 + text.length) % 8)) % 8;
  text = new Uint8Array([...text, ...new Array(pad).fill(32)]);
  const n = trades.length;
  const size = 8 + text.length + 16 * buckets + 8 * n + 4 * buckets * rows + 12 * n + n;
  const buf = new ArrayBuffer(size);
  const dv = new DataView(buf);
  const u8 = new Uint8Array(buf);
  u8.set([...RASTER_MAGIC].map((c) => c.charCodeAt(0)), 0);
  dv.setUint32(4, text.length, true);
  u8.set(text, 8);
  let at = 8 + text.length;
  const i64 = (v) => { dv.setBigInt64(at, BigInt(v), true); at += 8; };
  const u32 = (v) => { dv.setUint32(at, v, true); at += 4; };
  bid.forEach(i64);
  ask.forEach(i64);
  trades.forEach((t) => i64(t.price));
  sizes.forEach(u32);
  trades.forEach((t) => u32(t.b));
  trades.forEach((t) => u32(t.size));
  trades.forEach((t) => u32(t.count));
  trades.forEach((t) => { u8[at++] = t.side.charCodeAt(0); });
  assert.equal(at, size);
  return buf;
}

test("a raster body decodes: sizes bucket-major, empty sides null, trades", () => {
  const buf = rasterBody({
    buckets: 2, rows: 3, sizes: [1, 2, 3, 4, 5, 6], bid: [100, "9223372036854775807"], ask: [101, 102],
    trades: [{ b: 1, price: 101, size: 7, count: 2, side: "B" }],
  });
  const r = decodeRaster(buf);
  assert.deepEqual([...r.sizes], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(r.bid, [100, null]);
  assert.deepEqual(r.ask, [101, 102]);
  assert.deepEqual(r.trades, [{ b: 1, price: 101, size: 7, count: 2, side: "B" }]);
  assert.throws(() => decodeRaster(new ArrayBuffer(16)), /not a raster/);
});

test("columns: rasters are exact, frames fill up to the next frame, trades dedupe", () => {
  const h = new HeatColumns(100, 10);
  const grid = { lo: 0, step: 1, rows: 2 };
  assert.equal(h.configure(10, grid), true);
  assert.equal(h.configure(10, { ...grid }), false); // the same: nothing cleared
  assert.equal(h.bucketOf(10), 0); // bucket k covers (10k, 10k + 10]
  assert.equal(h.bucketOf(11), 1);
  const raster = decodeRaster(rasterBody({
    buckets: 2, rows: 2, sizes: [1, 0, 0, 2], bid: [0, 0], ask: [1, 1],
    trades: [{ b: 0, price: 1, size: 3, count: 1, side: "A" }],
  }));
  h.putRaster(raster, 5); // buckets 5 and 6
  assert.equal(h.exactThrough(5), 6);
  assert.equal(h.trades[0].k, 5);
  h.addTrade(55, 1, 4, "B"); // in bucket 5: the raster counted it
  assert.equal(h.trades.length, 1);
  h.putFrame({ bids: [[0, 9]], asks: [] }, 65); // bucket 6 is exact: kept
  assert.equal(h.cols.get(6).exact, true);
  h.putFrame({ bids: [[0, 4]], asks: [] }, 75); // bucket 7
  h.putFrame({ bids: [[1, 5]], asks: [] }, 105); // bucket 10: 8 and 9 keep bucket 7's state
  assert.deepEqual([...h.cols.get(8).sizes], [4, 0]);
  assert.deepEqual([...h.cols.get(9).sizes], [4, 0]);
  assert.deepEqual([...h.cols.get(10).sizes], [0, 5]);
  h.addTrade(101, 1, 2, "B");
  assert.equal(h.trades.length, 2);
  h.dropFrom(8); // a seek back: frames after bucket 7 are the future now
  assert.equal(h.cols.has(9), false);
  assert.equal(h.cols.has(7), true);
  assert.equal(h.trades.length, 1);
  for (let k = 0; k < 200; k++) h.putFrame({ bids: [[0, 1]], asks: [] }, 10 * k + 5);
  assert.ok(h.cols.size <= 100); // bounded, the newest kept
  assert.ok(h.cols.has(199));
  assert.equal(h.configure(20, grid), true); // a new bucket width: everything goes
  assert.equal(h.cols.size, 0);
});

test("columns: a frame earlier than the newest (a looped feed's next pass) drops the later ones", () => {
  const h = new HeatColumns(100, 10);
  h.configure(10, { lo: 0, step: 1, rows: 2 });
  for (let k = 500; k < 600; k++) h.putFrame({ bids: [[0, 1]], asks: [] }, 10 * k + 5); // pass 1
  h.addTrade(5995, 1, 2, "B");
  h.putFrame({ bids: [[1, 3]], asks: [] }, 35); // pass 2 starts back at bucket 3
  h.putFrame({ bids: [[1, 4]], asks: [] }, 45);
  assert.deepEqual([...h.cols.keys()].sort((a, b) => a - b), [3, 4]); // not evicted as the oldest
  assert.equal(h.trades.length, 0);
  assert.equal(h.lastLive, 4);
});

test("colour scale: percentile clip, linear / sqrt / log", () => {
  assert.equal(percentile([0, 0, 5, 1, 3, 2, 4], 100), 5);
  assert.equal(percentile([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5);
  assert.equal(percentile([0, 0], 99), 0);
  assert.equal(intensity(0, 10), 0);
  assert.equal(intensity(10, 10), 1);
  assert.equal(intensity(20, 10, "linear"), 1); // clipped
  assert.equal(intensity(5, 10, "linear"), 0.5);
  assert.equal(intensity(2.5, 10, "sqrt"), 0.5);
  assert.ok(intensity(1, 100) > intensity(1, 100, "linear"));
  assert.deepEqual(heatColor(0), [14, 17, 24]);
  assert.deepEqual(heatColor(1), [255, 250, 230]);
  assert.ok(bubbleRadius(1) < bubbleRadius(50));
  assert.equal(bubbleRadius(1e9), 14);
});

test("time axis: round steps, equally spaced in time", () => {
  const t0 = Date.UTC(2025, 8, 24, 20, 0, 7) * 1e6;
  const { step, ticks } = timeTicks(t0, t0 + 300e9, 6);
  assert.equal(step, 60e9); // 5 min in at most 6 labels: every minute
  assert.equal(ticks.length, 5);
  for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i] - ticks[i - 1], step);
  assert.equal(ticks[0] % step, 0);
  assert.equal(timeLabel(ticks[0], step), "20:01");
  assert.equal(timeLabel(t0 + 2e9, 1e9), "20:00:09");
  assert.equal(timeLabel(t0 + 2.25e9, 250e6), "00:09.250");
  assert.equal(timeTicks(5, 5).ticks.length, 0);
  assert.equal(timeTicks(0, 86400e9 * 30, 3).step, 86400e9);
});

test("scales", () => {
  const s = linear(0, 10, 100, 0);
  assert.equal(s(5), 50);
  assert.equal(s.invert(50), 5);
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
});

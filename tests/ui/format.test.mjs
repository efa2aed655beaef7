import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decimalsForTick, deriveTick, formatPrice, formatSize, formatTime, formatDateTime,
  parseJump, stepSpeed, nsString, UNDEF_PRICE,
} from "../../server/mbo_fast_server/static/js/lib/format.js";

test("tick from a price grid", () => {
  assert.equal(deriveTick([64_800_000_000, 64_790_000_000, 64_770_000_000]), 10_000_000);
  assert.equal(deriveTick([100_250_000_000, 100_000_000_000], 0), 250_000_000);
  assert.equal(deriveTick([5, 5], 30), 30); // no difference: the previous tick stays
  assert.equal(deriveTick([0, 20], 30), 10);
});

test("decimals and price formatting", () => {
  assert.equal(decimalsForTick(10_000_000), 2);
  assert.equal(decimalsForTick(250_000_000), 2);
  assert.equal(decimalsForTick(1_000_000_000), 0);
  assert.equal(decimalsForTick(5_000), 6);
  assert.equal(decimalsForTick(0), 2);
  assert.equal(formatPrice(64_810_000_000, 2), "64.81");
  assert.equal(formatPrice(4_750_250_000_000, 2), "4750.25");
  assert.equal(formatPrice(UNDEF_PRICE, 2), "—");
  assert.equal(formatPrice(null, 2), "—");
});

test("sizes and times", () => {
  assert.equal(formatSize(17), "17");
  assert.equal(formatSize(250_000), "250k");
  assert.equal(formatSize(2_500_000), "2.5M");
  const ns = Date.UTC(2025, 8, 24, 19, 32, 51, 94) * 1e6 + 519_778;
  assert.equal(formatTime(ns), "19:32:51.094");
  assert.equal(formatDateTime(ns), "2025-09-24 19:32:51.094");
  assert.equal(formatTime(null), "--:--:--.---");
});

test("speed steps clamp at the ends", () => {
  assert.equal(stepSpeed(1, 1), 2);
  assert.equal(stepSpeed(1, -1), 0.5);
  assert.equal(stepSpeed(0.1, -1), 0.1);
  assert.equal(stepSpeed(1000, 1), "max");
  assert.equal(stepSpeed("max", 1), "max");
});

test("typed jump targets", () => {
  const start = Date.UTC(2025, 8, 24, 19, 30) * 1e6;
  assert.deepEqual(parseJump("#20000", start), { index: 20000 });
  assert.deepEqual(parseJump("123", start), { index: 123 });
  assert.deepEqual(parseJump("1758744771094519778", start), { ts: "1758744771094519778" });
  assert.deepEqual(parseJump("20:15", start), { ts: "2025-09-24T20:15:00+00:00" });
  assert.deepEqual(parseJump("20:15:03.5", start), { ts: "2025-09-24T20:15:03.500000+00:00" });
  assert.deepEqual(parseJump("2025-09-24 20:15:03Z", start), { ts: "2025-09-24T20:15:03Z" });
  assert.equal(parseJump("25:00", start), null);
  assert.equal(parseJump("soon", start), null);
  assert.equal(parseJump("", start), null);
});

test("ns strings are integers", () => {
  assert.match(nsString(1758744771094519778), /^17587447710945\d{5}$/);
});

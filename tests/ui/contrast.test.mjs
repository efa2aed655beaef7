import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { contrast, parseColor } from "../../server/mbo_fast_server/static/js/lib/contrast.js";
import { FLASH, ORDER_BG } from "../../server/mbo_fast_server/static/js/lib/ladder.js";

const css = readFileSync(new URL("../../server/mbo_fast_server/static/app.css", import.meta.url), "utf8");
const root = css.slice(css.indexOf(":root"), css.indexOf("}", css.indexOf(":root")));
const vars = Object.fromEntries([...root.matchAll(/--([a-z0-9-]+):\s*([^;]+);/g)].map((m) => [m[1], m[2].trim()]));
const v = (name) => vars[name];

test("the contrast of colours", () => {
  assert.deepEqual(parseColor("#fff"), [255, 255, 255, 1]);
  assert.deepEqual(parseColor("rgba(1, 2, 3, 0.5)"), [1, 2, 3, 0.5]);
  assert.equal(contrast("#ffffff", "#000000").toFixed(1), "21.0");
  assert.equal(contrast("#777", "#777"), 1);
});

// Text colours on the backgrounds they are drawn on, from app.css and the canvas views (ladder:
// a size over its side's bar and over a flash at its peak; the tags of the heatmap's axis).
const PAIRS = [
  ["text", v("text"), [v("panel")]],
  ["text on panel2", v("text"), [v("panel2")]],
  ["muted", v("muted"), [v("panel")]],
  ["muted on panel2 (buttons, notice)", v("muted"), [v("panel2")]],
  ["muted on the page", v("muted"), [v("bg")]],
  ["bid prices", v("bid-text"), [v("panel")]],
  ["ask prices", v("ask-text"), [v("panel")]],
  ["accent", v("accent"), [v("panel")]],
  ["warn", v("warn"), [v("panel")]],
  ["size over a bid bar", v("text"), [v("panel"), v("bid-dim")]],
  ["size over an ask bar", v("text"), [v("panel"), v("ask-dim")]],
  ["size over a bid bar flashing", v("text"), [v("panel"), `rgba(${FLASH.rgb.B}, ${FLASH.peak})`, v("bid-dim")]],
  ["size over an ask bar flashing", v("text"), [v("panel"), `rgba(${FLASH.rgb.A}, ${FLASH.peak})`, v("ask-dim")]],
  ["our orders on the ladder", v("text"), [v("panel"), ORDER_BG]],
  ["button on accent", "#061020", [v("accent")]],
  ["badge", "#1b1300", [v("warn")]],
  ["heatmap tag on bid", "#061020", ["#3ddc84"]],
  ["heatmap tag on ask", "#061020", ["#ff5c66"]],
  ["notice text", v("text"), ["#2a2210"]],
];

test("every text colour keeps at least 4.5:1 on its background", () => {
  for (const [name, fg, bg] of PAIRS) {
    assert.ok(fg && bg.every(Boolean), `${name}: a colour is missing from app.css`);
    const c = contrast(fg, bg);
    assert.ok(c >= 4.5, `${name}: ${c.toFixed(2)}:1`);
  }
});

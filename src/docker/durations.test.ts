import assert from "node:assert/strict";
import { test } from "node:test";
import { humanDuration, parseGoDuration } from "./durations.js";

test("parseGoDuration reads Go durations, in nanoseconds", () => {
  assert.equal(parseGoDuration("1m30s"), 90e9);
  assert.equal(parseGoDuration("1h30m"), 5400e9);
  assert.equal(parseGoDuration("500ms"), 5e8);
  assert.equal(parseGoDuration("1.5s"), 1.5e9);
  assert.equal(parseGoDuration("-2s"), -2e9);
  assert.equal(parseGoDuration("0"), 0);
  assert.throws(() => parseGoDuration("5"), /time: missing unit in duration "5"/);
  assert.throws(() => parseGoDuration("x"), /time: invalid duration "x"/);
  assert.throws(() => parseGoDuration(""), /time: invalid duration ""/);
});

test("durations as go-units HumanDuration", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const cases: [number, string][] = [
    [-5 * s, "Less than a second"],
    [500, "Less than a second"],
    [1 * s, "1 second"],
    [47 * s, "47 seconds"],
    [1 * m + 30 * s, "About a minute"],
    [14 * m, "14 minutes"],
    [59 * m, "59 minutes"],
    [60 * m + 29 * m, "About an hour"],
    [90 * m, "2 hours"],
    [47 * h, "47 hours"],
    [3 * d, "3 days"],
    [13 * d, "13 days"],
    [15 * d, "2 weeks"],
    [8 * 7 * d, "8 weeks"],
    [61 * d, "2 months"],
    [400 * d, "13 months"],
    [3 * 365 * d, "3 years"],
  ];
  for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, `${ms} ms`);
});

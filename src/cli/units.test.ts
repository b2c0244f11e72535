import { test } from "node:test";
import assert from "node:assert/strict";
import { createdSince, ellipsis, goG, humanDuration, humanSize, humanSizeWithPrecision, truncateID } from "./units.js";

test("sizes as docker images prints them (HumanSizeWithPrecision, 3 digits)", () => {
  const cases: [number, string][] = [
    [0, "0B"],
    [999, "999B"],
    [1000, "1kB"],
    [4_261_709, "4.26MB"],
    [7_796_000, "7.8MB"],
    [77_800_000, "77.8MB"],
    [123_456_789, "123MB"],
    [1_073_741_824, "1.07GB"],
    [999_950, "1e+03kB"], // Go's %.3g rounds up into exponent form
  ];
  for (const [n, s] of cases) assert.equal(humanSizeWithPrecision(n, 3), s, String(n));
});

test("HumanSize uses four significant digits (system df, prune)", () => {
  assert.equal(humanSize(16384), "16.38kB");
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(1_234_567_890), "1.235GB");
  assert.equal(humanSize(5.5e24), "5.5YB");
  assert.equal(humanSize(5.5e27), "5500YB");
});

test("goG trims zeros like Go's %g", () => {
  assert.equal(goG(7.796, 3), "7.8");
  assert.equal(goG(100, 3), "100");
  assert.equal(goG(0.0001234, 3), "0.000123");
  assert.equal(goG(0.00001234, 3), "1.23e-05");
});

test("durations as go-units HumanDuration", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const cases: [number, string][] = [
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

test("createdSince and IDs", () => {
  const now = Date.UTC(2024, 0, 10);
  assert.equal(createdSince(now / 1000 - 2 * 3600, now), "2 hours ago");
  assert.equal(createdSince(0, now), "N/A");
  assert.equal(truncateID("sha256:8f670f112d616574f74eb9dc859409693b78ffaec5a344942b69bb683c538451"), "8f670f112d61");
  assert.equal(truncateID("<missing>"), "<missing>");
  assert.equal(ellipsis("/bin/sh -c #(nop) ADD file:0c4555f363c2672e350001f1293e689875a3760afe7b3f9146886afe67121cba in / ", 45), "/bin/sh -c #(nop) ADD file:0c4555f363c2672e3…");
  assert.equal(ellipsis("short", 45), "short");
});

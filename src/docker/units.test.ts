import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesSize, fromHumanSize, goG, humanSize, humanSizeWithPrecision, parseNanoCpus, ramInBytes } from "./units.js";

test("ramInBytes uses binary multiples (go-units RAMInBytes)", () => {
  assert.equal(ramInBytes("64m"), 64 * 1024 * 1024);
  assert.equal(ramInBytes("1.5g"), 1.5 * 1024 ** 3);
  assert.equal(ramInBytes("10"), 10);
  assert.equal(ramInBytes("2KiB"), 2048);
  assert.equal(ramInBytes("1 MB"), 1024 * 1024);
  assert.throws(() => ramInBytes("ten"), /invalid size: 'ten'/);
  assert.throws(() => ramInBytes("1.2.3m"), /invalid size: '1.2.3m'/);
  assert.throws(() => ramInBytes("-1"), /invalid size/);
});

test("fromHumanSize uses decimal multiples (the log drivers' max-size)", () => {
  assert.equal(fromHumanSize("1k"), 1000);
  assert.equal(fromHumanSize("10MB"), 10_000_000);
  assert.equal(fromHumanSize("1.5m"), 1_500_000);
  assert.equal(fromHumanSize("2MiB"), 2_000_000);
  assert.throws(() => fromHumanSize("10x"), /invalid size: '10x'/);
});

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

test("binary sizes as docker info and stats print them", () => {
  assert.equal(bytesSize(0), "0B");
  assert.equal(bytesSize(1023), "1023B");
  assert.equal(bytesSize(1536), "1.5KiB");
  assert.equal(bytesSize(64 * 1024 * 1024), "64MiB");
  assert.equal(bytesSize(25_158_000_000), "23.43GiB");
});

test("parseNanoCpus is exact", () => {
  assert.equal(parseNanoCpus("1.5"), 1_500_000_000);
  assert.equal(parseNanoCpus("0.001"), 1_000_000);
  assert.equal(parseNanoCpus("2"), 2_000_000_000);
  assert.throws(() => parseNanoCpus("abc"), /failed to parse abc as a rational number/);
  assert.throws(() => parseNanoCpus("0.0000000001"), /value is too precise/);
});

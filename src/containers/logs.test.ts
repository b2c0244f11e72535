import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { readLogs, timeNanos } from "./logs.js";

const entry = (log: string, stream: string, sec: number) => `${JSON.stringify({ log, stream, time: `2024-01-01T00:00:${String(sec).padStart(2, "0")}.123456789Z` })}\n`;

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("json-file log reader", () => {
  it("reads rotated files oldest first, tails across them, filters streams and times", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    try {
      const file = path.join(dir, "container.log");
      await writeFile(`${file}.2`, entry("a\n", "stdout", 1) + entry("b\n", "stderr", 2));
      await writeFile(`${file}.1`, entry("c\n", "stdout", 3));
      await writeFile(file, entry("d\n", "stdout", 4) + entry("e\n", "stderr", 5) + '{"log":"torn');
      const text = (xs: { line: Buffer }[]) => xs.map((x) => x.line.toString()).join("");
      assert.equal(text(await all(readLogs(file, {}))), "a\nb\nc\nd\ne\n");
      assert.equal(text(await all(readLogs(file, { tail: 3 }))), "c\nd\ne\n");
      assert.equal(text(await all(readLogs(file, { stderr: false }))), "a\nc\nd\n");
      const t3 = Number(timeNanos("2024-01-01T00:00:03.123456789Z") / 1000n) / 1e6;
      assert.equal(text(await all(readLogs(file, { since: t3 }))), "c\nd\ne\n");
      assert.equal(text(await all(readLogs(file, { until: t3 + 0.001 }))), "a\nb\nc\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

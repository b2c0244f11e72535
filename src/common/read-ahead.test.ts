import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readAhead } from "./read-ahead.js";

describe("readAhead", () => {
  it("reads every item, never more than the limit at once, started in order", async () => {
    let active = 0;
    let most = 0;
    const started: string[] = [];
    const items = Array.from({ length: 50 }, (_, i) => `c${i}`);
    const reads = readAhead(items, 4, async (item) => {
      started.push(item);
      active++;
      most = Math.max(most, active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
      return item.toUpperCase();
    });
    assert.deepEqual(
      reads.map(([item]) => item),
      items,
    );
    assert.deepEqual(await Promise.all(reads.map(([, p]) => p)), items.map((i) => i.toUpperCase()));
    assert.equal(most, 4);
    assert.deepEqual(started, items);
  });
});

// The progress lines a restore of thousands of containers writes to the daemon's log.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Progress } from "./restore.js";

describe("Progress", () => {
  it("says how far it got at most once per interval, and at the end once it said anything", () => {
    let now = 0;
    const said: string[] = [];
    const p = new Progress(5, (done, total) => said.push(`${done}/${total}`), () => now, 1000);
    p.step(); // at 0 ms: too soon
    now = 1000;
    p.step(); // 2 of 5 after a second
    now = 1500;
    p.step();
    p.step();
    now = 1600;
    p.step(); // the last one
    assert.deepEqual(said, ["2/5", "5/5"]);
  });

  it("stays quiet for a restore that ends within the interval", () => {
    const said: string[] = [];
    const p = new Progress(3, (done, total) => said.push(`${done}/${total}`), () => 0, 1000);
    for (let i = 0; i < 3; i++) p.step();
    assert.deepEqual(said, []);
  });
});

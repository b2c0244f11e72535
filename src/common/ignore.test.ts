import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bestEffort, bestEffortSync, ignoring, setIgnoredLog } from "./ignore.js";

describe("best-effort work", () => {
  it("logs what it ignored, with what was being done, and goes on", async () => {
    const lines: string[] = [];
    setIgnoredLog((line) => lines.push(line));
    try {
      await bestEffort("remove the bundle of c1", Promise.reject(new Error("EBUSY: resource busy")));
      await bestEffort("close the log", () => {
        throw new Error("already closed");
      });
      bestEffortSync("unlink the socket", () => {
        throw new Error("ENOENT");
      });
      assert.equal(await Promise.reject(new Error("gone")).catch(ignoring("read the pid file")), undefined);
      await bestEffort("nothing to do", undefined);
      await bestEffort("works", Promise.resolve(1));
    } finally {
      setIgnoredLog(undefined);
    }
    assert.deepEqual(lines, [
      "remove the bundle of c1: EBUSY: resource busy (ignored)",
      "close the log: already closed (ignored)",
      "unlink the socket: ENOENT (ignored)",
      "read the pid file: gone (ignored)",
    ]);
  });

  it("uses the log it is given over the process-wide one", async () => {
    const mine: string[] = [];
    await bestEffort("stop", Promise.reject(new Error("no")), (l) => mine.push(l));
    assert.deepEqual(mine, ["stop: no (ignored)"]);
  });
});

import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { replaceFile, replaceFileSync, settleAll, writeFileAtomic, writeFileAtomicSync } from "./fs.js";
import { setIgnoredLog } from "./ignore.js";

/** Runs fn with the process-wide ignored log captured. */
async function capturing(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  setIgnoredLog((l) => lines.push(l));
  try {
    await fn();
  } finally {
    setIgnoredLog(undefined);
  }
  return lines;
}

describe("atomic file writes that fail", () => {
  it("throw the write's own error, leave no temp file behind and log nothing when there was none to remove", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cove-fs-"));
    try {
      // a directory holds the name: the rename fails after the temp file was written
      const target = path.join(dir, "state.json");
      await mkdir(target);
      await writeFile(path.join(target, "keep"), "x");
      const lines = await capturing(async () => {
        await assert.rejects(writeFileAtomic(target, "{}"), { code: "EISDIR" });
        await assert.rejects(replaceFile(target, "{}"), { code: "EISDIR" });
        assert.throws(() => replaceFileSync(target, "{}"), { code: "EISDIR" });
        // no directory to write in: the temp file was never made
        await assert.rejects(replaceFile(path.join(dir, "missing", "f"), "{}"), { code: "ENOENT" });
        assert.throws(() => replaceFileSync(path.join(dir, "missing", "f"), "{}"), { code: "ENOENT" });
        assert.throws(() => writeFileAtomicSync(path.join(dir, "missing", "f"), "{}"), { code: "ENOENT" });
      });
      assert.deepEqual(lines, []);
      assert.deepEqual((await readdir(dir)).sort(), ["state.json"], "no temp file is left");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("settleAll", () => {
  it("throws the first failure only once every write has settled", async () => {
    let slowDone = false;
    const slow = new Promise<void>((r) =>
      setTimeout(() => {
        slowDone = true;
        r();
      }, 20),
    );
    const fail = Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
    await assert.rejects(settleAll([fail, slow]), /ENOSPC/);
    assert.ok(slowDone, "the slower write had finished before the failure was thrown");
  });

  it("resolves when every write succeeds", async () => {
    await settleAll([Promise.resolve(1), Promise.resolve(2)]);
  });
});

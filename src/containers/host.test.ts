import assert from "node:assert/strict";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { isMountpoint, readProcFile } from "./host.js";

/** A pid no process has: beyond the kernel's pid_max. */
const NO_PID = 4_194_305;

describe("host probes", () => {
  it("readProcFile: a process that has exited reads as empty; other failures are errors", async () => {
    assert.match(await readProcFile("/proc/self/mountinfo"), / \/ /);
    assert.equal(await readProcFile(`/proc/${NO_PID}/net/dev`), "");
    await assert.rejects(readProcFile("/proc/self"), { code: "EISDIR" });
  });

  it("isMountpoint: a missing path is not one; a path that cannot be resolved is an error", async () => {
    assert.equal(await isMountpoint("/"), true);
    assert.equal(await isMountpoint("/proc"), true);
    const dir = await mkdtemp(path.join(tmpdir(), "cove-host-"));
    try {
      assert.equal(await isMountpoint(dir), false);
      assert.equal(await isMountpoint(path.join(dir, "missing")), false);
      await symlink("loop", path.join(dir, "loop"));
      await assert.rejects(isMountpoint(path.join(dir, "loop")), { code: "ELOOP" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

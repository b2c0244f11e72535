// RuncRuntime's own logic: how runc's error texts become CoveErrors, and a missing binary.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { RuncRuntime, runcError } from "../../src/runtime/runc.js";

describe("RuncRuntime error mapping", () => {
  // [runc's text, kind, code]: a command runc could not run gets the code cove's own runtime gives it
  const cases: [string, string, string][] = [
    ["container does not exist", "not-found", "runc.create"],
    ["container with id exists: abc", "conflict", "runc.create"],
    ["cannot start an already running container", "conflict", "runc.create"],
    ["cannot start a container that has stopped", "conflict", "runc.create"],
    ["cannot delete container abc that is not stopped: running", "conflict", "runc.create"],
    ["container abc is not running", "conflict", "runc.create"],
    ['unable to start container process: exec: "/nope": stat /nope: no such file or directory', "invalid", "exec.not-found"],
    ['exec: "nope": executable file not found in $PATH', "invalid", "exec.not-found"],
    ['unable to start container process: exec: "/etc/passwd": permission denied', "invalid", "exec.permission-denied"],
    ["unknown namespace type: bogus", "invalid", "runc.create"],
    ["cgroup: write /sys/fs/cgroup/pids/x/pids.max: device or resource busy", "system", "runc.create"],
  ];
  for (const [text, kind, code] of cases) {
    it(`"${text}" → ${kind} (${code}), keeping runc's words`, () => {
      const err = runcError("create", text, "abc");
      assert.ok(err instanceof CoveError);
      assert.equal(err.kind, kind);
      assert.ok(err.message.includes(text), err.message);
      assert.match(err.message, /^runc create abc: /);
      assert.equal(err.code, code);
    });
  }
  it("an empty text still says what failed", () => {
    assert.equal(runcError("start", "  ").message, "runc start: runc start failed");
  });
});

describe("RuncRuntime without its binary", () => {
  it("fails with an unsupported error that says how to install runc", async () => {
    const root = await mkdtemp("/tmp/cove-test-");
    try {
      const rt = new RuncRuntime({ root: path.join(root, "root"), binary: path.join(root, "no-runc-here") });
      await assert.rejects(rt.list(), (err: unknown) => err instanceof CoveError && err.kind === "unsupported" && /runc/.test(err.hint ?? ""));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

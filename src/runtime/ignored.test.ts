// What the runtime ignores on purpose: the expected failure passes quietly, anything else reaches
// the ignored log (the daemon's log) instead of vanishing, and none of it is thrown at the caller.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setIgnoredLog } from "../common/ignore.js";
import { removeSharedParent } from "./cgroups/index.js";
import { CoveRuntime } from "./cove.js";
import { signalPid } from "./types.js";

describe("failures the runtime ignores", () => {
  let dir: string;
  let lines: string[];
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "cove-ignored-"));
  });
  after(() => {
    setIgnoredLog(undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const capture = () => {
    lines = [];
    setIgnoredLog((line) => lines.push(line));
  };

  it("list skips a container being deleted quietly and logs one whose state cannot be read", async () => {
    capture();
    const root = path.join(dir, "state");
    mkdirSync(path.join(root, "going"), { recursive: true }); // no state.json: deleted right now
    mkdirSync(path.join(root, "broken"));
    writeFileSync(path.join(root, "broken", "state.json"), "{ not json");
    try {
      assert.deepEqual(await new CoveRuntime({ root }).list(), []);
    } finally {
      setIgnoredLog(undefined);
    }
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /^read the state of container broken: reading the state of container broken: .* \(ignored\)$/);
  });

  it("removeSharedParent leaves a parent still in use or already gone alone, and logs any other failure", async () => {
    capture();
    const used = path.join(dir, "used");
    mkdirSync(path.join(used, "c1"), { recursive: true });
    const empty = path.join(dir, "empty");
    mkdirSync(empty);
    const file = path.join(dir, "file");
    writeFileSync(file, "");
    try {
      await removeSharedParent(used);
      await removeSharedParent(path.join(dir, "missing"));
      await removeSharedParent(empty);
      await removeSharedParent(file); // ENOTDIR: nothing a shared parent can be
    } finally {
      setIgnoredLog(undefined);
    }
    assert.ok(existsSync(path.join(used, "c1")), "a parent in use stays");
    assert.ok(!existsSync(empty), "the last container's parent goes");
    assert.deepEqual(
      lines.map((l) => l.replace(/: ENOTDIR.*/, "")),
      [`remove the shared parent cgroup ${file}`],
    );
  });

  it("signalPid is quiet for a process that is gone and logs a signal the kernel refuses", () => {
    capture();
    try {
      signalPid(2 ** 30, "SIGTERM"); // above any pid_max: ESRCH
      signalPid(process.pid, 0x7fff); // no such signal: refused, not thrown
    } finally {
      setIgnoredLog(undefined);
    }
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, new RegExp(`^send 32767 to process ${process.pid}: .* \\(ignored\\)$`));
  });
});

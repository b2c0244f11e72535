// `update` (flags and -r FILE) as seen in the host's cgroup files; the global --log with
// --log-format json; `features` against the spec's schema and runc's key set.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { cgroupDirsOf } from "../fixtures/bundle.js";
import { differential, QUICK, schemaErrors, setArgs, sortedKeys } from "./harness.js";

/** The value of a cgroup file in whichever hierarchy of cgroupsPath has it. */
async function cgroupValue(cgroupsPath: string, file: string): Promise<string> {
  for (const dir of await cgroupDirsOf(cgroupsPath)) {
    const p = path.join(dir, file);
    if (existsSync(p)) return readFileSync(p, "utf8").trim();
  }
  return "(missing)";
}

const FILES_V1 = ["memory.limit_in_bytes", "pids.max", "cpu.cfs_quota_us", "cpu.cfs_period_us"];
const FILES_V2 = ["memory.max", "pids.max", "cpu.max"];

differential("runtime CLI: update with flags and with -r resources.json", async (s) => {
  const b = await s.bundle();
  await setArgs(b, ["sleep", "600"]);
  const id = s.id("up");
  await s.ok(["run", "-d", "--bundle", b.dir, id], { timeoutMs: QUICK });
  const v2 = existsSync(path.join("/sys/fs/cgroup", b.cgroupsPath, "cgroup.controllers"));
  const files = v2 ? FILES_V2 : FILES_V1;
  const read = async () => Object.fromEntries(await Promise.all(files.map(async (f) => [f, await cgroupValue(b.cgroupsPath, f)] as const)));
  const before = await read();

  const flags = await s.cli(["update", "--memory", "64M", "--pids-limit", "20", "--cpu-quota", "50000", "--cpu-period", "100000", id]);
  assert.equal(flags.code, 0, flags.stderr);
  const afterFlags = await read();
  if (!v2) {
    assert.equal(afterFlags["memory.limit_in_bytes"], String(64 * 1024 * 1024));
    assert.equal(afterFlags["pids.max"], "20");
    assert.equal(afterFlags["cpu.cfs_quota_us"], "50000");
    assert.equal(afterFlags["cpu.cfs_period_us"], "100000");
  } else {
    assert.equal(afterFlags["memory.max"], String(64 * 1024 * 1024));
    assert.equal(afterFlags["pids.max"], "20");
    assert.equal(afterFlags["cpu.max"], "50000 100000");
  }

  const resources = path.join(s.base, "resources.json");
  await writeFile(resources, JSON.stringify({ memory: { limit: 128 * 1024 * 1024 }, pids: { limit: 30 }, cpu: { quota: 20000, period: 50000 } }));
  const fromFile = await s.cli(["update", "-r", resources, id]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const afterFile = await read();
  if (!v2) {
    assert.equal(afterFile["memory.limit_in_bytes"], String(128 * 1024 * 1024));
    assert.equal(afterFile["pids.max"], "30");
    assert.equal(afterFile["cpu.cfs_quota_us"], "20000");
    assert.equal(afterFile["cpu.cfs_period_us"], "50000");
  } else {
    assert.equal(afterFile["memory.max"], String(128 * 1024 * 1024));
    assert.equal(afterFile["pids.max"], "30");
    assert.equal(afterFile["cpu.max"], "20000 50000");
  }
  const unknown = await s.cli(["update", "--pids-limit", "5", "no-such-container"]);
  assert.notEqual(unknown.code, 0);
  return { before, afterFlags, afterFile, unknownFails: unknown.code !== 0 };
});

differential("runtime CLI: --log FILE --log-format json records errors", async (s) => {
  const log = path.join(s.base, "runtime.log");
  const r = await s.cli(["start", "no-such-container"], { globals: ["--log", log, "--log-format", "json"] });
  assert.notEqual(r.code, 0, "start of an unknown id fails");
  assert.ok(existsSync(log), "the log file is written");
  const lines = readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const errors = lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 1, `one error line: ${JSON.stringify(lines)}`);
  assert.equal(typeof errors[0]!.msg, "string");
  assert.match(String(errors[0]!.msg), /does not exist/);
  assert.ok(!Number.isNaN(Date.parse(String(errors[0]!.time))), "time is a timestamp");
  // text format: level=error msg="..."
  const textLog = path.join(s.base, "runtime.txt");
  await s.cli(["start", "no-such-container"], { globals: ["--log", textLog] });
  assert.match(readFileSync(textLog, "utf8"), /level=error msg=".*does not exist/);
  return { keys: sortedKeys(errors[0]), code: r.code !== 0 };
});

differential("runtime CLI: features", async (s) => {
  const out = await s.ok(["features"]);
  const doc = JSON.parse(out) as Record<string, unknown> & { linux?: Record<string, unknown> };
  const problems = schemaErrors("features-schema.json", doc);
  // runc 1.1.5's experimental features document predates the schema: only cove must validate
  if (s.kind === "cove") assert.deepEqual(problems, [], "features validates against features-schema.json");
  assert.ok(Array.isArray(doc.mountOptions) && (doc.mountOptions as string[]).includes("rro"));
  assert.ok(Array.isArray(doc.linux?.namespaces) && (doc.linux.namespaces as string[]).includes("pid"));
  return { keys: sortedKeys(doc), linuxKeys: sortedKeys(doc.linux), hooks: doc.hooks };
}, {
  compare(cove, runc, t) {
    t.diagnostic(`top-level keys runc=${runc.keys.join(",")} cove=${cove.keys.join(",")}; linux runc=${runc.linuxKeys.join(",")} cove=${cove.linuxKeys.join(",")}`);
    for (const k of runc.keys) assert.ok(cove.keys.includes(k), `cove's features has runc's key ${k}`);
    for (const k of runc.linuxKeys) assert.ok(cove.linuxKeys.includes(k), `cove's features.linux has runc's key ${k}`);
    assert.deepEqual(cove.hooks, runc.hooks);
  },
});

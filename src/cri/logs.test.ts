// The CRI log format's pieces without a daemon: the time as Go's RFC3339Nano prints it, F and P
// lines from json-file entries, and the resume point a restarted daemon reads back.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { resourceFields } from "./containers.js";
import { workingSet } from "./exec-stats.js";
import { criLine, criTime, lastLoggedTime } from "./logs.js";

test("criTime cuts the fraction's trailing zeros, as Go's RFC3339Nano", () => {
  assert.equal(criTime("2026-12-05T17:21:05.971194250Z"), "2026-12-05T17:21:05.97119425Z");
  assert.equal(criTime("2026-12-05T17:21:05.000000000Z"), "2026-12-05T17:21:05Z");
  assert.equal(criTime("2026-12-05T17:21:05.100000000+02:00"), "2026-12-05T17:21:05.1+02:00");
  assert.equal(criTime("2026-12-05T17:21:05Z"), "2026-12-05T17:21:05Z");
});

test("criLine: F for an entry ending in a newline (without it), P otherwise; the text as it is", () => {
  const t = "2026-12-05T17:21:05.971194258Z";
  assert.equal(criLine(t, "stdout", Buffer.from("hello\n")).toString(), `${t} stdout F hello\n`);
  assert.equal(criLine(t, "stderr", Buffer.from("no newline")).toString(), `${t} stderr P no newline\n`);
  assert.equal(criLine(t, "stdout", Buffer.from("  two  spaces \t\n")).toString(), `${t} stdout F   two  spaces \t\n`);
  assert.equal(criLine(t, "stdout", Buffer.from("\n")).toString(), `${t} stdout F \n`);
});

test("lastLoggedTime reads the newest time of a CRI log; 0 for none or an absent file", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cove-crilog-"));
  try {
    const file = path.join(dir, "c.log");
    assert.equal(await lastLoggedTime(file), 0n);
    await writeFile(file, "");
    assert.equal(await lastLoggedTime(file), 0n);
    await writeFile(file, "2026-12-05T17:21:05.5Z stdout F a\n2026-12-05T17:21:06.000000001Z stdout P b\n");
    assert.equal(await lastLoggedTime(file), BigInt(Date.parse("2026-12-05T17:21:06Z")) * 1_000_000n + 1n);
    // a torn last line (a crash while writing) does not hide the one before it
    await writeFile(file, "2026-12-05T17:21:05.5Z stdout F a\ntorn");
    assert.equal(await lastLoggedTime(file), BigInt(Date.parse("2026-12-05T17:21:05.5Z")) * 1_000_000n);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("resourceFields: the CRI's resources as Docker's; no swap unless asked, unset fields left out", () => {
  assert.deepEqual(resourceFields(null), {});
  assert.deepEqual(resourceFields({ cpu_period: "0", cpu_quota: "0", cpu_shares: "0", memory_limit_in_bytes: "0", cpuset_cpus: "", cpuset_mems: "" }), {});
  assert.deepEqual(resourceFields({ cpu_period: "100000", cpu_quota: "50000", cpu_shares: "512", memory_limit_in_bytes: "67108864", cpuset_cpus: "0", cpuset_mems: "0" }), {
    CpuPeriod: 100000,
    CpuQuota: 50000,
    CpuShares: 512,
    Memory: 67108864,
    MemorySwap: 67108864,
    CpusetCpus: "0",
    CpusetMems: "0",
  });
  assert.deepEqual(resourceFields({ memory_limit_in_bytes: "1000000", memory_swap_limit_in_bytes: "3000000" }), { Memory: 1000000, MemorySwap: 3000000 });
  assert.throws(() => resourceFields({ cpu_quota: "lots" }), /invalid number lots/);
});

test("workingSet: usage less the inactive file pages (v1 and v2 names), never below zero", () => {
  assert.equal(workingSet(1000, { total_inactive_file: 300 }), 700);
  assert.equal(workingSet(1000, { inactive_file: 400 }), 600);
  assert.equal(workingSet(1000, {}), 1000);
  assert.equal(workingSet(100, { inactive_file: 400 }), 0);
});

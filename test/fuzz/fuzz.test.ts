// The API fuzzer (harness.ts) against a daemon of its own: a short deterministic run in the suite
// (fixed seed, a fixed number of requests: every operation of the Engine API's swagger and every
// route the daemon serves, twice), asserting no finding and that every served route was reached.
//
// The long run, 10 minutes with a sample of the state checks (for speed):
//   COVE_FUZZ_SECONDS=600 COVE_FUZZ_SEED=7 COVE_FUZZ_STATE=0.5 node --test dist/test/fuzz/fuzz.test.js
// Replaying the requests of findings (seed:operation, as the FINDING lines name them; add
// COVE_FUZZ_VERBOSE=1 to see every request and answer):
//   COVE_FUZZ_REPLAY=123:ImageSearch,456:ContainerCreate node --test dist/test/fuzz/fuzz.test.js
// COVE_FUZZ_REQUESTS=N changes the short run's length.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { findBusybox } from "../images/fixtures.js";
import { Fuzzer, type FuzzReport } from "./harness.js";
import { specPath } from "./spec.js";

const skip = process.getuid?.() !== 0 ? "needs root (containers, cgroups, overlay mounts, a network namespace)" : !(await findBusybox()) ? "busybox-static is not installed" : !existsSync(specPath()) ? `the Engine API's swagger is missing (${specPath()})` : false;

const env = process.env;
const seconds = env.COVE_FUZZ_SECONDS ? Number(env.COVE_FUZZ_SECONDS) : undefined;
const replay = env.COVE_FUZZ_REPLAY ? env.COVE_FUZZ_REPLAY.split(",") : undefined;

describe("API fuzzing: no crash, no 5xx without a message, no hang, no change from a refused request", { skip }, () => {
  let fuzzer: Fuzzer | undefined;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cove-fz-"));
    fuzzer = new Fuzzer({
      dir,
      seed: Number(env.COVE_FUZZ_SEED ?? 20261205),
      ...(seconds !== undefined ? { seconds } : env.COVE_FUZZ_REQUESTS ? { requests: Number(env.COVE_FUZZ_REQUESTS) } : {}),
      ...(replay ? { replay } : {}),
      stateCheck: Number(env.COVE_FUZZ_STATE ?? (seconds !== undefined ? 0.5 : 1)),
      verbose: env.COVE_FUZZ_VERBOSE === "1",
      log: (l) => process.stderr.write(`fuzz: ${l}\n`),
    });
    await fuzzer.setup();
  });

  after(async () => {
    // a daemon that cannot stop after the fuzzing is a finding too
    const problem = await fuzzer?.teardown();
    assert.equal(problem ?? "", "");
  });

  it("has oracles that see a change of state and a JavaScript error for a message", async () => {
    const check = await fuzzer!.selfCheck();
    assert.ok(check.stateDiff.some((l) => l.startsWith("volumes: +1")), check.stateDiff.join("\n"));
    assert.ok(check.stateDiff.some((l) => l.startsWith("files: +")), check.stateDiff.join("\n"));
    assert.ok(check.messageOracle);
  });

  it("answers every fuzzed request within its oracles", { timeout: ((seconds ?? 600) + 900) * 1000 }, async () => {
    const report: FuzzReport = await fuzzer!.run();
    process.stderr.write(`fuzz: ${report.requests} requests in ${report.seconds} s; statuses ${JSON.stringify(report.statuses)}; ${report.stateChecks} state checks\nfuzz: per class ${JSON.stringify(report.perClass)}\nfuzz: 5xx answers:\n  ${report.serverErrors.join("\n  ")}\n`);
    assert.deepEqual(
      report.findings.map((f) => `${f.seed}:${f.op} ${f.oracle}: ${f.detail}\n  ${f.request}`),
      [],
    );
    if (!replay && seconds === undefined) assert.deepEqual(report.unreached, [], "every route the daemon serves is fuzzed");
  });
});

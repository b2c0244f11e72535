import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTraceFile, span, spanSince, traced, tracing, type TraceRecord } from "./trace.js";

describe("phase timings (COVE_TRACE)", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "cove-trace-"));
  });
  after(async () => {
    setTraceFile(undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const read = (file: string) =>
    readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TraceRecord);

  it("records nothing, and opens no file, while off", async () => {
    setTraceFile(undefined);
    assert.equal(tracing(), false);
    span("a", "c1")();
    await traced("b", "c1", async () => 1);
    spanSince("c", "c1", Date.now());
    assert.deepEqual(readdirSync(dir), []);
  });

  it("appends one line per finished phase, with its container, start and duration; a failed phase counts too", async () => {
    const file = path.join(dir, "t.jsonl");
    setTraceFile(file);
    assert.equal(tracing(), true);
    const before = Date.now();
    const end = span("create", "");
    end("made-id");
    assert.equal(await traced("start", "c1", async () => 7), 7);
    await assert.rejects(traced("exit", "c1", async () => Promise.reject(new Error("boom"))), /boom/);
    spanSince("run", "c1", before - 5);
    const recs = read(file);
    assert.deepEqual(
      recs.map((r) => [r.phase, r.id]),
      [
        ["create", "made-id"],
        ["start", "c1"],
        ["exit", "c1"],
        ["run", "c1"],
      ],
    );
    for (const r of recs) {
      assert.ok(r.ms >= 0, `${r.phase}: duration ${r.ms}`);
      assert.ok(r.start >= before - 5 && r.start <= Date.now() + 1, `${r.phase}: start ${r.start} is an epoch time`);
    }
    assert.ok(recs[3]!.ms >= 5, "spanSince counts from the given start");
  });

  it("turns itself off, with a warning, when the file cannot be written, and the work goes on", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      setTraceFile(path.join(dir, "missing-dir", "t.jsonl"));
      assert.equal(await traced("start", "c1", async () => "done"), "done");
      assert.equal(tracing(), false);
      await new Promise((r) => setImmediate(r));
      assert.match(warnings.join("\n"), /COVE_TRACE .*missing-dir.*ENOENT.*phase timings are off/);
      assert.ok(!existsSync(path.join(dir, "missing-dir")));
    } finally {
      process.off("warning", onWarning);
    }
  });
});

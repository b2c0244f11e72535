// The CRI server's phase timings without a daemon: each unary call is recorded as "api CRI
// <method>" (COVE_TRACE), a failed one too, and the answer passes through unchanged.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { setTraceFile, type TraceRecord } from "../common/trace.js";
import { criServices } from "./proto.js";
import { timedCalls } from "./server.js";

type Handler = (call: object, cb: (err: Partial<grpc.StatusObject> | null, res?: unknown) => void) => void;

test("timedCalls records each unary call as api CRI <method>, failed or not, and passes its answer on", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cove-cri-trace-"));
  const file = path.join(dir, "t.jsonl");
  try {
    setTraceFile(file);
    const handlers = timedCalls(criServices().RuntimeService, {
      Version: ((_call, cb) => setTimeout(() => cb(null, { version: "0.1.0" }), 20)) as Handler,
      Status: ((_call, cb) => cb({ code: grpc.status.INTERNAL, details: "broken" })) as Handler,
    });
    const invoke = (name: string) => new Promise<[unknown, unknown]>((resolve) => (handlers[name] as Handler)({ request: {} }, (err, res) => resolve([err, res])));
    assert.deepEqual(await invoke("Version"), [null, { version: "0.1.0" }]);
    assert.deepEqual(await invoke("Status"), [{ code: grpc.status.INTERNAL, details: "broken" }, undefined]);
    setTraceFile(undefined);
    const records = readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TraceRecord);
    assert.deepEqual(
      records.map((r) => r.phase),
      ["api CRI Version", "api CRI Status"],
    );
    assert.ok(records[0]!.ms >= 15, `the call's time (${records[0]!.ms} ms) spans the handler's 20 ms`);
  } finally {
    setTraceFile(undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

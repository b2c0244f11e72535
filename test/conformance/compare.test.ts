// The differential suite's comparison (compare.ts), without daemons: what it reports and what it
// leaves out as legitimately different.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { demux, diffShapes, errorLine, jsonStreamShapes, muxSummary, shape, tarNames } from "./compare.js";
import { tarOf } from "./cases.js";

const diff = (a: unknown, b: unknown) => diffShapes(shape(a), shape(b));

describe("the differential comparison", () => {
  it("ignores values, ids as map keys, list order and length, and null against an empty list or map", () => {
    assert.deepEqual(diff({ Id: "a".repeat(64), Size: 1, Names: ["/x"] }, { Id: "b".repeat(64), Size: 99, Names: ["/y", "/z"] }), []);
    assert.deepEqual(diff({ Labels: { a: "b" } }, { Labels: { c: "d", e: "f" } }), []);
    assert.deepEqual(diff({ Containers: { ["c".repeat(64)]: { Name: "x" } } }, { Containers: { ["d".repeat(64)]: { Name: "y" } } }), []);
    assert.deepEqual(diff([{ A: 1 }, { B: "x" }], [{ B: "y" }, { A: 2 }]), []);
    assert.deepEqual(diff({ Dns: [], Opts: {} }, { Dns: null, Opts: null }), []);
  });

  it("reports a missing key, a type, and null against a value, with the JSON path", () => {
    assert.deepEqual(diff({ State: { Running: true } }, { State: { Running: true, Paused: false } }), ["$.State.Paused: only dockerd has it (\"boolean\")"]);
    assert.deepEqual(diff({ Id: 1 }, { Id: "x" }), ['$.Id: cove "number", dockerd "string"']);
    assert.deepEqual(diff({ OomKillDisable: null }, { OomKillDisable: false }), ['$.OomKillDisable: cove "null", dockerd "boolean"']);
    assert.deepEqual(diff([{ A: 1, B: 2 }], [{ A: 1 }]), ["$[].B: only cove has it (\"number\")"]);
  });

  it("normalises ids and digests in error messages, and keeps only the first line", () => {
    assert.equal(errorLine(`Container ${"e".repeat(64)} is not running\n  hint: start it`), "Container <id> is not running");
    assert.equal(errorLine(`no such image sha256:${"f".repeat(64)}`), "no such image <digest>");
  });

  it("splits multiplexed streams by stream number and refuses raw bytes as one", () => {
    const frame = (n: number, s: string) => Buffer.concat([Buffer.from([n, 0, 0, 0, 0, 0, 0, s.length]), Buffer.from(s)]);
    const raw = Buffer.concat([frame(1, "o"), frame(2, "e"), frame(1, "k\n")]);
    assert.equal(demux(raw)?.length, 3);
    assert.deepEqual(muxSummary(raw), { "stream 1": "ok\n", "stream 2": "e" });
    assert.match(String(muxSummary(Buffer.from("plain text output\n"))), /^not multiplexed/);
  });

  it("merges a JSON message stream's shapes and lists a tar's names", () => {
    assert.deepEqual(jsonStreamShapes(Buffer.from('{"status":"a"}\n{"status":"b","id":"x"}\n')), [{ status: "string", id: "string" }]);
    assert.match(String(jsonStreamShapes(Buffer.from("{nope\n"))), /^not a JSON message stream/);
    assert.deepEqual(tarNames(tarOf({ [`${"a".repeat(64)}/layer.tar`]: "x", "manifest.json": "[]" })), ["<id>/layer.tar", "manifest.json"]);
    assert.match(String(tarNames(Buffer.alloc(600, 1))), /^not a tar/);
  });
});

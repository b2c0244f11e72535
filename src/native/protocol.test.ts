import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "./addon.js";
import { PROTOCOL_HEADER, renderProtocolHeader } from "./protocol-header.js";
import { FRAMES, Op, OP_PHASES, OPS, REPORTS, STATE_FILES, SYNC_ANSWERS } from "./protocol.js";

const root = packageRoot();

function unique(values: readonly unknown[]): boolean {
  return new Set(values).size === values.length;
}

describe("shim protocol", () => {
  it("the C header is what protocol.ts generates", () => {
    const committed = readFileSync(path.join(root, PROTOCOL_HEADER), "utf8");
    assert.equal(committed, renderProtocolHeader(), `${PROTOCOL_HEADER} differs from src/native/protocol.ts: run scripts/build-native.sh (or node scripts/gen-native-protocol.js) and commit the header`);
  });

  it("gives every op one number, inside one phase", () => {
    const codes = Object.values(OPS).map((o) => o.code);
    assert.ok(unique(codes), "two ops share a number");
    for (const [name, op] of Object.entries(OPS)) {
      assert.match(name, /^[A-Z][A-Z0-9_]*$/, `${name} is not a C enumerator name`);
      const phases = OP_PHASES.filter((p) => op.code >= p.first && op.code <= p.last);
      assert.equal(phases.length, 1, `op ${name} (${op.code}) must fall in exactly one phase`);
    }
  });

  it("starts the namespace ops with JOIN_NS, as the shim's child expects", () => {
    // child.c skips monitor options with `code < OP_JOIN_NS`
    const monitor = OP_PHASES[0]!;
    const after = Object.values(OPS).filter((o) => o.code > monitor.last).map((o) => o.code);
    assert.equal(Math.min(...after), Op.JOIN_NS);
  });

  it("has every op performed by the shim", () => {
    const dir = path.join(root, "src/native/shim");
    const c = readdirSync(dir)
      .filter((f) => f.endsWith(".c"))
      .map((f) => readFileSync(path.join(dir, f), "utf8"))
      .join("\n");
    const missing = Object.keys(OPS).filter((name) => !new RegExp(`\\bOP_${name}\\b`).test(c));
    assert.deepEqual(missing, [], "ops in src/native/protocol.ts that no shim source handles");
  });

  it("keeps report verbs, answers, frame types and state files distinct", () => {
    assert.ok(unique(Object.values(REPORTS).map((r) => r.verb)));
    assert.ok(Object.values(REPORTS).every((r) => /^[a-z-]+$/.test(r.verb)), "a verb is one word");
    assert.ok(unique(Object.values(SYNC_ANSWERS)));
    assert.ok(unique(Object.values(FRAMES).map((f) => f.type)));
    assert.ok(Object.values(FRAMES).every((f) => f.type >= 0 && f.type <= 255), "a frame type is a byte");
    assert.equal(FRAMES.STDOUT.type, 1, "output frames carry the stream's fd number");
    assert.equal(FRAMES.STDERR.type, 2, "output frames carry the stream's fd number");
    assert.ok(unique(Object.values(STATE_FILES).map((f) => f.name)));
  });
});

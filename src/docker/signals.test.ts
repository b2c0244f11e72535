import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSignal } from "./signals.js";

test("signals by name, with or without SIG, any case, or by number", () => {
  assert.equal(parseSignal("SIGTERM"), 15);
  assert.equal(parseSignal("term"), 15);
  assert.equal(parseSignal("Kill"), 9);
  assert.equal(parseSignal("sigusr1"), 10);
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal(2), 2);
  assert.throws(() => parseSignal("NOPE"), /unknown signal "NOPE"/);
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys } from "./detach-keys.js";

describe("detach keys", () => {
  it("parses term.ToBytes' syntax", () => {
    assert.deepEqual(parseDetachKeys(DEFAULT_DETACH_KEYS), [16, 17]);
    assert.deepEqual(parseDetachKeys("ctrl-a,x,ctrl-@,ctrl-["), [1, 120, 0, 27]);
    assert.deepEqual(parseDetachKeys("ctrl-\\,ctrl-],ctrl-^,ctrl-_,ctrl-Z"), [28, 29, 30, 31, 26]);
    for (const bad of ["ctrl-pq", "ctrl-", "CTRL-P", "ab", "", "ctrl-1"]) assert.throws(() => parseDetachKeys(bad), { message: `Invalid escape keys (${bad}) provided` }, bad);
  });

  it("holds a partial match, releases it on a mismatch, and detects the full sequence", () => {
    const s = new DetachScanner(parseDetachKeys("ctrl-p,ctrl-q"));
    assert.deepEqual(s.push(Buffer.from("ab\x10")), { data: Buffer.from("ab"), detach: false });
    assert.deepEqual(s.push(Buffer.from("c")), { data: Buffer.from("\x10c"), detach: false });
    assert.deepEqual(s.push(Buffer.from("\x10\x10")), { data: Buffer.from("\x10"), detach: false });
    assert.deepEqual(s.push(Buffer.from("\x11rest")), { data: Buffer.alloc(0), detach: true });
  });

  it("detaches on a one-key sequence", () => {
    const s = new DetachScanner(parseDetachKeys("x"));
    assert.deepEqual(s.push(Buffer.from("abxc")), { data: Buffer.from("ab"), detach: true });
  });
});

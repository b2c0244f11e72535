import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EscapeProxy, parseDetachKeys } from "./terminal.js";

describe("detach keys", () => {
  it("parses docker's key syntax", () => {
    assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [16, 17]);
    assert.deepEqual([...parseDetachKeys("ctrl-a,x,ctrl-@,ctrl-[")], [1, 120, 0, 27]);
    assert.throws(() => parseDetachKeys("ctrl-pq"), /Invalid escape keys \(ctrl-pq\) provided/);
  });

  it("holds a partial match, releases it on a mismatch, and detects the full sequence", () => {
    const p = new EscapeProxy(parseDetachKeys("ctrl-p,ctrl-q"));
    assert.deepEqual(p.feed(Buffer.from("ab\x10")), { forward: Buffer.from("ab"), escaped: false });
    assert.deepEqual(p.feed(Buffer.from("c")), { forward: Buffer.from("\x10c"), escaped: false });
    assert.deepEqual(p.feed(Buffer.from("\x10\x10")), { forward: Buffer.from("\x10"), escaped: false });
    assert.deepEqual(p.feed(Buffer.from("\x11rest")), { forward: Buffer.alloc(0), escaped: true });
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boundingCapabilities, outsideBounding } from "./bounding.js";
import { CAPABILITIES } from "./constants.js";

describe("capability bounding set", () => {
  it("reads the names from CapBnd", () => {
    // every capability up to 40 but CAP_SYS_RESOURCE (24), as on a host that lacks it
    const status = "Name:\tnode\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n";
    const names = boundingCapabilities(status);
    assert.equal(names.length, CAPABILITIES.length - 1);
    assert.ok(!names.includes("CAP_SYS_RESOURCE"));
    assert.ok(names.includes("CAP_SYS_ADMIN") && names.includes("CAP_CHECKPOINT_RESTORE"));
    assert.deepEqual(boundingCapabilities("CapBnd:\t0000000000000003\n"), ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]);
    assert.equal(boundingCapabilities("Name:\tx\n").length, CAPABILITIES.length, "no CapBnd line: all");
  });
  it("names what is outside it, once each", () => {
    assert.deepEqual(outsideBounding(["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_RESOURCE", "CAP_KILL"], ["CAP_CHOWN"]), ["CAP_SYS_RESOURCE", "CAP_KILL"]);
    assert.deepEqual(outsideBounding([], ["CAP_CHOWN"]), []);
  });
});

// What an instance owns follows from its root: the default root keeps cove's fixed names, any
// other root gets its own exec root, bridge, firewall tag and cgroup parent.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { instanceLayout, instanceTag, isInstanceCgroupParent } from "./instance.js";

describe("instance layout", () => {
  it("keeps the default daemon's names for /var/lib/cove", () => {
    assert.deepEqual(instanceLayout("/var/lib/cove/"), {
      root: "/var/lib/cove",
      tag: "",
      execRoot: "/run/cove",
      runtimeRoot: "/run/cove/runtime",
      netnsDir: "/run/cove/netns",
      pidFile: "/run/cove/cove.pid",
      bridge: "cove0",
      cgroupParent: "/cove",
    });
  });

  it("derives everything else from another root's tag, and takes what is given instead", () => {
    const tag = instanceTag("/srv/other");
    assert.match(tag, /^[0-9a-f]{8}$/);
    assert.equal(instanceTag("/srv/other/"), tag);
    assert.notEqual(instanceTag("/srv/other2"), tag);
    const l = instanceLayout("/srv/other");
    assert.deepEqual(l, {
      root: "/srv/other",
      tag,
      execRoot: `/run/cove-${tag}`,
      runtimeRoot: `/run/cove-${tag}/runtime`,
      netnsDir: `/run/cove-${tag}/netns`,
      pidFile: `/run/cove-${tag}/cove.pid`,
      bridge: `cove-${tag}`,
      cgroupParent: `/cove-${tag}`,
    });
    assert.ok(l.bridge.length <= 15, "an interface name has at most 15 characters");
    const given = instanceLayout("/srv/other", { execRoot: "/run/x", runtimeRoot: "/run/rt", bridge: "br9", cgroupParent: "/mine" });
    assert.equal(given.execRoot, "/run/x");
    assert.equal(given.runtimeRoot, "/run/rt");
    assert.equal(given.netnsDir, "/run/x/netns");
    assert.equal(given.pidFile, "/run/x/cove.pid");
    assert.equal(given.bridge, "br9");
    assert.equal(given.cgroupParent, "/mine");
  });

  it("knows the cgroup parents it made, and only those", () => {
    assert.ok(isInstanceCgroupParent("cove"));
    assert.ok(isInstanceCgroupParent(`cove-${instanceTag("/x")}`));
    for (const other of ["docker", "cove-mine", "cove-0123456789", "system.slice"]) assert.equal(isInstanceCgroupParent(other), false, other);
  });
});

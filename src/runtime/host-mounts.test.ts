import assert from "node:assert/strict";
import { test } from "node:test";
import { countMountsAt } from "./host-mounts.js";

const MOUNTINFO = [
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
  "46 27 254:0 /tmp/b/rootfs /tmp/b/rootfs rw,relatime - ext4 /dev/vda rw",
  "47 46 0:40 / /tmp/b/rootfs/proc rw,nosuid - proc proc rw",
  "48 46 254:0 /tmp/b/rootfs /tmp/b/rootfs rw,relatime master:1 - ext4 /dev/vda rw",
  "49 27 0:41 / /tmp/with\\040space/rootfs rw - tmpfs tmpfs rw",
  "",
].join("\n");

test("countMountsAt counts the mounts stacked on exactly one mount point", () => {
  assert.equal(countMountsAt("/tmp/b/rootfs", MOUNTINFO), 2, "both stacked binds, not the proc below them");
  assert.equal(countMountsAt("/tmp/b/rootfs/proc", MOUNTINFO), 1);
  assert.equal(countMountsAt("/tmp/b", MOUNTINFO), 0, "a parent directory is not a match");
  assert.equal(countMountsAt("/tmp/with space/rootfs", MOUNTINFO), 1, "octal escapes are decoded");
});

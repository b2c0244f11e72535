import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import {
  allocateRange,
  checkUsernsCombination,
  containerOwner,
  firstFreeStart,
  hostOwner,
  mapFirst,
  mapText,
  OVERFLOW_ID,
  parseRemapSetting,
  parseUsernsMode,
  resolveRemapAccount,
  rootOwner,
  skipFirst,
  subordinateRanges,
  toContainer,
  toHost,
  usernsSettings,
  type IdMap,
} from "./userns.js";

const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof CoveError ? err.kind : "other";
  }
  return "none";
};

describe("parseUsernsMode", () => {
  it("knows the default, host and auto with a size", () => {
    assert.deepEqual(parseUsernsMode(""), { kind: "default" });
    assert.deepEqual(parseUsernsMode(undefined), { kind: "default" });
    assert.deepEqual(parseUsernsMode("host"), { kind: "host" });
    assert.deepEqual(parseUsernsMode("auto"), { kind: "auto", size: 65536 });
    assert.deepEqual(parseUsernsMode("auto:size=1024"), { kind: "auto", size: 1024 });
  });
  it("refuses the rest, saying what is supported", () => {
    for (const bad of ["private", "keep-id", "ns:/proc/1/ns/user", "auto:size=0", "auto:size=x", "auto:uidmapping=0:1:1", "auto:"]) {
      assert.equal(kindOf(() => parseUsernsMode(bad)), "invalid", bad);
    }
    assert.throws(() => parseUsernsMode("private"), /cove supports "host", "auto" and "auto:size=N"/);
  });
});

describe("parseRemapSetting", () => {
  it("takes Docker's forms", () => {
    assert.deepEqual(parseRemapSetting("default"), { user: "cove-remap" });
    assert.deepEqual(parseRemapSetting("alice"), { user: "alice" });
    assert.deepEqual(parseRemapSetting("alice:staff"), { user: "alice", group: "staff" });
    assert.deepEqual(parseRemapSetting("1000:1000"), { user: "1000", group: "1000" });
  });
  it("refuses malformed values", () => {
    for (const bad of ["", ":", "a:b:c", "default:x", "a b", "../x"]) assert.equal(kindOf(() => parseRemapSetting(bad)), "invalid", bad);
  });
});

describe("ranges", () => {
  it("reads an account's subordinate ranges by name or id", () => {
    const text = "alice:100000:65536\nbob:165536:65536\n# comment\n1001:300000:10\nalice:500000:5\n";
    assert.deepEqual(subordinateRanges(text, "alice"), [
      { start: 100000, size: 65536 },
      { start: 500000, size: 5 },
    ]);
    assert.deepEqual(subordinateRanges(text, "carol", 1001), [{ start: 300000, size: 10 }]);
    assert.deepEqual(subordinateRanges(text, "nobody"), []);
  });
  it("finds the first free start at or above 100000, as dockerd", () => {
    assert.equal(firstFreeStart([], 65536), 100000);
    assert.equal(firstFreeStart([{ start: 100000, size: 65536 }], 65536), 165536);
    assert.equal(
      firstFreeStart(
        [
          { start: 100000, size: 65536 },
          { start: 300000, size: 65536 },
        ],
        65536,
      ),
      165536,
    );
    assert.equal(
      firstFreeStart(
        [
          { start: 100000, size: 65536 },
          { start: 200000, size: 65536 },
        ],
        65536,
      ),
      265536,
    );
  });
  it("maps the first ids of the ranges and leaves the rest for auto", () => {
    const ranges = [
      { start: 100000, size: 30000 },
      { start: 200000, size: 100000 },
    ];
    assert.deepEqual(mapFirst(ranges, 65536), [
      { containerID: 0, hostID: 100000, size: 30000 },
      { containerID: 30000, hostID: 200000, size: 35536 },
    ]);
    assert.deepEqual(skipFirst(ranges, 65536), [{ start: 235536, size: 64464 }]);
  });
  it("allocates non-overlapping ranges, first fit, and nothing when full", () => {
    const pool = [{ start: 1000, size: 300 }];
    const a = allocateRange(pool, [], 100)!;
    const b = allocateRange(pool, [a], 100)!;
    const c = allocateRange(pool, [a, b], 100)!;
    assert.deepEqual([a, b, c], [
      { start: 1000, size: 100 },
      { start: 1100, size: 100 },
      { start: 1200, size: 100 },
    ]);
    assert.equal(allocateRange(pool, [a, b, c], 1), undefined);
    // a hole left by a removal is found again
    assert.deepEqual(allocateRange(pool, [a, c], 100), { start: 1100, size: 100 });
    assert.equal(allocateRange(pool, [a, c], 101), undefined);
    // a range taken that overlaps the pool only partly still counts
    assert.deepEqual(allocateRange(pool, [{ start: 900, size: 150 }], 100), { start: 1050, size: 100 });
  });
});

describe("id translation", () => {
  const map: IdMap = {
    uidMappings: [
      { containerID: 0, hostID: 100000, size: 1000 },
      { containerID: 1000, hostID: 500000, size: 10 },
    ],
    gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
  };
  it("maps both ways and knows what it does not cover", () => {
    assert.equal(toHost(map.uidMappings, 0), 100000);
    assert.equal(toHost(map.uidMappings, 1005), 500005);
    assert.equal(toHost(map.uidMappings, 2000), undefined);
    assert.equal(toContainer(map.uidMappings, 500009), 1009);
    assert.equal(toContainer(map.uidMappings, 0), undefined);
    assert.deepEqual(rootOwner(map), { uid: 100000, gid: 200000 });
    assert.equal(mapText(map.uidMappings), "0 100000 1000\n1000 500000 10\n");
  });
  it("shows host ids outside the mapping as the overflow id, and refuses to copy in ids it cannot map", () => {
    assert.deepEqual(containerOwner(map)(100000, 200005), { uid: 0, gid: 5 });
    assert.deepEqual(containerOwner(map)(0, 0), { uid: OVERFLOW_ID, gid: OVERFLOW_ID });
    assert.deepEqual(hostOwner(map)(1001, 1001), { uid: 500001, gid: 201001 });
    assert.throws(() => hostOwner(map)(5000, 0), /Container ID 5000 cannot be mapped to a host ID/);
  });
});

describe("checkUsernsCombination", () => {
  it("refuses what dockerd refuses in a user namespace, in its words", () => {
    assert.throws(() => checkUsernsCombination({ Privileged: true }), /privileged mode is incompatible with user namespaces\. {2}You must run the container in the host namespace when running privileged mode$/);
    assert.throws(() => checkUsernsCombination({ NetworkMode: "host" }), /cannot share the host's network namespace when user namespaces are enabled/);
    assert.throws(() => checkUsernsCombination({ PidMode: "host" }), /cannot share the host PID namespace when user namespaces are enabled/);
    checkUsernsCombination({ NetworkMode: "bridge", PidMode: "" });
  });
});

describe("resolveRemapAccount", () => {
  it("reads a named account and its group's ranges from the files given", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cove-userns-unit-"));
    try {
      const files = { passwd: path.join(dir, "passwd"), group: path.join(dir, "group"), subuid: path.join(dir, "subuid"), subgid: path.join(dir, "subgid") };
      await writeFile(files.passwd, "root:x:0:0::/root:/bin/sh\nalice:x:1001:1002::/home/alice:/bin/sh\n");
      await writeFile(files.group, "root:x:0:\nstaff:x:1002:\nother:x:1003:\n");
      await writeFile(files.subuid, "alice:100000:131072\n");
      await writeFile(files.subgid, "staff:300000:131072\nother:500000:65536\n");
      const a = await resolveRemapAccount("alice", files);
      assert.deepEqual(a, { user: "alice", group: "staff", uids: [{ start: 100000, size: 131072 }], gids: [{ start: 300000, size: 131072 }] });
      const s = usernsSettings(a, true);
      assert.deepEqual(s.remap, { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 300000, size: 65536 }] });
      assert.deepEqual(s.pool, { uids: [{ start: 165536, size: 65536 }], gids: [{ start: 365536, size: 65536 }] });
      assert.equal(s.account, "alice:staff");
      assert.deepEqual((await resolveRemapAccount("1001:other", files)).gids, [{ start: 500000, size: 65536 }]);
      await assert.rejects(resolveRemapAccount("bob", files), /userns-remap: no such user bob/);
      await assert.rejects(resolveRemapAccount("root", files), /\/etc\/subuid has no range for root/);
      await assert.rejects(resolveRemapAccount("alice:nogroup", files), /no such group nogroup/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

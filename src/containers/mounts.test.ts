import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { Dir } from "../fsroot/index.js";
import { checkSourcePropagation, ociMount, parseBind, planMounts, publicMountPoint } from "./mounts.js";

const resolveInRoot = async (root: string, p: string) => {
  const d = Dir.open(root);
  try {
    return path.join(root, d.walk(p).resolved);
  } finally {
    d.close();
  }
};

describe("mount planning", () => {
  it("reads -v specs as Docker does: binds, named and anonymous volumes, modes", () => {
    assert.deepEqual(publicMountPoint(parseBind("/host:/ctr")), { Type: "bind", Source: "/host", Destination: "/ctr", Mode: "", RW: true, Propagation: "rprivate" });
    assert.deepEqual(publicMountPoint(parseBind("/host:/ctr/:ro,rslave")), { Type: "bind", Source: "/host", Destination: "/ctr", Mode: "ro,rslave", RW: false, Propagation: "rslave" });
    const named = parseBind("data:/d");
    assert.equal(named.Type, "volume");
    assert.equal(named.Name, "data");
    assert.equal(named.Mode, "z");
    assert.equal(named.CopyData, true);
    assert.equal(named.Named, true);
    assert.equal(parseBind("data:/d:nocopy").CopyData, false);
    assert.equal(parseBind("data:/d:ro").RW, false);
    const anon = parseBind("/anon");
    assert.equal(anon.Type, "volume");
    assert.equal(anon.Name, "");
    assert.equal(anon.Named, false);
    assert.throws(() => parseBind("/a:/b:z,Z"), /^CoveError: invalid mode: z,Z$/);
    assert.throws(() => parseBind("/a::/b"), /invalid volume specification: '\/a::\/b'/);
  });

  it("lets -v and --mount replace --volumes-from mounts, and skips image volumes that are mounted", () => {
    const entries = planMounts({
      hostConfig: { VolumesFrom: ["other:ro"], Binds: ["/h:/shared"] },
      volumes: { "/shared": {}, "/img": {} },
      mountsOf: () => [
        { Type: "volume", Name: "v1", Source: "/root/volumes/v1/_data", Destination: "/shared", Driver: "local", Mode: "z", RW: true, Propagation: "" },
        { Type: "volume", Name: "v2", Source: "/root/volumes/v2/_data", Destination: "/kept", Driver: "local", Mode: "z", RW: true, Propagation: "" },
      ],
      exists: () => true,
    });
    assert.deepEqual(
      entries.map((e) => [e.Destination, e.Type, e.Name ?? "", e.RW]),
      [
        ["/shared", "bind", "", true],
        ["/kept", "volume", "v2", false],
        ["/img", "volume", "", true],
      ],
    );
  });

  it("keeps binds of the engine's root slave, and refuses private ones", () => {
    const [e] = planMounts({ hostConfig: { Binds: ["/var:/v"] }, daemonRoot: "/var/lib/cove", exists: () => true });
    assert.equal(e?.Propagation, "rslave");
    assert.throws(
      () => planMounts({ hostConfig: { Binds: ["/var/lib/cove/x:/v:rprivate"] }, daemonRoot: "/var/lib/cove", exists: () => true }),
      /must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root/,
    );
    const [other] = planMounts({ hostConfig: { Binds: ["/var/lib/cove2:/v"] }, daemonRoot: "/var/lib/cove", exists: () => true });
    assert.equal(other?.Propagation, "rprivate");
  });

  it("turns entries into OCI mounts", () => {
    assert.deepEqual(ociMount(parseBind("/h:/c:ro")), { destination: "/c", type: "bind", source: "/h", options: ["rbind", "ro", "rprivate"] });
    assert.deepEqual(ociMount(parseBind("v:/c"), "/root/volumes/v/_data"), { destination: "/c", type: "bind", source: "/root/volumes/v/_data", options: ["rbind", "rw", "rprivate"] });
    const [tmpfs] = planMounts({ hostConfig: { Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1770 } }] } });
    assert.deepEqual(ociMount(tmpfs!).options, ["nosuid", "nodev", "noexec", "size=1024k", "mode=1770"]);
  });

  it("checks that rshared and rslave binds sit on propagating mounts", () => {
    const info = [
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
      "40 22 0:5 / /srv rw,relatime - tmpfs tmpfs rw",
      "41 22 0:6 / /mnt rw,relatime master:3 - tmpfs tmpfs rw",
    ].join("\n");
    const dir = os.tmpdir();
    checkSourcePropagation(dir, "rshared", info.replace("/srv", "/nowhere"));
    assert.throws(() => checkSourcePropagation(dir, "rshared", info.replace("/srv", dir)), new RegExp(`path ${dir} is mounted on ${dir} but it is not a shared mount`));
    assert.throws(() => checkSourcePropagation(dir, "rslave", info.replace("/srv", dir)), /is not a shared or slave mount/);
    checkSourcePropagation(dir, "rslave", info.replace("/mnt", dir).replace("/srv", "/nowhere"));
    checkSourcePropagation(dir, "rprivate", info.replace("/srv", dir));
  });

  it("resolves paths inside a root without leaving it through symlinks", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "cove-mounts-"));
    try {
      await mkdir(path.join(root, "real/dir"), { recursive: true });
      await symlink("/real", path.join(root, "abs"));
      await symlink("../../..", path.join(root, "real/dir/up"));
      assert.equal(await resolveInRoot(root, "/abs/dir"), path.join(root, "real/dir"));
      assert.equal(await resolveInRoot(root, "/real/dir/up/etc"), path.join(root, "etc"));
      assert.equal(await resolveInRoot(root, "/missing/x"), path.join(root, "missing/x"));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { chooseStorage, fuseOverlayArgs, parseStorageDriver } from "./storage-driver.js";

const works = { ok: true as const };
const fuseWorks = { ok: true as const, program: "/usr/bin/fuse-overlayfs" };
const refused = (reason: string) => ({ ok: false as const, reason });

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CoveError, String(err));
    return err.code;
  }
  assert.fail("no error");
}

describe("chooseStorage: the probes' results to the rootless daemon's storage driver", () => {
  it("takes the kernel's overlayfs where it works, without asking for fuse-overlayfs", () => {
    const c = chooseStorage(undefined, works, undefined);
    assert.equal(c.driver, "overlay2");
    assert.deepEqual(c.status.find(([k]) => k === "userxattr"), ["userxattr", "true"]);
    assert.equal(c.fallbackReason, undefined);
  });

  it("falls back to fuse-overlayfs where the kernel refuses, saying why", () => {
    const c = chooseStorage(undefined, refused("no user.* xattrs on tmpfs"), fuseWorks);
    assert.equal(c.driver, "fuse-overlayfs");
    assert.equal(c.program, "/usr/bin/fuse-overlayfs");
    assert.equal(c.fallbackReason, "no user.* xattrs on tmpfs");
    assert.deepEqual(c.status[0], ["Mount Program", "/usr/bin/fuse-overlayfs"]);
    assert.match(c.status[1]![1], /no user\.\* xattrs on tmpfs/);
  });

  it("uses fuse-overlayfs when forced even where the kernel would do", () => {
    const c = chooseStorage("fuse-overlayfs", undefined, fuseWorks);
    assert.equal(c.driver, "fuse-overlayfs");
    assert.equal(c.fallbackReason, undefined);
  });

  it("names the package to install where neither works", () => {
    try {
      chooseStorage(undefined, refused("overlay: EPERM"), refused("fuse-overlayfs is not installed"));
      assert.fail("no error");
    } catch (err) {
      assert.ok(err instanceof CoveError);
      assert.equal(err.code, "storage.none");
      assert.match(err.message, /overlay: EPERM/);
      assert.match(err.message, /fuse-overlayfs is not installed/);
      assert.match(err.hint ?? "", /apt-get install fuse-overlayfs/);
    }
  });

  it("refuses a forced driver that does not work instead of taking the other", () => {
    assert.equal(code(() => chooseStorage("fuse-overlayfs", undefined, refused("/dev/fuse cannot be opened"))), "storage.fuse-unavailable");
    assert.equal(code(() => chooseStorage("overlay2", refused("EINVAL"), fuseWorks)), "storage.overlay-unavailable");
  });
});

describe("parseStorageDriver", () => {
  it("accepts overlay2 (overlay) and fuse-overlayfs, and refuses anything else by name", () => {
    assert.equal(parseStorageDriver("overlay2", "--storage-driver"), "overlay2");
    assert.equal(parseStorageDriver("overlay", "--storage-driver"), "overlay2");
    assert.equal(parseStorageDriver("fuse-overlayfs", "--storage-driver"), "fuse-overlayfs");
    assert.throws(() => parseStorageDriver("vfs", "--storage-driver"), /--storage-driver: unknown storage driver "vfs"/);
  });
});

describe("fuseOverlayArgs", () => {
  it("gives fuse-overlayfs absolute layer paths and drops the kernel overlay's own options", () => {
    const args = fuseOverlayArgs({ type: "overlay", source: "overlay", options: ["lowerdir=2/fs:1/fs", "upperdir=3/fs", "workdir=3/work", "userxattr", "volatile", "nosuid"], cwd: "/s/snapshots" }, "/c/rootfs");
    assert.deepEqual(args, ["-f", "-o", "lowerdir=/s/snapshots/2/fs:/s/snapshots/1/fs,upperdir=/s/snapshots/3/fs,workdir=/s/snapshots/3/work,nosuid", "/c/rootfs"]);
  });

  it("keeps absolute paths and a read-only view as they are", () => {
    assert.deepEqual(fuseOverlayArgs({ type: "overlay", source: "overlay", options: ["ro", "lowerdir=/a:/b"] }, "/t"), ["-f", "-o", "ro,lowerdir=/a:/b", "/t"]);
  });
});

import assert from "node:assert/strict";
import { lstat, mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { addon, packageRoot } from "./addon.js";

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("native addon", () => {
  it("is found from the package root", () => {
    assert.ok(packageRoot().length > 1);
    assert.equal(typeof addon().lsetxattr, "function");
  });

  it("throws errors shaped like Node's fs errors", () => {
    const p = path.join(tmp, "missing");
    assert.throws(() => addon().llistxattr(p), (e: unknown) => {
      const err = e as NodeJS.ErrnoException;
      return err.code === "ENOENT" && err.errno === -2 && err.syscall === "llistxattr" && err.path === p && /^ENOENT: .*llistxattr/.test(err.message);
    });
  });

  it("sets, lists, reads and removes xattrs on a symlink itself", async () => {
    const l = path.join(tmp, "link");
    await symlink("/nonexistent", l);
    const value = Buffer.from([0, 1, 2, 255]);
    addon().lsetxattr(l, "trusted.cove", value, 0);
    assert.deepEqual(addon().llistxattr(l), ["trusted.cove"]);
    assert.deepEqual(addon().lgetxattr(l, "trusted.cove"), value);
    assert.equal(addon().lgetxattr(l, "trusted.other"), null);
    assert.throws(() => addon().lsetxattr(l, "trusted.cove", value, addon().constants.XATTR_CREATE), { code: "EEXIST" });
    addon().lremovexattr(l, "trusted.cove");
    assert.deepEqual(addon().llistxattr(l), []);
  });

  it("sets nanosecond times on a symlink without following it", async () => {
    const l = path.join(tmp, "link2");
    await symlink("/etc/passwd", l);
    addon().utimensat(l, 1, 2, 1_234_567_890, 123_456_789);
    const st = await lstat(l, { bigint: true });
    assert.equal(st.mtimeNs, 1_234_567_890_123_456_789n);
    assert.equal(st.atimeNs, 1_000_000_002n);
  });

  it("makes fifos and devices", async () => {
    const k = addon().constants;
    addon().mknod(path.join(tmp, "fifo"), k.S_IFIFO | 0o600, 0, 0);
    addon().mknod(path.join(tmp, "wh"), k.S_IFCHR, 0, 0);
    assert.ok((await lstat(path.join(tmp, "fifo"))).isFIFO());
    const wh = await lstat(path.join(tmp, "wh"));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
  });

  it("reports a bad mount cwd as a chdir error and leaves the process cwd alone", () => {
    const cwd = process.cwd();
    assert.throws(() => addon().mount("none", tmp, "tmpfs", 0, null, path.join(tmp, "nope")), { code: "ENOENT", syscall: "chdir" });
    assert.equal(process.cwd(), cwd);
  });
});

// resolveUserInRootfs reads the container's account files inside its root: an /etc that links to
// a host directory, or account files that link out, give the container's own (missing) files,
// never the host's; oversized or non-regular files are refused with a clear error.

import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { MAX_ACCOUNT_FILE_BYTES, resolveUserInRootfs } from "./user.js";

let tmp: string;
let host: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "cove-user-"));
  host = path.join(tmp, "host-etc");
  await mkdir(host);
  await writeFile(path.join(host, "passwd"), "hostonly:x:4242:4242::/home/host:/bin/sh\n");
  await writeFile(path.join(host, "group"), "hostgroup:x:4343:hostonly\n");
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function rootfs(name: string, build: (root: string) => Promise<void>): Promise<string> {
  const root = path.join(tmp, name);
  await mkdir(root);
  await build(root);
  return root;
}

describe("resolveUserInRootfs", () => {
  it("reads the container's own files", async () => {
    const root = await rootfs("plain", async (r) => {
      await mkdir(path.join(r, "etc"));
      await writeFile(path.join(r, "etc/passwd"), "app:x:1000:1000::/home/app:/bin/sh\n");
      await writeFile(path.join(r, "etc/group"), "app:x:1000:\nwheel:x:10:app\n");
    });
    assert.deepEqual(await resolveUserInRootfs(root, "app"), { uid: 1000, gid: 1000, additionalGids: [10], home: "/home/app" });
  });

  it("never reads the host's files through an /etc that links out of the root", async () => {
    const root = await rootfs("etc-link", (r) => symlink(host, path.join(r, "etc")));
    await assert.rejects(resolveUserInRootfs(root, "hostonly"), /unable to find user hostonly: no matching entries in passwd file/);
    assert.deepEqual(await resolveUserInRootfs(root, ""), { uid: 0, gid: 0, additionalGids: [], home: "/" });
    // the same link resolved inside the root finds the files there
    await mkdir(path.join(root, host), { recursive: true });
    await writeFile(path.join(root, host, "passwd"), "inside:x:7:7::/in:/bin/sh\n");
    assert.deepEqual(await resolveUserInRootfs(root, "inside"), { uid: 7, gid: 7, additionalGids: [], home: "/in" });
  });

  it("never reads the host's files through account files that link out", async () => {
    const root = await rootfs("file-links", async (r) => {
      await mkdir(path.join(r, "etc"));
      await symlink(path.join(host, "passwd"), path.join(r, "etc/passwd"));
      await symlink("../../../../../../../../" + path.join(host, "group"), path.join(r, "etc/group"));
    });
    await assert.rejects(resolveUserInRootfs(root, "hostonly"), /unable to find user hostonly/);
    assert.deepEqual((await resolveUserInRootfs(root, "4242")).additionalGids, []);
  });

  it("refuses an oversized or non-regular passwd with a clear error", async () => {
    const big = await rootfs("big", async (r) => {
      await mkdir(path.join(r, "etc"));
      await writeFile(path.join(r, "etc/passwd"), "");
      await truncate(path.join(r, "etc/passwd"), MAX_ACCOUNT_FILE_BYTES + 1);
    });
    await assert.rejects(resolveUserInRootfs(big, "app"), /unable to read \/etc\/passwd of the container: it is larger than 4 MiB/);
    const dir = await rootfs("dir", async (r) => {
      await mkdir(path.join(r, "etc/passwd"), { recursive: true });
    });
    await assert.rejects(resolveUserInRootfs(dir, ""), /unable to read \/etc\/passwd of the container: it is not a regular file/);
  });
});

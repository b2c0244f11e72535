// Lifecycle details runtime-tools' validation suite checks. Prestart and createRuntime hooks run
// after the environment is created (step 2 of the lifecycle), so the state on their stdin says
// "created" (runc 1.1 says "creating"); createContainer and startContainer hooks, which the init
// runs, get the same state. A created container is deleted without --force, as runc,
// crun and youki do and containerd's shim expects, although runtime.md asks for an error.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { differential, isAlive, setArgs } from "./harness.js";

differential("runtime CLI: delete of a created container removes it without --force, as runc does", async (s) => {
  const b = await s.bundle();
  await setArgs(b, ["true"]);
  const id = s.id("dc");
  await s.ok(["create", "--bundle", b.dir, id]);
  const { pid } = await s.state(id);
  const deleted = await s.cli(["delete", id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.notEqual((await s.cli(["state", id])).code, 0, "the container is gone");
  assert.ok(!isAlive(pid as number), "its init, which never ran the process, is gone too");
  return { deleted: deleted.code };
});

differential(
  "runtime CLI: every hook gets the state on stdin, with status created until the process runs",
  async (s) => {
    const out = (name: string) => path.join(s.base, `${name}.json`);
    const hook = (name: string) => [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${out(name)}`] }];
    const b = await s.bundle((spec) => {
      spec.hooks = {
        prestart: hook("prestart"),
        createRuntime: hook("createRuntime"),
        // in the container's mount namespace before pivot_root: the host's paths still resolve
        createContainer: hook("createContainer"),
        // after pivot_root: the container's /bin/sh, writing into its root filesystem
        startContainer: [{ path: "/bin/sh", args: ["sh", "-c", "cat > /startContainer.json"] }],
      };
    });
    await setArgs(b, ["true"]);
    const id = s.id("hs");
    await s.ok(["create", "--bundle", b.dir, id]);
    const { pid } = await s.state(id);
    await s.ok(["start", id]);
    await s.waitStatus(id, "stopped");
    const file = (name: string) => (name === "startContainer" ? path.join(b.rootfs, "startContainer.json") : out(name));
    const seen: Record<string, unknown> = {};
    for (const name of ["prestart", "createRuntime", "createContainer", "startContainer"]) {
      const st = JSON.parse(readFileSync(file(name), "utf8")) as { id: string; status: string; pid: number; bundle: string };
      assert.equal(st.id, id);
      assert.equal(st.status, "created", `${name} hook: status`);
      assert.equal(st.pid, pid, `${name} hook: the container's pid`);
      assert.equal(st.bundle, b.dir);
      seen[name] = st.status;
    }
    await s.ok(["delete", "--force", id]);
    return seen;
  },
  { only: ["cove"] },
);

// Lifecycle details runtime-tools' validation suite checks. Prestart and createRuntime hooks run
// after the environment is created (step 2 of the lifecycle), so the state on their stdin says
// "created" (runc 1.1 says "creating"). A created container is deleted without --force, as runc,
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
  "runtime CLI: prestart and createRuntime hooks get the state with status created",
  async (s) => {
    const out = (name: string) => path.join(s.base, `${name}.json`);
    const hook = (name: string) => [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${out(name)}`] }];
    const b = await s.bundle((spec) => {
      spec.hooks = { prestart: hook("prestart"), createRuntime: hook("createRuntime") };
    });
    await setArgs(b, ["true"]);
    const id = s.id("hs");
    await s.ok(["create", "--bundle", b.dir, id]);
    const { pid } = await s.state(id);
    const seen: Record<string, unknown> = {};
    for (const name of ["prestart", "createRuntime"]) {
      const st = JSON.parse(readFileSync(out(name), "utf8")) as { id: string; status: string; pid: number; bundle: string };
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

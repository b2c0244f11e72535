// Where runtime.md is explicit and runc 1.1 departs from it, cove follows the spec (as
// runtime-tools' validation suite checks): a created container is not stopped, so deleting it
// needs --force; prestart and createRuntime hooks run after the environment is created (step 2
// of the lifecycle), so the state on their stdin says "created".

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { differential, setArgs } from "./harness.js";

differential(
  "runtime CLI: delete refuses a created container without --force and leaves it as it was",
  async (s) => {
    const b = await s.bundle();
    await setArgs(b, ["true"]);
    const id = s.id("dc");
    await s.ok(["create", "--bundle", b.dir, id]);
    const before = await s.state(id);
    const refused = await s.cli(["delete", id]);
    assert.notEqual(refused.code, 0, "delete of a created container is an error");
    assert.match(refused.stderr, /cannot delete container .* that is created/);
    assert.match(refused.stderr, /--force/, "the error says how to delete it anyway");
    const after = await s.state(id);
    assert.deepEqual(after, before, "the refused delete changed nothing");
    await s.ok(["delete", "--force", id]);
    assert.notEqual((await s.cli(["state", id])).code, 0, "--force deletes it");
    return { refused: refused.code };
  },
  { only: ["cove"] },
);

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

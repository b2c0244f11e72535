// `spec`: writes a config.json that validates, refuses to overwrite one, and `--rootless` writes a
// rootless one; cove's and runc's have the same structure. Known, deliberate differences (cove
// follows runc 1.2's template, runc 1.1.5 is older) are named in the comparison, not hidden.

import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { differential, schemaErrors, sortedKeys, type Side } from "./harness.js";

interface SpecDoc {
  ociVersion: string;
  hostname?: string;
  process: { terminal: boolean; args: string[]; capabilities: Record<string, string[]>; user: { uid: number; gid: number } } & Record<string, unknown>;
  root: { path: string; readonly: boolean };
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: { namespaces: { type: string }[]; uidMappings?: unknown[]; gidMappings?: unknown[]; resources?: Record<string, unknown> } & Record<string, unknown>;
}

function shape(d: SpecDoc) {
  return {
    keys: sortedKeys(d),
    processKeys: sortedKeys(d.process),
    capabilitySets: sortedKeys(d.process.capabilities),
    args: d.process.args,
    terminal: d.process.terminal,
    user: d.process.user,
    root: d.root,
    linuxKeys: sortedKeys(d.linux),
    mounts: d.mounts.map((m) => `${m.destination} ${m.type} ${m.source} ${[...(m.options ?? [])].sort().join(",")}`),
    namespaces: d.linux.namespaces.map((n) => n.type),
    mappings: { uid: d.linux.uidMappings?.length ?? 0, gid: d.linux.gidMappings?.length ?? 0 },
  };
}

async function specIn(s: Side, dir: string, rootless: boolean): Promise<SpecDoc> {
  await mkdir(dir, { recursive: true });
  const first = await s.cli(["spec", ...(rootless ? ["--rootless"] : [])], { cwd: dir });
  assert.equal(first.code, 0, `${first.line}: ${first.stderr}`);
  const text = await readFile(path.join(dir, "config.json"), "utf8");
  const doc = JSON.parse(text) as SpecDoc;
  assert.deepEqual(schemaErrors("config-schema.json", doc), [], "config.json validates against the OCI schema");
  return doc;
}

differential(
  "runtime CLI: spec",
  async (s) => {
    const plain = await specIn(s, path.join(s.base, "plain"), false);
    // a second spec in the same directory fails and leaves the file as it was
    const before = await readFile(path.join(s.base, "plain", "config.json"), "utf8");
    const again = await s.cli(["spec"], { cwd: path.join(s.base, "plain") });
    assert.notEqual(again.code, 0, "spec over an existing config.json fails");
    assert.match(again.stderr, /exists/i);
    assert.equal(await readFile(path.join(s.base, "plain", "config.json"), "utf8"), before);
    // --bundle writes there instead of the current directory
    await mkdir(path.join(s.base, "other"));
    const viaBundle = await s.cli(["spec", "--bundle", path.join(s.base, "other")]);
    assert.equal(viaBundle.code, 0, viaBundle.stderr);
    const rootless = await specIn(s, path.join(s.base, "rootless"), true);
    // rootless: a user namespace with one mapping each, no network namespace, /sys bound not mounted
    assert.ok(rootless.linux.namespaces.some((n) => n.type === "user"));
    assert.ok(!rootless.linux.namespaces.some((n) => n.type === "network"));
    assert.equal(rootless.linux.uidMappings?.length, 1);
    assert.ok(plain.process.terminal, "the template asks for a terminal");
    return { plain: shape(plain), rootless: shape(rootless), againCode: again.code };
  },
  {
    compare(cove, runc, t) {
      // runc 1.2's template (which cove follows) adds a cgroup namespace and drops the ambient
      // capability set that runc 1.1.5 writes; everything else must match
      const deliberate = (x: ReturnType<typeof shape>) => ({
        ...x,
        namespaces: x.namespaces.filter((n) => n !== "cgroup"),
        capabilitySets: x.capabilitySets.filter((c) => c !== "ambient"),
      });
      for (const k of ["plain", "rootless"] as const) {
        t.diagnostic(`${k}: namespaces runc=${runc[k].namespaces.join(",")} cove=${cove[k].namespaces.join(",")}; capability sets runc=${runc[k].capabilitySets.join(",")} cove=${cove[k].capabilitySets.join(",")}`);
        assert.deepEqual(deliberate(cove[k]), deliberate(runc[k]), `${k} config.json structure`);
      }
      assert.equal(cove.againCode, runc.againCode, "exit status of spec over an existing file");
    },
  },
);

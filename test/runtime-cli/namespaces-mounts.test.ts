// A time namespace with offsets (cove only: runc 1.1.5 has no time namespaces), and mount
// propagation: rootfsPropagation "rshared" and a recursive bind with "rprivate" and "rro", read
// from the container's own mountinfo.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { differential, setArgs } from "./harness.js";

differential(
  "runtime CLI: time namespace offsets",
  async (s) => {
    const b = await s.bundle((spec) => {
      spec.linux!.namespaces!.push({ type: "time" });
      (spec.linux as Record<string, unknown>).timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: 86400, nanosecs: 0 } };
    });
    await setArgs(b, ["cat", "/proc/uptime"]);
    const r = await s.cli(["run", "--bundle", b.dir, s.id("tns")]);
    assert.equal(r.code, 0, r.stderr);
    const uptime = Number(r.stdout.split(" ")[0]);
    assert.ok(uptime >= 86400, `uptime inside is at least a day: ${r.stdout.trim()}`);
    return { uptime };
  },
  { only: ["cove"] },
);

interface MountLine {
  mountPoint: string;
  options: string[];
  optional: string[];
}

function parseMountinfo(text: string): MountLine[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [left] = l.split(" - ");
      const f = left!.split(" ");
      return { mountPoint: f[4]!, options: f[5]!.split(","), optional: f.slice(6) };
    });
}

differential("runtime CLI: rootfsPropagation rshared, rprivate and rro binds", async (s) => {
  // a host tree with a sub-mount, to see recursion
  const src = path.join(s.base, "src");
  const sub = path.join(src, "sub");
  mkdirSync(sub, { recursive: true });
  writeFileSync(path.join(src, "file"), "x");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "cove-test-sub", sub]);
  s.defer(() => execFileSync("umount", ["-l", sub]));
  const b = await s.bundle((spec) => {
    spec.linux!.rootfsPropagation = "rshared";
    spec.mounts!.push({ destination: "/data", type: "bind", source: src, options: ["rbind", "rprivate", "rro"] });
  });
  await setArgs(b, ["cat", "/proc/self/mountinfo"]);
  const r = await s.cli(["run", "--bundle", b.dir, s.id("prop")]);
  assert.equal(r.code, 0, r.stderr);
  const mounts = parseMountinfo(r.stdout);
  const at = (p: string) => mounts.filter((m) => m.mountPoint === p).pop();
  const root = at("/");
  const data = at("/data");
  const dataSub = at("/data/sub");
  assert.ok(root && data && dataSub, `/, /data and /data/sub are mounted:\n${r.stdout}`);
  // rshared makes the container's / a shared mount in cove; runc 1.1.5 leaves it without a
  // peer group (its rootfsPropagation has no visible effect after pivot_root), so / is
  // checked here for cove and left out of the comparison
  if (s.kind === "cove") assert.ok(root.optional.some((o) => o.startsWith("shared:")), `rshared: / is shared (${root.optional.join(" ")})`);
  assert.ok(!data.optional.some((o) => o.startsWith("shared:")), `rprivate: /data is not shared (${data.optional.join(" ")})`);
  assert.ok(!dataSub.optional.some((o) => o.startsWith("shared:")), `rprivate: /data/sub is not shared (${dataSub.optional.join(" ")})`);
  assert.ok(data.options.includes("ro"), "rro: /data is read-only");
  assert.ok(dataSub.options.includes("ro"), "rro: /data/sub is read-only too");
  const shape = (m: MountLine) => ({ ro: m.options.includes("ro"), shared: m.optional.some((o) => o.startsWith("shared:")), master: m.optional.some((o) => o.startsWith("master:")) });
  return { root: { ro: shape(root).ro }, data: shape(data), dataSub: shape(dataSub) };
});

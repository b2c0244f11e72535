// The container operations (stats, top, update, changes) on a pure cgroup v2 kernel: this host has
// hybrid cgroups, and most users' machines have v2 only. cgroup2-vm (in ../shared/tools) boots
// Debian's kernel under QEMU with this root filesystem shared read-only; the guest's state root
// is on its /run tmpfs.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { it } from "node:test";
import { IS_ROOT } from "../fixtures/bundle.js";
import { runInVm, TOOL } from "./vm-runner.js";
import { findBusybox } from "../images/fixtures.js";


async function skipReason(): Promise<string | undefined> {
  if (!IS_ROOT) return "needs root";
  if (!existsSync(TOOL)) return `${TOOL} is missing`;
  if (spawnSync("sh", ["-c", "command -v qemu-system-x86_64"]).status !== 0) return "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)";
  if (!readdirSync("/boot").some((f) => f.startsWith("vmlinuz-"))) return "no kernel in /boot (apt-get install linux-image-amd64)";
  if (!(await findBusybox())) return "busybox-static is not installed (apt-get install -y busybox-static)";
  return undefined;
}

it("container stats, top, update and changes on a pure cgroup v2 kernel", { skip: await skipReason(), timeout: 1_500_000 }, async (t) => {
  const { code, out } = await runInVm(t, ["--env", "TMPDIR=/run", "--", process.execPath, "--test", "--test-reporter=tap", "dist/test/cgroup2/ops-inside.vm.js"]);
  assert.equal(code, 0, `the guest's tests failed (status ${code}):\n${out.slice(-6000)}`);
  assert.match(out, /^# pass [1-9]/m, `no test passed in the guest:\n${out.slice(-3000)}`);
  assert.match(out, /^# fail 0$/m);
  assert.match(out, /^# skipped 0$/m, `a guest test was skipped:\n${out.slice(-3000)}`);
});

// The cgroup v2 integration tests, run inside a pure cgroup v2 kernel: this host has hybrid
// cgroups, and most users' machines have v2 only. cgroup2-vm (in ../shared/tools) boots
// Debian's kernel under QEMU with this root filesystem shared read-only.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { it } from "node:test";
import { IS_ROOT, probeBinary } from "../fixtures/bundle.js";
import { runInVm, TOOL } from "./vm-runner.js";

function skipReason(): string | undefined {
  if (!IS_ROOT) return "needs root";
  if (!existsSync(TOOL)) return `${TOOL} is missing`;
  if (spawnSync("sh", ["-c", "command -v qemu-system-x86_64"]).status !== 0) return "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)";
  if (!readdirSync("/boot").some((f) => f.startsWith("vmlinuz-"))) return "no kernel in /boot (apt-get install linux-image-amd64)";
  return undefined;
}



it("cove's runtime on a pure cgroup v2 kernel", { skip: skipReason(), timeout: 1_500_000 }, async (t) => {
  await probeBinary(); // built here: the guest sees this filesystem, and gcc is slow there
  const { code, out } = await runInVm(t, ["--", process.execPath, "--test", "--test-reporter=tap", "dist/test/cgroup2/inside.vm.js"]);
  assert.equal(code, 0, `the guest's tests failed (status ${code}):\n${out.slice(-6000)}`);
  assert.match(out, /^# pass [1-9]/m, `no test passed in the guest:\n${out.slice(-3000)}`);
  assert.match(out, /^# fail 0$/m);
  assert.match(out, /^# skipped 0$/m, `a guest test was skipped:\n${out.slice(-3000)}`);
});

it("OOM kills and --oom-kill-disable under the container service, both runtimes, on a pure cgroup v2 kernel", { skip: skipReason(), timeout: 1_500_000 }, async (t) => {
  // the engine's state goes on a tmpfs (/dev/shm): overlayfs refuses upper dirs on the guest's shared root
  const { code, out } = await runInVm(t, ["--env", "TMPDIR=/dev/shm", "--", process.execPath, "--test", "--test-concurrency=1", "--test-reporter=tap", "--test-name-pattern=OOM|oom", "dist/test/containers/runc-runtime.test.js"]);
  assert.equal(code, 0, `the guest's tests failed (status ${code}):\n${out.slice(-6000)}`);
  assert.match(out, /^# fail 0$/m);
  for (const runtime of ["cove", "runc"]) {
    assert.match(out, new RegExp(`^ {4}ok \\d+ - ${runtime}: beyond -m 16m .*OOM killed.*$`, "m"), `${runtime}: the OOM kill case did not pass:\n${out.slice(-3000)}`);
    assert.match(out, new RegExp(`^ {4}ok \\d+ - ${runtime}: --oom-kill-disable on cgroup v2 is discarded[^#]*$`, "m"), `${runtime}: the discard case did not pass:\n${out.slice(-3000)}`);
  }
});

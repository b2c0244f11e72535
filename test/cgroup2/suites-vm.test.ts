// The project's integration suites on a pure cgroup v2 kernel: this host has hybrid cgroups, and
// most users' machines have v2 only. cgroup2-vm (in ../shared/tools) boots Debian's kernel under
// QEMU with this root filesystem shared read-only; suites-inside.vm.ts runs there, one
// `node --test` per suite, and this test asserts on its TAP: the run finished, nothing failed, and
// every skip is one of GUEST_SKIPS below (a known limitation of the guest, with its reason). A
// test that skips in the guest for any other reason fails this test: it would not have run.
//
// Which files run (COVE_V2_SUITES):
//   unset or "ci"   CI_FILES below: what fits the CI budget (about 8 minutes of guest time)
//   "all"           every *.test.js of test/runtime, test/runtime-cli, test/containers,
//                   test/volumes and test/network (hours under software emulation)
//   "a,b"           those suites in full (names as in SUITES); "rootless" (test/rootless: an
//                   unprivileged account's daemon, with fuse-overlayfs on the guest's tmpfs and
//                   limits in a cgroup the test delegates to it) is opt-in: 742 s in the guest,
//                   766 s from boot to power-off under TCG at load average 10-12, beyond the CI
//                   budget
// The accelerator is KVM when a probe boot shows it can run this kernel, else TCG (software
// emulation). This machine's /dev/kvm opens but cannot run a 64-bit guest kernel (the boot stops
// in the real-mode setup code), so CI runs under TCG: about 10x slower CPU and 40x slower process
// start. The CI subset is chosen for that: the runtime's cgroup limits, update, stats and hooks on
// both runtimes (runtime/resources), the container service's lifecycle (limits, pause through
// cgroup.freeze, healthchecks; containers/lifecycle) and volumes (volumes/volumes). Measured under
// TCG with the machine at load average 17-20 on 2 cores (a second guest beside it): runtime 210 s,
// containers 177 s, volumes 71 s, 516 s from boot to power-off. network/dns (188 s there) did not
// fit and runs with COVE_V2_SUITES=network or all.
//
// Host side: the probe is compiled here before the boot (gcc is slow in the guest); runInVm
// removes the console log it makes, even on failure. Everything made inside the guest dies with it.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { IS_ROOT, PACKAGE_ROOT, probeBinary } from "../fixtures/bundle.js";
import { findBusybox } from "../images/fixtures.js";
import { runInVm, TOOL } from "./vm-runner.js";

/** Suite name → its test directory under dist/. */
const SUITES: Record<string, string> = {
  runtime: "dist/test/runtime",
  "runtime-cli": "dist/test/runtime-cli",
  containers: "dist/test/containers",
  volumes: "dist/test/volumes",
  network: "dist/test/network",
  rootless: "dist/test/rootless",
};

/**
 * The CI subset (see the header): the runtime's cgroup limits, update and stats on both runtimes,
 * the container service's lifecycle and healthchecks, and volumes.
 */
const CI_FILES: Record<string, string[]> = {
  runtime: ["dist/test/runtime/resources.test.js"],
  containers: ["dist/test/containers/lifecycle.test.js"],
  volumes: ["dist/test/volumes/volumes.test.js"],
};

/**
 * Skips that are known limitations of the guest (or skipped on this host too), each with why.
 * A skip in the guest whose reason matches none of these fails the test.
 */
const GUEST_SKIPS: { reason: RegExp; why: string }[] = [
  { reason: /^not reached on the host's address: this host has no IPv4 address besides loopback$/, why: "the guest's network is loopback only (cgroup2-vm gives it no NIC)" },
  { reason: /^cgroup v2 has no switch for the OOM killer$/, why: "a cgroup v1 behaviour: v2 has no memory.oom_control (its v2 counterpart runs instead)" },
  { reason: /^cgroup v2 with a subtree delegated to the user here: the limits test runs instead$/, why: "the rootless limits-ignored case needs a host without a delegated cgroup v2 subtree (this host runs it)" },
  { reason: /^set RUNTIME_TOOLS_DIR to a built opencontainers\/runtime-tools tree$/, why: "the OCI runtime-tools tree is not on this machine; the host skips it for the same reason" },
];

function pick(): Record<string, string[]> {
  const choice = (process.env.COVE_V2_SUITES ?? "ci").trim();
  if (choice === "ci" || choice === "") return CI_FILES;
  const names = choice === "all" ? Object.keys(SUITES) : choice.split(",").map((s) => s.trim()).filter(Boolean);
  const out: Record<string, string[]> = {};
  for (const name of names) {
    const dir = SUITES[name];
    if (!dir) throw new Error(`COVE_V2_SUITES names an unknown suite ${JSON.stringify(name)}: use "ci", "all" or a comma list of ${Object.keys(SUITES).join(", ")}`);
    out[name] = readdirSync(path.join(PACKAGE_ROOT, dir)).filter((f) => f.endsWith(".test.js")).sort().map((f) => `${dir}/${f}`);
  }
  return out;
}

/** The kernel cgroup2-vm boots: the newest /boot/vmlinuz-* with a module tree. */
function guestKernel(): string | undefined {
  const versions = readdirSync("/boot")
    .filter((f) => f.startsWith("vmlinuz-") && existsSync(`/lib/modules/${f.slice(8)}/modules.dep`))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const last = versions.pop();
  return last ? `/boot/${last}` : undefined;
}

/**
 * Whether KVM can boot the guest kernel: /dev/kvm may open and still fail to run a 64-bit kernel
 * (nested virtualisation without long mode), so a short boot must reach the kernel's first line.
 */
async function kvmUsable(kernel: string): Promise<boolean> {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "cove-kvm-probe-"));
  const serial = path.join(dir, "serial.log");
  try {
    const qemu = spawn("qemu-system-x86_64", ["-accel", "kvm", "-cpu", "max", "-m", "256", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-kernel", kernel, "-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1", "-serial", `file:${serial}`], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => qemu.on("close", () => resolve()));
    const deadline = Date.now() + 15_000; // a working KVM prints the line within a second or two
    let booted = false;
    while (Date.now() < deadline && qemu.exitCode === null) {
      if (existsSync(serial) && readFileSync(serial, "utf8").includes("Linux version")) {
        booted = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    qemu.kill("SIGKILL");
    await exited;
    return booted;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function skipReason(): Promise<string | undefined> {
  if (!IS_ROOT) return "needs root";
  if (!existsSync(TOOL)) return `${TOOL} is missing`;
  if (spawnSync("sh", ["-c", "command -v qemu-system-x86_64"]).status !== 0) return "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)";
  if (!guestKernel()) return "no kernel with modules in /boot (apt-get install linux-image-amd64)";
  if (!(await findBusybox())) return "busybox-static is not installed (apt-get install -y busybox-static)";
  return undefined;
}

interface SuiteResult {
  name: string;
  status: number | undefined;
  seconds: number | undefined;
  counts: Record<string, number>;
  failures: string[];
  skips: string[];
}

/** Splits the guest's output at the suite markers and reads each suite's TAP summary. */
function parseGuestRun(out: string): SuiteResult[] {
  const results: SuiteResult[] = [];
  let cur: (SuiteResult & { lines: string[] }) | undefined;
  for (const line of out.split("\n")) {
    const begin = /^# cove-v2-suite (\S+) begin$/.exec(line);
    if (begin) {
      cur = { name: begin[1]!, status: undefined, seconds: undefined, counts: {}, failures: [], skips: [], lines: [] };
      results.push(cur);
      continue;
    }
    if (!cur) continue;
    const end = /^# cove-v2-suite (\S+) end status=(\d+) seconds=(\d+)$/.exec(line);
    if (end) {
      cur.status = Number(end[2]);
      cur.seconds = Number(end[3]);
      cur = undefined;
      continue;
    }
    const count = /^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
    if (count) cur.counts[count[1]!] = Number(count[2]);
    const skip = /^\s*ok \d+ - (.*?) # SKIP\s*(.*)$/.exec(line);
    if (skip) cur.skips.push(skip[2]!.trim() || `(no reason given) ${skip[1]}`);
    const failed = /^\s*not ok \d+ - (.*)$/.exec(line);
    if (failed) cur.failures.push(failed[1]!);
  }
  return results;
}

const plan = pick();

it(`the integration suites (${Object.keys(plan).join(", ")}) on a pure cgroup v2 kernel`, { skip: await skipReason(), timeout: 8 * 3600_000 }, async (t) => {
  await probeBinary(); // built here: the guest sees this filesystem, and gcc is slow there
  const kvm = await kvmUsable(guestKernel()!);
  const all = process.env.COVE_V2_SUITES !== undefined && process.env.COVE_V2_SUITES !== "ci";
  // generous bounds: a stall is caught by runInVm, a slow busy machine must not fail the run
  const timeout = kvm ? (all ? 3 * 3600 : 1800) : all ? 6 * 3600 : 1800;
  t.diagnostic(`accelerator: ${kvm ? "kvm" : "tcg (KVM cannot boot the guest kernel here)"}; guest timeout ${timeout} s`);
  const args = Object.entries(plan).map(([name, files]) => `${name}=${files.join(",")}`);
  const started = Date.now();
  const { code, out } = await runInVm(t, ["--accel", kvm ? "kvm" : "tcg", "--mem", "3072", "--timeout", String(timeout), "--", process.execPath, "dist/test/cgroup2/suites-inside.vm.js", ...args]);
  const wall = Math.round((Date.now() - started) / 1000);
  const results = parseGuestRun(out);
  for (const r of results) t.diagnostic(`${r.name}: ${r.counts.pass ?? "?"} passed, ${r.counts.fail ?? "?"} failed, ${r.counts.skipped ?? "?"} skipped in ${r.seconds ?? "?"} s (status ${r.status ?? "unfinished"})`);
  t.diagnostic(`guest run: ${wall} s from boot to power-off`);
  const tail = out.slice(-6000);
  assert.equal(code, 0, `the guest's run failed (status ${code}):\n${tail}`);
  assert.deepEqual(results.map((r) => r.name), Object.keys(plan), `not every suite finished in the guest:\n${tail}`);
  for (const r of results) {
    assert.equal(r.status, 0, `${r.name}: node --test exited ${r.status}; failures: ${r.failures.join(" | ")}\n${tail}`);
    assert.equal(r.counts.fail, 0, `${r.name}: failures in the guest: ${r.failures.join(" | ")}`);
    assert.equal(r.counts.cancelled ?? 0, 0, `${r.name}: cancelled tests in the guest`);
    assert.ok((r.counts.pass ?? 0) > 0, `${r.name}: no test passed in the guest`);
    const unknown = r.skips.filter((reason) => !GUEST_SKIPS.some((k) => k.reason.test(reason)));
    assert.deepEqual(unknown, [], `${r.name}: tests skipped in the guest for reasons that are not known guest limitations (they did not run)`);
  }
});

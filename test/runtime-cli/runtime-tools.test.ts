// The OCI runtime-tools validation suite against `cove runtime` from this checkout.
//
// Set RUNTIME_TOOLS_DIR to a built github.com/opencontainers/runtime-tools tree (commit 260e151
// builds offline with Go 1.19 from its vendored modules: `make runtimetest
// validation-executables`). Every validation/*/*.t program runs from the tree's root with
// RUNTIME pointing at a wrapper that calls this checkout's CLI (or COVE_TEST_RUNTIME, a
// cove-runtime command such as its launcher) with its own temp --root, and
// must pass (exit 0, no "not ok" line), except the programs listed in EXCLUDED below: each names
// why, and a host exclusion only applies where its check finds the host lacking.
//
// The programs leave things behind when they fail (bundles in /tmp, cgroup parents, and for a
// config without a mount namespace, mounts): whatever appeared during a program is removed after
// it, and the containers still listed under the temp root are force-deleted.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, IS_ROOT } from "../fixtures/bundle.js";

const TREE = process.env.RUNTIME_TOOLS_DIR;

/** A program this host or the suite itself keeps from passing, and why. */
interface Exclusion {
  reason: string;
  /** For host exclusions: whether this host lacks what the program needs (else it must pass). */
  applies?: () => boolean;
}

const cgroupMounts = (): { fstype: string; mountPoint: string; options: string }[] =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(" - cgroup"))
    .map((l) => {
      const [left, right] = l.split(" - ");
      const [fstype, , options] = right!.split(" ");
      return { fstype: fstype!, mountPoint: left!.split(" ")[4]!, options: options ?? "" };
    });

function v1Hierarchy(controller: string): string | undefined {
  return cgroupMounts().find((m) => m.fstype === "cgroup" && m.options.split(",").includes(controller))?.mountPoint;
}

function v2Controllers(): string[] {
  const unified = cgroupMounts().find((m) => m.fstype === "cgroup2");
  if (!unified) return [];
  try {
    return readFileSync(path.join(unified.mountPoint, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  } catch {
    return [];
  }
}

/** v1 controllers are mounted (v1 or hybrid): cove drives those, and the v2 tree goes unused. */
function usesV1(): boolean {
  return cgroupMounts().some((m) => m.fstype === "cgroup" && !m.options.split(",").some((o) => o.startsWith("name=")));
}

function lacksController(v1: string, v2?: string): boolean {
  if (usesV1()) return v1Hierarchy(v1) === undefined;
  return !(v2 && v2Controllers().includes(v2));
}

/** blkio weight needs CFQ or BFQ behind the v1 controller, or the io controller on v2. */
function lacksBlkioWeight(): boolean {
  const blkio = v1Hierarchy("blkio");
  if (blkio) return !existsSync(path.join(blkio, "blkio.weight")) && !existsSync(path.join(blkio, "blkio.bfq.weight"));
  return !v2Controllers().includes("io");
}

/** Newer kernels keep memory.kmem.limit_in_bytes but ignore what is written to it. */
function ignoresKernelMemoryLimit(): boolean {
  const memory = v1Hierarchy("memory");
  if (!memory || !existsSync(path.join(memory, "memory.kmem.limit_in_bytes"))) return true;
  const probe = path.join(memory, `cove-kmem-probe-${randomBytes(4).toString("hex")}`);
  mkdirSync(probe);
  try {
    writeFileSync(path.join(probe, "memory.kmem.limit_in_bytes"), "50593792");
    return readFileSync(path.join(probe, "memory.kmem.limit_in_bytes"), "utf8").trim() !== "50593792";
  } catch {
    return true;
  } finally {
    rmdirSync(probe);
  }
}

/** Capabilities up to the kernel's last one that this process's bounding set lacks. */
function missingCapabilities(): number[] {
  const bounding = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`);
  const last = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8"));
  const missing: number[] = [];
  for (let cap = 0; cap <= last; cap++) if ((bounding & (1n << BigInt(cap))) === 0n) missing.push(cap);
  return missing;
}

const EXCLUDED: Record<string, Exclusion> = {
  linux_cgroups_hugetlb: { reason: "the hugetlb cgroup controller is not mounted on this host's cgroup v1 side", applies: () => lacksController("hugetlb", "hugetlb") },
  linux_cgroups_relative_hugetlb: { reason: "the hugetlb cgroup controller is not mounted on this host's cgroup v1 side", applies: () => lacksController("hugetlb", "hugetlb") },
  linux_cgroups_network: { reason: "the net_cls/net_prio cgroup controllers are not mounted on this host (cgroup v2 has none)", applies: () => lacksController("net_cls") },
  linux_cgroups_relative_network: { reason: "the net_cls/net_prio cgroup controllers are not mounted on this host (cgroup v2 has none)", applies: () => lacksController("net_cls") },
  linux_cgroups_blkio: { reason: "no blkio weight on this host: no CFQ or BFQ I/O scheduler behind the blkio controller", applies: lacksBlkioWeight },
  linux_cgroups_relative_blkio: { reason: "no blkio weight on this host: no CFQ or BFQ I/O scheduler behind the blkio controller", applies: lacksBlkioWeight },
  linux_cgroups_memory: { reason: "the kernel ignores memory.kmem.limit_in_bytes (kernel memory limits are gone from recent kernels), which the program checks", applies: ignoresKernelMemoryLimit },
  linux_cgroups_relative_memory: { reason: "the kernel ignores memory.kmem.limit_in_bytes (kernel memory limits are gone from recent kernels), which the program checks", applies: ignoresKernelMemoryLimit },
  process_capabilities: {
    reason: "asks for every capability, and this host's bounding set lacks some (CAP_SYS_RESOURCE on the development machines)",
    applies: () => missingCapabilities().length > 0,
  },
  // a choice: runtime.md wants an error, runc, crun and youki delete it, and containerd relies on that
  delete: { reason: "deletes a created container without --force to see an error; cove deletes it, as runc, crun and youki do, because containerd's shim deletes never-started tasks that way" },
  // the suite's own bugs: no runtime that follows the spec can pass these (runc 1.1 fails them too)
  misc_props: { reason: "suite bug: its first case runs /runtimetest, which it never copies into that bundle" },
  pidfile: { reason: "suite bug: it kills its container after `true` has exited, and kill of a stopped container must fail (kill.t checks that)" },
  start: { reason: "suite bug: it expects `start` to succeed on a config without process, which the spec (and the program's own message) says must fail" },
  process_rlimits: { reason: "suite artifact: runtimetest, built with Go 1.19 or later, raises its own soft RLIMIT_NOFILE to the hard limit at startup and then reads 4000 where the config set 3000" },
};

function skipReason(): string | undefined {
  if (!TREE) return "set RUNTIME_TOOLS_DIR to a built opencontainers/runtime-tools tree";
  if (!IS_ROOT) return "needs root (the suite creates containers)";
  if (!existsSync(CLI)) return `${CLI} is missing: build first (npx tsc -p .)`;
  return undefined;
}

function programs(tree: string): string[] {
  const dir = path.join(tree, "validation");
  return readdirSync(dir)
    .filter((name) => existsSync(path.join(dir, name, `${name}.t`)))
    .sort();
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runProgram(tree: string, name: string, runtime: string, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(tree, "validation", name, `${name}.t`), [], {
      cwd: tree,
      env: { ...process.env, RUNTIME: runtime },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The "not ok" lines of a TAP stream, each with its YAML block, for a failure message. */
function failures(tap: string): string {
  const lines = tap.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("not ok")) continue;
    out.push(lines[i]!);
    for (let j = i + 1; j < lines.length && (lines[j]!.startsWith(" ") || lines[j]!.startsWith("#")); j++) out.push(lines[j]!);
  }
  return out.join("\n").slice(0, 4000);
}

// ---------------------------------------------------------------- what a program leaves behind

/** /tmp entries the suite makes (bundles "ocitest*", pid file dirs "oci-pid*"). */
async function suiteTempDirs(): Promise<Set<string>> {
  const names = await readdir(tmpdir());
  return new Set(names.filter((n) => n.startsWith("ocitest") || n.startsWith("oci-pid")).map((n) => path.join(tmpdir(), n)));
}

/** The cgroup directories the suite's configs name, relative to each hierarchy's root. */
const SUITE_CGROUPS = ["testdir/cgrouptest/container", "testdir/cgrouptest", "testdir", "cgrouptest"];

function existingSuiteCgroups(): Set<string> {
  const found = new Set<string>();
  for (const m of cgroupMounts()) for (const rel of SUITE_CGROUPS) if (existsSync(path.join(m.mountPoint, rel))) found.add(path.join(m.mountPoint, rel));
  return found;
}

async function detachMountsUnder(dir: string): Promise<void> {
  const { addon } = await import("../../src/native/addon.js");
  for (let tries = 0; tries < 50; tries++) {
    const points = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((p) => p === dir || p.startsWith(dir + "/"));
    if (points.length === 0) return;
    try {
      addon().umount2(points[0]!, addon().constants.MNT_DETACH);
    } catch {
      // raced with another unmount: look again
    }
  }
}

describe("OCI runtime-tools validation suite against cove runtime", { skip: skipReason() }, () => {
  const tree = TREE ? path.resolve(TREE) : "";
  let base = "";
  let root = "";
  let wrapper = "";

  before(async () => {
    const missing = ["runtimetest", `rootfs-${process.arch === "x64" ? "amd64" : process.arch}.tar.gz`].filter((f) => !existsSync(path.join(tree, f)));
    assert.deepEqual(missing, [], `${tree} is not a built runtime-tools tree: build it there with \`make runtimetest validation-executables\``);
    assert.ok(programs(tree).length > 0, `no validation/*/*.t programs in ${tree}: build them with \`make validation-executables\``);
    base = await mkdtemp(path.join(tmpdir(), "cove-test-rt-"));
    root = path.join(base, "root");
    wrapper = path.join(base, "cove-runtime");
    // the suite calls RUNTIME with runc's command line and no global flags
    // COVE_TEST_RUNTIME: a cove-runtime command instead (the launcher, to test its snapshot or bundle)
    const runtime = process.env.COVE_TEST_RUNTIME ? JSON.stringify(process.env.COVE_TEST_RUNTIME) : `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} runtime`;
    await writeFile(wrapper, `#!/bin/sh\nexec ${runtime} --root ${JSON.stringify(root)} "$@"\n`, { mode: 0o755 });
  });

  after(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  for (const name of TREE && existsSync(path.join(TREE, "validation")) ? programs(path.resolve(TREE)) : []) {
    it(name, { timeout: 600_000 }, async (t) => {
      const excluded = EXCLUDED[name];
      if (excluded && (!excluded.applies || excluded.applies())) {
        t.skip(excluded.reason);
        return;
      }
      const tempBefore = await suiteTempDirs();
      const cgroupsBefore = existingSuiteCgroups();
      let result: RunResult | undefined;
      try {
        result = await runProgram(tree, name, wrapper, 300_000);
      } finally {
        await cleanUp(tempBefore, cgroupsBefore, (m) => t.diagnostic(m));
      }
      const problems = failures(result.stdout);
      const detail = `${problems || "(no not-ok lines)"}\n--- stderr\n${result.stderr.slice(-2000)}`;
      assert.equal(result.signal, null, `${name} was killed (${result.signal}) after 300 s\n${detail}`);
      assert.equal(problems, "", `${name} reported failures:\n${detail}`);
      assert.equal(result.code, 0, `${name} exited with ${result.code}\n${detail}`);
    });
  }

  /** Removes what a program left: containers under our root, mounts and bundles in /tmp, cgroups. */
  async function cleanUp(tempBefore: Set<string>, cgroupsBefore: Set<string>, note: (message: string) => void): Promise<void> {
    if (existsSync(root)) {
      for (const id of await readdir(root)) {
        await new Promise<void>((resolve) => spawn(wrapper, ["delete", "--force", id], { stdio: "ignore" }).once("close", () => resolve()).once("error", () => resolve()));
      }
    }
    for (const dir of await suiteTempDirs()) {
      if (tempBefore.has(dir)) continue;
      await detachMountsUnder(dir);
      await rm(dir, { recursive: true, force: true });
    }
    // deepest first: a parent goes once its children are gone
    const left = [...existingSuiteCgroups()].filter((d) => !cgroupsBefore.has(d)).sort((a, b) => b.length - a.length);
    for (const dir of left) {
      try {
        rmdirSync(dir);
      } catch (err) {
        note(`left cgroup ${dir}: ${(err as Error).message}`);
      }
    }
  }
});

// Runs inside the pure cgroup v2 guest (test/cgroup2/suites-vm.test.ts boots it): the project's
// own integration test files, one `node --test` per suite, TAP on stdout between marker lines
// that the host side parses ("# cove-v2-suite NAME begin" / "... end status=N seconds=S").
//
// Usage (guest): node suites-inside.vm.js NAME=FILE[,FILE...] [NAME=FILE...]
//
// The guest's / is an overlay over the host's root shared by 9p: overlayfs refuses upper dirs
// there, and the tests keep their state roots, bundles and images under /tmp. So /tmp becomes a
// tmpfs first, with the probe cache the host built copied in (gcc is slow in the guest).

import { execFileSync, spawn } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";

const PROBE_CACHE = "/tmp/cove-probe-cache";

function tmpOnTmpfs(): void {
  const fsType = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[4] === "/tmp")
    .map((f) => f[f.indexOf("-") + 1])
    .pop();
  if (fsType === "tmpfs") return;
  // /run is the guest's own tmpfs: the probe cache waits there while /tmp is replaced
  const keep = mkdtempSync("/run/cove-probe-");
  if (existsSync(PROBE_CACHE)) cpSync(PROBE_CACHE, path.join(keep, "cache"), { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "cove-tmp", "/tmp"]);
  if (existsSync(path.join(keep, "cache"))) cpSync(path.join(keep, "cache"), PROBE_CACHE, { recursive: true });
  rmSync(keep, { recursive: true, force: true });
}

async function runSuite(name: string, files: string[]): Promise<number> {
  process.stdout.write(`# cove-v2-suite ${name} begin\n`);
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=tap", ...files], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("close", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  process.stdout.write(`# cove-v2-suite ${name} end status=${code} seconds=${Math.round((Date.now() - started) / 1000)}\n`);
  return code;
}

const plan = process.argv.slice(2).map((arg) => {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new Error(`bad suite argument ${JSON.stringify(arg)}: expected NAME=FILE[,FILE...]`);
  return { name: arg.slice(0, eq), files: arg.slice(eq + 1).split(",").filter(Boolean) };
});
if (plan.length === 0) throw new Error("no suites given: expected NAME=FILE[,FILE...] arguments");
if (!existsSync("/sys/fs/cgroup/cgroup.controllers") || existsSync("/sys/fs/cgroup/unified")) throw new Error("not a pure cgroup v2 host: run this inside cgroup2-vm");
tmpOnTmpfs();
// /dev/fuse appears when the fuse module loads, and the guest has no udev to load it ahead nor to
// give the node the mode Debian's udev rules give (0666): rootless cove mounts image layers with
// fuse-overlayfs on the guest's tmpfs (no user.* xattrs in 6.1)
try {
  if (!existsSync("/dev/fuse")) execFileSync("modprobe", ["fuse"], { stdio: "inherit" });
  chmodSync("/dev/fuse", 0o666);
} catch (err) {
  process.stderr.write(`suites-inside: /dev/fuse is not usable (${(err as Error).message}); fuse-overlayfs will not work in this guest\n`);
}
let failed = 0;
for (const { name, files } of plan) if ((await runSuite(name, files)) !== 0) failed++;
process.exitCode = failed === 0 ? 0 : 1;

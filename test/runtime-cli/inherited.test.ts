// What a container inherits from its caller, in the cases runtime-tools' validation suite found:
// - fds the caller left open must not reach the container even when close_range(2) is refused,
//   whether by the container's own seccomp profile (one that predates close_range, as older
//   Docker and Kubernetes profiles and runtime-tools' default do) or by a filter the runtime
//   itself runs under;
// - a config without a mount namespace runs in the caller's mount namespace (a namespace not
//   listed is inherited, says the spec), confined to its root filesystem, and the mounts it made
//   there are gone after delete.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { closeSync, openSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { differential, setArgs, type Side } from "./harness.js";

/** A shell line that prints whether fd 3 is open in the container, without needing /proc. */
const FD3_CHECK = "if (: >&3) 2>/dev/null; then echo fd3-open; else echo fd3-closed; fi";

/** Runs `run` with an extra fd 3 that the container must not get (no --preserve-fds). */
async function runWithStrayFd(s: Side, bundleDir: string, id: string, wrapper?: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const stray = openSync(path.join(s.base, `stray-${id}`), "w");
  try {
    const r = await s.cli(["run", "--bundle", bundleDir, id], { extraFds: [stray], wrapper });
    return { code: r.code, out: r.stdout.trim(), err: r.stderr };
  } finally {
    closeSync(stray);
  }
}

differential("runtime CLI: a seccomp profile that refuses close_range still runs, without the caller's fds", async (s) => {
  const b = await s.bundle((spec) => {
    // without no_new_privs the filter is loaded early, while the runtime still has work to do
    spec.process!.noNewPrivileges = false;
    spec.linux!.seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
      syscalls: [{ names: ["close_range"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    };
  });
  // create, then start: the container writes what it saw into its root filesystem
  await setArgs(b, ["sh", "-c", `(${FD3_CHECK}) > /fd3; echo done >> /fd3`]);
  const id = s.id("crs");
  const stray = openSync(path.join(s.base, "stray"), "w");
  try {
    const created = await s.cli(["create", "--bundle", b.dir, id], { extraFds: [stray] });
    assert.equal(created.code, 0, `create works with close_range refused: ${created.stderr}`);
  } finally {
    closeSync(stray);
  }
  await s.ok(["start", id]);
  await s.waitStatus(id, "stopped");
  const seen = readFileSync(path.join(b.rootfs, "fd3"), "utf8");
  assert.equal(seen, "fd3-closed\ndone\n", "the caller's fd 3 did not reach the container");
  await s.ok(["delete", id]);
  return { seen };
});

const DENY_CLOSE_RANGE_C = `
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
/* Runs argv[1...] under a seccomp filter that refuses close_range with EPERM, as a runtime
 * started by an engine with an older profile would be. */
int main(int argc, char **argv) {
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
  if (argc < 2) return 2;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) { perror("seccomp"); return 1; }
  execvp(argv[1], argv + 1);
  perror("exec");
  return 127;
}
`;

async function denyCloseRangeWrapper(s: Side): Promise<string> {
  const src = path.join(s.base, "deny-close-range.c");
  const bin = path.join(s.base, "deny-close-range");
  writeFileSync(src, DENY_CLOSE_RANGE_C);
  await new Promise<void>((resolve, reject) => execFile("gcc", ["-O2", "-o", bin, src], (err, _o, stderr) => (err ? reject(new Error(`compiling ${src}: ${stderr || err.message}`)) : resolve())));
  return bin;
}

differential("runtime CLI: run under a filter that refuses close_range, the caller's fds are still closed", async (s) => {
  const wrapper = [await denyCloseRangeWrapper(s)];
  const b = await s.bundle();
  await setArgs(b, ["sh", "-c", FD3_CHECK]);
  // with /proc: the fds are found in /proc/self/fd
  const withProc = await runWithStrayFd(s, b.dir, s.id("wp"), wrapper);
  assert.equal(withProc.code, 0, withProc.err);
  assert.equal(withProc.out, "fd3-closed");
  // without /proc in the container every fd number is tried (runc 1.1 refuses to start then:
  // "error closing exec fds: open /proc/self/fd")
  if (s.kind === "cove") {
    b.spec.mounts = b.spec.mounts!.filter((m) => m.destination !== "/proc");
    b.spec.linux!.maskedPaths = [];
    b.spec.linux!.readonlyPaths = [];
    await b.write();
    const withoutProc = await runWithStrayFd(s, b.dir, s.id("np"), wrapper);
    assert.equal(withoutProc.code, 0, withoutProc.err);
    assert.equal(withoutProc.out, "fd3-closed");
  }
  return { withProc: withProc.out };
});

/** Mount points at or below dir in this process's mount namespace. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(dir + "/"));
}

differential("runtime CLI: a config without a mount namespace runs in the caller's, and leaves no mount behind", async (s) => {
  const b = await s.bundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "mount");
    // masking needs a private mount namespace (runc and cove refuse it without one)
    spec.linux!.maskedPaths = [];
    spec.linux!.readonlyPaths = [];
  });
  writeFileSync(path.join(b.rootfs, "marker"), "inside the rootfs\n");
  const hostMntNs = readlinkSync("/proc/self/ns/mnt");
  try {
    // the init: same mount namespace as ours, yet its / is the bundle's rootfs and its mounts
    // (proc, /dev) are there
    const id = s.id("nomnt");
    await setArgs(b, ["sh", "-c", `readlink /proc/1/ns/mnt > /init.out; cat /marker >> /init.out; test -c /dev/null && echo dev-ok >> /init.out; exec sleep 1000`]);
    await s.ok(["create", "--bundle", b.dir, id]);
    await s.ok(["start", id]);
    const initOut = (await waitForLines(path.join(b.rootfs, "init.out"), 3)).trim().split("\n");
    assert.deepEqual(initOut, [hostMntNs, "inside the rootfs", "dev-ok"], "the init shares the caller's mount namespace and sees only its rootfs");
    assert.ok(mountsUnder(b.rootfs).includes(path.join(b.rootfs, "proc")), "the container's proc is mounted in the caller's namespace");
    // an exec'd process enters the same root (runc 1.1's exec stays in the host's root: left
    // out for it)
    if (s.kind === "cove") {
      const exec = await s.cli(["exec", id, "cat", "/marker"]);
      assert.equal(exec.code, 0, exec.stderr);
      assert.equal(exec.stdout, "inside the rootfs\n");
    }
    await s.ok(["kill", id, "KILL"]);
    await s.waitStatus(id, "stopped");
    await s.ok(["delete", id]);
    const left = mountsUnder(b.rootfs);
    // runc leaves them mounted on the host (the finally below removes them); cove detaches them
    if (s.kind === "cove") assert.deepEqual(left, [], "delete detached every mount the container made");
    return { initOut: initOut.slice(1) };
  } finally {
    // the outermost first: detaching it takes the ones below along
    for (let tries = 0; tries < 20 && mountsUnder(b.rootfs).length > 0; tries++) {
      await new Promise<void>((resolve) => execFile("umount", ["-l", mountsUnder(b.rootfs)[0]!], () => resolve()));
    }
  }
});

async function waitForLines(file: string, lines: number, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      // not written yet
    }
    if (text.split("\n").filter(Boolean).length >= lines) return text;
    if (Date.now() > deadline) throw new Error(`${file} did not get ${lines} lines within ${timeoutMs} ms: ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

differential(
  "runtime CLI: a capability the runtime does not hold is named before anything is created",
  async (s) => {
    // the runtime runs without CAP_SYS_NICE in its bounding set, so it cannot hold it
    const wrapper = ["setpriv", "--bounding-set", "-sys_nice"];
    const b = await s.bundle((spec) => {
      const caps = spec.process!.capabilities!;
      for (const set of [caps.bounding!, caps.effective!, caps.permitted!]) set.push("CAP_SYS_NICE");
    });
    await setArgs(b, ["true"]);
    const id = s.id("cap");
    const r = await s.cli(["run", "--bundle", b.dir, id], { wrapper });
    assert.notEqual(r.code, 0, "create fails");
    assert.match(r.stderr, /process\.capabilities: CAP_SYS_NICE cannot be granted/);
    assert.doesNotMatch(r.stderr, /EPERM/, "the error names the capability, not capset's errno");
    assert.notEqual((await s.cli(["state", id])).code, 0, "no container was left behind");
    // without the wrapper the same config runs
    const ok = await s.cli(["run", "--bundle", b.dir, s.id("cap")]);
    assert.equal(ok.code, 0, ok.stderr);
    return { refused: true };
  },
  { only: ["cove"] },
);

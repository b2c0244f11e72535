// What the container's process sees: namespaces, mounts, devices, process attributes, seccomp,
// sysctls. Each scenario runs the probe (test/fixtures/probe.c) and checks its report, and where
// it can, checks the host's view too.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, chown, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { defaultSeccompProfile } from "../../src/runtime/seccomp/index.js";
import { capMask, DEFAULT_CAPS, describeRuntimes, hostNs, mountinfoLinesContaining, type ProbeReport, until } from "../fixtures/bundle.js";

const EPERM = 1;
const EROFS = 30;
const ENOSYS = 38;

/** The mountinfo line of the probe whose mount point is exactly dest (the last one wins). */
function mountAt(p: ProbeReport, dest: string): string | undefined {
  return (p.mountinfo ?? []).filter((l) => l.split(" ")[4] === dest).at(-1);
}

describeRuntimes("namespaces", (ctx) => {
  it("pid, uts, network, ipc, mount and cgroup namespaces are new", async () => {
    const b = await ctx.bundle((s) => {
      s.hostname = "probe-host";
      s.domainname = "probe.domain";
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.equal(probe.pid, 1);
    assert.equal(probe.ppid, 0);
    assert.equal(probe.hostname, "probe-host");
    // runc learnt "domainname" only in 1.2; the Debian runc here is 1.1.5
    if (ctx.kind === "cove") assert.equal(probe.domainname, "probe.domain");
    assert.deepEqual(probe.netdevs, ["lo"], "a new network namespace has only lo");
    for (const t of ["pid", "net", "ipc", "uts", "mnt", "cgroup"]) assert.notEqual(probe.ns[t], hostNs(t), `${t} namespace differs from the host's`);
    assert.equal(probe.ns.user, hostNs("user"), "no user namespace was asked for");
  });

  it("joins an existing network namespace by path", async () => {
    const helper = spawn("unshare", ["--net", "sleep", "600"], { stdio: "ignore" });
    ctx.defer(() => helper.kill("SIGKILL"));
    const nsIno = await until("helper in its netns", async () => {
      const l = await import("node:fs/promises").then((f) => f.readlink(`/proc/${helper.pid}/ns/net`).catch(() => ""));
      const n = Number(/\[(\d+)\]/.exec(l)?.[1] ?? 0);
      return n && n !== hostNs("net") ? n : undefined;
    });
    const b = await ctx.bundle((s) => {
      s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === "network" ? { type: "network", path: `/proc/${helper.pid}/ns/net` } : n));
    });
    const { probe } = await ctx.runProbe(b);
    assert.equal(probe.ns.net, nsIno);
  });

  it("user namespace: 0 → 100000 (65536) mappings", async () => {
    const b = await ctx.bundle(async (s, { rootfs }) => {
      s.linux!.namespaces!.push({ type: "user" });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      // the bundle must be reachable by the mapped root, the rootfs owned by it
      await chmod(path.dirname(path.dirname(rootfs)), 0o755);
      await chown(rootfs, 100000, 100000);
    });
    const { state, probe } = await ctx.startProbe(b);
    assert.deepEqual(probe.uid, [0, 0, 0]);
    assert.equal(probe.uidMap?.trim().split(/\s+/).join(" "), "0 100000 65536");
    assert.equal(probe.gidMap?.trim().split(/\s+/).join(" "), "0 100000 65536");
    assert.notEqual(probe.ns.user, hostNs("user"));
    const status = await readFile(`/proc/${state.pid}/status`, "utf8");
    assert.match(status, /^Uid:\s+100000\s+100000\s+100000\s+100000$/m, "container root is host uid 100000");
    assert.match(status, /^Gid:\s+100000\s+100000\s+100000\s+100000$/m);
  });
});

describeRuntimes("mounts", (ctx) => {
  it("read-only bind mount and tmpfs with options", async () => {
    const b = await ctx.bundle(async (s, { base }) => {
      await mkdir(path.join(base, "share"));
      await writeFile(path.join(base, "share", "hello"), "hello from the host");
      s.mounts!.push({ destination: "/mnt/ro", type: "bind", source: path.join(base, "share"), options: ["rbind", "ro"] });
      s.mounts!.push({ destination: "/mnt/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1770", "size=1m"] });
      s.process!.args = ["/probe", "-p", "/mnt/ro/hello", "-p", "/mnt/ro", "-p", "/mnt/tmp"];
    });
    const { probe } = await ctx.runProbe(b);
    assert.equal(probe.paths["/mnt/ro/hello"]?.content, "hello from the host");
    assert.equal(probe.paths["/mnt/ro/hello"]?.writeErrno, EROFS);
    assert.equal(probe.paths["/mnt/ro"]?.writeErrno, EROFS);
    const tmp = probe.paths["/mnt/tmp"]!;
    assert.equal(tmp.type, "dir");
    assert.equal(tmp.mode, 0o1770);
    assert.equal(tmp.writeErrno, 0);
    const line = mountAt(probe, "/mnt/tmp");
    assert.ok(line, "/mnt/tmp is a mount point");
    assert.match(line, / - tmpfs /);
    assert.match(line.split(" ")[5]!, /nosuid/);
    assert.match(line.split(" ")[5]!, /nodev/);
    assert.match(line, /size=1024k/);
  });

  it("masked and read-only paths", async () => {
    const b = await ctx.bundle((s) => {
      s.process!.args = ["/probe", "-p", "/proc/kcore", "-p", "/proc/keys", "-p", "/sys/firmware", "-p", "/proc/sysrq-trigger", "-p", "/proc/sys", "-p", "/proc/sys/kernel/hostname", "-p", "/tmp"];
    });
    const { probe } = await ctx.runProbe(b);
    const keys = probe.paths["/proc/keys"]!;
    assert.equal(keys.type, "char", "a masked file is /dev/null bound over it");
    assert.deepEqual([keys.major, keys.minor], [1, 3]);
    assert.equal(keys.readBytes, 0);
    // a masked path that does not exist (no /proc/kcore on this kernel) is skipped, not created
    assert.equal(probe.paths["/proc/kcore"]?.exists, existsSync("/proc/kcore"));
    const fw = probe.paths["/sys/firmware"]!;
    assert.equal(fw.type, "dir");
    assert.equal(fw.entries, 0, "a masked directory is an empty read-only tmpfs");
    assert.equal(fw.writeErrno, EROFS);
    if (existsSync("/proc/sysrq-trigger")) assert.equal(probe.paths["/proc/sysrq-trigger"]?.writeErrno, EROFS);
    assert.equal(probe.paths["/proc/sys/kernel/hostname"]?.writeErrno, EROFS);
    assert.equal(probe.paths["/proc/sys/kernel/hostname"]?.content, "cove-test", "read-only paths stay readable");
    assert.equal(probe.paths["/tmp"]?.writeErrno, 0, "the root is writable by default");
  });

  it("root.readonly makes / read-only but not /dev, /dev/shm, /proc", async () => {
    const b = await ctx.bundle((s) => {
      s.root!.readonly = true;
      s.process!.args = ["/probe", "-p", "/", "-p", "/tmp", "-p", "/dev/shm", "-p", "/dev"];
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.equal(probe.paths["/"]?.writeErrno, EROFS);
    assert.equal(probe.paths["/tmp"]?.writeErrno, EROFS);
    assert.equal(probe.paths["/dev/shm"]?.writeErrno, 0);
    assert.equal(probe.paths["/dev"]?.writeErrno, 0);
    const rootLine = mountAt(probe, "/");
    assert.ok(rootLine);
    assert.match(rootLine.split(" ")[5]!, /(^|,)ro(,|$)/);
  });

  it("a mount destination through a symlink pointing outside the rootfs stays inside the rootfs", async () => {
    let escape = "";
    const b = await ctx.bundle(async (s, { base, rootfs }) => {
      escape = path.join(base, "escape");
      // /etc/evil -> <host path>: followed naively, the mount would land on the host's tree
      await symlink(escape, path.join(rootfs, "etc", "evil"));
      s.mounts!.push({ destination: "/etc/evil", type: "tmpfs", source: "tmpfs", options: ["size=1m"] });
      s.process!.args = ["/probe", "-p", "/etc/evil/"];
    });
    const { state, probe } = await ctx.startProbe(b);
    assert.equal(probe.paths["/etc/evil/"]?.type, "dir");
    assert.ok(!existsSync(escape), `${escape} was created on the host`);
    assert.deepEqual(mountinfoLinesContaining(escape), [], "no mount on the host");
    const inContainer = (await readFile(`/proc/${state.pid}/mountinfo`, "utf8")).split("\n").find((l) => l.split(" ")[4] === escape);
    assert.ok(inContainer, `the tmpfs is mounted at ${escape} inside the rootfs`);
    assert.ok(existsSync(path.join(b.rootfs, escape)), "its mount point was made inside the rootfs");
  });

  it("linux.devices creates nodes with the right numbers; the device cgroup allows only what is listed", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.devices = [
        { type: "c", path: "/dev/myzero", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
        // fuse: a device neither runtime allows by default, and that opens without side effects
        { type: "c", path: "/dev/myfuse", major: 10, minor: 229, fileMode: 0o640, uid: 0, gid: 0 },
      ];
      s.linux!.resources!.devices!.push({ allow: true, type: "c", major: 1, minor: 5, access: "rwm" });
      s.process!.args = ["/probe", "-p", "/dev/myzero", "-p", "/dev/myfuse", "-p", "/dev/null", "-p", "/dev/urandom", "-p", "/dev/pts/ptmx", "-p", "/dev/shm"];
    });
    const { probe } = await ctx.runProbe(b);
    const z = probe.paths["/dev/myzero"]!;
    assert.equal(z.type, "char");
    assert.deepEqual([z.major, z.minor, z.mode], [1, 5, 0o666]);
    assert.equal(z.readErrno, 0);
    assert.equal(z.readBytes, 255, "reading /dev/myzero returns data");
    const f = probe.paths["/dev/myfuse"]!;
    assert.deepEqual([f.type, f.major, f.minor, f.mode], ["char", 10, 229, 0o640]);
    assert.equal(f.readErrno, EPERM, "the device cgroup denies a device it does not list");
    assert.deepEqual([probe.paths["/dev/null"]?.major, probe.paths["/dev/null"]?.minor], [1, 3]);
    assert.equal(probe.paths["/dev/null"]?.writeErrno, 0, "default devices are allowed");
    assert.equal(probe.paths["/dev/urandom"]?.readBytes, 255);
    assert.equal(probe.paths["/dev/pts/ptmx"]?.exists, true);
    assert.equal(probe.paths["/dev/shm"]?.type, "dir");
  });
});

describeRuntimes("process", (ctx) => {
  it("args, env, cwd, user, additional groups, umask", async () => {
    const b = await ctx.bundle((s) => {
      s.process!.args = ["/probe", "two words", "x"];
      s.process!.env = ["PATH=/bin", "FOO=bar baz"];
      s.process!.cwd = "/home/user";
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o027 };
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.deepEqual(probe.argv, ["/probe", "two words", "x"]);
    assert.ok(probe.env.includes("FOO=bar baz"));
    assert.ok(probe.env.includes("PATH=/bin"));
    assert.equal(probe.cwd, "/home/user");
    assert.deepEqual(probe.uid, [1000, 1000, 1000]);
    assert.deepEqual(probe.gid, [1000, 1000, 1000]);
    assert.deepEqual([...probe.groups].sort((a, c) => a - c), [10, 20]);
    assert.equal(probe.umask, 0o027);
    assert.deepEqual(probe.fds, [0, 1, 2], "only stdio is open");
  });

  it("capability sets, no_new_privs, rlimits, oom_score_adj as root", async () => {
    const caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"];
    const b = await ctx.bundle((s) => {
      s.process!.capabilities = { bounding: caps, effective: caps.slice(0, 2), permitted: caps, inheritable: ["CAP_KILL"], ambient: [] };
      s.process!.noNewPrivileges = false;
      s.process!.rlimits = [
        { type: "RLIMIT_NOFILE", soft: 512, hard: 1024 },
        { type: "RLIMIT_CORE", soft: 0, hard: 4096 },
      ];
      s.process!.oomScoreAdj = 500;
    });
    const { probe } = await ctx.runProbe(b);
    assert.equal(probe.caps.bounding, capMask(caps));
    // execve as uid 0 makes permitted = bounding (| inheritable) and effective = permitted,
    // whatever the runtime set before the exec: only bounding, inheritable, ambient survive as set
    assert.equal(probe.caps.permitted, capMask(caps));
    assert.equal(probe.caps.effective, capMask(caps));
    assert.equal(probe.caps.inheritable, capMask(["CAP_KILL"]));
    assert.equal(probe.caps.ambient, capMask([]));
    assert.equal(probe.noNewPrivs, 0);
    assert.deepEqual(probe.rlimits.NOFILE, [512, 1024]);
    assert.deepEqual(probe.rlimits.CORE, [0, 4096]);
    assert.equal(probe.oomScoreAdj, "500");
  });

  it("`runc spec`'s capabilities (ambient without inheritable) are accepted, as runc does", async () => {
    const b = await ctx.bundle((s) => {
      s.process!.capabilities = { bounding: [...DEFAULT_CAPS], effective: [...DEFAULT_CAPS], permitted: [...DEFAULT_CAPS], ambient: [...DEFAULT_CAPS] };
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.equal(probe.caps.bounding, capMask(DEFAULT_CAPS));
    // the kernel cannot raise an ambient capability that is not inheritable
    assert.equal(probe.caps.ambient, capMask([]));
  });

  it("non-root user with ambient capabilities and no_new_privs", async () => {
    const caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
    const b = await ctx.bundle((s) => {
      s.process!.user = { uid: 1000, gid: 1000 };
      s.process!.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps };
    });
    const { probe } = await ctx.runProbe(b);
    assert.deepEqual(probe.uid, [1000, 1000, 1000]);
    assert.equal(probe.caps.ambient, capMask(caps));
    assert.equal(probe.caps.effective, capMask(caps));
    assert.equal(probe.caps.bounding, capMask(caps));
    assert.equal(probe.noNewPrivs, 1);
    assert.deepEqual(probe.rlimits.NOFILE, [1024, 1024]);
  });
});

describeRuntimes("seccomp and sysctl", (ctx) => {
  it("a profile that makes mkdir fail with EPERM", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: EPERM }] };
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.equal(probe.seccomp, 2, "seccomp filter mode");
    assert.equal(probe.syscalls.mkdir, EPERM);
    assert.equal(probe.syscalls.getcwd, 0);
    assert.equal(probe.syscalls.personality, 0);
  });

  it("Docker's default profile (from cove's seccomp module): clone3 ENOSYS; unshare, keyctl, open_by_handle_at, io_uring, AF_ALG and AF_VSOCK EPERM", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.seccomp = defaultSeccompProfile({ capabilities: s.process!.capabilities!.bounding! });
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.equal(probe.seccomp, 2);
    assert.equal(probe.syscalls.clone3, ENOSYS);
    assert.equal(probe.syscalls.unshareUser, EPERM);
    assert.equal(probe.syscalls.keyctl, EPERM);
    assert.equal(probe.syscalls.personality, 0, "personality(0xffffffff) is allowed");
    assert.equal(probe.syscalls.mkdir, 0);
    // As in Docker: name_to_handle_at for everyone (0, or the file system's own answer), opening by
    // handle only with CAP_DAC_READ_SEARCH, no io_uring, no AF_ALG or AF_VSOCK sockets.
    assert.ok(![EPERM, ENOSYS].includes(probe.syscalls.nameToHandle!), `name_to_handle_at: errno ${probe.syscalls.nameToHandle}`);
    assert.equal(probe.syscalls.openByHandle, EPERM);
    assert.equal(probe.syscalls.ioUringSetup, EPERM);
    assert.equal(probe.syscalls.socketUnix, 0);
    assert.equal(probe.syscalls.socketAlg, EPERM);
    assert.equal(probe.syscalls.socketVsock, EPERM);
    assert.equal(probe.syscalls.socketVsockHigh, EPERM, "AF_VSOCK with the upper 32 bits set (the kernel ignores them)");
  });

  it("Docker's default profile with CAP_DAC_READ_SEARCH added lets open_by_handle_at through", async () => {
    const b = await ctx.bundle((s) => {
      const caps = s.process!.capabilities!;
      for (const set of [caps.bounding!, caps.effective!, caps.permitted!]) set.push("CAP_DAC_READ_SEARCH");
      s.linux!.seccomp = defaultSeccompProfile({ capabilities: caps.bounding! });
    });
    const { exit, probe } = await ctx.runProbe(b);
    assert.equal(exit.code, 0);
    assert.equal(probe.seccomp, 2);
    assert.ok(![EPERM, ENOSYS].includes(probe.syscalls.openByHandle!), `open_by_handle_at: errno ${probe.syscalls.openByHandle}`);
    // When the root file system hands out handles (ext4 and tmpfs do), "/" opens by its handle.
    if (probe.syscalls.nameToHandle === 0) assert.equal(probe.syscalls.openByHandle, 0);
    assert.equal(probe.syscalls.ioUringSetup, EPERM);
  });

  it("sysctls apply inside the container's namespaces only", async () => {
    const hostForward = (await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
    const hostShmmax = (await readFile("/proc/sys/kernel/shmmax", "utf8")).trim();
    const b = await ctx.bundle((s) => {
      s.linux!.sysctl = { "net.ipv4.ip_forward": hostForward === "1" ? "0" : "1", "kernel.shmmax": "123456789" };
    });
    const { probe } = await ctx.runProbe(b);
    assert.equal(probe.sysctl["net/ipv4/ip_forward"], hostForward === "1" ? "0" : "1");
    assert.equal(probe.sysctl["kernel/shmmax"], "123456789");
    assert.equal((await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim(), hostForward, "the host's value is unchanged");
    assert.equal((await readFile("/proc/sys/kernel/shmmax", "utf8")).trim(), hostShmmax);
  });
});

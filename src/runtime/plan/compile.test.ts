import assert from "node:assert/strict";
import { test } from "node:test";
import type { Spec } from "../spec.js";
import { compileCreate, compileExec, compileRuntimeMonitor, type CreateInput } from "./compile.js";
import { CLONE, MS, MOUNT_ATTR, parseMountOptions } from "./linux.js";
import { decodePlan, encodePlan, Op, opName, type PlanOp } from "./ops.js";

const CAPS = new Map([
  ["CAP_CHOWN", 0],
  ["CAP_KILL", 5],
  ["CAP_NET_BIND_SERVICE", 10],
  ["CAP_SYS_ADMIN", 21],
]);

function baseSpec(): Spec {
  return {
    ociVersion: "1.2.0",
    hostname: "box",
    process: { user: { uid: 1000, gid: 1000, additionalGids: [10, 20] }, args: ["sh", "-c", "true"], env: ["PATH=/usr/bin:/bin"], cwd: "/work" },
    root: { path: "rootfs" },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro", "rslave"] },
    ],
    linux: { namespaces: [{ type: "pid" }, { type: "mount" }, { type: "uts" }, { type: "network", path: "/run/netns/x" }] },
  };
}

function input(spec: Spec, extra: Partial<CreateInput> = {}): CreateInput {
  return {
    spec,
    rootfs: "/b/rootfs",
    stateDir: "/run/s/c1",
    cgroupProcs: ["/sys/fs/cgroup/memory/cove/c1/cgroup.procs"],
    cgroupHierarchies: [],
    cgroupVersion: 1,
    capabilityNumbers: CAPS,
    rootful: true,
    ...extra,
  };
}

const names = (ops: PlanOp[]) => ops.map((o) => opName(o.code));
const indexOf = (ops: PlanOp[], name: string) => names(ops).indexOf(name);

test("encodePlan and decodePlan round-trip strings, numbers and binary", () => {
  const ops: PlanOp[] = [
    { code: Op.MOUNT, args: ["a", 5, 1n << 40n, Buffer.from([0, 1, 255])], what: "x" },
    { code: Op.FORK, args: [], what: "y" },
  ];
  const back = decodePlan(encodePlan(ops));
  assert.equal(back.length, 2);
  assert.equal(back[0]!.code, Op.MOUNT);
  assert.deepEqual(back[0]!.args.map((b) => b.toString("latin1")), ["a", "5", String(1n << 40n), "\u0000\u0001\u00ff"]);
  assert.deepEqual(back[1]!.args, []);
});

test("parseMountOptions separates flags, propagation, recursive attributes and data", () => {
  const p = parseMountOptions(["rbind", "ro", "nosuid", "rslave", "rnoexec", "mode=755", "size=64k", "tmpcopyup"]);
  assert.equal(p.flags, MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID);
  assert.equal(p.propagation, MS.SLAVE | MS.REC);
  assert.equal(p.attrSet, MOUNT_ATTR.NOEXEC);
  assert.deepEqual(p.data, ["mode=755", "size=64k"]);
  assert.deepEqual(p.ignored, ["tmpcopyup"]);
  // a later option clears an earlier one, as mount(8) reads them
  assert.equal(parseMountOptions(["ro", "rw"]).flags & MS.RDONLY, 0);
  assert.equal(parseMountOptions(["rro", "rrw"]).attrSet, 0);
});

test("compileCreate orders namespaces: joins, then the user namespace alone, then the rest", () => {
  const spec = baseSpec();
  spec.linux!.namespaces = [{ type: "network", path: "/run/netns/x" }, { type: "user", path: "/proc/9/ns/user" }, { type: "pid" }, { type: "mount" }, { type: "uts" }];
  const ops = compileCreate(input(spec));
  const joins = ops.filter((o) => o.code === Op.JOIN_NS);
  assert.equal(joins[0]!.args[1], "/proc/9/ns/user", "the user namespace is joined first");
  assert.equal(joins[1]!.args[1], "/run/netns/x");
  const unshare = ops.filter((o) => o.code === Op.UNSHARE);
  assert.equal(unshare.length, 1);
  assert.equal(unshare[0]!.args[0], CLONE.NEWPID | CLONE.NEWNS | CLONE.NEWUTS);
  assert.ok(indexOf(ops, "UNSHARE") < indexOf(ops, "FORK"));
});

test("a new user namespace gets its own unshare and the id maps", () => {
  const spec = baseSpec();
  spec.linux!.namespaces!.push({ type: "user" });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const ops = compileCreate(input(spec));
  const unshare = ops.filter((o) => o.code === Op.UNSHARE);
  assert.equal(unshare[0]!.args[0], CLONE.NEWUSER);
  assert.equal(ops.find((o) => o.code === Op.UID_MAP)!.args[0], "0 100000 65536\n");
  assert.equal(ops.find((o) => o.code === Op.SETGROUPS), undefined, "root keeps setgroups allowed");
  // devices cannot be created in a user namespace: they are bound from the host
  const null_ = ops.find((o) => o.code === Op.MOUNT && o.args[1] === "/dev/null")!;
  assert.equal(null_.args[0], "/dev/null");
  assert.equal(Number(null_.args[3]) & MS.BIND, MS.BIND);
  assert.equal(ops.some((o) => o.code === Op.MKNOD), false);
});

test("a caller in a user namespace of its own (a rootless daemon) binds devices instead of making them", () => {
  const spec = baseSpec();
  spec.linux!.devices = [{ type: "c", path: "/dev/fuse", major: 10, minor: 229 }];
  const ops = compileCreate(input(spec, { rootful: false, inUserNamespace: true }));
  assert.equal(ops.some((o) => o.code === Op.MKNOD), false);
  for (const dev of ["/dev/null", "/dev/fuse"]) {
    const bind = ops.find((o) => o.code === Op.MOUNT && o.args[1] === dev);
    assert.ok(bind, `${dev} is bound`);
    assert.equal(Number(bind.args[3]) & MS.BIND, MS.BIND);
  }
  // no user namespace of the container's own: no maps to write, no setgroups to deny
  assert.equal(ops.some((o) => o.code === Op.UID_MAP || o.code === Op.SETGROUPS), false);
});

test("mounts, devices and pivot_root come in the order the kernel needs", () => {
  const spec = baseSpec();
  spec.linux!.devices = [{ type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o600 }];
  spec.linux!.maskedPaths = ["/proc/kcore"];
  spec.linux!.readonlyPaths = ["/proc/sys"];
  spec.root!.readonly = true;
  const ops = compileCreate(input(spec));
  const bind = ops.find((o) => o.code === Op.MOUNT && o.args[1] === "/data")!;
  assert.equal(bind.args[0], "/srv/data");
  assert.equal(bind.args[3], MS.BIND | MS.REC | MS.RDONLY);
  assert.equal(bind.args[6], MS.SLAVE | MS.REC);
  const fuse = ops.find((o) => o.code === Op.MKNOD && o.args[0] === "/dev/fuse")!;
  assert.equal(fuse.args[1], 0o020000 | 0o600);
  assert.deepEqual(fuse.args.slice(2, 4), [10, 229]);
  assert.ok(indexOf(ops, "MKNOD") < indexOf(ops, "PIVOT_ROOT"));
  assert.ok(indexOf(ops, "PIVOT_ROOT") < indexOf(ops, "MASK"));
  assert.ok(indexOf(ops, "PIVOT_ROOT") < indexOf(ops, "REMOUNT_ROOT_RO"));
  assert.ok(indexOf(ops, "MASK") < indexOf(ops, "SETUID"));
  assert.ok(indexOf(ops, "RESOLVE") < indexOf(ops, "WAIT_START"), "a missing executable fails at create");
  assert.equal(names(ops).at(-1), "EXEC");
  assert.equal(compileCreate(input(spec, { noPivot: true })).some((o) => o.code === Op.MOVE_ROOT), true);
});

test("capabilities become masks, the bounding set is limited before the user switch", () => {
  const spec = baseSpec();
  spec.process!.capabilities = { bounding: ["CAP_KILL", "CAP_CHOWN"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"], ambient: ["CAP_KILL"] };
  const ops = compileCreate(input(spec));
  assert.equal(ops.find((o) => o.code === Op.CAPBSET)!.args[0], (1n << 5n) | 1n);
  assert.deepEqual(ops.find((o) => o.code === Op.CAPSET)!.args, [1n << 5n, 1n << 5n, 0n]);
  assert.ok(indexOf(ops, "CAPBSET") < indexOf(ops, "SETUID"));
  assert.ok(indexOf(ops, "SETUID") < indexOf(ops, "CAPSET"));
  assert.deepEqual(ops.find((o) => o.code === Op.GROUPS)!.args, [10, 20]);
  spec.process!.capabilities.bounding = ["CAP_NOT_REAL"];
  assert.throws(() => compileCreate(input(spec)), /process\.capabilities\.bounding: unknown capability CAP_NOT_REAL/);
});

test("seccomp loads late with no_new_privs and before dropping capabilities without it", () => {
  const spec = baseSpec();
  const seccomp = { program: Buffer.alloc(8), flags: 0 };
  spec.process!.noNewPrivileges = true;
  let ops = compileCreate(input(spec, { seccomp }));
  assert.ok(indexOf(ops, "SECCOMP") > indexOf(ops, "WAIT_START"));
  assert.ok(indexOf(ops, "CLOSE_FDS") < indexOf(ops, "SECCOMP"));
  spec.process!.noNewPrivileges = false;
  ops = compileCreate(input(spec, { seccomp }));
  assert.ok(indexOf(ops, "SECCOMP") < indexOf(ops, "SETUID"));
  // a profile may refuse close_range: the fds are marked before any filter is loaded
  assert.ok(indexOf(ops, "CLOSE_FDS") < indexOf(ops, "SECCOMP"), "fds are marked close-on-exec before the filter");
  assert.deepEqual(ops[indexOf(ops, "CLOSE_FDS")]!.args, [3]);
  assert.deepEqual(compileCreate(input(spec, { seccomp, preserveFds: 2 })).find((o) => o.code === Op.CLOSE_FDS)!.args, [5]);
  const exec = compileExec({ process: { ...spec.process!, noNewPrivileges: false }, stateDir: "/s", exitFile: "e", cgroupProcs: [], join: [], capabilityNumbers: CAPS, seccomp });
  assert.ok(indexOf(exec, "CLOSE_FDS") < indexOf(exec, "SECCOMP"), "exec too");
});

test("without a mount namespace the init stays in the caller's: no propagation change on /, a slave bind of the rootfs, chroot", () => {
  const spec = baseSpec();
  spec.linux!.namespaces = [{ type: "pid" }, { type: "uts" }];
  const ops = compileCreate(input(spec));
  assert.equal(indexOf(ops, "PIVOT_ROOT"), -1);
  assert.equal(indexOf(ops, "MOVE_ROOT"), -1);
  const chroot = indexOf(ops, "CHROOT");
  assert.ok(!ops.some((o, i) => o.code === Op.PROPAGATION && o.args[0] === "/" && i < chroot), "the caller's / keeps its propagation");
  const bind = ops.find((o) => o.code === Op.MOUNT && o.args[0] === "/b/rootfs" && o.args[1] === "/b/rootfs")!;
  assert.equal(bind.args[6], MS.SLAVE | MS.REC, "nothing mounted on the rootfs bind propagates back to the host");
  assert.deepEqual(ops[chroot]!.args, ["/b/rootfs"]);
  assert.ok(indexOf(ops, "MOUNT") < chroot && chroot < indexOf(ops, "HOSTNAME"), "mounts are made before the chroot, the rest after");
  // --no-pivot makes no difference there
  assert.equal(indexOf(compileCreate(input(spec, { noPivot: true })), "MOVE_ROOT"), -1);
  // with a mount namespace: the usual pivot, and the rootfs bind keeps the namespace's propagation
  const own = compileCreate(input(baseSpec()));
  assert.equal(indexOf(own, "CHROOT"), -1);
  assert.ok(indexOf(own, "PIVOT_ROOT") > 0);
  assert.equal(own.find((o) => o.code === Op.MOUNT && o.args[0] === "/b/rootfs")!.args[6], 0);
});

test("an exec into a container without a mount namespace enters its root by chroot", () => {
  const base = { process: { user: { uid: 0, gid: 0 }, args: ["ls"], cwd: "/" }, stateDir: "/s", exitFile: "e", cgroupProcs: [], capabilityNumbers: CAPS };
  const ops = compileExec({ ...base, join: [{ type: "pid", path: "/proc/5/ns/pid" }], chroot: "/proc/5/root" });
  const chroot = indexOf(ops, "CHROOT");
  assert.deepEqual(ops[chroot]!.args, ["/proc/5/root"]);
  assert.ok(indexOf(ops, "FORK") < chroot && chroot < indexOf(ops, "CHDIR"), "after joining, before the working directory");
  assert.equal(indexOf(compileExec({ ...base, join: [{ type: "mount", path: "/proc/5/ns/mnt" }] }), "CHROOT"), -1);
});

test("hooks: runtime hooks sync with the caller, container hooks run in the init", () => {
  const spec = baseSpec();
  spec.hooks = { createRuntime: [{ path: "/bin/a" }], createContainer: [{ path: "/bin/b", args: ["b", "x"], timeout: 3 }], startContainer: [{ path: "/bin/c" }] };
  const ops = compileCreate(input(spec, { hookState: "{}" }));
  const sync = indexOf(ops, "SYNC");
  const hooks = ops.map((o, i) => [o, i] as const).filter(([o]) => o.code === Op.HOOK);
  assert.equal(hooks.length, 2);
  assert.deepEqual(hooks[0]![0].args, ["/bin/b", 3, "{}", 2, "b", "x"]);
  assert.ok(sync < hooks[0]![1] && hooks[0]![1] < indexOf(ops, "PIVOT_ROOT"));
  assert.ok(hooks[1]![1] > indexOf(ops, "WAIT_START"), "startContainer runs after start");
});

test("hooks the init runs alone still sync first, so the runtime can hand over their state", () => {
  for (const hooks of [{ createContainer: [{ path: "/bin/b" }] }, { startContainer: [{ path: "/bin/c" }] }]) {
    const spec = baseSpec();
    spec.hooks = hooks;
    const ops = compileCreate(input(spec));
    const sync = indexOf(ops, "SYNC");
    assert.ok(sync > 0, `a sync for ${Object.keys(hooks)[0]}`);
    assert.ok(sync < indexOf(ops, "HOOK"));
    assert.equal(ops[indexOf(ops, "HOOK")]!.args[2], "", "empty stdin: the state from the sync");
  }
  assert.equal(indexOf(compileCreate(input(baseSpec())), "SYNC"), -1, "no hooks, no sync");
});

test("bad configs name the field", () => {
  const spec = baseSpec();
  spec.linux!.namespaces = [{ type: "pid" }, { type: "mount" }];
  assert.throws(() => compileCreate(input(spec)), (e: Error & { field?: string }) => e.field === "hostname");
  const noArgs = baseSpec();
  noArgs.process!.args = [];
  assert.throws(() => compileCreate(input(noArgs)), /process\.args/);
});

test("cgroup v1 mounts: fresh cgroupfs per hierarchy with a cgroup namespace, binds without", () => {
  const spec = baseSpec();
  spec.mounts!.push({ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro"] });
  const hier = [
    { name: "memory", data: "memory", hostDir: "/sys/fs/cgroup/memory/cove/c1" },
    { name: "cpu,cpuacct", data: "cpu,cpuacct", hostDir: "/sys/fs/cgroup/cpu,cpuacct/cove/c1" },
  ];
  const withNs = baseSpec();
  withNs.mounts = spec.mounts;
  withNs.linux!.namespaces!.push({ type: "cgroup" });
  let ops = compileCreate(input(withNs, { cgroupHierarchies: hier }));
  const mem = ops.find((o) => o.code === Op.MOUNT && o.args[1] === "/sys/fs/cgroup/memory")!;
  assert.deepEqual([mem.args[2], mem.args[4]], ["cgroup", "memory"]);
  assert.ok(ops.some((o) => o.code === Op.SYMLINK && o.args[1] === "/sys/fs/cgroup/cpu"));
  ops = compileCreate(input(spec, { cgroupHierarchies: hier }));
  const bound = ops.find((o) => o.code === Op.MOUNT && o.args[1] === "/sys/fs/cgroup/memory")!;
  assert.equal(bound.args[0], "/sys/fs/cgroup/memory/cove/c1");
  assert.equal(Number(bound.args[3]) & MS.BIND, MS.BIND);
});

test("compileExec joins the container's namespaces, user first, and starts at once", () => {
  const ops = compileExec({
    process: { user: { uid: 0, gid: 0 }, args: ["ls"], cwd: "/", terminal: true },
    stateDir: "/s",
    exitFile: "exec-1.exit",
    cgroupProcs: ["/cg/cgroup.procs"],
    join: [{ type: "mount", path: "/proc/5/ns/mnt" }, { type: "user", path: "/proc/5/ns/user" }],
    capabilityNumbers: CAPS,
  });
  const joins = ops.filter((o) => o.code === Op.JOIN_NS).map((o) => o.args[1]);
  assert.deepEqual(joins, ["/proc/5/ns/user", "/proc/5/ns/mnt"]);
  assert.ok(ops.some((o) => o.code === Op.AUTOSTART));
  assert.ok(indexOf(ops, "CONSOLE") > indexOf(ops, "FORK"));
  assert.equal(ops.find((o) => o.code === Op.EXIT_FILE)!.args[0], "exec-1.exit");
});

test("compileRuntimeMonitor: monitor options only, the pid file and console before the runtime's command", () => {
  const command = ["/usr/sbin/runc", "--root", "/run/r", "create", "--bundle", "/b", "--pid-file", "/s/runc.pid", "--console-socket", "/s/c.sock", "id1"];
  const ops = compileRuntimeMonitor({
    stateDir: "/s",
    command,
    pidFile: "/s/runc.pid",
    consoleSocket: "/s/c.sock",
    io: { log: { path: "/c/container.log", maxSize: 1000, maxFiles: 3 }, attachSocket: "/s/a.sock", pipes: { openStdin: true, stdinOnce: false } },
  });
  assert.deepEqual(
    ops.map((o) => opName(o.code)),
    ["STATE_DIR", "LOG_FILE", "ATTACH_SOCKET", "STDIO_PIPES", "RUNTIME_CONSOLE", "RUNTIME_PID_FILE", "RUNTIME_CMD"],
  );
  assert.ok(ops.every((o) => o.code < 20), "no op runs inside a container: runc does that part");
  assert.deepEqual(ops.at(-1)!.args, command);
  assert.deepEqual(decodePlan(encodePlan(ops)).at(-1)!.args.map(String), command);
  const exec = compileRuntimeMonitor({ stateDir: "/s", exitFile: "x1.exit", command: ["runc", "exec", "--detach"], pidFile: "/s/x1.pid", started: true });
  assert.deepEqual(
    exec.map((o) => opName(o.code)),
    ["STATE_DIR", "EXIT_FILE", "AUTOSTART", "RUNTIME_PID_FILE", "RUNTIME_CMD"],
  );
  // a terminal exec whose output only attached clients get: the command waits for the first one
  const held = compileRuntimeMonitor({
    stateDir: "/s",
    exitFile: "x2.exit",
    command: ["runc", "exec", "--detach"],
    pidFile: "/s/x2.pid",
    started: true,
    consoleSocket: "/s/x2.cs",
    io: { attachSocket: "/s/x2.sock", pipes: { openStdin: false, stdinOnce: true }, startOnAttach: true },
  });
  assert.deepEqual(
    held.map((o) => opName(o.code)),
    ["STATE_DIR", "EXIT_FILE", "AUTOSTART", "START_ON_ATTACH", "ATTACH_SOCKET", "STDIO_PIPES", "RUNTIME_CONSOLE", "RUNTIME_PID_FILE", "RUNTIME_CMD"],
  );
});

test("a shared rootfsPropagation keeps the host's shared mounts shared and makes the root filesystem's mount private before the pivot", () => {
  const spec = baseSpec();
  spec.linux = { ...spec.linux, rootfsPropagation: "rshared" };
  const ops = compileCreate(input(spec, { rootfsMount: "/b" }));
  const props = ops.filter((o) => o.code === Op.PROPAGATION).map((o) => [o.args[0], o.args[1]]);
  assert.deepEqual(props.slice(0, 2), [
    ["/", MS.SHARED | MS.REC],
    ["/b", MS.PRIVATE],
  ]);
  const pivot = indexOf(ops, "PIVOT_ROOT");
  assert.ok(ops.findIndex((o) => o.code === Op.PROPAGATION && o.args[0] === "/b") < indexOf(ops, "MOUNT") && indexOf(ops, "MOUNT") < pivot, "private before the root is bound, bound before the pivot");
  assert.deepEqual(props.at(-1), ["/", MS.SHARED], "the new root shared after the pivot");
  // without its mount point, or with another propagation: slave first, as always
  for (const s of [compileCreate(input(spec)), compileCreate(input(baseSpec(), { rootfsMount: "/b" }))]) {
    assert.deepEqual(s.find((o) => o.code === Op.PROPAGATION)!.args.slice(0, 2), ["/", MS.SLAVE | MS.REC]);
  }
});

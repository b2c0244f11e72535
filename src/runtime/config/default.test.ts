import assert from "node:assert/strict";
import { test } from "node:test";
import { OCI_VERSION } from "../spec.js";
import { defaultSpec } from "./default.js";
import { schemaProblems } from "./schema.js";
import { validateSpec } from "./validate.js";

test("defaultSpec: passes the schema and validateSpec", () => {
  assert.deepEqual(schemaProblems("config", defaultSpec()), []);
  validateSpec(defaultSpec());
  validateSpec(defaultSpec({ rootless: true }));
  validateSpec(defaultSpec({ rootless: true, hostUid: 1000, hostGid: 1000, cgroupns: false }));
});

test("defaultSpec: runc spec's process, root and hostname", () => {
  const s = defaultSpec();
  assert.equal(s.ociVersion, OCI_VERSION);
  assert.deepEqual(s.process, {
    terminal: true,
    user: { uid: 0, gid: 0 },
    args: ["sh"],
    env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    cwd: "/",
    capabilities: {
      bounding: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      effective: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    },
    rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  });
  assert.deepEqual(s.root, { path: "rootfs", readonly: true });
  assert.equal(s.hostname, "cove");
});

test("defaultSpec: the standard mounts, namespaces, masked and read-only paths", () => {
  const s = defaultSpec();
  assert.deepEqual(
    s.mounts!.map((m) => `${m.destination} ${m.type} ${m.source}`),
    ["/proc proc proc", "/dev tmpfs tmpfs", "/dev/pts devpts devpts", "/dev/shm tmpfs shm", "/dev/mqueue mqueue mqueue", "/sys sysfs sysfs", "/sys/fs/cgroup cgroup cgroup"],
  );
  assert.deepEqual(s.mounts![2]!.options, ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
  assert.deepEqual(s.mounts![5]!.options, ["nosuid", "noexec", "nodev", "ro"]);
  assert.deepEqual(
    s.linux!.namespaces!.map((n) => n.type),
    ["pid", "network", "ipc", "uts", "mount", "cgroup"],
  );
  assert.ok(s.linux!.maskedPaths!.includes("/proc/kcore"));
  assert.ok(s.linux!.maskedPaths!.includes("/sys/firmware"));
  assert.deepEqual(s.linux!.readonlyPaths, ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
  assert.deepEqual(s.linux!.resources, { devices: [{ allow: false, access: "rwm" }] });
  assert.equal(s.linux!.uidMappings, undefined);
  assert.deepEqual(
    defaultSpec({ cgroupns: false }).linux!.namespaces!.map((n) => n.type),
    ["pid", "network", "ipc", "uts", "mount"],
  );
});

test("defaultSpec: args and terminal options; each call returns fresh objects", () => {
  const s = defaultSpec({ args: ["/bin/echo", "hi"], terminal: false });
  assert.deepEqual(s.process!.args, ["/bin/echo", "hi"]);
  assert.equal(s.process!.terminal, false);
  s.process!.capabilities!.bounding!.push("CAP_SYS_ADMIN");
  s.mounts!.pop();
  assert.equal(defaultSpec().process!.capabilities!.bounding!.length, 3);
  assert.equal(defaultSpec().mounts!.length, 7);
});

test("defaultSpec rootless: user namespace mapping the caller, no network namespace, /sys bound, no gid=", () => {
  const s = defaultSpec({ rootless: true, hostUid: 1234, hostGid: 5678 });
  assert.deepEqual(
    s.linux!.namespaces!.map((n) => n.type),
    ["pid", "ipc", "uts", "mount", "cgroup", "user"],
  );
  assert.deepEqual(s.linux!.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.deepEqual(s.linux!.gidMappings, [{ containerID: 0, hostID: 5678, size: 1 }]);
  const sys = s.mounts!.find((m) => m.destination === "/sys");
  assert.deepEqual(sys, { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] });
  const pts = s.mounts!.find((m) => m.destination === "/dev/pts");
  assert.deepEqual(pts!.options, ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
  assert.equal(s.linux!.resources, undefined);
  assert.equal(s.mounts!.length, 7);
});

test("defaultSpec rootless: defaults to this process's euid and egid", () => {
  const s = defaultSpec({ rootless: true });
  assert.equal(s.linux!.uidMappings![0]!.hostID, process.geteuid!());
  assert.equal(s.linux!.gidMappings![0]!.hostID, process.getegid!());
});

import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Spec } from "../spec.js";
import { defaultSpec } from "./default.js";
import { catchCove, makeBundle, problemLines, schemaTestFiles, tempDir } from "./test-helpers.js";
import { activeLsms, lsmWarnings, validateBundleSpec, validateSpec } from "./validate.js";

/** A valid spec to break one field at a time. */
function base(): Spec {
  return defaultSpec();
}

/** Validates and returns the problem lines (`field: message`); fails when the spec is valid. */
function problems(spec: unknown): string[] {
  return problemLines(catchCove(() => validateSpec(spec)));
}

/** Asserts validation fails with exactly this one problem, and error.field names it. */
function assertOne(spec: unknown, field: string, message: string | RegExp): void {
  const err = catchCove(() => validateSpec(spec));
  assert.equal(err.kind, "invalid");
  assert.equal(err.code, "config.invalid");
  assert.equal(err.field, field);
  const lines = problemLines(err);
  assert.equal(lines.length, 1, `expected one problem, got:\n${lines.join("\n")}`);
  if (typeof message === "string") assert.equal(lines[0], `${field}: ${message}`);
  else {
    assert.ok(lines[0]!.startsWith(`${field}: `), lines[0]);
    assert.match(lines[0]!, message);
  }
}

describe("validateSpec: the spec's schema test documents", () => {
  for (const { name, text } of schemaTestFiles("config", "good")) {
    const doc = JSON.parse(text) as Record<string, unknown>;
    if (name.startsWith("freebsd") || name.startsWith("zos")) {
      test(`${name}: schema-valid, but another platform: refused naming the section`, () => {
        const key = name.startsWith("freebsd") ? "freebsd" : "zos";
        const err = catchCove(() => validateSpec(doc));
        assert.ok(problemLines(err).some((l) => l.startsWith(`${key}: is the `) && l.includes("cove runs Linux containers only")));
      });
    } else if (name === "spec-example.json") {
      test("spec-example.json: only its 0.5.0-dev ociVersion is refused; as 1.0.0 it passes", () => {
        assertOne(doc, "ociVersion", 'must be a 1.x version such as 1.2.0 (got "0.5.0-dev")');
        assert.equal(validateSpec({ ...doc, ociVersion: "1.0.0" }).ociVersion, "1.0.0");
      });
    } else {
      test(`${name}: valid`, () => {
        assert.equal(validateSpec(doc), doc);
      });
    }
  }
  for (const { name, text } of schemaTestFiles("config", "bad")) {
    if (name === "invalid-json.json") continue; // parse errors: load.test.ts
    test(`${name}: refused`, () => {
      const err = catchCove(() => validateSpec(JSON.parse(text)));
      assert.equal(err.kind, "invalid");
      assert.ok(err.field && err.field.length > 0);
    });
  }
});

describe("validateSpec: errors", () => {
  test("names the JSON path, the allowed values and the bad value", () => {
    const s = base();
    s.linux!.namespaces![2]!.type = "netwrk" as "network";
    const err = catchCove(() => validateSpec(s));
    assert.equal(err.message, 'config.json: linux.namespaces[2].type: must be one of mount, pid, network, uts, ipc, user, cgroup, time (got "netwrk")');
    assert.equal(err.field, "linux.namespaces[2].type");
  });

  test("lists schema and semantic problems together; field is the first", () => {
    const s = base() as unknown as { process: { cwd: unknown; capabilities: { ambient: string[] } }; hostname: string; linux: { namespaces: unknown[] } };
    s.process.cwd = 5;
    s.process.capabilities.ambient = ["CAP_BOGUS"];
    s.linux.namespaces = [{ type: "pid" }, { type: "mount" }];
    const err = catchCove(() => validateSpec(s));
    assert.equal(err.field, "process.cwd");
    assert.deepEqual(problemLines(err), [
      "process.cwd: must be a string (got integer 5)",
      'process.capabilities.ambient[0]: unknown capability "CAP_BOGUS" in the ambient set',
      "hostname: cannot be set without a private UTS namespace",
    ]);
    assert.match(err.describe(), /hint: .*add \{"type": "uts"\}/);
  });

  test("the source name is configurable", () => {
    const err = catchCove(() => validateSpec({}, { source: "bundle/config.json" }));
    assert.equal(err.message, "bundle/config.json: ociVersion: is required\nbundle/config.json: root: is required: cove needs a root filesystem");
  });
});

describe("validateSpec: version and root", () => {
  test("ociVersion must be 1.x", () => {
    for (const v of ["1.0.0", "1.2.0", "1.3.0-rc.1", "1.0.2-dev"]) validateSpec({ ...base(), ociVersion: v });
    assertOne({ ...base(), ociVersion: "2.0.0" }, "ociVersion", 'must be a 1.x version such as 1.2.0 (got "2.0.0")');
    assertOne({ ...base(), ociVersion: "" }, "ociVersion", "is required");
  });

  test("root is required and its path not empty", () => {
    const s = base();
    delete s.root;
    assertOne(s, "root", "is required: cove needs a root filesystem");
    assertOne({ ...base(), root: { path: "" } }, "root.path", "must not be empty");
  });

  describe("with a bundle", () => {
    let t: { dir: string; cleanup: () => void };
    before(() => {
      t = tempDir();
    });
    after(() => t.cleanup());

    test("relative root.path resolves against the bundle; rootfs is returned resolved", () => {
      const bundle = makeBundle(path.join(t.dir, "b1"));
      const { rootfs } = validateBundleSpec(base(), { bundle });
      assert.equal(rootfs, path.join(bundle, "rootfs"));
    });

    test("absolute root.path is used as is; symlinks are resolved", () => {
      const real = path.join(t.dir, "real-root");
      mkdirSync(real);
      const link = path.join(t.dir, "link-root");
      symlinkSync(real, link);
      const bundle = makeBundle(path.join(t.dir, "b2"));
      assert.equal(validateBundleSpec({ ...base(), root: { path: link } }, { bundle }).rootfs, real);
    });

    test("a missing rootfs is an error naming root.path", () => {
      const bundle = path.join(t.dir, "b3");
      mkdirSync(bundle);
      const err = catchCove(() => validateSpec(base(), { bundle }));
      assert.equal(err.field, "root.path");
      assert.deepEqual(problemLines(err), [`root.path: root filesystem ${path.join(bundle, "rootfs")} does not exist`]);
    });

    test("a rootfs that is a file is an error", () => {
      const bundle = path.join(t.dir, "b4");
      mkdirSync(bundle);
      writeFileSync(path.join(bundle, "rootfs"), "");
      assertOneWith({ bundle }, "root.path", `root filesystem ${path.join(bundle, "rootfs")} is not a directory`);
    });
  });
});

function assertOneWith(opts: { bundle: string }, field: string, message: string): void {
  const err = catchCove(() => validateSpec(base(), opts));
  assert.equal(err.field, field);
  assert.deepEqual(problemLines(err), [`${field}: ${message}`]);
}

describe("validateSpec: process", () => {
  test("cwd must be absolute", () => {
    const s = base();
    s.process!.cwd = "work";
    assertOne(s, "process.cwd", 'must be an absolute path (got "work")');
  });

  test("args must be present and non-empty", () => {
    const s = base();
    s.process!.args = [];
    assertOne(s, "process.args", "must name the program to run");
    delete s.process!.args;
    assertOne(s, "process.args", "must name the program to run");
    s.process!.args = [""];
    assertOne(s, "process.args[0]", "must not be empty: it is the program to run");
  });

  test("a spec without process is valid (for bundles used only with exec)", () => {
    const s = base();
    delete s.process;
    assert.equal(validateSpec(s), s);
  });

  test("user uid and gid must be >= 0", () => {
    const s = base();
    s.process!.user.uid = -1;
    assertOne(s, "process.user.uid", "must be >= 0 (got -1)");
    s.process!.user.uid = 0;
    s.process!.user.gid = 1.5;
    assertOne(s, "process.user.gid", "must be an integer (got number 1.5)");
  });

  test("env entries must be NAME=value", () => {
    const s = base();
    s.process!.env = ["A=1", "NOEQUALS", "=x"];
    assert.deepEqual(problems(s), ['process.env[1]: must be NAME=value (got "NOEQUALS")', 'process.env[2]: must be NAME=value (got "=x")']);
  });

  test("oomScoreAdj within -1000..1000", () => {
    const s = base();
    s.process!.oomScoreAdj = 1001;
    assertOne(s, "process.oomScoreAdj", "must be between -1000 and 1000 (got 1001)");
  });

  test("capabilities: unknown names name the set and the value, with a suggestion", () => {
    const s = base();
    s.process!.capabilities!.effective = ["CAP_KILL", "net_admin"];
    s.process!.capabilities!.permitted = ["CAP_WHATEVER"];
    const err = catchCove(() => validateSpec(s));
    assert.equal(err.field, "process.capabilities.effective[1]");
    assert.deepEqual(problemLines(err), [
      'process.capabilities.effective[1]: unknown capability "net_admin" in the effective set',
      'process.capabilities.permitted[0]: unknown capability "CAP_WHATEVER" in the permitted set',
    ]);
    assert.match(err.hint ?? "", /did you mean CAP_NET_ADMIN\?/);
  });

  test("capabilities: every known name is accepted in every set", () => {
    const all = ["CAP_CHOWN", "CAP_BPF", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE", "CAP_SYS_ADMIN"];
    const s = base();
    s.process!.capabilities = { bounding: all, effective: all, inheritable: all, permitted: all, ambient: all };
    validateSpec(s);
  });

  test("rlimits: known types, soft <= hard, no duplicates", () => {
    const s = base();
    s.process!.rlimits = [
      { type: "RLIMIT_NOFILE", soft: 1024, hard: 1024 },
      { type: "RLIMIT_BOGUS", soft: 1, hard: 1 },
      { type: "RLIMIT_CORE", soft: 10, hard: 5 },
      { type: "RLIMIT_NOFILE", soft: 1, hard: 2 },
    ];
    assert.deepEqual(problems(s), [
      'process.rlimits[1].type: unknown resource limit "RLIMIT_BOGUS"',
      "process.rlimits[2].soft: soft limit 10 is above the hard limit 5",
      "process.rlimits[3].type: duplicate RLIMIT_NOFILE (first at process.rlimits[0])",
    ]);
  });

  test("rlimits: a type that fails the schema pattern names the field", () => {
    const s = base();
    s.process!.rlimits = [{ type: "nofile", soft: 1, hard: 1 }];
    assertOne(s, "process.rlimits[0].type", 'must match ^RLIMIT_[A-Z]+$ (got "nofile")');
  });
});

describe("validateSpec: namespaces", () => {
  test("duplicates are refused", () => {
    const s = base();
    s.linux!.namespaces!.push({ type: "pid" });
    assertOne(s, "linux.namespaces[6].type", 'duplicate "pid" namespace (first at linux.namespaces[0])');
  });

  test("paths must be absolute", () => {
    const s = base();
    s.linux!.namespaces![1] = { type: "network", path: "run/netns/x" };
    assertOne(s, "linux.namespaces[1].path", 'must be an absolute path (got "run/netns/x")');
  });

  test("hostname and domainname need a UTS namespace", () => {
    const s = base();
    s.domainname = "example.org";
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "uts");
    assert.deepEqual(problems(s), ["hostname: cannot be set without a private UTS namespace", "domainname: cannot be set without a private UTS namespace"]);
    delete s.hostname;
    delete s.domainname;
    validateSpec(s);
  });

  test("a new user namespace needs uid and gid mappings", () => {
    const s = base();
    s.linux!.namespaces!.push({ type: "user" });
    assert.deepEqual(problems(s), ["linux.uidMappings: is required when a new user namespace is created", "linux.gidMappings: is required when a new user namespace is created"]);
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    validateSpec(s);
  });

  test("joining a user namespace by path needs no mappings", () => {
    const s = base();
    s.linux!.namespaces!.push({ type: "user", path: "/proc/1/ns/user" });
    validateSpec(s);
  });

  test("mappings without a user namespace are refused", () => {
    const s = base();
    s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    assertOne(s, "linux.gidMappings", "is set but linux.namespaces has no user namespace");
  });

  test("mappings must not overlap, in container or host IDs, and have a size", () => {
    const s = base();
    s.linux!.namespaces!.push({ type: "user" });
    s.linux!.uidMappings = [
      { containerID: 0, hostID: 100000, size: 1000 },
      { containerID: 500, hostID: 300000, size: 10 },
      { containerID: 5000, hostID: 100999, size: 1 },
      { containerID: 6000, hostID: 400000, size: 0 },
    ];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }];
    assert.deepEqual(problems(s), [
      "linux.uidMappings[1]: container IDs 500-509 overlap linux.uidMappings[0] (0-999)",
      "linux.uidMappings[2]: host IDs 100999-100999 overlap linux.uidMappings[0] (100000-100999)",
      "linux.uidMappings[3].size: must be at least 1 (got 0)",
    ]);
  });

  test("timeOffsets need a new time namespace", () => {
    const s = base();
    s.linux!.timeOffsets = { monotonic: { secs: 10 } };
    assertOne(s, "linux.timeOffsets", "is set but linux.namespaces has no time namespace");
    s.linux!.namespaces!.push({ type: "time", path: "/proc/1/ns/time" });
    assertOne(s, "linux.namespaces[6].path", /joins an existing time namespace, but linux.timeOffsets is set/);
    s.linux!.namespaces![6] = { type: "time" };
    validateSpec(s);
  });
});

describe("validateSpec: sysctl", () => {
  test("namespaced sysctls pass with their namespaces", () => {
    const s = base();
    s.linux!.sysctl = { "net.ipv4.ip_forward": "1", "net/ipv4/conf/all/rp_filter": "0", "kernel.shmmax": "1", "fs.mqueue.msg_max": "10", "kernel.domainname": "x" };
    validateSpec(s);
  });

  test("net.* needs a network namespace, IPC sysctls an IPC namespace", () => {
    const s = base();
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "network" && n.type !== "ipc");
    s.linux!.sysctl = { "net.core.somaxconn": "256", "kernel.msgmax": "1", "fs.mqueue.queues_max": "1" };
    assert.deepEqual(problems(s), [
      `linux.sysctl["net.core.somaxconn"]: is not allowed in the host's network namespace`,
      `linux.sysctl["kernel.msgmax"]: is not allowed without a private IPC namespace`,
      `linux.sysctl["fs.mqueue.queues_max"]: is not allowed without a private IPC namespace`,
    ]);
  });

  test("net.* is refused when the joined network namespace is the host's", () => {
    const s = base();
    s.linux!.namespaces![1] = { type: "network", path: "/proc/self/ns/net" };
    s.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
    assertOne(s, 'linux.sysctl["net.ipv4.ip_forward"]', "is not allowed: linux.namespaces[1].path /proc/self/ns/net is the host's network namespace");
  });

  test("kernel.hostname conflicts with hostname; other sysctls are not namespaced", () => {
    const s = base();
    s.linux!.sysctl = { "kernel.hostname": "x", "vm.swappiness": "10", "kernel.domainname": "d" };
    assert.deepEqual(problems(s), [
      `linux.sysctl["kernel.hostname"]: conflicts with the "hostname" field`,
      `linux.sysctl["vm.swappiness"]: is not namespaced: setting it in a container would change the whole host`,
    ]);
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "uts");
    delete s.hostname;
    s.linux!.sysctl = { "kernel.domainname": "d" };
    assertOne(s, `linux.sysctl["kernel.domainname"]`, "is not namespaced: setting it in a container would change the whole host");
  });
});

describe("validateSpec: mounts", () => {
  test("relative destinations are refused with a hint", () => {
    const s = base();
    s.mounts!.push({ destination: "data", type: "tmpfs", source: "tmpfs" });
    const err = catchCove(() => validateSpec(s));
    assert.deepEqual(problemLines(err), ['mounts[7].destination: must be an absolute path (got "data")']);
    assert.match(err.hint ?? "", /write "\/data"/);
  });

  test("destinations may not climb out of / with ..", () => {
    const s = base();
    s.mounts!.push({ destination: "/../../etc", type: "tmpfs", source: "tmpfs" });
    s.mounts!.push({ destination: "/proc/../opt", type: "tmpfs", source: "tmpfs" });
    assertOne(s, "mounts[7].destination", 'climbs out of the container\'s root with ".." (got "/../../etc")');
  });

  test("bind mounts need a source; other mounts a type", () => {
    const s = base();
    s.mounts!.push({ destination: "/a", type: "bind", options: ["ro"] });
    s.mounts!.push({ destination: "/b", type: "none", options: ["rbind"], source: "" });
    s.mounts!.push({ destination: "/c", source: "/srv/c" });
    s.mounts!.push({ destination: "/d", source: "/srv/d", options: ["bind"] });
    assert.deepEqual(problems(s), [
      "mounts[7].source: is required for a bind mount",
      "mounts[8].source: is required for a bind mount",
      "mounts[9].type: is required unless the mount is a bind mount",
    ]);
  });

  test("idmapped mounts need the bind option and both mappings", () => {
    const s = base();
    s.mounts!.push({ destination: "/a", type: "tmpfs", source: "tmpfs", uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] });
    assert.deepEqual(problems(s), [
      "mounts[7]: uidMappings/gidMappings (an idmapped mount) need the bind option",
      "mounts[7]: an idmapped mount needs both uidMappings and gidMappings",
    ]);
  });
});

describe("validateSpec: linux paths, devices, seccomp", () => {
  test("maskedPaths and readonlyPaths must be absolute and need a mount namespace", () => {
    const s = base();
    s.linux!.maskedPaths!.push("proc/kcore");
    s.linux!.readonlyPaths!.push("sys");
    assert.deepEqual(problems(s), ['linux.maskedPaths[11]: must be an absolute path (got "proc/kcore")', 'linux.readonlyPaths[5]: must be an absolute path (got "sys")']);
    const t = base();
    t.linux!.namespaces = t.linux!.namespaces!.filter((n) => n.type !== "mount");
    assert.deepEqual(problems(t), [
      "linux.maskedPaths: cannot be applied without a private mount namespace",
      "linux.readonlyPaths: cannot be applied without a private mount namespace",
    ]);
  });

  test("devices: absolute path; major and minor for c, b and u but not p", () => {
    const s = base();
    s.linux!.devices = [
      { type: "c", path: "/dev/fuse", major: 10, minor: 229 },
      { type: "p", path: "/dev/fifo" },
      { type: "b", path: "dev/sda", major: 8 },
    ];
    assert.deepEqual(problems(s), ['linux.devices[2].path: must be an absolute path (got "dev/sda")', 'linux.devices[2].minor: is required for a device of type "b"']);
    s.linux!.devices = [{ type: "x" as "c", path: "/dev/x" }];
    assertOne(s, "linux.devices[0].type", 'must match ^[cbup]$ (got "x")');
  });

  test("device cgroup rules: type a, b or c; access of r, w, m", () => {
    const s = base();
    s.linux!.resources = { devices: [{ allow: true, type: "x" as "a", access: "rwx" }] };
    assert.deepEqual(problems(s), ['linux.resources.devices[0].type: must be one of a, b, c (got "x")', 'linux.resources.devices[0].access: must be made of the letters r, w and m (got "rwx")']);
  });

  test("seccomp: structure only", () => {
    const s = base();
    s.linux!.seccomp = {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["read", ""], action: "SCMP_ACT_ALLOW" },
        { names: ["write"], action: "SCMP_ACT_NOTIFY", args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }] },
      ],
    };
    assert.deepEqual(problems(s), [
      "linux.seccomp.syscalls[0].names[1]: must not be empty",
      "linux.seccomp.syscalls[1].args[0].index: must be between 0 and 5: a syscall has at most 6 arguments (got 6)",
      "linux.seccomp.listenerPath: is required when an action is SCMP_ACT_NOTIFY",
    ]);
    s.linux!.seccomp = { defaultAction: "SCMP_ACT_BOGUS" as "SCMP_ACT_ALLOW" };
    assertOne(s, "linux.seccomp.defaultAction", /^linux\.seccomp\.defaultAction: must be one of SCMP_ACT_KILL, .* \(got "SCMP_ACT_BOGUS"\)$/);
  });

  test("rootfsPropagation accepts the recursive forms", () => {
    const s = base();
    s.linux!.rootfsPropagation = "rslave";
    validateSpec(s);
    s.linux!.rootfsPropagation = "sideways";
    assertOne(s, "linux.rootfsPropagation", /must be one of shared, slave, private, unbindable, rshared, rslave, rprivate, runbindable \(got "sideways"\)/);
  });

  test("apparmorProfile, selinuxLabel and mountLabel are accepted", () => {
    const s = base();
    s.process!.apparmorProfile = "docker-default";
    s.process!.selinuxLabel = "system_u:system_r:container_t:s0";
    s.linux!.mountLabel = "system_u:object_r:container_file_t:s0";
    validateSpec(s);
  });
});

describe("lsmWarnings", () => {
  let t: { dir: string; cleanup: () => void };
  before(() => {
    t = tempDir();
  });
  after(() => t.cleanup());

  const labelled = (): Spec => {
    const s = base();
    s.process!.apparmorProfile = "docker-default";
    s.process!.selinuxLabel = "system_u:system_r:container_t:s0";
    s.linux!.mountLabel = "system_u:object_r:container_file_t:s0";
    return s;
  };

  test("warns for every option when no LSM is active", () => {
    const root = path.join(t.dir, "none");
    mkdirSync(path.join(root, "sys/kernel/security"), { recursive: true });
    writeFileSync(path.join(root, "sys/kernel/security/lsm"), "lockdown,capability,yama\n");
    assert.deepEqual(activeLsms(root), { apparmor: false, selinux: false });
    assert.deepEqual(lsmWarnings(labelled(), { root }), [
      'process.apparmorProfile "docker-default" is not enforced: AppArmor is not active on this host',
      'process.selinuxLabel "system_u:system_r:container_t:s0" is not enforced: SELinux is not active on this host',
      'linux.mountLabel "system_u:object_r:container_file_t:s0" is not enforced: SELinux is not active on this host',
    ]);
  });

  test("no warnings for active LSMs or absent options", () => {
    const root = path.join(t.dir, "both");
    mkdirSync(path.join(root, "sys/kernel/security"), { recursive: true });
    writeFileSync(path.join(root, "sys/kernel/security/lsm"), "capability,apparmor,selinux");
    assert.deepEqual(lsmWarnings(labelled(), { root }), []);
    assert.deepEqual(lsmWarnings(base(), { lsm: { apparmor: false, selinux: false } }), []);
  });

  test("without securityfs, /sys/module/apparmor and /sys/fs/selinux decide", () => {
    const root = path.join(t.dir, "nosecfs");
    mkdirSync(path.join(root, "sys/module/apparmor/parameters"), { recursive: true });
    writeFileSync(path.join(root, "sys/module/apparmor/parameters/enabled"), "Y\n");
    assert.deepEqual(activeLsms(root), { apparmor: true, selinux: false });
    mkdirSync(path.join(root, "sys/fs/selinux"), { recursive: true });
    writeFileSync(path.join(root, "sys/fs/selinux/enforce"), "1");
    assert.deepEqual(activeLsms(root), { apparmor: true, selinux: true });
    assert.deepEqual(activeLsms(path.join(t.dir, "empty")), { apparmor: false, selinux: false });
  });
});

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  CAPABILITIES,
  DOCKER_DEFAULT_CAPABILITIES,
  DOCKER_DEFAULT_DEVICE_RULES,
  DOCKER_MASKED_PATHS,
  DOCKER_READONLY_PATHS,
  RLIMITS,
  dockerMaskedPaths,
} from "./constants.js";
import { features } from "./features.js";
import * as api from "./index.js";
import { schemaProblems } from "./schema.js";
import { tempDir } from "./test-helpers.js";
import { validateSpec } from "./validate.js";
import { defaultSpec } from "./default.js";

test("features: validates against features-schema.json", () => {
  assert.deepEqual(schemaProblems("features", features()), []);
});

test("features: what cove supports", () => {
  const f = features();
  assert.equal(f.ociVersionMin, "1.0.0");
  assert.deepEqual(f.hooks, ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
  assert.ok(f.mountOptions!.includes("rbind") && f.mountOptions!.includes("rro") && f.mountOptions!.includes("nosymfollow"));
  assert.ok(!f.mountOptions!.includes("tmpcopyup"), "tmpcopyup is ignored by the planner, not supported");
  assert.deepEqual([...f.mountOptions!].sort(), f.mountOptions);
  const linux = f.linux!;
  assert.deepEqual(linux.namespaces, ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]);
  assert.equal(linux.capabilities!.length, 41);
  assert.equal(linux.seccomp!.enabled, true);
  assert.ok(!linux.seccomp!.actions!.includes("SCMP_ACT_NOTIFY"));
  assert.ok(linux.seccomp!.archs!.includes("SCMP_ARCH_X86_64"));
  assert.ok(linux.seccomp!.supportedFlags!.includes("SECCOMP_FILTER_FLAG_LOG"));
  assert.deepEqual(linux.apparmor, { enabled: false });
  assert.deepEqual(linux.selinux, { enabled: false });
  assert.deepEqual(linux.intelRdt, { enabled: false });
  assert.deepEqual(linux.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false });
});

test("CAPABILITIES: 41 capabilities numbered 0..40 as in <linux/capability.h>", () => {
  assert.equal(CAPABILITIES.length, 41);
  CAPABILITIES.forEach((c, i) => assert.equal(c.number, i));
  const by = new Map(CAPABILITIES.map((c) => [c.name, c.number]));
  assert.equal(by.get("CAP_CHOWN"), 0);
  assert.equal(by.get("CAP_NET_ADMIN"), 12);
  assert.equal(by.get("CAP_SYS_ADMIN"), 21);
  assert.equal(by.get("CAP_MKNOD"), 27);
  assert.equal(by.get("CAP_SETFCAP"), 31);
  assert.equal(by.get("CAP_CHECKPOINT_RESTORE"), 40);
  // On this kernel the last capability should be the one we know (newer kernels may add more).
  const lastCap = "/proc/sys/kernel/cap_last_cap";
  if (existsSync(lastCap)) assert.ok(Number(readFileSync(lastCap, "utf8")) >= 40);
});

test("RLIMITS: the 16 generic Linux resource limits by number", () => {
  assert.equal(RLIMITS.length, 16);
  const by = new Map(RLIMITS.map((r) => [r.name, r.number]));
  assert.equal(by.get("RLIMIT_CPU"), 0);
  assert.equal(by.get("RLIMIT_CORE"), 4);
  assert.equal(by.get("RLIMIT_NOFILE"), 7);
  assert.equal(by.get("RLIMIT_AS"), 9);
  assert.equal(by.get("RLIMIT_RTTIME"), 15);
});

test("Docker defaults: 14 capabilities, masked and read-only paths, device rules", () => {
  assert.equal(DOCKER_DEFAULT_CAPABILITIES.length, 14);
  const known = new Set(CAPABILITIES.map((c) => c.name));
  for (const c of DOCKER_DEFAULT_CAPABILITIES) assert.ok(known.has(c), c);
  assert.ok(DOCKER_DEFAULT_CAPABILITIES.includes("CAP_NET_RAW") && !DOCKER_DEFAULT_CAPABILITIES.includes("CAP_SYS_ADMIN"));
  assert.equal(DOCKER_MASKED_PATHS.length, 12);
  for (const p of ["/proc/interrupts", "/proc/kcore", "/sys/firmware", "/sys/devices/virtual/powercap"]) assert.ok(DOCKER_MASKED_PATHS.includes(p), p);
  assert.deepEqual(DOCKER_READONLY_PATHS, ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
  assert.deepEqual(DOCKER_DEFAULT_DEVICE_RULES[0], { allow: false, access: "rwm" });
  assert.deepEqual(DOCKER_DEFAULT_DEVICE_RULES.at(-1), { allow: false, type: "c", major: 10, minor: 229, access: "rwm" });

  // A Docker-shaped spec built from them is valid.
  const s = defaultSpec();
  s.process!.capabilities = { bounding: [...DOCKER_DEFAULT_CAPABILITIES], effective: [...DOCKER_DEFAULT_CAPABILITIES], permitted: [...DOCKER_DEFAULT_CAPABILITIES] };
  s.linux!.maskedPaths = dockerMaskedPaths();
  s.linux!.readonlyPaths = [...DOCKER_READONLY_PATHS];
  s.linux!.resources = { devices: DOCKER_DEFAULT_DEVICE_RULES.map((r) => ({ ...r })) };
  validateSpec(s);
});

test("dockerMaskedPaths adds thermal_throttle of CPUs that have it", () => {
  const t = tempDir();
  try {
    for (const cpu of ["cpu0", "cpu1", "cpu10", "cpufreq"]) mkdirSync(path.join(t.dir, "sys/devices/system/cpu", cpu), { recursive: true });
    mkdirSync(path.join(t.dir, "sys/devices/system/cpu/cpu0/thermal_throttle"));
    mkdirSync(path.join(t.dir, "sys/devices/system/cpu/cpu10/thermal_throttle"));
    writeFileSync(path.join(t.dir, "sys/devices/system/cpu/cpu1/online"), "1");
    assert.deepEqual(dockerMaskedPaths(t.dir), [
      ...DOCKER_MASKED_PATHS,
      "/sys/devices/system/cpu/cpu0/thermal_throttle",
      "/sys/devices/system/cpu/cpu10/thermal_throttle",
    ]);
    assert.deepEqual(dockerMaskedPaths(path.join(t.dir, "nothing")), [...DOCKER_MASKED_PATHS]);
  } finally {
    t.cleanup();
  }
});

test("index re-exports the public API", () => {
  for (const name of [
    "loadConfig",
    "validateSpec",
    "defaultSpec",
    "features",
    "lsmWarnings",
  ] as const) assert.equal(typeof api[name], "function", name);
  assert.equal(api.CAPABILITIES, CAPABILITIES);
  assert.equal(api.RLIMITS, RLIMITS);
  assert.equal(api.DOCKER_DEFAULT_CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES);
  assert.equal(api.DOCKER_MASKED_PATHS, DOCKER_MASKED_PATHS);
  assert.equal(api.DOCKER_READONLY_PATHS, DOCKER_READONLY_PATHS);
});

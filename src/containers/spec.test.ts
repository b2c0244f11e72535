import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DOCKER_DEFAULT_CAPABILITIES } from "../runtime/config/index.js";
import {
  buildSpec,
  containerEnv,
  convertDockerSeccomp,
  mergeConfig,
  NO_NETWORK_WARNING,
  parseDeviceCgroupRule,
  resolvConfFile,
  resourcesOf,
  tweakCapabilities,
  userMounts,
  withHostConfigDefaults,
  type SpecInput,
} from "./spec.js";
import type { ContainerConfig, HostConfig } from "./types.js";
import { resolveUser } from "./user.js";
import { resourceLimitFlags } from "./create.js";

const ID = "0123456789abcdef".repeat(4);

function input(config: ContainerConfig, hc: HostConfig = {}, over: Partial<SpecInput> = {}): SpecInput {
  const hostConfig = withHostConfigDefaults(hc, 1);
  return {
    id: ID,
    config: mergeConfig(config, { Cmd: ["sh"], Env: ["PATH=/img/bin", "IMG=1"] }),
    hostConfig,
    rootfs: "/rootfs",
    files: { hostname: "/c/hostname", hosts: "/c/hosts", resolvConf: "/c/resolv.conf" },
    user: { uid: 0, gid: 0, additionalGids: [], home: "/root" },
    cgroupVersion: 1,
    initPath: "/build/cove-init",
    mounts: userMounts(hostConfig, () => true),
    hostDevices: () => [{ type: "c", path: "/dev/kvm", major: 10, minor: 232 }],
    ...over,
  };
}

describe("mergeConfig", () => {
  it("takes the image's Cmd only when neither Entrypoint nor Cmd is given", () => {
    assert.deepEqual(mergeConfig({}, { Entrypoint: ["/ep"], Cmd: ["a"] }).Cmd, ["a"]);
    assert.deepEqual(mergeConfig({ Cmd: ["b"] }, { Entrypoint: ["/ep"], Cmd: ["a"] }), { Cmd: ["b"], Entrypoint: ["/ep"], Env: [], Labels: {}, User: "", WorkingDir: "", OnBuild: null, Volumes: undefined, StopSignal: undefined, Shell: undefined });
    const m = mergeConfig({ Entrypoint: ["/mine"] }, { Entrypoint: ["/ep"], Cmd: ["a"] });
    assert.deepEqual([m.Entrypoint, m.Cmd], [["/mine"], undefined]);
  });
  it("puts the request's env first and keeps image variables it does not override", () => {
    assert.deepEqual(mergeConfig({ Env: ["A=req"] }, { Env: ["A=img", "B=img"] }).Env, ["A=req", "B=img"]);
  });
  it("fills healthcheck fields from the image", () => {
    const m = mergeConfig({ Healthcheck: { Interval: 5 } }, { Healthcheck: { Test: ["CMD", "true"], Retries: 2 } });
    assert.deepEqual(m.Healthcheck, { Interval: 5, Test: ["CMD", "true"], Retries: 2, Timeout: undefined, StartPeriod: undefined });
  });
});

describe("env, capabilities, users", () => {
  it("sets PATH and HOSTNAME defaults, TERM with a tty, overridden in place", () => {
    assert.deepEqual(containerEnv(["PATH=/x", "A=1"], "host", true), ["PATH=/x", "HOSTNAME=host", "TERM=xterm", "A=1"]);
  });
  it("adds the user's HOME last unless the config sets it, as runc's init does", () => {
    assert.deepEqual(containerEnv(["A=1"], "h", false, [], "/root"), ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=h", "A=1", "HOME=/root"]);
    assert.deepEqual(containerEnv(["HOME=/srv", "A=1"], "h", false, [], "/root"), ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=h", "HOME=/srv", "A=1"]);
  });
  it("adds and drops capabilities as Docker does, ALL included", () => {
    assert.deepEqual(tweakCapabilities(), [...DOCKER_DEFAULT_CAPABILITIES]);
    const t = tweakCapabilities(["sys_admin", "CAP_NET_ADMIN"], ["chown", "CAP_KILL"]);
    assert.ok(t.includes("CAP_SYS_ADMIN") && t.includes("CAP_NET_ADMIN") && !t.includes("CAP_CHOWN") && !t.includes("CAP_KILL"));
    assert.deepEqual(tweakCapabilities(["NET_ADMIN"], ["ALL"]), ["CAP_NET_ADMIN"]);
    assert.ok(tweakCapabilities(["ALL"], ["MKNOD"]).length > 30);
    assert.throws(() => tweakCapabilities(["NOPE"]), /unknown capability: "CAP_NOPE"/);
  });
  it("gives --privileged and ALL every capability of the daemon's bounding set, not more", () => {
    const bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"];
    assert.deepEqual(tweakCapabilities([], [], true, bounding), bounding);
    assert.deepEqual(tweakCapabilities(["ALL"], ["KILL"], false, bounding), ["CAP_CHOWN", "CAP_SYS_ADMIN"]);
  });
  it("resolves users and groups from passwd and group files", () => {
    const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const group = "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:\n";
    assert.deepEqual(resolveUser("app", passwd, group), { uid: 1000, gid: 1000, additionalGids: [10], home: "/home/app" });
    assert.deepEqual(resolveUser("1000:29", passwd, group), { uid: 1000, gid: 29, additionalGids: [], home: "/home/app" });
    assert.deepEqual(resolveUser("4242", passwd, group), { uid: 4242, gid: 0, additionalGids: [], home: "/" });
    assert.deepEqual(resolveUser("app:audio", passwd, group, ["wheel", "77"]).additionalGids, [10, 77]);
    assert.throws(() => resolveUser("ghost", passwd, group), /unable to find user ghost: no matching entries in passwd file/);
    assert.throws(() => resolveUser("app:ghosts", passwd, group), /unable to find group ghosts/);
  });
});

describe("buildSpec", () => {
  it("builds Docker's default container", () => {
    const { spec, warnings } = buildSpec(input({ Cmd: ["echo", "hi"] }));
    assert.deepEqual(spec.process?.args, ["echo", "hi"]);
    assert.deepEqual(spec.process?.env, ["PATH=/img/bin", `HOSTNAME=${ID.slice(0, 12)}`, "IMG=1", "HOME=/root"]);
    assert.equal(spec.hostname, ID.slice(0, 12));
    assert.deepEqual(spec.process?.capabilities?.bounding, [...DOCKER_DEFAULT_CAPABILITIES]);
    assert.ok(spec.linux?.seccomp, "the default seccomp profile");
    assert.deepEqual(spec.linux?.namespaces?.map((n) => n.type).sort(), ["ipc", "mount", "network", "pid", "uts"], "cgroupns host on v1");
    assert.deepEqual(spec.mounts?.map((m) => m.destination), ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]);
    assert.ok(spec.mounts?.find((m) => m.destination === "/dev/shm")?.options?.includes("size=65536k"));
    assert.ok(warnings.includes(NO_NETWORK_WARNING));
    assert.equal(spec.linux?.cgroupsPath, `/cove/${ID}`);
    assert.ok((spec.linux?.maskedPaths ?? []).includes("/proc/kcore"));
  });
  it("puts the cgroup under the daemon's parent, unless the container names its own", () => {
    assert.equal(buildSpec(input({ Cmd: ["sh"] }, {}, { cgroupParent: "/cove-0123abcd" })).spec.linux?.cgroupsPath, `/cove-0123abcd/${ID}`);
    assert.equal(buildSpec(input({ Cmd: ["sh"] }, { CgroupParent: "mine" }, { cgroupParent: "/cove-0123abcd" })).spec.linux?.cgroupsPath, `/mine/${ID}`);
  });
  it("privileged: all caps, no seccomp, host devices, no masked paths, rw sysfs", () => {
    const { spec } = buildSpec(input({ Cmd: ["sh"] }, { Privileged: true }));
    assert.ok((spec.process?.capabilities?.bounding ?? []).length > 30);
    assert.equal(spec.linux?.seccomp, undefined);
    assert.deepEqual(spec.linux?.devices?.map((d) => d.path), ["/dev/kvm"]);
    assert.deepEqual(spec.linux?.maskedPaths, []);
    assert.equal(spec.mounts?.find((m) => m.destination === "/sys")?.options?.includes("ro"), false);
  });
  it("host network, init, user mounts, resources, ulimits, sysctls and security options", () => {
    const { spec, warnings } = buildSpec(
      input(
        { Cmd: ["sh"], Tty: true, WorkingDir: "/app" },
        {
          NetworkMode: "host",
          Init: true,
          Binds: ["/srv/data:/data:ro"],
          Tmpfs: { "/run": "size=1m,exec" },
          Memory: 64 << 20,
          NanoCpus: 1.5e9,
          PidsLimit: 50,
          Ulimits: [{ Name: "nofile", Soft: 100, Hard: 200 }],
          Sysctls: { "net.core.somaxconn": "100" },
          SecurityOpt: ["no-new-privileges", "seccomp=unconfined", "apparmor=myprof"],
          ShmSize: 1 << 20,
          CgroupnsMode: "private",
        },
      ),
    );
    assert.deepEqual(spec.process?.args, ["/sbin/docker-init", "--", "sh"]);
    assert.equal(spec.process?.cwd, "/app");
    assert.equal(spec.process?.terminal, true);
    assert.ok(!spec.linux?.namespaces?.some((n) => n.type === "network"));
    assert.ok(spec.linux?.namespaces?.some((n) => n.type === "cgroup"));
    assert.deepEqual(spec.mounts?.find((m) => m.destination === "/data"), { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro", "rprivate"] });
    assert.deepEqual(spec.mounts?.find((m) => m.destination === "/run")?.options, ["nosuid", "nodev", "size=1m"]);
    assert.ok(spec.mounts?.find((m) => m.destination === "/dev/shm")?.options?.includes("size=1024k"));
    assert.deepEqual(spec.linux?.resources?.memory, { limit: 64 << 20, swap: 128 << 20 });
    assert.deepEqual(spec.linux?.resources?.cpu, { period: 100000, quota: 150000 });
    assert.deepEqual(spec.linux?.resources?.pids, { limit: 50 });
    assert.deepEqual(spec.process?.rlimits, [{ type: "RLIMIT_NOFILE", soft: 100, hard: 200 }]);
    assert.deepEqual(spec.linux?.sysctl, { "net.core.somaxconn": "100" });
    assert.equal(spec.process?.noNewPrivileges, true);
    assert.equal(spec.linux?.seccomp, undefined);
    assert.ok(warnings.some((w) => /AppArmor profile "myprof" is recorded but not enforced/.test(w)));
    assert.ok(!warnings.includes(NO_NETWORK_WARNING));
  });
  it("joins another container's namespaces and leaves volumes to the container service", () => {
    const { spec } = buildSpec(input({ Cmd: ["sh"] }, { NetworkMode: "container:other", PidMode: "host" }, { join: { network: "/proc/42/ns/net" } }));
    assert.deepEqual(spec.linux?.namespaces?.find((n) => n.type === "network"), { type: "network", path: "/proc/42/ns/net" });
    assert.ok(!spec.linux?.namespaces?.some((n) => n.type === "pid"));
    assert.throws(() => userMounts({ Binds: ["myvol:/data"] }), /volumes are mounted by the container service/);
    assert.throws(() => userMounts({ Mounts: [{ Type: "volume", Target: "/v" }] }), /volumes are mounted by the container service/);
    assert.throws(() => userMounts({ Mounts: [{ Type: "bind", Source: "/definitely/missing", Target: "/x" }] }, () => false), /bind source path does not exist: \/definitely\/missing/);
  });
  it("converts a Docker seccomp profile and parses device rules and resources", () => {
    const profile = JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }, { architecture: "SCMP_ARCH_AARCH64" }],
      syscalls: [
        { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
        { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      ],
    });
    const s = convertDockerSeccomp(profile, ["CAP_CHOWN"]);
    assert.deepEqual(s.syscalls, [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }]);
    if (process.arch === "x64") assert.deepEqual(s.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    // minKernel as Docker reads it: ptrace without CAP_SYS_PTRACE only from 4.8 on
    const gated = JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
        { names: ["old"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "4.8" } },
        { names: ["modify_ldt"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64", "x32", "x86"] } },
      ],
    });
    assert.deepEqual(convertDockerSeccomp(gated, [], "6.1.0-13-amd64").syscalls?.map((r) => r.names[0]).slice(0, 1), ["ptrace"]);
    assert.deepEqual(convertDockerSeccomp(gated, [], "4.4.0").syscalls?.map((r) => r.names[0]).slice(0, 1), ["old"]);
    if (process.arch === "x64" || process.arch === "ia32") assert.ok(convertDockerSeccomp(gated, []).syscalls?.some((r) => r.names[0] === "modify_ldt"));
    assert.deepEqual(parseDeviceCgroupRule("c 13:* rwm"), { allow: true, type: "c", major: 13, minor: null, access: "rwm" });
    assert.throws(() => parseDeviceCgroupRule("x 1:2 r"), /invalid device cgroup rule format/);
    assert.throws(() => resourcesOf({ Memory: 1024 }), /Minimum memory limit allowed is 6MB/);
  });
  it("writes no nameserver unless asked, and the host's file for host networking", () => {
    const hc = withHostConfigDefaults({}, 1);
    assert.doesNotMatch(resolvConfFile("bridge", "nameserver 10.255.0.1\n", hc), /^nameserver/m);
    assert.equal(resolvConfFile("host", "nameserver 10.255.0.1\n", hc), "nameserver 10.255.0.1\n");
    assert.match(resolvConfFile("none", undefined, { ...hc, Dns: ["127.0.0.1"] }), /^nameserver 127\.0\.0\.1$/m);
  });
});

describe("buildSpec with a user namespace", () => {
  const userns = { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }] };
  it("creates the user namespace first, with the container's mappings", () => {
    const { spec } = buildSpec(input({ Image: "x" }, { NetworkMode: "none" }, { userns }));
    assert.equal(spec.linux!.namespaces![0]!.type, "user");
    assert.deepEqual(spec.linux!.uidMappings, userns.uidMappings);
    assert.deepEqual(spec.linux!.gidMappings, userns.gidMappings);
    assert.ok(spec.mounts!.some((m) => m.destination === "/dev/mqueue" && m.type === "mqueue"));
  });
  it("has none without one", () => {
    const { spec } = buildSpec(input({ Image: "x" }, { NetworkMode: "none" }));
    assert.ok(!spec.linux!.namespaces!.some((n) => n.type === "user"));
    assert.equal(spec.linux!.uidMappings, undefined);
  });
  it("binds the host's /dev/mqueue, never mounts its mqueue, with the host's IPC namespace", () => {
    const { spec } = buildSpec(input({ Image: "x" }, { NetworkMode: "none", IpcMode: "host" }, { userns }));
    assert.ok(!spec.mounts!.some((m) => m.type === "mqueue"));
  });
});

describe("resourceLimitFlags", () => {
  it("names the limits a HostConfig sets by their docker run flags, and nothing for defaults", () => {
    assert.deepEqual(resourceLimitFlags({ Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 5e8, PidsLimit: 50 } as HostConfig), ["--memory", "--cpus", "--pids-limit"]);
    assert.deepEqual(resourceLimitFlags({ MemorySwap: -1, PidsLimit: 0, CpuShares: 0, CpusetCpus: "", BlkioDeviceReadBps: [] } as HostConfig), []);
    assert.deepEqual(resourceLimitFlags({ MemorySwap: 1 << 30, CpusetCpus: "0", BlkioWeight: 300 } as HostConfig), ["--memory-swap", "--cpuset-cpus", "--blkio-weight"]);
  });
});

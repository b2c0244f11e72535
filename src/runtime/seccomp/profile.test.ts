import { test } from "node:test";
import assert from "node:assert/strict";
import { AUDIT_ARCH, syscallNumber, type SupportedArch } from "./arch.js";
import { decodeVerdict, runFilter, type Verdict } from "./bpf.js";
import { compileSeccomp } from "./compile.js";
import { CLONE_NAMESPACE_FLAGS, DOCKER_DEFAULT_CAPABILITIES, DOCKER_DEFAULT_RULES, defaultSeccompProfile } from "./profile.js";

const AUDIT: Record<SupportedArch, number> = {
  SCMP_ARCH_X86_64: AUDIT_ARCH.X86_64,
  SCMP_ARCH_X32: AUDIT_ARCH.X86_64,
  SCMP_ARCH_X86: AUDIT_ARCH.I386,
  SCMP_ARCH_AARCH64: AUDIT_ARCH.AARCH64,
};
const ALLOW: Verdict = { action: "allow" };
const EPERM: Verdict = { action: "errno", errno: 1 };
const ENOSYS: Verdict = { action: "errno", errno: 38 };

const CLONE_NEWUSER = 0x10000000n;
const CLONE_NEWNET = 0x40000000n;
const FORK_FLAGS = 0x01200011n; // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
const THREAD_FLAGS = 0x003d0f00n; // what glibc's pthread_create passes

function filter(capabilities?: string[], arch: SupportedArch = "SCMP_ARCH_X86_64") {
  const native = arch === "SCMP_ARCH_X86" || arch === "SCMP_ARCH_X32" ? "SCMP_ARCH_X86_64" : arch;
  const { program } = compileSeccomp(defaultSeccompProfile({ capabilities, arch: native }), { nativeArch: native });
  return (name: string, args: bigint[] = []): Verdict => {
    const nr = syscallNumber(name, arch);
    assert.notEqual(nr, undefined, `${name} on ${arch}`);
    return decodeVerdict(runFilter(program, { nr: nr as number, arch: AUDIT[arch], args }));
  };
}

test("default profile: Docker's data, ERRNO(EPERM) default, amd64 architectures", () => {
  const p = defaultSeccompProfile({ arch: "amd64" });
  assert.equal(p.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  const allowlist = DOCKER_DEFAULT_RULES[0]?.names ?? [];
  assert.ok(allowlist.length > 350, `${allowlist.length} names`);
  assert.equal(new Set(allowlist).size, allowlist.length, "no duplicate names");
  assert.deepEqual(defaultSeccompProfile({ arch: "arm64" }).architectures, ["SCMP_ARCH_AARCH64"]);
});

test("default profile: the allowlist allows, everything else is EPERM or ENOSYS", () => {
  const x = filter();
  for (const name of DOCKER_DEFAULT_RULES[0]?.names ?? []) {
    if (syscallNumber(name, "SCMP_ARCH_X86_64") === undefined) continue;
    assert.deepEqual(x(name), ALLOW, name);
  }
  for (const name of ["mount", "umount2", "unshare", "setns", "reboot", "kexec_load", "init_module", "bpf", "swapon", "pivot_root", "keyctl", "add_key", "userfaultfd", "open_by_handle_at", "kcmp", "acct", "settimeofday", "lsm_set_self_attr"]) {
    assert.deepEqual(x(name), EPERM, name);
  }
  assert.deepEqual(x("arch_prctl"), ALLOW);
  assert.deepEqual(x("modify_ldt"), ALLOW);
  assert.deepEqual(x("chroot"), ALLOW); // CAP_SYS_CHROOT is a default capability
  assert.deepEqual(x("ptrace"), ALLOW); // allowed on kernels >= 4.8
});

test("default profile: clone3 and syscalls newer than the profile return ENOSYS", () => {
  const x = filter();
  assert.deepEqual(x("clone3"), ENOSYS);
  assert.deepEqual(x("open_tree_attr"), ENOSYS);
  assert.deepEqual(x("file_setattr"), ENOSYS);
  const { program } = compileSeccomp(defaultSeccompProfile({ arch: "amd64" }), { nativeArch: "amd64" });
  for (const nr of [470, 471, 500, 1000, 0x3fffffff]) {
    assert.deepEqual(decodeVerdict(runFilter(program, { nr, arch: AUDIT_ARCH.X86_64 })), ENOSYS, String(nr));
    assert.deepEqual(decodeVerdict(runFilter(program, { nr, arch: AUDIT_ARCH.I386 })), ENOSYS, `i386 ${nr}`);
  }
  // Below the profile's highest syscall, unknown numbers get the default.
  assert.deepEqual(decodeVerdict(runFilter(program, { nr: 336, arch: AUDIT_ARCH.X86_64 })), EPERM);
});

test("default profile: clone with namespace flags needs CAP_SYS_ADMIN", () => {
  const x = filter();
  assert.deepEqual(x("clone", [FORK_FLAGS]), ALLOW);
  assert.deepEqual(x("clone", [THREAD_FLAGS]), ALLOW);
  assert.deepEqual(x("clone", [CLONE_NEWUSER | FORK_FLAGS]), EPERM);
  assert.deepEqual(x("clone", [CLONE_NEWNET]), EPERM);
  assert.deepEqual(x("clone", [BigInt(CLONE_NAMESPACE_FLAGS)]), EPERM);
  assert.deepEqual(x("clone", [0n]), ALLOW);
  const i386 = filter(undefined, "SCMP_ARCH_X86");
  assert.deepEqual(i386("clone", [FORK_FLAGS]), ALLOW);
  assert.deepEqual(i386("clone", [CLONE_NEWUSER]), EPERM);
  assert.deepEqual(i386("clone3"), ENOSYS);

  const admin = filter([...DOCKER_DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]);
  assert.deepEqual(admin("clone", [CLONE_NEWUSER | FORK_FLAGS]), ALLOW);
  assert.deepEqual(admin("clone3"), ALLOW);
  assert.deepEqual(admin("mount"), ALLOW);
  assert.deepEqual(admin("unshare"), ALLOW);
  assert.deepEqual(admin("lsm_set_self_attr"), ALLOW);
});

test("default profile: personality only with Docker's safe values, socket not for AF_VSOCK", () => {
  const x = filter();
  for (const v of [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn]) assert.deepEqual(x("personality", [v]), ALLOW, v.toString(16));
  for (const v of [0x1n, 0x0400000n /* READ_IMPLIES_EXEC */, 0x0040000n /* ADDR_NO_RANDOMIZE */, 0x1_ffffffffn]) {
    assert.deepEqual(x("personality", [v]), EPERM, v.toString(16));
  }
  assert.deepEqual(x("socket", [1n]), ALLOW);
  assert.deepEqual(x("socket", [2n]), ALLOW);
  assert.deepEqual(x("socket", [40n]), EPERM);
});

test("default profile: capability groups switch their syscalls on", () => {
  const cases: [string, string[]][] = [
    ["CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]],
    ["CAP_SYS_BOOT", ["reboot"]],
    ["CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]],
    ["CAP_SYS_PACCT", ["acct"]],
    ["CAP_SYS_RAWIO", ["iopl", "ioperm"]],
    ["CAP_SYS_TIME", ["settimeofday", "clock_settime"]],
    ["CAP_SYS_TTY_CONFIG", ["vhangup"]],
    ["CAP_SYS_NICE", ["mbind", "set_mempolicy", "set_mempolicy_home_node"]],
    ["CAP_SYSLOG", ["syslog"]],
    ["CAP_BPF", ["bpf"]],
    ["CAP_PERFMON", ["perf_event_open"]],
    ["CAP_DAC_READ_SEARCH", ["open_by_handle_at"]],
  ];
  const base = filter();
  for (const [cap, names] of cases) {
    // Without the prefix, as `--cap-add` spells it, too.
    const withCap = filter([...DOCKER_DEFAULT_CAPABILITIES, cap.replace(/^CAP_/, "").toLowerCase()]);
    for (const name of names) {
      assert.deepEqual(base(name), EPERM, `${name} without ${cap}`);
      assert.deepEqual(withCap(name), ALLOW, `${name} with ${cap}`);
    }
  }
  // No capabilities at all: chroot goes too.
  assert.deepEqual(filter([])("chroot"), EPERM);
});

test("default profile: i386 and x32 binaries are filtered with their own numbers", () => {
  const i386 = filter(undefined, "SCMP_ARCH_X86");
  assert.deepEqual(i386("socketcall"), ALLOW);
  assert.deepEqual(i386("mmap2"), ALLOW);
  assert.deepEqual(i386("modify_ldt"), ALLOW);
  assert.deepEqual(i386("mount"), EPERM);
  const x32 = filter(undefined, "SCMP_ARCH_X32");
  assert.deepEqual(x32("read"), ALLOW);
  assert.deepEqual(x32("rt_sigaction"), ALLOW);
  assert.deepEqual(x32("arch_prctl"), ALLOW);
  assert.deepEqual(x32("mount"), EPERM);
  assert.deepEqual(x32("clone", [CLONE_NEWUSER]), EPERM);
  assert.deepEqual(x32("clone3"), ENOSYS);
});

test("default profile on arm64", () => {
  const a = filter(undefined, "SCMP_ARCH_AARCH64");
  assert.deepEqual(a("openat"), ALLOW);
  assert.deepEqual(a("clone", [FORK_FLAGS]), ALLOW);
  assert.deepEqual(a("clone", [CLONE_NEWUSER]), EPERM);
  assert.deepEqual(a("clone3"), ENOSYS);
  assert.deepEqual(a("mount"), EPERM);
});

test("Docker's full default profile compiles well under the kernel's limit", () => {
  const all = [
    ...DOCKER_DEFAULT_CAPABILITIES,
    ...["SYS_ADMIN", "SYS_PTRACE", "SYS_BOOT", "SYS_MODULE", "SYS_PACCT", "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "SYS_NICE", "SYSLOG", "BPF", "PERFMON", "DAC_READ_SEARCH"],
  ];
  for (const caps of [undefined, all, []]) {
    for (const arch of ["amd64", "arm64"]) {
      const { instructionCount, warnings } = compileSeccomp(defaultSeccompProfile({ capabilities: caps, arch }), { nativeArch: arch });
      assert.ok(instructionCount < 1024, `${arch} ${caps?.length ?? "default"} caps: ${instructionCount} instructions`);
      assert.deepEqual(warnings, []);
    }
  }
});

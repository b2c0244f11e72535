import { test } from "node:test";
import assert from "node:assert/strict";
import { AUDIT_ARCH, syscallNumber, type SupportedArch } from "./arch.js";
import { decodeVerdict, runFilter, type Verdict } from "./bpf.js";
import { compileSeccomp } from "./compile.js";
import { CLONE_NAMESPACE_FLAGS, DOCKER_DEFAULT_CAPABILITIES, DOCKER_DEFAULT_RULES, defaultSeccompProfile } from "./profile.js";

const X86_64 = { nativeArch: "SCMP_ARCH_X86_64" };

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

test("default profile: name_to_handle_at for everyone, open_by_handle_at only with CAP_DAC_READ_SEARCH", () => {
  // As in Docker since 24.0.3: name_to_handle_at only hands out a handle; opening by handle is the
  // dangerous half (it skips the path walk) and stays behind the capability the kernel checks too.
  for (const arch of ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"] as SupportedArch[]) {
    for (const caps of [undefined, [], ["CAP_SYS_ADMIN"]]) {
      const x = filter(caps, arch);
      assert.deepEqual(x("name_to_handle_at"), ALLOW, `${arch} ${caps?.join() ?? "default caps"}`);
      assert.deepEqual(x("open_by_handle_at"), EPERM, `${arch} ${caps?.join() ?? "default caps"}`);
    }
    assert.deepEqual(filter(["CAP_DAC_READ_SEARCH"], arch)("open_by_handle_at"), ALLOW, arch);
  }
  const allowlist = new Set(DOCKER_DEFAULT_RULES[0]?.names);
  assert.ok(allowlist.has("name_to_handle_at"));
  assert.ok(!allowlist.has("open_by_handle_at"));
});

test("default profile: io_uring is denied, whatever the capabilities", () => {
  const everything = [...ALL_GATING_CAPS, ...DOCKER_DEFAULT_CAPABILITIES];
  for (const arch of ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"] as SupportedArch[]) {
    for (const caps of [undefined, everything]) {
      const x = filter(caps, arch);
      for (const name of ["io_uring_setup", "io_uring_enter", "io_uring_register"]) assert.deepEqual(x(name), EPERM, `${name} ${arch}`);
    }
  }
  for (const rule of DOCKER_DEFAULT_RULES) assert.ok(!rule.names.some((n) => n.startsWith("io_uring")), rule.names.join());
});

test("default profile: socket refuses AF_ALG and AF_VSOCK, and only them", () => {
  const AF_ALG = 38n;
  const AF_VSOCK = 40n;
  for (const arch of ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"] as SupportedArch[]) {
    const x = filter(undefined, arch);
    for (let family = 0n; family < 64n; family++) {
      const want = family === AF_ALG || family === AF_VSOCK ? EPERM : ALLOW;
      assert.deepEqual(x("socket", [family, 1n, 0n]), want, `${arch} family ${family}`);
      // The kernel reads the family as an int: the upper 32 bits change nothing, for it or for cove.
      // (Docker's "> 40" compares all 64 bits and lets 0x1_00000026 and 0x1_00000028 through.)
      for (const high of [0x1_00000000n, 0xffffffff_00000000n]) {
        assert.deepEqual(x("socket", [high | family]), want, `${arch} family ${(high | family).toString(16)}`);
      }
    }
    // No family is 64 or above yet (AF_MAX is 46): cove answers EPERM where the kernel would say
    // EAFNOSUPPORT.
    for (const family of [64n, 255n, 0xffffffffn]) assert.deepEqual(x("socket", [family]), EPERM, `${arch} family ${family}`);
    assert.deepEqual(x("socketpair", [1n]), ALLOW);
  }
  // i386's socketcall(2) multiplexer passes the family in memory: allowed as a whole, as in Docker.
  assert.deepEqual(filter(undefined, "SCMP_ARCH_X86")("socketcall", [1n]), ALLOW);
});

test("default profile: ptrace is allowed from kernel 4.8 on, before that only with CAP_SYS_PTRACE", () => {
  const run = (kernel: string, caps: readonly string[] = DOCKER_DEFAULT_CAPABILITIES) => {
    const { program } = compileSeccomp(defaultSeccompProfile({ capabilities: caps, arch: "amd64", kernel }), X86_64);
    return (name: string) => decodeVerdict(runFilter(program, { nr: syscallNumber(name, "SCMP_ARCH_X86_64") as number, arch: AUDIT_ARCH.X86_64 }));
  };
  for (const kernel of ["4.8.0", "4.19.0-26-amd64", "5.4", "6.18.44-fc-v1252", "10.0.1", "unknown"]) {
    for (const name of ["ptrace", "process_vm_readv", "process_vm_writev"]) assert.deepEqual(run(kernel)(name), ALLOW, `${name} on ${kernel}`);
  }
  for (const kernel of ["4.4.0-210-generic", "3.10.0-1160.el7.x86_64", "4.7.10"]) {
    for (const name of ["ptrace", "process_vm_readv", "process_vm_writev"]) {
      assert.deepEqual(run(kernel)(name), EPERM, `${name} on ${kernel}`);
      assert.deepEqual(run(kernel, [...DOCKER_DEFAULT_CAPABILITIES, "CAP_SYS_PTRACE"])(name), ALLOW, `${name} on ${kernel} with CAP_SYS_PTRACE`);
    }
  }
});

test("default profile on a 32-bit x86 host keeps the x86 rules (modify_ldt), not the amd64 ones", () => {
  const p = defaultSeccompProfile({ arch: "386" });
  assert.deepEqual(p.architectures, ["SCMP_ARCH_X86"]);
  const names = p.syscalls?.flatMap((s) => s.names) ?? [];
  assert.ok(names.includes("modify_ldt"));
  assert.ok(!names.includes("arch_prctl"));
  const { program } = compileSeccomp(p, { nativeArch: "SCMP_ARCH_X86" });
  const call = (name: string) => decodeVerdict(runFilter(program, { nr: syscallNumber(name, "SCMP_ARCH_X86") as number, arch: AUDIT_ARCH.I386 }));
  assert.deepEqual(call("modify_ldt"), ALLOW);
  assert.deepEqual(call("socketcall"), ALLOW);
  assert.deepEqual(call("mount"), EPERM);
  assert.deepEqual(call("io_uring_setup"), EPERM);
});

test("default profile: no syscall of a capability-gated rule is in the unconditional allowlist", () => {
  const allowlist = new Set(DOCKER_DEFAULT_RULES[0]?.names);
  for (const rule of DOCKER_DEFAULT_RULES.slice(1)) {
    if (!rule.includes?.caps) continue;
    for (const name of rule.names) assert.ok(!allowlist.has(name), `${name} is gated by ${rule.includes.caps.join()} but allowed to everyone`);
  }
});

// Docker's behaviour, syscall by syscall, on the BPF the default profile compiles to: the verdict
// with Docker's 14 default capabilities, and where a capability changes it, the verdict with that
// capability added. Run on x86_64 and (for the syscalls it has) arm64.
interface Expectation {
  call: string;
  args?: bigint[];
  base: Verdict;
  cap?: string;
  withCap?: Verdict;
}
const ALL_GATING_CAPS = [
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO",
  "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_SYS_NICE", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH",
];
const allowed = (call: string, args?: bigint[]): Expectation => ({ call, args, base: ALLOW });
const gated = (call: string, cap: string, args?: bigint[]): Expectation => ({ call, args, base: EPERM, cap, withCap: ALLOW });
const never = (call: string, base: Verdict = EPERM): Expectation => ({ call, base, cap: "CAP_SYS_ADMIN", withCap: base });
const DOCKER_BEHAVIOUR: Expectation[] = [
  // everyday calls, old and new
  ...["read", "write", "openat", "openat2", "close", "mmap", "mprotect", "brk", "futex", "execve", "execveat", "wait4", "kill"].map((c) => allowed(c)),
  ...["statx", "rseq", "close_range", "faccessat2", "epoll_pwait2", "memfd_secret", "landlock_create_ruleset", "process_mrelease"].map((c) => allowed(c)),
  ...["futex_waitv", "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "mseal", "listmount", "statmount", "setxattrat", "removexattrat"].map((c) => allowed(c)),
  ...["setuid", "setgroups", "capset", "setrlimit", "prlimit64", "sched_setattr", "ioprio_set", "mknodat", "fanotify_mark", "adjtimex", "clock_adjtime", "seccomp", "pidfd_open", "pidfd_send_signal", "memfd_create"].map((c) => allowed(c)),
  allowed("arch_prctl"),
  allowed("modify_ldt"),
  allowed("uretprobe"),
  allowed("name_to_handle_at"),
  allowed("ptrace"), // kernel >= 4.8
  allowed("process_vm_readv"),
  allowed("chroot"), // CAP_SYS_CHROOT is one of Docker's defaults
  // argument filters
  allowed("clone", [FORK_FLAGS]),
  allowed("clone", [THREAD_FLAGS]),
  gated("clone", "CAP_SYS_ADMIN", [CLONE_NEWUSER | FORK_FLAGS]),
  gated("clone", "CAP_SYS_ADMIN", [0x00020000n]), // CLONE_NEWNS
  gated("clone", "CAP_SYS_ADMIN", [0x02000000n]), // CLONE_NEWCGROUP
  { call: "clone3", base: ENOSYS, cap: "CAP_SYS_ADMIN", withCap: ALLOW },
  allowed("personality", [0x0n]),
  allowed("personality", [0x8n]),
  allowed("personality", [0x20008n]),
  allowed("personality", [0xffffffffn]),
  { call: "personality", args: [0x0400000n], base: EPERM, cap: "CAP_SYS_ADMIN", withCap: EPERM },
  allowed("socket", [2n]), // AF_INET
  allowed("socket", [10n]), // AF_INET6
  allowed("socket", [16n]), // AF_NETLINK
  allowed("socket", [17n]), // AF_PACKET (CAP_NET_RAW decides)
  { call: "socket", args: [38n], base: EPERM, cap: "CAP_SYS_ADMIN", withCap: EPERM }, // AF_ALG
  { call: "socket", args: [40n], base: EPERM, cap: "CAP_NET_ADMIN", withCap: EPERM }, // AF_VSOCK
  // CAP_SYS_ADMIN
  ...["mount", "umount2", "unshare", "setns", "sethostname", "setdomainname", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr"].map((c) => gated(c, "CAP_SYS_ADMIN")),
  ...["quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "bpf", "perf_event_open", "syslog"].map((c) => gated(c, "CAP_SYS_ADMIN")),
  // the other capabilities
  gated("open_by_handle_at", "CAP_DAC_READ_SEARCH"),
  gated("reboot", "CAP_SYS_BOOT"),
  ...["init_module", "finit_module", "delete_module"].map((c) => gated(c, "CAP_SYS_MODULE")),
  gated("acct", "CAP_SYS_PACCT"),
  ...["kcmp", "pidfd_getfd", "process_madvise"].map((c) => gated(c, "CAP_SYS_PTRACE")),
  ...["iopl", "ioperm"].map((c) => gated(c, "CAP_SYS_RAWIO")),
  ...["settimeofday", "clock_settime"].map((c) => gated(c, "CAP_SYS_TIME")),
  gated("vhangup", "CAP_SYS_TTY_CONFIG"),
  ...["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"].map((c) => gated(c, "CAP_SYS_NICE")),
  gated("syslog", "CAP_SYSLOG"),
  gated("bpf", "CAP_BPF"),
  gated("perf_event_open", "CAP_PERFMON"),
  // denied whatever the capabilities
  ...["io_uring_setup", "io_uring_enter", "io_uring_register", "pivot_root", "kexec_load", "kexec_file_load", "keyctl", "add_key", "request_key"].map((c) => never(c)),
  ...["userfaultfd", "swapon", "swapoff", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "move_pages", "migrate_pages", "create_module", "get_kernel_syms", "query_module"].map((c) => never(c)),
  { call: "move_pages", base: EPERM, cap: "CAP_SYS_NICE", withCap: EPERM },
  { call: "iopl", base: EPERM, cap: "CAP_SYS_ADMIN", withCap: EPERM },
  // newer than the profile: ENOSYS, so libc can fall back
  never("open_tree_attr", ENOSYS),
  never("file_getattr", ENOSYS),
];

for (const arch of ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"] as SupportedArch[]) {
  test(`default profile behaves like Docker's, syscall by syscall (${arch})`, () => {
    const base = filter(undefined, arch);
    const withCap = new Map<string, ReturnType<typeof filter>>();
    let checked = 0;
    for (const row of DOCKER_BEHAVIOUR) {
      if (syscallNumber(row.call, arch) === undefined) continue;
      const what = `${row.call}(${row.args?.map((a) => `0x${a.toString(16)}`).join(", ") ?? ""})`;
      assert.deepEqual(base(row.call, row.args), row.base, `${what} with Docker's default capabilities`);
      if (row.cap && row.withCap) {
        let f = withCap.get(row.cap);
        if (!f) withCap.set(row.cap, (f = filter([...DOCKER_DEFAULT_CAPABILITIES, row.cap], arch)));
        assert.deepEqual(f(row.call, row.args), row.withCap, `${what} with ${row.cap}`);
      }
      checked++;
    }
    assert.ok(checked > (arch === "SCMP_ARCH_X86_64" ? 130 : 100), `${checked} rows checked`);
  });
}

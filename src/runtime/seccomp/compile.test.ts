import { test } from "node:test";
import assert from "node:assert/strict";
import { CoveError } from "../../common/errors.js";
import type { LinuxSeccomp, SeccompOperator } from "../spec.js";
import { AUDIT_ARCH, syscallNumber, syscallTable, type SupportedArch } from "./arch.js";
import { OP, decodeProgram, decodeVerdict, runFilter, type Verdict } from "./bpf.js";
import { compileSeccomp } from "./compile.js";

const AUDIT: Record<SupportedArch, number> = {
  SCMP_ARCH_X86_64: AUDIT_ARCH.X86_64,
  SCMP_ARCH_X32: AUDIT_ARCH.X86_64,
  SCMP_ARCH_X86: AUDIT_ARCH.I386,
  SCMP_ARCH_AARCH64: AUDIT_ARCH.AARCH64,
};

function nr(name: string, arch: SupportedArch): number {
  const n = syscallNumber(name, arch);
  assert.notEqual(n, undefined, `${name} on ${arch}`);
  return n as number;
}

function call(program: Buffer, name: string, args: bigint[] = [], arch: SupportedArch = "SCMP_ARCH_X86_64"): Verdict {
  return decodeVerdict(runFilter(program, { nr: nr(name, arch), arch: AUDIT[arch], args }));
}

function raw(program: Buffer, n: number, arch: number = AUDIT_ARCH.X86_64, args: bigint[] = []): Verdict {
  return decodeVerdict(runFilter(program, { nr: n, arch, args }));
}

const ALLOW: Verdict = { action: "allow" };
const EPERM: Verdict = { action: "errno", errno: 1 };
const ENOSYS: Verdict = { action: "errno", errno: 38 };
const X86_64 = { nativeArch: "SCMP_ARCH_X86_64" };

function fails(fn: () => unknown, kind: string, field: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CoveError, String(e));
    assert.equal(e.kind, kind);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

test("allowlist: listed syscalls allow, others get the default errno, newer ones ENOSYS", () => {
  const { program, flags, instructionCount, architectures } = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["read", "write", "exit_group", "no_such_call"], action: "SCMP_ACT_ALLOW" },
        { names: ["openat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      ],
    },
    X86_64,
  );
  assert.equal(flags, 0);
  assert.deepEqual(architectures, ["SCMP_ARCH_X86_64"]);
  assert.equal(instructionCount, program.length / 8);
  assert.deepEqual(call(program, "read"), ALLOW);
  assert.deepEqual(call(program, "write"), ALLOW);
  assert.deepEqual(call(program, "exit_group"), ALLOW);
  assert.deepEqual(call(program, "openat"), { action: "errno", errno: 13 });
  // Below the highest listed number (openat = 257): the default action, EPERM when no defaultErrnoRet.
  assert.deepEqual(call(program, "mount"), EPERM);
  assert.deepEqual(call(program, "close"), EPERM);
  // Above it: newer than the profile, ENOSYS so libc falls back.
  assert.deepEqual(call(program, "clone3"), ENOSYS);
  assert.deepEqual(raw(program, 258), ENOSYS);
  assert.deepEqual(raw(program, 1000), ENOSYS);
  assert.deepEqual(raw(program, 0x3fffffff), ENOSYS);
});

test("defaultErrnoRet sets the errno of the default action", () => {
  const { program } = compileSeccomp(
    { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 95, syscalls: [{ names: ["getpid"], action: "SCMP_ACT_ALLOW" }] },
    X86_64,
  );
  assert.deepEqual(call(program, "read"), { action: "errno", errno: 95 });
  assert.deepEqual(call(program, "getpid"), ALLOW);
  assert.deepEqual(raw(program, 500), ENOSYS);
});

test("no ENOSYS stub when the default allows, logs, traces or already is ENOSYS", () => {
  for (const [defaultAction, expect] of [
    ["SCMP_ACT_ALLOW", ALLOW],
    ["SCMP_ACT_LOG", { action: "log" }],
    ["SCMP_ACT_TRACE", { action: "trace", data: 1 }],
  ] as const) {
    const { program } = compileSeccomp({ defaultAction, syscalls: [{ names: ["mount"], action: "SCMP_ACT_ERRNO" }] }, X86_64);
    assert.deepEqual(call(program, "mount"), EPERM);
    assert.deepEqual(raw(program, 1000), expect, defaultAction);
  }
  const { program } = compileSeccomp(
    { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 38, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] },
    X86_64,
  );
  assert.deepEqual(call(program, "write"), ENOSYS);
  assert.deepEqual(raw(program, 1000), ENOSYS);
});

test("kill defaults still give ENOSYS above the profile's highest syscall", () => {
  const { program } = compileSeccomp({ defaultAction: "SCMP_ACT_KILL_PROCESS", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, { names: ["getpid"], action: "SCMP_ACT_ALLOW" }] }, X86_64);
  assert.deepEqual(call(program, "write"), { action: "kill_process" });
  assert.deepEqual(call(program, "getpid"), ALLOW);
  assert.deepEqual(raw(program, 40), ENOSYS); // getpid = 39
});

test("every action maps to its SECCOMP_RET value", () => {
  const { program } = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["read"], action: "SCMP_ACT_KILL" },
        { names: ["write"], action: "SCMP_ACT_KILL_THREAD" },
        { names: ["open"], action: "SCMP_ACT_KILL_PROCESS" },
        { names: ["close"], action: "SCMP_ACT_TRAP" },
        { names: ["stat"], action: "SCMP_ACT_ERRNO" },
        { names: ["fstat"], action: "SCMP_ACT_ERRNO", errnoRet: 0 },
        { names: ["lstat"], action: "SCMP_ACT_TRACE", errnoRet: 42 },
        { names: ["poll"], action: "SCMP_ACT_TRACE" },
        { names: ["lseek"], action: "SCMP_ACT_LOG" },
        { names: ["mmap"], action: "SCMP_ACT_ALLOW" },
      ],
    },
    X86_64,
  );
  assert.deepEqual(call(program, "read"), { action: "kill_thread" });
  assert.deepEqual(call(program, "write"), { action: "kill_thread" });
  assert.deepEqual(call(program, "open"), { action: "kill_process" });
  assert.deepEqual(call(program, "close"), { action: "trap", data: 0 });
  assert.deepEqual(call(program, "stat"), EPERM);
  assert.deepEqual(call(program, "fstat"), { action: "errno", errno: 0 });
  assert.deepEqual(call(program, "lstat"), { action: "trace", data: 42 });
  assert.deepEqual(call(program, "poll"), { action: "trace", data: 1 });
  assert.deepEqual(call(program, "lseek"), { action: "log" });
  assert.deepEqual(call(program, "mmap"), ALLOW);
  assert.deepEqual(call(program, "mprotect"), ALLOW);
});

// Each operator checked around its value, including values whose high 32-bit halves differ.
const OPS: Record<Exclude<SeccompOperator, "SCMP_CMP_MASKED_EQ">, (a: bigint, v: bigint) => boolean> = {
  SCMP_CMP_EQ: (a, v) => a === v,
  SCMP_CMP_NE: (a, v) => a !== v,
  SCMP_CMP_LT: (a, v) => a < v,
  SCMP_CMP_LE: (a, v) => a <= v,
  SCMP_CMP_GT: (a, v) => a > v,
  SCMP_CMP_GE: (a, v) => a >= v,
};

for (const value of [0n, 7n, 0xffffffffn, 0x100000000n, 0x1_0000_0005n, 0x7_ffff_ffffn, 2n ** 53n - 1n]) {
  test(`comparison operators at their boundaries around ${value.toString(16)}`, () => {
    const probes = new Set<bigint>([
      0n,
      value,
      value + 1n,
      value > 0n ? value - 1n : 0n,
      value ^ (1n << 32n), // same low half, other high half
      value & 0xffffffffn, // low half only
      value + (1n << 32n),
      0xffff_ffff_ffff_ffffn,
    ]);
    for (const [op, holds] of Object.entries(OPS)) {
      const { program } = compileSeccomp(
        {
          defaultAction: "SCMP_ACT_ERRNO",
          syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 2, value: Number(value), op: op as SeccompOperator }] }],
        },
        X86_64,
      );
      for (const a of probes) {
        const got = call(program, "read", [0n, 0n, a]);
        assert.deepEqual(got, holds(a, value) ? ALLOW : EPERM, `${op} arg=${a.toString(16)} value=${value.toString(16)}`);
      }
    }
  });
}

test("MASKED_EQ compares (arg & mask) with valueTwo on both halves", () => {
  const { program } = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] },
        { names: ["write"], action: "SCMP_ACT_ALLOW", args: [{ index: 1, value: 0xff_0000_00ff, valueTwo: 0x12_0000_0034, op: "SCMP_CMP_MASKED_EQ" }] },
        { names: ["close"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0xf0, valueTwo: 0x0f, op: "SCMP_CMP_MASKED_EQ" }] },
      ],
    },
    X86_64,
  );
  assert.deepEqual(call(program, "read", [0x01200011n]), ALLOW); // fork-like clone flags
  assert.deepEqual(call(program, "read", [0x10000000n]), EPERM); // CLONE_NEWUSER
  assert.deepEqual(call(program, "read", [0x00020000n]), EPERM); // CLONE_NEWNS
  assert.deepEqual(call(program, "read", [0xffff_ffff_0000_0000n]), ALLOW); // high half outside the mask
  assert.deepEqual(call(program, "write", [0n, 0x12_ffff_ff34n]), ALLOW);
  assert.deepEqual(call(program, "write", [0n, 0xab12_0000_0034n]), ALLOW);
  assert.deepEqual(call(program, "write", [0n, 0x13_0000_0034n]), EPERM);
  assert.deepEqual(call(program, "write", [0n, 0x12_0000_0035n]), EPERM);
  // valueTwo has bits outside the mask: never matches.
  assert.deepEqual(call(program, "close", [0x0fn]), EPERM);
  assert.deepEqual(call(program, "close", [0xffn]), EPERM);
});

test("comparisons in one rule are ANDed (also on the same argument); rules for a syscall are tried in order", () => {
  const { program } = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        {
          names: ["read"],
          action: "SCMP_ACT_ALLOW",
          args: [
            { index: 0, value: 10, op: "SCMP_CMP_GE" },
            { index: 0, value: 20, op: "SCMP_CMP_LE" },
            { index: 5, value: 1, op: "SCMP_CMP_EQ" },
          ],
        },
        { names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: 22, args: [{ index: 0, value: 15, op: "SCMP_CMP_GE" }] },
        { names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: 33 },
        { names: ["read"], action: "SCMP_ACT_ALLOW" }, // unreachable after the unconditional rule
      ],
    },
    X86_64,
  );
  assert.deepEqual(call(program, "read", [10n, 0n, 0n, 0n, 0n, 1n]), ALLOW);
  assert.deepEqual(call(program, "read", [20n, 0n, 0n, 0n, 0n, 1n]), ALLOW);
  assert.deepEqual(call(program, "read", [21n, 0n, 0n, 0n, 0n, 1n]), { action: "errno", errno: 22 });
  assert.deepEqual(call(program, "read", [15n, 0n, 0n, 0n, 0n, 0n]), { action: "errno", errno: 22 });
  assert.deepEqual(call(program, "read", [9n, 0n, 0n, 0n, 0n, 1n]), { action: "errno", errno: 33 });

  const fallthrough = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 5,
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 3, op: "SCMP_CMP_EQ" }] }],
    },
    X86_64,
  ).program;
  assert.deepEqual(call(fallthrough, "read", [3n]), ALLOW);
  assert.deepEqual(call(fallthrough, "read", [4n]), { action: "errno", errno: 5 });
});

test("wrong architecture gets the bad-arch action; the native one is always covered", () => {
  const { program, architectures } = compileSeccomp(
    { defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86"], syscalls: [{ names: ["read", "socketcall"], action: "SCMP_ACT_ALLOW" }] },
    X86_64,
  );
  assert.deepEqual(architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
  assert.deepEqual(call(program, "read"), ALLOW);
  assert.deepEqual(call(program, "read", [], "SCMP_ARCH_X86"), ALLOW);
  assert.deepEqual(call(program, "socketcall", [], "SCMP_ARCH_X86"), ALLOW);
  assert.deepEqual(call(program, "write", [], "SCMP_ARCH_X86"), EPERM);
  assert.deepEqual(call(program, "read", [], "SCMP_ARCH_AARCH64"), { action: "kill_thread" });
  assert.deepEqual(raw(program, 0, 0x12345678), { action: "kill_thread" });
});

test("x32 syscalls: bad-arch without SCMP_ARCH_X32, own table with it", () => {
  const profile: LinuxSeccomp = { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read", "rt_sigaction"], action: "SCMP_ACT_ALLOW" }] };
  const without = compileSeccomp(profile, X86_64).program;
  assert.deepEqual(call(without, "read"), ALLOW);
  assert.deepEqual(call(without, "read", [], "SCMP_ARCH_X32"), { action: "kill_thread" });
  assert.deepEqual(raw(without, 0xfffffffe), { action: "kill_thread" });
  // nr -1 (no syscall, set by ptrace) is not an x32 call.
  assert.deepEqual(raw(without, 0xffffffff), ENOSYS);

  const withX32 = compileSeccomp({ ...profile, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"] }, X86_64).program;
  assert.deepEqual(call(withX32, "read", [], "SCMP_ARCH_X32"), ALLOW);
  assert.deepEqual(call(withX32, "rt_sigaction", [], "SCMP_ARCH_X32"), ALLOW); // 0x40000200
  assert.deepEqual(call(withX32, "rt_sigaction"), ALLOW); // 13 on x86_64
  assert.deepEqual(call(withX32, "write", [], "SCMP_ARCH_X32"), EPERM);
  assert.deepEqual(raw(withX32, 0x40000000 + 100), EPERM); // below x32's highest listed number (512)
  assert.deepEqual(raw(withX32, 0x40000000 + 513), ENOSYS);
  assert.deepEqual(raw(withX32, 0xffffffff), ENOSYS);
  assert.deepEqual(call(withX32, "write"), EPERM);
  assert.deepEqual(raw(withX32, 14), ENOSYS); // above x86_64's highest listed (rt_sigaction = 13)
});

test("aarch64 filters use the generic syscall numbers", () => {
  const { program, architectures } = compileSeccomp(
    { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["openat", "open", "clone"], action: "SCMP_ACT_ALLOW" }] },
    { nativeArch: "arm64" },
  );
  assert.deepEqual(architectures, ["SCMP_ARCH_AARCH64"]);
  assert.deepEqual(call(program, "openat", [], "SCMP_ARCH_AARCH64"), ALLOW);
  assert.deepEqual(call(program, "clone", [], "SCMP_ARCH_AARCH64"), ALLOW);
  assert.deepEqual(call(program, "read", [], "SCMP_ARCH_AARCH64"), EPERM);
  assert.deepEqual(call(program, "clone3", [], "SCMP_ARCH_AARCH64"), ENOSYS);
  assert.deepEqual(call(program, "openat"), { action: "kill_thread" });
});

test("flags become the seccomp(2) bitmask", () => {
  const base: LinuxSeccomp = { defaultAction: "SCMP_ACT_ALLOW" };
  assert.equal(compileSeccomp({ ...base, flags: ["SECCOMP_FILTER_FLAG_TSYNC"] }, X86_64).flags, 1);
  assert.equal(
    compileSeccomp({ ...base, flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"] }, X86_64).flags,
    7,
  );
  const killable = compileSeccomp({ ...base, flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"] }, X86_64);
  assert.equal(killable.flags, 0);
  assert.match(killable.warnings.join("\n"), /WAIT_KILLABLE_RECV/);
  // An empty filter still checks the architecture.
  assert.deepEqual(raw(compileSeccomp(base, X86_64).program, 0), ALLOW);
  assert.deepEqual(raw(compileSeccomp(base, X86_64).program, 0, AUDIT_ARCH.I386), { action: "kill_thread" });
});

test("architectures without a table are reported and left to the bad-arch action", () => {
  const r = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"] }, { nativeArch: "aarch64" });
  assert.deepEqual(r.architectures, ["SCMP_ARCH_AARCH64"]);
  assert.match(r.warnings.join("\n"), /SCMP_ARCH_ARM ignored/);
});

test("bad input is refused with an error naming the field", () => {
  const ok: LinuxSeccomp = { defaultAction: "SCMP_ACT_ERRNO" };
  fails(() => compileSeccomp({ ...ok, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_PDP11"] }, X86_64), "invalid", "architectures[1]", /unknown seccomp architecture "SCMP_ARCH_PDP11"/);
  fails(() => compileSeccomp({ ...ok, flags: ["SECCOMP_FILTER_FLAG_FAST"] }, X86_64), "invalid", "flags[0]", /unknown seccomp flag/);
  fails(() => compileSeccomp({ ...ok, flags: ["SECCOMP_FILTER_FLAG_NEW_LISTENER"] }, X86_64), "unsupported", "flags[0]", /NEW_LISTENER/);
  fails(() => compileSeccomp({ defaultAction: "SCMP_ACT_PANIC" as "SCMP_ACT_ALLOW" }, X86_64), "invalid", "defaultAction", /unknown seccomp action "SCMP_ACT_PANIC"/);
  fails(
    () => compileSeccomp({ ...ok, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, { names: ["write"], action: "ALLOW" as "SCMP_ACT_ALLOW" }] }, X86_64),
    "invalid",
    "syscalls[1].action",
    /unknown seccomp action "ALLOW"/,
  );
  fails(() => compileSeccomp({ ...ok, syscalls: [{ names: ["read"], action: "SCMP_ACT_NOTIFY" }] }, X86_64), "unsupported", "syscalls[0].action", /SCMP_ACT_NOTIFY/);
  fails(() => compileSeccomp({ ...ok, syscalls: [{ names: [], action: "SCMP_ACT_ALLOW" }] }, X86_64), "invalid", "syscalls[0].names", /no names/);
  fails(
    () => compileSeccomp({ ...ok, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 6, value: 0, op: "SCMP_CMP_EQ" }] }] }, X86_64),
    "invalid",
    "syscalls[0].args[0].index",
    /index 6/,
  );
  fails(
    () => compileSeccomp({ ...ok, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0, op: "SCMP_CMP_BETWEEN" as "SCMP_CMP_EQ" }] }] }, X86_64),
    "invalid",
    "syscalls[0].args[0].op",
    /SCMP_CMP_BETWEEN/,
  );
  fails(
    () => compileSeccomp({ ...ok, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: -1, op: "SCMP_CMP_EQ" }] }] }, X86_64),
    "invalid",
    "syscalls[0].args[0].value",
    /outside the unsigned 64-bit range/,
  );
  fails(() => compileSeccomp({ ...ok, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", errnoRet: 1 }] }, X86_64), "invalid", "syscalls[0].errnoRet", /does not take an errno/);
  fails(() => compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: 1 }, X86_64), "invalid", "defaultErrnoRet", /does not take an errno/);
  fails(() => compileSeccomp({ ...ok, defaultErrnoRet: 5000 }, X86_64), "invalid", "defaultErrnoRet", /between 0 and 4095/);
  fails(() => compileSeccomp(ok, { nativeArch: "sparc" }), "invalid", "nativeArch", /sparc/);
});

test("long programs use jump trampolines and stay correct", () => {
  // 300 syscalls, each with its own argument rule: most leaves lie beyond the 8-bit jump range.
  const names = Object.entries(syscallTable("SCMP_ARCH_X86_64"))
    .sort((a, b) => a[1] - b[1])
    .slice(0, 300)
    .map(([name]) => name);
  const { program, instructionCount } = compileSeccomp(
    {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: names.map((name, i) => ({ names: [name], action: "SCMP_ACT_ALLOW", args: [{ index: 1, value: i, op: "SCMP_CMP_EQ" }] })),
    },
    X86_64,
  );
  assert.ok(instructionCount > 1000, `${instructionCount} instructions`);
  assert.ok(decodeProgram(program).some((i) => i.code === OP.JA), "expected JA trampolines");
  names.forEach((name, i) => {
    assert.deepEqual(call(program, name, [0n, BigInt(i)]), ALLOW, name);
    assert.deepEqual(call(program, name, [0n, BigInt(i + 1)]), EPERM, name);
  });
  assert.deepEqual(raw(program, 1000), ENOSYS);
});

test("programs over the kernel's 4096-instruction limit are refused", () => {
  const syscalls = Array.from({ length: 1100 }, (_, i) => ({
    names: ["read"],
    action: "SCMP_ACT_ALLOW" as const,
    args: [{ index: 0, value: i, op: "SCMP_CMP_EQ" as const }],
  }));
  assert.throws(
    () => compileSeccomp({ defaultAction: "SCMP_ACT_ERRNO", syscalls }, X86_64),
    (e: unknown) => e instanceof CoveError && e.code === "seccomp.too-long" && /more than the kernel's limit of 4096/.test(e.message),
  );
  // Just under the limit still compiles.
  const r = compileSeccomp({ defaultAction: "SCMP_ACT_ERRNO", syscalls: syscalls.slice(0, 800) }, X86_64);
  assert.ok(r.instructionCount > 4000 && r.instructionCount <= 4096, `${r.instructionCount}`);
  assert.deepEqual(call(r.program, "read", [799n]), ALLOW);
  assert.deepEqual(call(r.program, "read", [800n]), EPERM);
});
